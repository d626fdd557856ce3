// Accounts: find one by number, name or email (suggestions as you type), and an account's page:
// details with the fields that fail runs (bill-to email, status) editable in place, its
// subscriptions and charges, its documents and its failures across runs.
import { ApiError, asError, request } from "../api.ts";
import { h, fill, formatDateTime, Pager, pagerControls, statusBadge, type Child } from "../dom.ts";
import { formatMoney, formatPrice, formatQuantity } from "../format.ts";
import { setAddress } from "../router.ts";
import { announce, canOperate, type Cleanup } from "../session.ts";
import {
  DashboardAccountDocument,
  DashboardAccountSearchDocument,
  DashboardUpdateAccountDocument,
  type AccountStatus,
  type DashboardAccountDetailFragment,
  type DashboardAccountQuery,
} from "../../../src/generated/graphql/graphql.ts";

const PAGE_SIZE = 25;

export function renderAccountSearch(main: HTMLElement, query: URLSearchParams): Cleanup {
  let disposed = false;
  let generation = 0;
  const pager = new Pager(PAGE_SIZE);
  const input = h("input", {
    type: "search",
    id: "account-search",
    value: query.get("q") ?? "",
    autocomplete: "off",
    placeholder: "e.g. A-00000042, Acme, billing@acme.example",
    "aria-describedby": "account-search-hint",
    "aria-controls": "account-results",
  });
  const results = h("div", { id: "account-results", "aria-live": "polite" });
  fill(
    main,
    h("h1", {}, "Accounts"),
    h(
      "form",
      { class: "filters", role: "search", onsubmit: (e: Event) => (e.preventDefault(), search()) },
      h("div", { class: "field grow" }, h("label", { for: "account-search" }, "Find an account"), input),
      h("p", { id: "account-search-hint", class: "hint" }, "Any part of the account number, name or bill-to email; matches appear as you type."),
    ),
    results,
  );

  let timer: ReturnType<typeof setTimeout> | undefined;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => (pager.reset(), search()), 200);
  });

  function search(): void {
    const term = input.value.trim();
    setAddress(term ? `/accounts?q=${encodeURIComponent(term)}` : "/accounts");
    void load(term);
  }

  async function load(term: string): Promise<void> {
    const mine = ++generation;
    try {
      const { accounts } = await request(DashboardAccountSearchDocument, { search: term || null, first: PAGE_SIZE, after: pager.after });
      if (disposed || mine !== generation) return;
      if (accounts.totalCount === 0) return fill(results, h("p", { class: "empty" }, term ? `No account matches "${term}".` : "No accounts yet."));
      fill(
        results,
        h(
          "ul",
          { class: "account-results plain", "aria-label": "Matching accounts" },
          accounts.edges.map(({ node: a }) =>
            h(
              "li",
              { "data-account": a.accountNumber },
              h("a", { href: `/accounts/${encodeURIComponent(a.id)}` }, h("strong", {}, a.accountNumber), ` · ${a.name}`),
              h("span", { class: "muted" }, ` ${a.billToEmail || "no bill-to email"} · ${a.currency}${a.status === "INACTIVE" ? " · inactive" : ""}`),
            ),
          ),
        ),
        pagerControls("Account", pager, accounts.totalCount, accounts.pageInfo.hasNextPage, accounts.pageInfo.endCursor ?? null, () => void load(term)),
      );
    } catch (error) {
      if (!disposed && mine === generation) fill(results, h("p", { class: "error", role: "alert" }, (error as ApiError).message));
    }
  }

  void load(input.value.trim());
  return () => {
    disposed = true;
    clearTimeout(timer);
  };
}

type AccountData = NonNullable<DashboardAccountQuery["account"]>;

