// Bill run detail: counters, live progress, tabs, and the actions the run's status allows.
import { ApiError, downloadFile, onReconnect, request, subscribe, type ResultError } from "../api.ts";
import { h, fill, formatDateTime, formatTotals, Pager, pagerControls, statusBadge, statusLabel, type Child } from "../dom.ts";
import { formatCount, formatDuration, formatMoney, totalsSentence, userTimeZone } from "../format.ts";
import { navigate, setAddress } from "../router.ts";
import { announce, canOperate, session, takeNotice, type Cleanup } from "../session.ts";
import { runTimingBlock } from "./run-timing.ts";
import {
  DashboardBillRunDocument,
  DashboardCancelBillRunDocument,
  DashboardCreditMemosDocument,
  DashboardDeleteBillRunDocument,
  DashboardFailedAccountsDocument,
  DashboardAccountSuggestionsDocument,
  DashboardInvoicesDocument,
  DashboardPauseBillRunDocument,
  DashboardPostBillRunDocument,
  DashboardResumeBillRunDocument,
  DashboardRetryFailedAccountsDocument,
  DashboardRunProgressDocument,
  DashboardRunStatusChangedDocument,
  type BillRunAction,
  type BillRunStatus,
  type DashboardRunDetailFragment,
  type InvoiceOrder,
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
  id: BillRunAction;
  label: string;
  /** What will happen, asked before the action is taken; none: taken at once. */
  confirm?: (run: DashboardRunDetailFragment) => string;
  /** The banner while the action's effect is under way, and once the run reached its end state. */
  progress?: (run: DashboardRunDetailFragment) => string;
  done: (run: DashboardRunDetailFragment) => string | null;
}

const plural = (n: number, one: string, many = `${one}s`) => `${formatCount(n)} ${n === 1 ? one : many}`;

// The API says which actions a run allows (BillRun.availableActions, from its transition table);
// this only says how each one is offered.
const ACTIONS: Action[] = [
  {
    id: "POST",
    label: "Post",
    confirm: (r) =>
      `Post ${plural(r.invoiceCount, "invoice")} totalling ${totalsSentence(r.invoiceTotals)}? Posted invoices are final: they can be paid and emailed, and the run can no longer be canceled.`,
    progress: (r) => `Posting ${r.billRunNumber}…`,
    done: (r) =>
      r.status === "POSTED"
        ? `${r.billRunNumber} posted: ${plural(r.invoiceCount, "invoice")}.`
        : r.status === "COMPLETED"
          ? `Posting ${r.billRunNumber} stopped: ${r.errorMessage ?? "some documents were not posted"}. Post again to post the rest.`
          : null,
  },
  { id: "PAUSE", label: "Pause", done: (r) => (r.status === "PAUSED" ? `${r.billRunNumber} paused.` : null) },
  { id: "RESUME", label: "Resume", done: (r) => (r.status !== "PAUSED" ? `${r.billRunNumber} resumed.` : null) },
  {
    id: "RETRY",
    label: "Retry failed accounts",
    confirm: (r) =>
      `Create a new bill run for the ${plural(r.failedAccountCount, "failed account")} of ${r.billRunNumber}, with the same dates and options? This run stays as it is.`,
    done: () => null,
  },
  {
    id: "CANCEL",
    label: "Cancel",
    confirm: (r) =>
      r.status === "COMPLETED"
        ? `Cancel bill run ${r.billRunNumber}? Its ${plural(r.invoiceCount, "draft invoice")} and ${plural(r.creditMemoCount, "credit memo")} are canceled and their charges can be billed again.`
        : `Cancel bill run ${r.billRunNumber}? It will not run.`,
    progress: (r) => `Canceling ${r.billRunNumber}…`,
    done: (r) => (r.status === "CANCELED" ? `${r.billRunNumber} canceled.` : null),
  },
  {
    id: "DELETE",
    label: "Delete",
    confirm: (r) => `Delete bill run ${r.billRunNumber} and its ${plural(r.invoiceCount + r.creditMemoCount, "document")}? This cannot be undone.`,
    done: () => null,
  },
];

