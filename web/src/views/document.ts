// One invoice or credit memo: its lines, totals, payments, balance and status, its account and run.
import { ApiError, getToken, request } from "../api.ts";
import { h, fill, formatDateTime, type Child } from "../dom.ts";
import { formatMoney, formatPrice, formatQuantity } from "../format.ts";
import { DashboardCreditMemoDocument, DashboardInvoiceDocument, type DashboardDocumentItemFragment } from "../../../src/generated/graphql/graphql.ts";
import type { Cleanup } from "../session.ts";
// The billing core's exact decimal sum: the dashboard has no decimal arithmetic of its own.
import { sumAmounts } from "../../../src/billing/money.ts";

type Kind = "invoice" | "credit-memo";

interface Shown {
  id: string;
  number: string;
  status: string;
  currency: string;
  amount: string;
  balance: string;
  invoiceDate: string;
  dueDate: string;
  postedAt?: string | null;
  account: { id: string; accountNumber: string; name: string; billToEmail: string };
  billRun?: { id: string; billRunNumber: string } | null;
  items: DashboardDocumentItemFragment[];
  payments: { id: string; amount: string; createdAt: string }[];
}

export function renderDocument(main: HTMLElement, kind: Kind, id: string, query: URLSearchParams): Cleanup {
  let disposed = false;
  const title = kind === "invoice" ? "Invoice" : "Credit memo";
  fill(main, h("h1", {}, title), h("p", { class: "muted" }, "Loading…"));

  async function load(): Promise<void> {
    let doc: Shown | null = null;
    try {
      if (kind === "invoice") {
        const { invoice } = await request(DashboardInvoiceDocument, { id });
        if (invoice) doc = { ...invoice, number: invoice.invoiceNumber };
      } else {
        const { creditMemo } = await request(DashboardCreditMemoDocument, { id });
        if (creditMemo) doc = { ...creditMemo, number: creditMemo.creditMemoNumber, payments: [] };
      }
    } catch (error) {
      if (!disposed) fill(main, h("h1", {}, title), h("p", { class: "error", role: "alert" }, (error as ApiError).message));
      return;
    }
    if (disposed) return;
    if (!doc) {
      fill(main, h("h1", {}, `${title} not found`), h("p", {}, "It does not exist, or its run was deleted. ", h("a", { href: "/bill-runs" }, "Bill runs")));
      return;
    }
    document.title = `${doc.number} · Billrun`;
    render(doc);
  }

  function render(doc: Shown): void {
    const back = query.get("from");
    const money = (value: string) => formatMoney(value, doc.currency);
    const paid = doc.payments.length;
    const row = (label: string, value: Child) => [h("dt", {}, label), h("dd", {}, value)];
    const pdf = h("p", { class: "document-actions" });
    fill(
      main,
      h(
        "p",
        { class: "breadcrumb" },
        doc.billRun
          ? h(
              "a",
              { href: back && back.startsWith("/") ? back : `/bill-runs/${encodeURIComponent(doc.billRun.id)}${kind === "invoice" ? "" : "/credit-memos"}` },
              `← Bill run ${doc.billRun.billRunNumber}`,
            )
          : h("a", { href: `/accounts/${encodeURIComponent(doc.account.id)}` }, `← Account ${doc.account.accountNumber}`),
      ),
      h(
        "div",
        { class: "page-head" },
        h(
          "div",
          { class: "title" },
          h("h1", {}, `${title} ${doc.number}`),
          h("span", { class: `badge badge-doc-${doc.status.toLowerCase()}`, "data-status": doc.status }, doc.status),
        ),
        pdf,
      ),
      h(
        "section",
        { class: "summary", "aria-label": "Summary" },
        h(
          "dl",
          { class: "details" },
          row("Account", [h("a", { href: `/accounts/${encodeURIComponent(doc.account.id)}` }, doc.account.accountNumber), ` · ${doc.account.name}`]),
          row("Bill-to email", doc.account.billToEmail || "none"),
          row("Bill run", doc.billRun ? h("a", { href: `/bill-runs/${encodeURIComponent(doc.billRun.id)}` }, doc.billRun.billRunNumber) : "none"),
          row(kind === "invoice" ? "Invoice date" : "Date", doc.invoiceDate),
          kind === "invoice" ? row("Due date", doc.dueDate) : null,
          row("Posted", formatDateTime(doc.postedAt)),
        ),
        h(
          "dl",
          { class: "details totals-box" },
          row("Total", h("strong", { "data-total": "" }, money(doc.amount))),
          kind === "invoice"
            ? row(
                "Payments",
                paid === 0
                  ? "none"
                  : money(
                      sumAmounts(
                        doc.payments.map((p) => p.amount),
                        doc.currency,
                      ),
                    ),
              )
            : null,
          row("Balance", h("strong", { "data-balance": "" }, money(doc.balance))),
        ),
      ),
      h("h2", {}, "Lines"),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "lines" },
          h("caption", { class: "visually-hidden" }, `Lines of ${doc.number}`),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Charge", "Subscription", "Service period", "Quantity", "Unit price", "Amount"].map((l, i) =>
                h("th", { scope: "col", class: i >= 3 ? "num" : undefined }, l),
              ),
            ),
          ),
          h(
            "tbody",
            {},
            doc.items.map((item) =>
              h(
                "tr",
                { "data-item": item.id },
                h("th", { scope: "row" }, item.chargeName, item.kind === "CREDIT" ? h("span", { class: "muted" }, " (credit)") : null),
                h("td", {}, item.subscription.subscriptionNumber),
                h("td", {}, period(item)),
                h("td", { class: "num" }, formatQuantity(item.quantity)),
                h("td", { class: "num" }, formatPrice(item.unitPrice, doc.currency)),
                h("td", { class: "num" }, money(item.amount)),
              ),
            ),
          ),
          h("tfoot", {}, h("tr", {}, h("th", { scope: "row", colspan: 5, class: "num" }, "Total"), h("td", { class: "num" }, money(doc.amount)))),
        ),
      ),
      kind === "invoice" ? h("h2", {}, "Payments") : null,
      kind === "invoice"
        ? paid === 0
          ? h("p", { class: "empty" }, "No payments.")
          : h(
              "ul",
              { class: "plain" },
              doc.payments.map((p) => h("li", {}, money(p.amount), " on ", formatDateTime(p.createdAt))),
            )
        : null,
    );
    void offerPdf(pdf, kind, doc);
  }

  void load();
  return () => {
    disposed = true;
    document.title = "Billrun";
  };
}