export function renderAccount(main: HTMLElement, id: string, query: URLSearchParams): Cleanup {
  let disposed = false;
  const from = query.get("from");
  const backLink =
    from && from.startsWith("/") && !from.startsWith("//")
      ? h("a", { href: from }, `← Back to ${backLabel(from)}`)
      : h("a", { href: "/accounts" }, "← Accounts");
  fill(main, h("p", { class: "breadcrumb" }, backLink), h("h1", {}, "Account"), h("p", { class: "muted" }, "Loading…"));

  async function load(): Promise<void> {
    try {
      const { account } = await request(DashboardAccountDocument, { id });
      if (disposed) return;
      if (!account) return fill(main, h("p", { class: "breadcrumb" }, backLink), h("h1", {}, "Account not found"));
      document.title = `${account.accountNumber} · Billrun`;
      render(account);
    } catch (error) {
      if (!disposed)
        fill(main, h("p", { class: "breadcrumb" }, backLink), h("h1", {}, "Account"), h("p", { class: "error", role: "alert" }, (error as ApiError).message));
    }
  }

  function render(account: AccountData): void {
    const details = h("dl", { class: "details" });
    const message = h("p", { class: "action-message", role: "status", tabindex: "-1" });
    const row = (label: string, value: Child) => [h("dt", {}, label), h("dd", {}, value)];
    const editable = new EditableFields(account, message, (updated) => Object.assign(account, updated));
    fill(
      details,
      row("Number", account.accountNumber),
      row("Name", account.name),
      row("Currency", account.currency),
      row("Bill cycle day", String(account.billCycleDay)),
      row("Batch", String(account.batch)),
      row("Payment terms", `${account.paymentTermDays} days`),
      row("Created", formatDateTime(account.createdAt)),
    );
    fill(
      main,
      h("p", { class: "breadcrumb" }, backLink),
      h("h1", {}, `Account ${account.accountNumber} · ${account.name}`),
      message,
      h("section", { class: "summary", "aria-label": "Account details" }, details, editable.element),
      h("h2", {}, "Failures in bill runs"),
      failures(account),
      h("h2", {}, "Subscriptions and charges"),
      subscriptions(account),
      h("h2", {}, "Invoices"),
      invoices(account),
      h("h2", {}, "Credit memos"),
      creditMemos(account),
    );
  }

  void load();
  return () => {
    disposed = true;
    document.title = "Billrun";
  };
}

function backLabel(path: string): string {
  const run = /^\/bill-runs\/[^/]+(\/failed)?/.exec(path);
  if (run) return run[1] ? "the failed accounts" : "the bill run";
  return "the previous page";
}

/** Bill-to email and status, each shown with an Edit button that turns it into a form in place. */
class EditableFields {
  readonly element: HTMLElement;
  private account: DashboardAccountDetailFragment;
  private readonly message: HTMLElement;
  private readonly onSaved: (account: DashboardAccountDetailFragment) => void;
  constructor(account: DashboardAccountDetailFragment, message: HTMLElement, onSaved: (account: DashboardAccountDetailFragment) => void) {
    this.account = account;
    this.message = message;
    this.onSaved = onSaved;
    this.element = h("dl", { class: "details editable" });
    this.render();
  }

  private render(focus?: "billToEmail" | "status"): void {
    fill(
      this.element,
      this.view("billToEmail", "Bill-to email", this.account.billToEmail || "none"),
      this.view("status", "Status", this.account.status === "ACTIVE" ? "Active" : "Inactive"),
    );
    if (focus) this.element.querySelector<HTMLElement>(`[data-edit="${focus}"]`)?.focus();
  }

  private view(field: "billToEmail" | "status", label: string, value: string): Child {
    return [
      h("dt", {}, label),
      h(
        "dd",
        { "data-field": field },
        h("span", { class: "value" }, value),
        " ",
        canOperate()
          ? h(
              "button",
              { type: "button", class: "link-button", "data-edit": field, "aria-label": `Edit ${label.toLowerCase()}`, onclick: () => this.edit(field, label) },
              "Edit",
            )
          : null,
      ),
    ];
  }

