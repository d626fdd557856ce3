// Bill run detail: counters, live progress, tabs, and the actions the run's status allows.
import { ApiError, downloadFile, onReconnect, request, subscribe, type ResultError } from "../api.ts";
import { h, fill, formatDateTime, formatTotals, Pager, pagerControls, statusBadge, statusLabel, type Child } from "../dom.ts";
import { announce, canOperate, session, takeNotice, type Cleanup } from "../session.ts";
import { runTimingBlock } from "./run-timing.ts";
import {
  DashboardBillRunDocument,
  DashboardCancelBillRunDocument,
  DashboardCreditMemosDocument,
  DashboardDeleteBillRunDocument,
  DashboardFailedAccountsDocument,
  DashboardInvoicesDocument,
  DashboardPauseBillRunDocument,
  DashboardPostBillRunDocument,
  DashboardResumeBillRunDocument,
  DashboardRetryFailedAccountsDocument,
  DashboardRunProgressDocument,
  DashboardRunStatusChangedDocument,
  type BillRunStatus,
  type DashboardRunDetailFragment,
} from "../../../src/generated/graphql/graphql.ts";

const PAGE_SIZE = 20;
const ACTIVE: BillRunStatus[] = ["PENDING", "PAUSED", "PROCESSING"];

type TabId = "invoices" | "credit-memos" | "failed" | "history";
const TABS: { id: TabId; label: string }[] = [
  { id: "invoices", label: "Invoices" },
  { id: "credit-memos", label: "Credit memos" },
  { id: "failed", label: "Failed accounts or subscriptions" },
  { id: "history", label: "History" },
];

/** What an action came to: the run as it now is, or the API's refusal (the `... on Error` member). */
type Outcome =
  | { kind: "run"; run: DashboardRunDetailFragment }
  | { kind: "deleted" }
  | { kind: "retried"; id: string; billRunNumber: string }
  | { kind: "refused"; error: ResultError };

interface Action {
  id: "post" | "pause" | "resume" | "cancel" | "delete" | "retry";
  label: string;
  /** The transitions of SPEC §2: the button is enabled only when the run's status allows it. */
  allowed: (run: DashboardRunDetailFragment) => boolean;
  confirm?: (run: DashboardRunDetailFragment) => string;
}

const ACTIONS: Action[] = [
  { id: "post", label: "Post", allowed: (r) => r.status === "COMPLETED" },
  // Only a run a schedule created can be held back; an ad-hoc one is canceled instead.
  { id: "pause", label: "Pause", allowed: (r) => r.status === "PENDING" && r.schedule !== null && r.schedule !== undefined },
  { id: "resume", label: "Resume", allowed: (r) => r.status === "PAUSED" },
  {
    id: "cancel",
    label: "Cancel",
    allowed: (r) => ["PENDING", "PAUSED", "COMPLETED"].includes(r.status),
    confirm: (r) => `Cancel bill run ${r.billRunNumber}? Its draft invoices and credit memos are canceled and their charges can be billed again.`,
  },
  {
    id: "delete",
    label: "Delete",
    allowed: (r) => ["CANCELED", "ERROR"].includes(r.status),
    confirm: (r) => `Delete bill run ${r.billRunNumber} and its documents? This cannot be undone.`,
  },
  {
    id: "retry",
    label: "Retry failed accounts",
    allowed: (r) => ["COMPLETED", "POSTED"].includes(r.status) && r.failedAccountCount > 0,
  },
];

