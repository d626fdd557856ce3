// Bill run list: filters, newest first, live through billRunStatusChanged (every run).
import { ApiError, onReconnect, request, subscribe } from "../api.ts";
import { h, fill, formatTotals, statusBadge, statusLabel } from "../dom.ts";
import { formatCount } from "../format.ts";
import { setAddress } from "../router.ts";
import { announce, takeNotice, type Cleanup } from "../session.ts";
import {
  DashboardBillRunsDocument,
  DashboardRunProgressDocument,
  DashboardRunStatusChangedDocument,
  type BillRunStatus,
  type DashboardRunRowFragment,
} from "../../../src/generated/graphql/graphql.ts";

export const STATUSES: BillRunStatus[] = [
  "PENDING",
  "PAUSED",
  "PROCESSING",
  "COMPLETED",
  "ERROR",
  "POST_IN_PROGRESS",
  "POSTED",
  "CANCEL_IN_PROGRESS",
  "CANCELED",
  "REMOVE_IN_PROGRESS",
];
const PAGE_SIZE = 25;

interface Filters {
  status: BillRunStatus | null;
  hasErrors: boolean;
  /** Target dates, inclusive. */
  from: string | null;
  to: string | null;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export function renderRunList(main: HTMLElement, query: URLSearchParams): Cleanup {
  const statusParam = query.get("status") as BillRunStatus | null;
  const filters: Filters = {
    status: statusParam && STATUSES.includes(statusParam) ? statusParam : null,
    hasErrors: query.get("errors") === "1",
    from: DATE.test(query.get("from") ?? "") ? query.get("from") : null,
    to: DATE.test(query.get("to") ?? "") ? query.get("to") : null,
  };
  const anyFilter = () => Boolean(filters.status || filters.hasErrors || filters.from || filters.to);
  let runs: DashboardRunRowFragment[] = [];
  let totalCount = 0;
  let endCursor: string | null = null;
  let hasNextPage = false;
  let loading = false;
  let generation = 0; // a reload makes older answers stale

  const notice = takeNotice();
  const statusSelect = h(
    "select",
    { id: "filter-status", name: "status" },
    h("option", { value: "" }, "Any status"),
    STATUSES.map((s) => h("option", { value: s, selected: s === filters.status }, statusLabel(s))),
  );
  const errorsBox = h("input", { id: "filter-errors", name: "errors", type: "checkbox", checked: filters.hasErrors });
  const fromBox = h("input", { id: "filter-from", name: "from", type: "date", value: filters.from ?? "" });
  const toBox = h("input", { id: "filter-to", name: "to", type: "date", value: filters.to ?? "" });
  const summary = h("p", { class: "muted", id: "runs-summary" });
  const errorBox = h("p", { class: "error", role: "alert" });
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "runs", "aria-describedby": "runs-summary" },
    h("caption", { class: "visually-hidden" }, "Bill runs, newest first"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["Number", "Status", "Target date", "Invoice date", "Accounts", "Invoices", "Credit memos", "Failed", "Invoice total"].map((label, i) =>
          h("th", { scope: "col", class: i >= 4 && i <= 7 ? "num" : undefined }, label),
        ),
      ),
    ),
    tbody,
  );
  const moreButton = h("button", { type: "button", onclick: () => void load(false) }, "Load more");

  fill(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "Bill runs"), h("a", { class: "button primary", href: "/bill-runs/new" }, "New bill run")),
    notice ? h("p", { class: "notice", role: "status" }, notice) : null,
    h(
      "form",
      { class: "filters", "aria-label": "Filter bill runs", onsubmit: (e: Event) => e.preventDefault() },
      h("div", { class: "field inline" }, h("label", { for: "filter-status" }, "Status"), statusSelect),
      h("div", { class: "field inline" }, errorsBox, h("label", { for: "filter-errors" }, "Has errors")),
      h("div", { class: "field inline" }, h("label", { for: "filter-from" }, "Target date from"), fromBox),
      h("div", { class: "field inline" }, h("label", { for: "filter-to" }, "to"), toBox),
    ),
    errorBox,
    summary,
    h("div", { class: "table-wrap" }, table),
    moreButton,
  );

  statusSelect.addEventListener("change", () => {
    filters.status = (statusSelect.value || null) as BillRunStatus | null;
    applyFilters();
  });
  errorsBox.addEventListener("change", () => {
    filters.hasErrors = errorsBox.checked;
    applyFilters();
  });
  for (const box of [fromBox, toBox]) {
    box.addEventListener("change", () => {
      filters.from = DATE.test(fromBox.value) ? fromBox.value : null;
      filters.to = DATE.test(toBox.value) ? toBox.value : null;
      applyFilters();
    });
  }

  function applyFilters(): void {
    const params = new URLSearchParams();
    if (filters.status) params.set("status", filters.status);
    if (filters.hasErrors) params.set("errors", "1");
    if (filters.from) params.set("from", filters.from);
    if (filters.to) params.set("to", filters.to);
    const search = params.toString();
    // Keeps the filters in the address (for reload and links) without re-rendering the screen.
    setAddress(`/bill-runs${search ? `?${search}` : ""}`);
    void load(true);
  }

  function matches(run: DashboardRunRowFragment): boolean {
    if (run.status === "REMOVE_IN_PROGRESS" && filters.status !== "REMOVE_IN_PROGRESS") return false;
    if (filters.status && run.status !== filters.status) return false;
    if (filters.hasErrors && !run.hasErrors) return false;
    if (filters.from && run.targetDate < filters.from) return false;
    if (filters.to && run.targetDate > filters.to) return false;
    return true;
  }

  async function load(reset: boolean): Promise<void> {
    if (loading && !reset) return;
    loading = true;
    const mine = ++generation;
    moreButton.disabled = true;
    try {
      const { billRuns } = await request(DashboardBillRunsDocument, {
        first: PAGE_SIZE,
        after: reset ? null : endCursor,
        status: filters.status ? [filters.status] : null,
        hasErrors: filters.hasErrors ? true : null,
        targetDateFrom: filters.from,
        targetDateTo: filters.to,
      });
      if (mine !== generation) return;
      const page = billRuns.edges.map((e) => e.node);
      if (reset) runs = page;
      else runs = [...runs, ...page.filter((r) => !runs.some((known) => known.id === r.id))];
      totalCount = billRuns.totalCount;
      endCursor = billRuns.pageInfo.endCursor ?? null;
      hasNextPage = billRuns.pageInfo.hasNextPage;
      errorBox.textContent = "";
      render();
    } catch (error) {
      if (mine !== generation) return;
      errorBox.textContent = (error as ApiError).message;
    } finally {
      if (mine === generation) loading = false;
      moreButton.disabled = !hasNextPage;
    }
  }

  function render(): void {
    const focusedId = (document.activeElement as HTMLElement | null)?.closest("tr")?.dataset.id;
    if (runs.length === 0) {
      fill(tbody, h("tr", {}, h("td", { colspan: 9, class: "empty" }, anyFilter() ? "No bill runs match these filters." : "No bill runs yet.")));
    } else {
      fill(tbody, runs.map(row));
    }
    summary.textContent = `${totalCount} bill run${totalCount === 1 ? "" : "s"}${anyFilter() ? " match these filters" : ""}.`;
    moreButton.hidden = !hasNextPage;
    followProgress();
    if (focusedId) tbody.querySelector<HTMLElement>(`tr[data-id="${CSS.escape(focusedId)}"] a`)?.focus();
  }

  function row(run: DashboardRunRowFragment): HTMLTableRowElement {
    return h(
      "tr",
      { "data-id": run.id, "data-number": run.billRunNumber },
      h("th", { scope: "row" }, h("a", { href: `/bill-runs/${encodeURIComponent(run.id)}` }, run.billRunNumber)),
      h("td", {}, statusBadge(run.status, run.hasErrors)),
      h("td", {}, run.targetDate),
      h("td", {}, run.invoiceDate),
      h("td", { class: "num", "data-accounts": "" }, accountsCell(run)),
      h("td", { class: "num" }, formatCount(run.invoiceCount)),
      h("td", { class: "num" }, formatCount(run.creditMemoCount)),
      h("td", { class: "num" }, formatCount(run.failedAccountCount)),
      h("td", {}, formatTotals(run.invoiceTotals)),
    );
  }

  // Runs being billed count up live (billRunProgress, a few updates a second per run).
  const progress = new Map<string, () => void>();
  function followProgress(): void {
    const processing = new Set(runs.filter((r) => r.status === "PROCESSING").map((r) => r.id));
    for (const [id, stop] of progress)
      if (!processing.has(id)) {
        stop();
        progress.delete(id);
      }
    for (const id of processing) {
      if (progress.has(id)) continue;
      const stop = subscribe(
        DashboardRunProgressDocument,
        { billRunId: id },
        {
          next: ({ billRunProgress: p }) => {
            const run = runs.find((r) => r.id === id);
            if (!run || run.status !== "PROCESSING") return;
            run.accountsProcessed = p.accountsProcessed;
            run.accountsTotal = p.accountsTotal;
            const cell = tbody.querySelector<HTMLElement>(`tr[data-id="${CSS.escape(id)}"] [data-accounts]`);
            if (cell) cell.textContent = accountsCell(run);
          },
          complete: () => progress.delete(id),
          error: () => progress.delete(id),
        },
      );
      progress.set(id, stop);
    }
  }

  /** A run deleted (its last event has no run any more): its row goes. */
  function onRemoved(id: string, billRunNumber: string): void {
    const index = runs.findIndex((r) => r.id === id);
    if (index < 0) return;
    runs.splice(index, 1);
    totalCount = Math.max(0, totalCount - 1);
    render();
    announce(`${billRunNumber}: ${statusLabel("REMOVED")}`);
  }

  /** A status change from the live feed: update, insert (newest first) or drop the run. */
  function onChange(run: DashboardRunRowFragment): void {
    const index = runs.findIndex((r) => r.id === run.id);
    const known = index >= 0 ? runs[index]! : null;
    if (matches(run)) {
      if (known) runs[index] = run;
      else {
        runs.push(run);
        totalCount += 1;
      }
      runs.sort((a, b) => (a.createdAt === b.createdAt ? b.billRunNumber.localeCompare(a.billRunNumber) : b.createdAt.localeCompare(a.createdAt)));
    } else if (known) {
      runs.splice(index, 1);
      totalCount = Math.max(0, totalCount - 1);
    } else {
      return;
    }
    render();
    announce(`${run.billRunNumber}: ${statusLabel(run.status)}${run.hasErrors ? ", has errors" : ""}`);
  }

  const stopLive = subscribe(
    DashboardRunStatusChangedDocument,
    {},
    {
      next: ({ billRunStatusChanged: event }) => (event.billRun ? onChange(event.billRun) : onRemoved(event.billRunId, event.billRunNumber)),
      error: (error) => (errorBox.textContent = `Live updates stopped: ${error.message}`),
    },
  );
  const stopReconnect = onReconnect(() => void load(true));
  void load(true);

  return () => {
    generation += 1;
    for (const stop of progress.values()) stop();
    stopLive();
    stopReconnect();
  };
}

/** Processed / total; before the run has chosen its accounts there is no total to show. */
function accountsCell(run: DashboardRunRowFragment): string {
  if (run.status === "PENDING" || run.status === "PAUSED") return "—";
  if (run.status === "PROCESSING" && run.accountsTotal === 0) return "selecting…";
  return `${formatCount(run.accountsProcessed)} / ${formatCount(run.accountsTotal)}`;
}