  private edit(field: "billToEmail" | "status", label: string): void {
    const dd = this.element.querySelector<HTMLElement>(`dd[data-field="${field}"]`)!;
    const control =
      field === "billToEmail"
        ? h("input", { type: "email", id: "edit-billToEmail", value: this.account.billToEmail, autocomplete: "off", "aria-describedby": "edit-error" })
        : h(
            "select",
            { id: "edit-status", "aria-describedby": "edit-error" },
            (["ACTIVE", "INACTIVE"] as AccountStatus[]).map((s) =>
              h("option", { value: s, selected: s === this.account.status }, s === "ACTIVE" ? "Active" : "Inactive"),
            ),
          );
    const error = h("p", { id: "edit-error", class: "field-error" });
    const form = h(
      "form",
      {
        class: "inline-edit",
        // The API's own message says what is wrong with the address, next to the field.
        novalidate: true,
        "aria-label": `Edit ${label.toLowerCase()}`,
        onsubmit: (e: Event) => (e.preventDefault(), void this.save(field, label, control, error)),
        onkeydown: (e: KeyboardEvent) => {
          if (e.key === "Escape") this.render(field);
        },
      },
      h("label", { for: control.id, class: "visually-hidden" }, label),
      control,
      h("button", { type: "submit", class: "primary" }, "Save"),
      h("button", { type: "button", onclick: () => this.render(field) }, "Cancel"),
      error,
    );
    fill(dd, form);
    control.focus();
  }

  private async save(field: "billToEmail" | "status", label: string, control: HTMLInputElement | HTMLSelectElement, error: HTMLElement): Promise<void> {
    error.textContent = "";
    control.removeAttribute("aria-invalid");
    try {
      const input =
        field === "billToEmail" ? { id: this.account.id, billToEmail: control.value } : { id: this.account.id, status: control.value as AccountStatus };
      const { updateAccount: result } = await request(DashboardUpdateAccountDocument, { input });
      const refused = asError(result);
      if (refused) {
        error.textContent = refused.message.replace(/^input\.\w+: /, "");
        control.setAttribute("aria-invalid", "true");
        control.focus();
        return;
      }
      if (result.__typename !== "Account") return;
      this.account = result;
      this.onSaved(result);
      this.message.className = "action-message success";
      this.message.textContent = `${label} saved.`;
      announce(`${label} saved.`);
      this.render(field);
    } catch (e) {
      error.textContent = (e as ApiError).message;
    }
  }
}

function failures(account: AccountData): Child {
  const list = account.billRunFailures;
  if (list.totalCount === 0) return h("p", { class: "empty" }, "This account has not failed in any bill run.");
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "failures" },
      h("caption", { class: "visually-hidden" }, "Failures in bill runs, latest first"),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Bill run", "Target date", "Run status", "Code", "Reason"].map((l) => h("th", { scope: "col" }, l)),
        ),
      ),
      h(
        "tbody",
        {},
        list.edges.map(({ node: f }) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, h("a", { href: `/bill-runs/${encodeURIComponent(f.billRun.id)}/failed` }, f.billRun.billRunNumber)),
            h("td", {}, f.billRun.targetDate),
            h("td", {}, statusBadge(f.billRun.status)),
            h("td", {}, h("code", {}, f.code)),
            h(
              "td",
              {},
              f.message,
              f.subscriptions.length
                ? h(
                    "ul",
                    { class: "plain" },
                    f.subscriptions.map((s) => h("li", {}, `${s.subscription.subscriptionNumber}: ${s.message}`)),
                  )
                : null,
            ),
          ),
        ),
      ),
    ),
    list.totalCount > list.edges.length ? h("p", { class: "muted" }, `The latest ${list.edges.length} of ${list.totalCount}.`) : null,
  );
}