export function renderRunDetail(main: HTMLElement, id: string, query: URLSearchParams): Cleanup {
  let run: DashboardRunDetailFragment | null = null;
  let disposed = false;
  let busy = false;
  let stopProgress: (() => void) | null = null;
  const initialTab = TABS.find((t) => t.id === query.get("tab"))?.id ?? "invoices";
  let activeTab: TabId = initialTab;
  const pagers: Record<Exclude<TabId, "history">, Pager> = {
    invoices: new Pager(PAGE_SIZE),
    "credit-memos": new Pager(PAGE_SIZE),
    failed: new Pager(PAGE_SIZE),
  };

  const notice = takeNotice();
  const heading = h("h1", {}, "Bill run");
  const headStatus = h("span", { class: "head-status" });
  const actionMessage = h("p", { id: "action-message", class: "action-message", role: "alert", tabindex: "-1" });
  const buttons = new Map<Action["id"], HTMLButtonElement>();
  const actionBar = h(
    "div",
    { class: "actions", role: "group", "aria-label": "Bill run actions" },
    ACTIONS.map((action) => {
      const button = h("button", { type: "button", "data-action": action.id, disabled: true, onclick: () => void perform(action) }, action.label);
      buttons.set(action.id, button);
      return button;
    }),
  );
  const errorNote = h("p", { class: "warning", hidden: true });
  const progressBar = h("progress", { id: "run-progress", max: 1, value: 0, "aria-labelledby": "run-progress-label" });
  const progressText = h("span", { id: "run-progress-label" });
  const progressBox = h("div", { class: "progress", hidden: true }, progressText, progressBar);
  const counters = h("dl", { class: "counters" });
  const details = h("dl", { class: "details" });
  const loadError = h("p", { class: "error", role: "alert" });
  const timing = runTimingBlock(id);

  const tabButtons = new Map<TabId, HTMLButtonElement>();
  const panels = new Map<TabId, HTMLElement>();
  const tabList = h(
    "div",
    { role: "tablist", "aria-label": "Bill run documents and history", class: "tabs", onkeydown: (e: KeyboardEvent) => onTabKey(e) },
    TABS.map((tab) => {
      const button = h(
        "button",
        {
          type: "button",
          role: "tab",
          id: `tab-${tab.id}`,
          "aria-controls": `panel-${tab.id}`,
          "aria-selected": tab.id === activeTab ? "true" : "false",
          tabindex: tab.id === activeTab ? 0 : -1,
          onclick: () => selectTab(tab.id),
        },
        tab.label,
      );
      tabButtons.set(tab.id, button);
      return button;
    }),
  );
  const panelBox = h(
    "div",
    {},
    TABS.map((tab) => {
      const panel = h("section", { role: "tabpanel", id: `panel-${tab.id}`, "aria-labelledby": `tab-${tab.id}`, tabindex: 0, hidden: tab.id !== activeTab });
      panels.set(tab.id, panel);
      return panel;
    }),
  );

  fill(
    main,
    h("p", { class: "breadcrumb" }, h("a", { href: "#/runs" }, "← Bill runs")),
    h("div", { class: "page-head" }, h("div", { class: "title" }, heading, headStatus), actionBar),
    notice ? h("p", { class: "notice", role: "status" }, notice) : null,
    actionMessage,
    loadError,
    errorNote,
    progressBox,
    h("section", { "aria-label": "Summary", class: "summary" }, counters, details),
    timing.element,
    tabList,
    panelBox,
  );

  // --- loading and rendering ---------------------------------------------------------------

  let loads = 0;
  async function load(): Promise<void> {
    const mine = ++loads;
    try {
      const data = await request(DashboardBillRunDocument, { id });
      if (disposed || mine !== loads) return; // a newer load is on its way
      loadError.textContent = "";
      if (!data.billRun) {
        run = null;
        heading.textContent = "Bill run not found";
        fill(headStatus);
        loadError.textContent = "This bill run does not exist (it may have been deleted).";
        updateActions();
        return;
      }
      setRun(data.billRun);
      void loadPanel(activeTab);
    } catch (error) {
      if (!disposed && mine === loads) loadError.textContent = (error as ApiError).message;
    }
  }

  function setRun(next: DashboardRunDetailFragment): void {
    const previous = run;
    run = next;
    document.title = `${next.billRunNumber} · Billrun`;
    heading.textContent = `Bill run ${next.billRunNumber}`;
    fill(headStatus, statusBadge(next.status, next.hasErrors));
    errorNote.hidden = !next.errorMessage;
    errorNote.textContent = next.errorMessage ? `Last error: ${next.errorMessage}` : "";
    renderCounters();
    renderDetails();
    void timing.refresh();
    updateActions();
    if (previous && previous.status !== next.status) announce(`${next.billRunNumber}: ${statusLabel(next.status)}`);
    if (ACTIVE.includes(next.status)) startProgress();
  }

  function renderCounters(): void {
    if (!run) return;
    const item = (label: string, value: Child, key: string) => h("div", { class: "counter", "data-counter": key }, h("dt", {}, label), h("dd", {}, value));
    fill(
      counters,
      item("Accounts processed", `${run.accountsProcessed} / ${run.accountsTotal}`, "accounts"),
      item("Invoices", run.invoiceCount, "invoices"),
      item("Zero-amount invoices", run.zeroAmountInvoiceCount, "zero"),
      item("Credit memos", run.creditMemoCount, "credit-memos"),
      item("Failed accounts", run.failedAccountCount, "failed"),
      h("div", { class: "counter counter-wide", "data-counter": "totals" }, h("dt", {}, "Invoice total"), h("dd", {}, formatTotals(run.invoiceTotals))),
    );
    tabButtons.get("invoices")!.textContent = `Invoices (${run.invoiceCount})`;
    tabButtons.get("credit-memos")!.textContent = `Credit memos (${run.creditMemoCount})`;
    tabButtons.get("failed")!.textContent = `Failed accounts or subscriptions (${run.failedAccountCount})`;
    const active = ACTIVE.includes(run.status);
    progressBox.hidden = !active;
    progressBar.max = Math.max(1, run.accountsTotal);
    progressBar.value = run.accountsProcessed;
    progressText.textContent =
      run.status === "PAUSED"
        ? "Paused: it starts once resumed"
        : run.status === "PENDING"
          ? "Pending: waiting for a worker"
          : run.accountsTotal === 0
            ? "Processing: selecting accounts…"
            : `Processing: ${run.accountsProcessed} of ${run.accountsTotal} accounts`;
  }

  function renderDetails(): void {
    if (!run) return;
    const scope =
      run.accountIds.length > 0
        ? `${run.accountIds.length} specific account${run.accountIds.length === 1 ? "" : "s"}`
        : run.subscriptionIds.length > 0
          ? `${run.subscriptionIds.length} specific subscription${run.subscriptionIds.length === 1 ? "" : "s"}`
          : `Batches: ${run.batches.length ? run.batches.join(", ") : "all"}; bill cycle day: ${run.billCycleDay ?? "all"}`;
    const row = (label: string, value: Child) => [h("dt", {}, label), h("dd", {}, value)];
    fill(
      details,
      row("Target date", run.targetDate),
      row("Invoice date", run.invoiceDate),
      row("Accounts", scope),
      row("Excluded charge types", run.chargeTypesToExclude.length ? run.chargeTypesToExclude.join(", ") : "none"),
      row("Auto-post", run.autoPost ? "yes" : "no"),
      row("Auto-email", run.autoEmail ? (run.noEmailForZeroAmountInvoice ? "yes, except zero-amount invoices" : "yes") : "no"),
      row("Created", [formatDateTime(run.createdAt), run.createdBy ? ` by ${run.createdBy.email}` : run.schedule ? " by a schedule" : ""]),
      row("Started", formatDateTime(run.startedAt)),
      row("Completed", formatDateTime(run.completedAt)),
      row("Posted", formatDateTime(run.postedAt)),
      run.retriedFrom ? row("Retry of", h("a", { href: `#/runs/${encodeURIComponent(run.retriedFrom.id)}` }, run.retriedFrom.billRunNumber)) : null,
    );
  }

  function updateActions(): void {
    const operator = canOperate();
    for (const action of ACTIONS) {
      const button = buttons.get(action.id)!;
      const enabled = !busy && run !== null && operator && action.allowed(run);
      if (!enabled && document.activeElement === button) actionMessage.focus();
      button.disabled = !enabled;
      button.title = !operator ? `Your role (${session.me?.role ?? "unknown"}) cannot change bill runs` : "";
    }
  }

  // --- actions -------------------------------------------------------------------------------

  async function perform(action: Action): Promise<void> {
    if (!run || busy) return;
    const current = run;
    if (action.confirm && !window.confirm(action.confirm(current))) return;
    busy = true;
    updateActions();
    actionMessage.textContent = "";
    actionMessage.className = "action-message";
    try {
      const outcome = await runAction(action, current);
      if (outcome.kind === "refused") {
        actionMessage.className = "action-message error";
        actionMessage.textContent = `${action.label} refused: ${outcome.error.message}`;
        actionMessage.dataset.code = outcome.error.code;
        return;
      }
      if (outcome.kind === "deleted") {
        session.notice = `Bill run ${current.billRunNumber} deleted.`;
        location.hash = "#/runs";
        return;
      }
      if (outcome.kind === "retried") {
        session.notice = `Bill run ${outcome.billRunNumber} created to retry the failed accounts of ${current.billRunNumber}.`;
        location.hash = `#/runs/${encodeURIComponent(outcome.id)}`;
        return;
      }
      setRun(outcome.run);
      actionMessage.className = "action-message success";
      actionMessage.textContent = action.id === "post" ? `Posting ${current.billRunNumber}…` : `${current.billRunNumber}: ${statusLabel(outcome.run.status)}.`;
      void loadPanel(activeTab);
    } catch (error) {
      actionMessage.className = "action-message error";
      actionMessage.textContent = `${action.label} failed: ${(error as ApiError).message}`;
    } finally {
      busy = false;
      updateActions();
    }
  }

  async function runAction(action: Action, current: DashboardRunDetailFragment): Promise<Outcome> {
    switch (action.id) {
      case "post": {
        const result = (await request(DashboardPostBillRunDocument, { id: current.id })).postBillRun;
        return result.__typename === "BillRun" ? { kind: "run", run: result } : { kind: "refused", error: result };
      }
      case "pause": {
        const result = (await request(DashboardPauseBillRunDocument, { id: current.id })).pauseBillRun;
        return result.__typename === "BillRun" ? { kind: "run", run: result } : { kind: "refused", error: result };
      }
      case "resume": {
        const result = (await request(DashboardResumeBillRunDocument, { id: current.id })).resumeBillRun;
        return result.__typename === "BillRun" ? { kind: "run", run: result } : { kind: "refused", error: result };
      }
      case "cancel": {
        const result = (await request(DashboardCancelBillRunDocument, { id: current.id })).cancelBillRun;
        return result.__typename === "BillRun" ? { kind: "run", run: result } : { kind: "refused", error: result };
      }
      case "delete": {
        const result = (await request(DashboardDeleteBillRunDocument, { id: current.id })).deleteBillRun;
        return result.__typename === "DeleteBillRunPayload" ? { kind: "deleted" } : { kind: "refused", error: result };
      }
      case "retry": {
        const result = (await request(DashboardRetryFailedAccountsDocument, { billRunId: current.id })).retryFailedAccounts;
        return result.__typename === "BillRun" ? { kind: "retried", id: result.id, billRunNumber: result.billRunNumber } : { kind: "refused", error: result };
      }
    }
  }

  // --- tabs ------------------------------------------------------------------------------------

  function selectTab(tab: TabId, focus = false): void {
    activeTab = tab;
    for (const [id, button] of tabButtons) {
      const selected = id === tab;
      button.setAttribute("aria-selected", selected ? "true" : "false");
      button.tabIndex = selected ? 0 : -1;
      panels.get(id)!.hidden = !selected;
    }
    if (focus) tabButtons.get(tab)!.focus();
    history.replaceState(null, "", `#/runs/${encodeURIComponent(id)}?tab=${tab}`);
    void loadPanel(tab);
  }

  function onTabKey(event: KeyboardEvent): void {
    const order = TABS.map((t) => t.id);
    const index = order.indexOf(activeTab);
    const next =
      event.key === "ArrowRight" ? order[(index + 1) % order.length]
      : event.key === "ArrowLeft" ? order[(index - 1 + order.length) % order.length]
      : event.key === "Home" ? order[0]
      : event.key === "End" ? order[order.length - 1]
      : null;
    if (!next) return;
    event.preventDefault();
    selectTab(next, true);
  }

  const panelLoads = new Map<TabId, number>();
  async function loadPanel(tab: TabId): Promise<void> {
    const panel = panels.get(tab)!;
    if (!run) return;
    if (tab === "history") return fill(panel, historyTable(run));
    // What is shown stays until the fresh page arrives (no flicker); an older answer never wins.
    const mine = (panelLoads.get(tab) ?? 0) + 1;
    panelLoads.set(tab, mine);
    if (!panel.hasChildNodes()) fill(panel, h("p", { class: "muted" }, "Loading…"));
    panel.setAttribute("aria-busy", "true");
    let content: Child;
    try {
      content = tab === "invoices" ? await invoicesTable() : tab === "credit-memos" ? await creditMemosTable() : await failedTable();
    } catch (error) {
      content = h("p", { class: "error", role: "alert" }, (error as ApiError).message);
    }
    if (disposed || panelLoads.get(tab) !== mine) return;
    fill(panel, content);
    panel.removeAttribute("aria-busy");
  }

  const reloadPanel = (tab: TabId) => () => void loadPanel(tab);

  async function invoicesTable(): Promise<Child> {
    const pager = pagers.invoices;
    const data = await request(DashboardInvoicesDocument, { id, first: PAGE_SIZE, after: pager.after });
    const connection = data.billRun?.invoices;
    if (!connection || connection.totalCount === 0) return h("p", { class: "empty" }, "No invoices.");
    return [
      exportBar(["invoices", "Export CSV"], ["items", "Export items CSV"]),
      table(
        "Invoices",
        ["Invoice", "Account", "Status", "Amount", "Balance", "Invoice date", "Due date", "Document"],
        connection.edges.map(({ node: i }) => [
          i.invoiceNumber,
          `${i.account.accountNumber} · ${i.account.name}`,
          i.status,
          amount(i.amount, i.currency),
          amount(i.balance, i.currency),
          i.invoiceDate,
          i.dueDate,
          pdfButton(`/documents/invoices/${encodeURIComponent(i.id)}.pdf`, i.invoiceNumber),
        ]),
        [3, 4],
      ),
      pagerControls("Invoice", pager, connection.totalCount, connection.pageInfo.hasNextPage, connection.pageInfo.endCursor ?? null, reloadPanel("invoices")),
    ];
  }

  async function creditMemosTable(): Promise<Child> {
    const pager = pagers["credit-memos"];
    const data = await request(DashboardCreditMemosDocument, { id, first: PAGE_SIZE, after: pager.after });
    const connection = data.billRun?.creditMemos;
    if (!connection || connection.totalCount === 0) return h("p", { class: "empty" }, "No credit memos.");
    return [
      exportBar(["credit-memos", "Export CSV"]),
      table(
        "Credit memos",
        ["Credit memo", "Account", "Status", "Amount", "Balance", "Date", "Document"],
        connection.edges.map(({ node: c }) => [
          c.creditMemoNumber,
          `${c.account.accountNumber} · ${c.account.name}`,
          c.status,
          amount(c.amount, c.currency),
          amount(c.balance, c.currency),
          c.invoiceDate,
          pdfButton(`/documents/credit-memos/${encodeURIComponent(c.id)}.pdf`, c.creditMemoNumber),
        ]),
        [3, 4],
      ),
      pagerControls("Credit memo", pager, connection.totalCount, connection.pageInfo.hasNextPage, connection.pageInfo.endCursor ?? null, reloadPanel("credit-memos")),
    ];
  }

  async function failedTable(): Promise<Child> {
    const pager = pagers.failed;
    const { failedAccounts: connection } = await request(DashboardFailedAccountsDocument, { billRunId: id, first: PAGE_SIZE, after: pager.after });
    if (connection.totalCount === 0) return h("p", { class: "empty" }, "No failed accounts.");
    return [
      exportBar(["failed-accounts", "Export CSV"]),
      table(
        "Failed accounts or subscriptions",
        ["Account", "Name", "Code", "Message", "Failing subscriptions"],
        connection.edges.map(({ node: f }) => [
          f.account.accountNumber,
          f.account.name,
          h("code", {}, f.code),
          f.message,
          f.subscriptions.length === 0
            ? "—"
            : h("ul", { class: "plain" }, f.subscriptions.map((s) => h("li", {}, h("strong", {}, s.subscription.subscriptionNumber), " ", h("code", {}, s.code), `: ${s.message}`))),
        ]),
      ),
      pagerControls("Failed account", pager, connection.totalCount, connection.pageInfo.hasNextPage, connection.pageInfo.endCursor ?? null, reloadPanel("failed")),
    ];
  }

  // --- files ---------------------------------------------------------------------------------

  /** Fetches a file with the token and saves it; a refusal is shown where action results are. */
  async function saveFile(button: HTMLButtonElement, path: string, fallbackName: string): Promise<void> {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      await downloadFile(path, fallbackName);
    } catch (error) {
      actionMessage.className = "action-message error";
      actionMessage.textContent = `Download failed: ${(error as ApiError).message}`;
      actionMessage.focus();
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }

  function pdfButton(path: string, number: string): HTMLButtonElement {
    const button: HTMLButtonElement = h(
      "button",
      { type: "button", class: "link-button", "data-download": "pdf", "aria-label": `Download PDF of ${number}`, onclick: () => void saveFile(button, path, `${number}.pdf`) },
      "Download PDF",
    );
    return button;
  }

  /** "Export CSV" buttons above a tab's table: the whole run, not just the page shown. */
  function exportBar(...exports: [name: "invoices" | "items" | "credit-memos" | "failed-accounts", label: string][]): HTMLElement {
    return h(
      "div",
      { class: "exports", role: "group", "aria-label": "Exports" },
      exports.map(([name, label]) => {
        const path = `/exports/bill-runs/${encodeURIComponent(id)}/${name}.csv`;
        const button: HTMLButtonElement = h("button", { type: "button", "data-export": name, onclick: () => void saveFile(button, path, `${run?.billRunNumber ?? "bill-run"}-${name}.csv`) }, label);
        return button;
      }),
    );
  }

  function historyTable(current: DashboardRunDetailFragment): Child {
    return table(
      "Status history",
      ["From", "To", "By", "At"],
      current.statusHistory.map((e) => [e.from ? statusLabel(e.from) : "(new)", statusLabel(e.to), e.by ? e.by.email : "system", formatDateTime(e.at)]),
    );
  }

  // --- live ------------------------------------------------------------------------------------

  function startProgress(): void {
    if (stopProgress || disposed) return;
    stopProgress = subscribe(
      DashboardRunProgressDocument,
      { billRunId: id },
      {
        next: ({ billRunProgress: p }) => {
          if (!run) return;
          run = {
            ...run,
            status: p.billRun.status,
            accountsProcessed: p.accountsProcessed,
            accountsTotal: p.accountsTotal,
            failedAccountCount: p.billRun.failedAccountCount,
            invoiceCount: p.billRun.invoiceCount,
            creditMemoCount: p.billRun.creditMemoCount,
          };
          renderCounters();
        },
        error: () => (stopProgress = null),
        complete: () => (stopProgress = null),
      },
    );
  }

  const stopStatus = subscribe(
    DashboardRunStatusChangedDocument,
    { billRunId: id },
    { next: () => void load(), error: (error) => (loadError.textContent = `Live updates stopped: ${error.message}`) },
  );
  const stopReconnect = onReconnect(() => void load());
  void load();

  return () => {
    disposed = true;
    stopStatus();
    stopReconnect();
    stopProgress?.();
    document.title = "Billrun";
  };
}

function amount(value: string, currency: string): string {
  return `${value} ${currency}`;
}

/** A data table; `numeric` columns are right-aligned. */
function table(caption: string, headers: string[], rows: Child[][], numeric: number[] = []): HTMLElement {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, headers.map((label, i) => h("th", { scope: "col", class: numeric.includes(i) ? "num" : undefined }, label)))),
      h(
        "tbody",
        {},
        rows.map((cells) => h("tr", {}, cells.map((cell, i) => (i === 0 ? h("th", { scope: "row" }, cell) : h("td", { class: numeric.includes(i) ? "num" : undefined }, cell))))),
      ),
    ),
  );
}