function period(item: DashboardDocumentItemFragment): string {
  // The API's end is exclusive; people read the last day of service.
  if (item.serviceEndDate === item.serviceStartDate) return item.serviceStartDate;
  const last = new Date(`${item.serviceEndDate}T00:00:00Z`);
  last.setUTCDate(last.getUTCDate() - 1);
  return `${item.serviceStartDate} – ${last.toISOString().slice(0, 10)}`;
}

/**
 * "Download PDF", when the server serves the document as PDF (GET /documents/...pdf with the
 * bearer token): asked once with HEAD; the file is fetched with the token and saved from a blob.
 */
async function offerPdf(box: HTMLElement, kind: Kind, doc: Shown): Promise<void> {
  const url = `/documents/${kind === "invoice" ? "invoices" : "credit-memos"}/${encodeURIComponent(doc.id)}.pdf`;
  const headers = { authorization: `Bearer ${getToken() ?? ""}` };
  try {
    const probe = await fetch(url, { method: "HEAD", headers });
    if (!probe.ok || !(probe.headers.get("content-type") ?? "").includes("pdf")) return;
  } catch {
    return;
  }
  const status = h("span", { class: "muted", role: "status" });
  const button = h(
    "button",
    {
      type: "button",
      onclick: async () => {
        status.textContent = "Preparing…";
        try {
          const response = await fetch(url, { headers });
          if (!response.ok) throw new Error(`the server answered ${response.status}`);
          const blob = await response.blob();
          const link = h("a", { href: URL.createObjectURL(blob), download: `${doc.number}.pdf` });
          link.click();
          setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
          status.textContent = "";
        } catch (error) {
          status.textContent = `The PDF could not be downloaded: ${(error as Error).message}`;
        }
      },
    },
    "Download PDF",
  );
  fill(box, button, " ", status);
}