function subscriptions(account: AccountData): Child {
  const subs = account.subscriptions.edges.map((e) => e.node);
  if (subs.length === 0) return h("p", { class: "empty" }, "No subscriptions.");
  return subs.map((s) =>
    h(
      "section",
      { class: "subscription", "aria-label": `Subscription ${s.subscriptionNumber}` },
      h("h3", {}, `${s.subscriptionNumber} · ${s.status === "ACTIVE" ? "Active" : `Cancelled on ${s.cancelledOn}`} · since ${s.startDate}`),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          {},
          h("caption", { class: "visually-hidden" }, `Charges of ${s.subscriptionNumber}`),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["Charge", "Type", "Period", "Price", "Quantity", "From", "Until", "Charged through"].map((l, i) =>
                h("th", { scope: "col", class: i === 3 || i === 4 ? "num" : undefined }, l),
              ),
            ),
          ),
          h(
            "tbody",
            {},
            s.charges.map((c) =>
              h(
                "tr",
                {},
                h("th", { scope: "row" }, c.name),
                h("td", {}, c.type.replace("_", "-").toLowerCase()),
                h(
                  "td",
                  {},
                  c.billingPeriod
                    ? `${c.billingPeriod.replace("_", "-").toLowerCase()}${c.billingTiming ? `, ${c.billingTiming === "IN_ADVANCE" ? "in advance" : "in arrears"}` : ""}`
                    : "—",
                ),
                h("td", { class: "num" }, formatPrice(c.price, c.currency)),
                h("td", { class: "num" }, formatQuantity(c.quantity)),
                h("td", {}, c.startDate),
                h("td", {}, c.endDate ?? "—"),
                h("td", { "data-charged-through": c.chargedThroughDate ?? "" }, c.chargedThroughDate ?? "not billed yet"),
              ),
            ),
          ),
        ),
      ),
    ),
  );
}

function invoices(account: AccountData): Child {
  const list = account.invoices;
  if (list.totalCount === 0) return h("p", { class: "empty" }, "No invoices.");
  return documentTable(
    "Invoices, newest first",
    list.edges.map(({ node: d }) => ({ href: `/invoices/${encodeURIComponent(d.id)}`, number: d.invoiceNumber, ...d })),
    list.totalCount,
  );
}

function creditMemos(account: AccountData): Child {
  const list = account.creditMemos;
  if (list.totalCount === 0) return h("p", { class: "empty" }, "No credit memos.");
  return documentTable(
    "Credit memos, newest first",
    list.edges.map(({ node: d }) => ({ href: `/credit-memos/${encodeURIComponent(d.id)}`, number: d.creditMemoNumber, balance: null, ...d })),
    list.totalCount,
  );
}

function documentTable(
  caption: string,
  rows: {
    href: string;
    number: string;
    status: string;
    currency: string;
    amount: string;
    balance?: string | null;
    invoiceDate: string;
    billRun?: { id: string; billRunNumber: string } | null;
  }[],
  totalCount: number,
): Child {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden" }, caption),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Number", "Date", "Status", "Amount", "Balance", "Bill run"].map((l, i) =>
            h("th", { scope: "col", class: i === 3 || i === 4 ? "num" : undefined }, l),
          ),
        ),
      ),
      h(
        "tbody",
        {},
        rows.map((d) =>
          h(
            "tr",
            {},
            h("th", { scope: "row" }, h("a", { href: d.href }, d.number)),
            h("td", {}, d.invoiceDate),
            h("td", {}, d.status),
            h("td", { class: "num" }, formatMoney(d.amount, d.currency)),
            h("td", { class: "num" }, d.balance ? formatMoney(d.balance, d.currency) : "—"),
            h("td", {}, d.billRun ? h("a", { href: `/bill-runs/${encodeURIComponent(d.billRun.id)}` }, d.billRun.billRunNumber) : "—"),
          ),
        ),
      ),
    ),
    totalCount > rows.length ? h("p", { class: "muted" }, `The latest ${rows.length} of ${totalCount}.`) : null,
  );
}