export function renderRunDetail(main: HTMLElement, id: string, tabParam: string, query: URLSearchParams): Cleanup {
  let run: DashboardRunDetailFragment | null = null;
  let disposed = false;
  let busy = false;
  let stopProgress: (() => void) | null = null;
  const initialTab = TABS.find((t) => t.id === (query.get("tab") ?? tabParam))?.id ?? "invoices";
  /** The action whose effect the banner follows until the run reaches its end state. */
  let following: Action | null = null;
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
  const buttons = new Map<BillRunAction, HTMLButtonElement>();
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
    h("p", { class: "breadcrumb" }, h("a", { href: "/bill-runs" }, "← Bill runs")),
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
    // The banner of an action under way says how it ended, once the run got there.
    if (following && !["POST_IN_PROGRESS", "CANCEL_IN_PROGRESS"].includes(next.status)) {
      const done = following.done(next);
      if (done) {
        following = null;
        actionMessage.className = next.status === "COMPLETED" && next.errorMessage ? "action-message error" : "action-message success";
        actionMessage.textContent = done;
      }
    }
  }

  function renderCounters(): void {
    if (!run) return;
    const item = (label: string, value: Child, key: string) => h("div", { class: "counter", "data-counter": key }, h("dt", {}, label), h("dd", {}, value));
    fill(
      counters,
      item("Accounts processed", `${formatCount(run.accountsProcessed)} / ${formatCount(run.accountsTotal)}`, "accounts"),
      item("Invoices", formatCount(run.invoiceCount), "invoices"),
      item("Zero-amount invoices", formatCount(run.zeroAmountInvoiceCount), "zero"),
      item("Credit memos", formatCount(run.creditMemoCount), "credit-memos"),
      item("Failed accounts", formatCount(run.failedAccountCount), "failed"),
      speed(run) ? item("Duration", speed(run), "duration") : null,
      h("div", { class: "counter counter-wide", "data-counter": "totals" }, h("dt", {}, "Invoice total"), h("dd", {}, formatTotals(run.invoiceTotals))),
    );
    tabButtons.get("invoices")!.textContent = `Invoices (${formatCount(run.invoiceCount)})`;
    tabButtons.get("credit-memos")!.textContent = `Credit memos (${formatCount(run.creditMemoCount)})`;
    tabButtons.get("failed")!.textContent = `Failed accounts or subscriptions (${formatCount(run.failedAccountCount)})`;
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
            : `Processing: ${formatCount(run.accountsProcessed)} of ${formatCount(run.accountsTotal)} accounts`;
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
      row("Created", [
        formatDateTime(run.createdAt),
        run.createdBy
          ? ` by ${run.createdBy.email}`
          : run.schedule
            ? [" by ", h("a", { href: `/schedules/${encodeURIComponent(run.schedule.id)}` }, "a schedule")]
            : "",
      ]),
      row("Started", formatDateTime(run.startedAt)),
      row("Completed", formatDateTime(run.completedAt)),
      row("Posted", formatDateTime(run.postedAt)),
      run.retriedFrom ? row("Retry of", h("a", { href: `/bill-runs/${encodeURIComponent(run.retriedFrom.id)}` }, run.retriedFrom.billRunNumber)) : null,
      row("Times shown in", userTimeZone()),
    );
  }

  function updateActions(): void {
    const operator = canOperate();
    for (const action of ACTIONS) {
      const button = buttons.get(action.id)!;
      const enabled = !busy && run !== null && operator && run.availableActions.includes(action.id);
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
    following = null;
    updateActions();
    actionMessage.textContent = "";
    actionMessage.className = "action-message";
    delete actionMessage.dataset.code;
    try {
      const outcome = await runAction(action, current);
      if (outcome.kind === "refused") {
        if (outcome.error.code === "INVALID_STATE" || outcome.error.code === "NOT_FOUND") return await changedUnderneath(action, current, outcome.error);
        actionMessage.className = "action-message error";
        actionMessage.textContent = `${action.label} refused: ${outcome.error.message}`;
        actionMessage.dataset.code = outcome.error.code;
        return;
      }
      if (outcome.kind === "deleted") {
        session.notice = `Bill run ${current.billRunNumber} deleted.`;
        navigate("/bill-runs");
        return;
      }
      if (outcome.kind === "retried") {
        // The operator stays on the run under review; the retry is one click away.
        actionMessage.className = "action-message success";
        fill(
          actionMessage,
          "Retry run ",
          h("a", { href: `/bill-runs/${encodeURIComponent(outcome.id)}`, "data-retry-run": outcome.id }, outcome.billRunNumber),
          ` created for the failed accounts of ${current.billRunNumber}.`,
        );
        void load();
        return;
      }
      following = action;
      actionMessage.className = "action-message success";
      actionMessage.textContent = action.progress ? action.progress(current) : `${current.billRunNumber}: ${statusLabel(outcome.run.status)}.`;
      setRun(outcome.run);
      void loadPanel(activeTab);
    } catch (error) {
      actionMessage.className = "action-message error";
      actionMessage.textContent = `${action.label} failed: ${(error as ApiError).message}`;
    } finally {
      busy = false;
      updateActions();
    }
  }

  /**
   * A refusal by state: if someone else moved the run (or deleted it) since this page showed it,
   * say so and show it as it now is; otherwise the API's reason.
   */
  async function changedUnderneath(action: Action, before: DashboardRunDetailFragment, error: ResultError): Promise<void> {
    await load();
    const now = run;
    actionMessage.dataset.code = error.code;
    if (now && now.status === before.status) {
      actionMessage.className = "action-message error";
      actionMessage.textContent = `${action.label} refused: ${error.message}`;
      return;
    }
    actionMessage.className = "action-message warning";
    actionMessage.textContent = now
      ? `${action.label} was not done: ${before.billRunNumber} changed meanwhile and is now ${statusLabel(now.status)}. This page shows it as it is now.`
      : `${action.label} was not done: ${before.billRunNumber} no longer exists (${error.message}).`;
  }

  async function runAction(action: Action, current: DashboardRunDetailFragment): Promise<Outcome> {
    switch (action.id) {
      case "POST": {
        const result = (await request(DashboardPostBillRunDocument, { id: current.id })).postBillRun;
        return result.__typename === "BillRun" ? { kind: "run", run: result } : { kind: "refused", error: result };
      }
      case "PAUSE": {
        const result = (await request(DashboardPauseBillRunDocument, { id: current.id })).pauseBillRun;
        return result.__typename === "BillRun" ? { kind: "run", run: result } : { kind: "refused", error: result };
      }
      case "RESUME": {
        const result = (await request(DashboardResumeBillRunDocument, { id: current.id })).resumeBillRun;
        return result.__typename === "BillRun" ? { kind: "run", run: result } : { kind: "refused", error: result };
      }
      case "CANCEL": {
        const result = (await request(DashboardCancelBillRunDocument, { id: current.id })).cancelBillRun;
        return result.__typename === "BillRun" ? { kind: "run", run: result } : { kind: "refused", error: result };
      }
      case "DELETE": {
        const result = (await request(DashboardDeleteBillRunDocument, { id: current.id })).deleteBillRun;
        return result.__typename === "DeleteBillRunPayload" ? { kind: "deleted" } : { kind: "refused", error: result };
      }
      case "RETRY": {
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
    setAddress(`/bill-runs/${encodeURIComponent(id)}${tab === "invoices" ? "" : `/${tab}`}`);
    void loadPanel(tab);
  }

  function onTabKey(event: KeyboardEvent): void {
    const order = TABS.map((t) => t.id);
    const index = order.indexOf(activeTab);
    const next =
      event.key === "ArrowRight"
        ? order[(index + 1) % order.length]
        : event.key === "ArrowLeft"
          ? order[(index - 1 + order.length) % order.length]
          : event.key === "Home"
            ? order[0]
            : event.key === "End"
              ? order[order.length - 1]
              : null;
    if (!next) return;
    event.preventDefault();
    selectTab(next, true);
  }

  const panelLoads = new Map<TabId, number>();
  const invoiceFilter = invoiceFilterForm(pagers.invoices, () => void loadPanel("invoices"));
  const invoiceResults = h("div", { class: "results" });
  panels.get("invoices")!.append(invoiceFilter.form, invoiceResults);
  async function loadPanel(tab: TabId): Promise<void> {
    const panel = tab === "invoices" ? invoiceResults : panels.get(tab)!;
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
    const filter = invoiceFilter.current();
    if (filter.error) return h("p", { class: "error", role: "alert" }, filter.error);
    const data = await request(DashboardInvoicesDocument, { id, first: pager.pageSize, after: pager.after, ...filter.variables });
    const connection = data.billRun?.invoices;
    if (!connection || connection.totalCount === 0) return h("p", { class: "empty" }, filter.active ? "No invoices match these filters." : "No invoices.");
    return [
      exportBar(["invoices", "Export CSV"], ["items", "Export items CSV"]),
      table(
        "Invoices",
        ["Invoice", "Account", "Status", "Amount", "Balance", "Invoice date", "Due date", "Document"],
        connection.edges.map(({ node: i }) => [
          h("a", { href: `/invoices/${encodeURIComponent(i.id)}` }, i.invoiceNumber),
          accountLink(i.account),
          i.status,
          formatMoney(i.amount, i.currency),
          formatMoney(i.balance, i.currency),
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
          h("a", { href: `/credit-memos/${encodeURIComponent(c.id)}` }, c.creditMemoNumber),
          accountLink(c.account),
          c.status,
          formatMoney(c.amount, c.currency),
          formatMoney(c.balance, c.currency),
          c.invoiceDate,
          pdfButton(`/documents/credit-memos/${encodeURIComponent(c.id)}.pdf`, c.creditMemoNumber),
        ]),
        [3, 4],
      ),
      pagerControls(
        "Credit memo",
        pager,
        connection.totalCount,
        connection.pageInfo.hasNextPage,
        connection.pageInfo.endCursor ?? null,
        reloadPanel("credit-memos"),
      ),
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
          // The account page links back here: fix the account, come back, retry.
          h("a", { href: `/accounts/${encodeURIComponent(f.account.id)}?from=${encodeURIComponent(`/bill-runs/${id}/failed`)}` }, f.account.accountNumber),
          f.account.name,
          h("code", {}, f.code),
          f.message,
          f.subscriptions.length === 0
            ? "—"
            : h(
                "ul",
                { class: "plain" },
                f.subscriptions.map((s) => h("li", {}, h("strong", {}, s.subscription.subscriptionNumber), " ", h("code", {}, s.code), `: ${s.message}`)),
              ),
        ]),
      ),
      pagerControls(
        "Failed account",
        pager,
        connection.totalCount,
        connection.pageInfo.hasNextPage,
        connection.pageInfo.endCursor ?? null,
        reloadPanel("failed"),
      ),
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
      {
        type: "button",
        class: "link-button",
        "data-download": "pdf",
        "aria-label": `Download PDF of ${number}`,
        onclick: () => void saveFile(button, path, `${number}.pdf`),
      },
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
        const button: HTMLButtonElement = h(
          "button",
          { type: "button", "data-export": name, onclick: () => void saveFile(button, path, `${run?.billRunNumber ?? "bill-run"}-${name}.csv`) },
          label,
        );
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

function accountLink(account: { id: string; accountNumber: string; name: string }): Child {
  return [h("a", { href: `/accounts/${encodeURIComponent(account.id)}` }, account.accountNumber), ` · ${account.name}`];
}

/** "2 min 3 s · 81 accounts/s" once the run has finished billing; from startedAt and completedAt. */
function speed(run: DashboardRunDetailFragment): string | null {
  if (!run.startedAt || !run.completedAt) return null;
  const seconds = Math.max(0, (Date.parse(run.completedAt) - Date.parse(run.startedAt)) / 1000);
  const rate = seconds > 0 ? `${new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 }).format(run.accountsProcessed / seconds)} accounts/s` : null;
  return [formatDuration(seconds), rate].filter(Boolean).join(" · ");
}

interface InvoiceFilterState {
  variables: { accountId?: string | null; minAmount?: string | null; maxAmount?: string | null; orderBy?: InvoiceOrder | null };
  active: boolean;
  error: string | null;
}

/**
 * The filters above a run's invoices: an account (by number or name, with suggestions from
 * `accounts(search:)`), an amount range, the order and the page size. `apply` runs on submit.
 */
function invoiceFilterForm(pager: Pager, apply: () => void) {
  const accountInput = h("input", {
    type: "search",
    id: "invoice-account",
    list: "invoice-account-options",
    autocomplete: "off",
    placeholder: "number or name",
  });
  const options = h("datalist", { id: "invoice-account-options" });
  const minInput = h("input", { type: "text", id: "invoice-min", inputmode: "decimal", size: 8, placeholder: "any" });
  const maxInput = h("input", { type: "text", id: "invoice-max", inputmode: "decimal", size: 8, placeholder: "any" });
  const order = h(
    "select",
    { id: "invoice-order" },
    h("option", { value: "NUMBER" }, "Invoice number"),
    h("option", { value: "AMOUNT_DESC" }, "Amount, largest first"),
    h("option", { value: "AMOUNT_ASC" }, "Amount, smallest first"),
  );
  const size = h(
    "select",
    { id: "invoice-page-size" },
    [20, 50, 100].map((n) => h("option", { value: n }, String(n))),
  );
  let suggestions: { id: string; accountNumber: string; name: string }[] = [];
  let accountId: string | null = null;
  let error: string | null = null;
  const label = (a: { accountNumber: string; name: string }) => `${a.accountNumber} · ${a.name}`;
  accountInput.addEventListener(
    "input",
    debounce(async () => {
      const term = accountInput.value.trim();
      if (term.length < 2) return;
      suggestions = (await request(DashboardAccountSuggestionsDocument, { search: term, first: 10 })).accounts.edges.map((e) => e.node);
      fill(
        options,
        suggestions.map((a) => h("option", { value: label(a) })),
      );
    }, 200),
  );
  async function resolveAccount(): Promise<void> {
    const term = accountInput.value.trim();
    accountId = null;
    error = null;
    if (!term) return;
    const known = suggestions.find((a) => label(a) === term || a.accountNumber.toLowerCase() === term.toLowerCase());
    if (known) return void (accountId = known.id);
    const found = (await request(DashboardAccountSuggestionsDocument, { search: term, first: 2 })).accounts.edges.map((e) => e.node);
    if (found.length === 1) accountId = found[0]!.id;
    else error = found.length === 0 ? `No account matches "${term}".` : `More than one account matches "${term}": pick one from the suggestions.`;
  }
  const form = h(
    "form",
    {
      class: "filters",
      "aria-label": "Filter invoices",
      onsubmit: (event: Event) => {
        event.preventDefault();
        void resolveAccount().then(() => {
          pager.reset();
          pager.pageSize = Number(size.value);
          apply();
        });
      },
    },
    h("div", { class: "field inline" }, h("label", { for: "invoice-account" }, "Account"), accountInput, options),
    h("div", { class: "field inline" }, h("label", { for: "invoice-min" }, "Amount from"), minInput),
    h("div", { class: "field inline" }, h("label", { for: "invoice-max" }, "to"), maxInput),
    h("div", { class: "field inline" }, h("label", { for: "invoice-order" }, "Sort by"), order),
    h("div", { class: "field inline" }, h("label", { for: "invoice-page-size" }, "Per page"), size),
    h("button", { type: "submit" }, "Apply"),
  );
  const decimal = /^\d{1,15}(\.\d{1,8})?$/;
  return {
    form,
    current(): InvoiceFilterState {
      const min = minInput.value.trim().replace(/,/g, "");
      const max = maxInput.value.trim().replace(/,/g, "");
      if ((min && !decimal.test(min)) || (max && !decimal.test(max)))
        return { variables: {}, active: true, error: "Amounts are numbers such as 100 or 99.50." };
      if (error) return { variables: {}, active: true, error };
      const variables = { accountId, minAmount: min || null, maxAmount: max || null, orderBy: order.value as InvoiceOrder };
      return { variables, active: Boolean(accountId || min || max), error: null };
    },
  };
}

function debounce(fn: () => void | Promise<void>, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(() => void fn(), ms);
  };
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
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          headers.map((label, i) => h("th", { scope: "col", class: numeric.includes(i) ? "num" : undefined }, label)),
        ),
      ),
      h(
        "tbody",
        {},
        rows.map((cells) =>
          h(
            "tr",
            {},
            cells.map((cell, i) => (i === 0 ? h("th", { scope: "row" }, cell) : h("td", { class: numeric.includes(i) ? "num" : undefined }, cell))),
          ),
        ),
      ),
    ),
  );
}
