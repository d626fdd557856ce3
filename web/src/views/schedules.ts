// Schedules: each one's rule and every option of the runs it creates; create, edit, pause,
// resume and cancel. The API has no update of a schedule: saving an edit creates the new
// schedule and then cancels the old one (both are kept in the list, the old one as Canceled).
import { ApiError, asError, request } from "../api.ts";
import { h, fill, formatDateTime, Pager, pagerControls, type Child } from "../dom.ts";
import { navigate } from "../router.ts";
import { announce, canOperate, type Cleanup } from "../session.ts";
import {
  DashboardCancelScheduleDocument,
  DashboardCreateScheduleDocument,
  DashboardPauseScheduleDocument,
  DashboardResumeScheduleDocument,
  DashboardScheduleDocument,
  DashboardSchedulesDocument,
  type ChargeType,
  type CreateBillRunScheduleInput,
  type DashboardScheduleRowFragment,
  type DayOfWeek,
  type RepeatType,
} from "../../../src/generated/graphql/graphql.ts";

const PAGE_SIZE = 25;
const DAY_NAMES: Record<string, string> = {
  MONDAY: "Monday",
  TUESDAY: "Tuesday",
  WEDNESDAY: "Wednesday",
  THURSDAY: "Thursday",
  FRIDAY: "Friday",
  SATURDAY: "Saturday",
  SUNDAY: "Sunday",
};
const CHARGE_LABELS: Record<string, string> = { ONE_TIME: "one-time", RECURRING: "recurring", USAGE: "usage" };

function rule(s: DashboardScheduleRowFragment): string {
  if (s.repeatType === "DAILY") return "Every day";
  if (s.repeatType === "WEEKLY") return `Every ${DAY_NAMES[s.weeklyOnDay ?? ""] ?? "week"}`;
  if (s.monthlyOnEndOfMonth) return "Monthly, on the last day";
  return `Monthly, on day ${s.dayOfMonth ?? "?"}`;
}

const days = (n: number) => (n === 0 ? "the day itself" : `${Math.abs(n)} day${Math.abs(n) === 1 ? "" : "s"} ${n > 0 ? "after" : "before"}`);

/** Every option of the runs a schedule creates, as short phrases. */
function options(s: DashboardScheduleRowFragment): string[] {
  const scope =
    s.accountIds.length > 0
      ? `${s.accountIds.length} specific account${s.accountIds.length === 1 ? "" : "s"}`
      : s.subscriptionIds.length > 0
        ? `${s.subscriptionIds.length} specific subscription${s.subscriptionIds.length === 1 ? "" : "s"}`
        : `batches ${s.batches.length ? s.batches.join(", ") : "all"}; bill cycle day ${s.billCycleDay ?? "all"}`;
  return [
    `Target date: ${days(s.targetDateOffsetDays)}`,
    `Invoice date: ${days(s.invoiceDateOffsetDays)}`,
    `Accounts: ${scope}`,
    `Excluded: ${s.chargeTypesToExclude.length ? s.chargeTypesToExclude.map((c) => CHARGE_LABELS[c] ?? c).join(", ") : "none"}`,
    `Auto-post: ${s.autoPost ? "yes" : "no"}`,
    `Auto-email: ${s.autoEmail ? (s.noEmailForZeroAmountInvoice ? "yes, except zero-amount invoices" : "yes") : "no"}`,
  ];
}

export function renderSchedules(main: HTMLElement, selectedId: string | null): Cleanup {
  const pager = new Pager(PAGE_SIZE);
  let disposed = false;
  const message = h("p", { class: "action-message", role: "alert", tabindex: "-1" });
  const formBox = h("div", {});
  const content = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const newButton = h("button", { type: "button", class: "primary", disabled: !canOperate(), onclick: () => openForm(null) }, "New schedule");
  fill(
    main,
    selectedId ? h("p", { class: "breadcrumb" }, h("a", { href: "/schedules" }, "← Schedules")) : null,
    h("div", { class: "page-head" }, h("h1", {}, selectedId ? "Schedule" : "Schedules"), selectedId ? null : newButton),
    h("p", { class: "muted" }, "Run times are shown in each schedule's own time zone."),
    message,
    formBox,
    content,
  );

  async function load(): Promise<void> {
    try {
      let rows: DashboardScheduleRowFragment[];
      let pagerBox: Child = null;
      if (selectedId) {
        const { billRunSchedule } = await request(DashboardScheduleDocument, { id: selectedId });
        if (disposed) return;
        if (!billRunSchedule) return fill(content, h("p", { class: "empty" }, "This schedule does not exist."));
        rows = [billRunSchedule];
      } else {
        const { billRunSchedules: connection } = await request(DashboardSchedulesDocument, { first: PAGE_SIZE, after: pager.after });
        if (disposed) return;
        if (connection.totalCount === 0) return fill(content, h("p", { class: "empty" }, "No schedules yet."));
        rows = connection.edges.map((e) => e.node);
        pagerBox = pagerControls(
          "Schedule",
          pager,
          connection.totalCount,
          connection.pageInfo.hasNextPage,
          connection.pageInfo.endCursor ?? null,
          () => void load(),
        );
      }
      fill(
        content,
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "schedules" },
            h("caption", { class: "visually-hidden" }, "Bill run schedules"),
            h(
              "thead",
              {},
              h(
                "tr",
                {},
                ["Repeats", "Run time", "Next run", "Last run", "Period", "Runs it creates", "Owner", "Status", "Actions"].map((label) =>
                  h("th", { scope: "col" }, label),
                ),
              ),
            ),
            h("tbody", {}, rows.map(row)),
          ),
        ),
        pagerBox,
      );
    } catch (error) {
      if (!disposed) fill(content, h("p", { class: "error", role: "alert" }, (error as ApiError).message));
    }
  }

  function row(s: DashboardScheduleRowFragment): HTMLTableRowElement {
    const label = `${rule(s)} at ${s.runTime}`;
    const button = (text: string, onclick: () => void) =>
      h("button", { type: "button", disabled: !canOperate(), "aria-label": `${text} schedule: ${label}`, onclick }, text);
    const actions: Child =
      s.status === "CANCELED"
        ? "—"
        : [
            s.status === "ACTIVE" ? button("Pause", () => void act(s, "pause")) : button("Resume", () => void act(s, "resume")),
            button("Edit", () => openForm(s)),
            button("Cancel", () => void act(s, "cancel")),
          ];
    return h(
      "tr",
      { "data-id": s.id },
      h("th", { scope: "row" }, h("a", { href: `/schedules/${encodeURIComponent(s.id)}` }, rule(s))),
      h("td", {}, `${s.runTime} ${s.timeZone}`),
      h("td", { "data-next-run": s.nextRunAt ?? "" }, s.nextRunAt ? formatDateTime(s.nextRunAt, s.timeZone) : "—"),
      h("td", {}, s.lastRunAt ? formatDateTime(s.lastRunAt, s.timeZone) : "—"),
      h("td", {}, `${s.repeatFrom} → ${s.repeatTo ?? "no end"}`),
      h(
        "td",
        { "data-options": "" },
        h(
          "ul",
          { class: "plain options" },
          options(s).map((o) => h("li", {}, o)),
        ),
      ),
      h("td", {}, s.owner.email),
      h(
        "td",
        {},
        h(
          "span",
          { class: `badge badge-schedule-${s.status.toLowerCase()}`, "data-status": s.status },
          s.status === "ACTIVE" ? "Active" : s.status === "PAUSED" ? "Paused" : "Canceled",
        ),
      ),
      h("td", { class: "row-actions" }, actions),
    );
  }

  async function act(s: DashboardScheduleRowFragment, action: "pause" | "resume" | "cancel"): Promise<void> {
    if (
      action === "cancel" &&
      !window.confirm(`Cancel the schedule "${rule(s)} at ${s.runTime} ${s.timeZone}"? It creates no more runs; runs it created are kept.`)
    )
      return;
    message.textContent = "";
    message.className = "action-message";
    const label = { pause: "Pause", resume: "Resume", cancel: "Cancel" }[action];
    try {
      const result =
        action === "pause"
          ? (await request(DashboardPauseScheduleDocument, { id: s.id })).pauseBillRunSchedule
          : action === "resume"
            ? (await request(DashboardResumeScheduleDocument, { id: s.id })).resumeBillRunSchedule
            : (await request(DashboardCancelScheduleDocument, { id: s.id })).cancelBillRunSchedule;
      const refused = asError(result);
      if (refused) {
        message.className = "action-message error";
        message.textContent = `${label} refused: ${refused.message}`;
        return;
      }
      announce(`Schedule ${{ pause: "paused", resume: "resumed", cancel: "canceled" }[action]}.`);
      await load();
      // Keeps keyboard users where they were: on the row's first button (or its link).
      content.querySelector<HTMLElement>(`tr[data-id="${CSS.escape(s.id)}"] button, tr[data-id="${CSS.escape(s.id)}"] a`)?.focus();
    } catch (error) {
      message.className = "action-message error";
      message.textContent = (error as ApiError).message;
    }
  }

  function openForm(editing: DashboardScheduleRowFragment | null): void {
    fill(
      formBox,
      scheduleForm(
        editing,
        async (input) => {
          const { createBillRunSchedule: created } = await request(DashboardCreateScheduleDocument, { input });
          const refused = asError(created);
          if (refused) return refused;
          if (created.__typename !== "BillRunSchedule") return null;
          if (editing) {
            const { cancelBillRunSchedule: old } = await request(DashboardCancelScheduleDocument, { id: editing.id });
            const oldRefused = asError(old);
            message.className = oldRefused ? "action-message warning" : "action-message success";
            message.textContent = oldRefused
              ? `The new schedule was saved, but the old one could not be canceled: ${oldRefused.message}. Cancel it from the list.`
              : "Schedule saved (as a new schedule; the old one is canceled).";
          } else {
            message.className = "action-message success";
            message.textContent = "Schedule created.";
          }
          fill(formBox);
          if (selectedId) navigate(`/schedules/${encodeURIComponent(created.id)}`, { replace: true });
          else await load();
          return null;
        },
        () => fill(formBox),
      ),
    );
    formBox.querySelector<HTMLElement>("select, input")?.focus();
  }

  void load();
  return () => {
    disposed = true;
  };
}

/** The create (or edit) form; `save` answers the API's refusal, shown next to the field it names. */
function scheduleForm(
  editing: DashboardScheduleRowFragment | null,
  save: (input: CreateBillRunScheduleInput) => Promise<{ message: string; field?: string[] | null } | null>,
  close: () => void,
): HTMLElement {
  const e = editing;
  const input = (id: string, attrs: Record<string, string | number | boolean | undefined> = {}) => h("input", { id, name: id, ...attrs });
  const repeatType = h(
    "select",
    { id: "s-repeatType" },
    (["DAILY", "WEEKLY", "MONTHLY"] as RepeatType[]).map((r) => h("option", { value: r, selected: e?.repeatType === r }, r.toLowerCase())),
  );
  const weeklyOnDay = h(
    "select",
    { id: "s-weeklyOnDay" },
    Object.entries(DAY_NAMES).map(([v, l]) => h("option", { value: v, selected: e?.weeklyOnDay === v }, l)),
  );
  const dayOfMonth = input("s-dayOfMonth", { type: "number", min: 1, max: 31, value: e?.dayOfMonth ?? "" });
  const endOfMonth = input("s-endOfMonth", { type: "checkbox", checked: e?.monthlyOnEndOfMonth ?? false });
  const runTime = input("s-runTime", { type: "time", required: true, value: e?.runTime ?? "02:00" });
  const timeZone = input("s-timeZone", {
    type: "text",
    required: true,
    value: e?.timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone,
    autocomplete: "off",
  });
  const repeatFrom = input("s-repeatFrom", { type: "date", value: e?.repeatFrom ?? "" });
  const repeatTo = input("s-repeatTo", { type: "date", value: e?.repeatTo ?? "" });
  const targetOffset = input("s-targetDateOffsetDays", { type: "number", min: -366, max: 366, value: e?.targetDateOffsetDays ?? 0 });
  const invoiceOffset = input("s-invoiceDateOffsetDays", { type: "number", min: -366, max: 366, value: e?.invoiceDateOffsetDays ?? 0 });
  const batches = input("s-batches", { type: "text", value: e?.batches.join(", ") ?? "", placeholder: "all", inputmode: "numeric" });
  const billCycleDay = input("s-billCycleDay", { type: "number", min: 1, max: 31, value: e?.billCycleDay ?? "" });
  const accountNumbers = input("s-accountNumbers", { type: "text", placeholder: "e.g. A-00000001, A-00000002", autocomplete: "off" });
  const charges = (["ONE_TIME", "RECURRING", "USAGE"] as ChargeType[]).map((c) =>
    input(`s-exclude-${c}`, { type: "checkbox", value: c, checked: e?.chargeTypesToExclude.includes(c) ?? false }),
  );
  const autoPost = input("s-autoPost", { type: "checkbox", checked: e?.autoPost ?? false });
  const autoEmail = input("s-autoEmail", { type: "checkbox", checked: e?.autoEmail ?? false });
  const noZero = input("s-noZero", { type: "checkbox", checked: e?.noEmailForZeroAmountInvoice ?? false });
  const error = h("p", { class: "field-error", role: "alert" });
  const field = (label: string, control: HTMLElement, hint?: string) =>
    h("div", { class: "field" }, h("label", { for: control.id }, label), control, hint ? h("p", { class: "hint" }, hint) : null);
  const check = (label: string, control: HTMLElement) => h("div", { class: "check" }, control, h("label", { for: control.id }, label));
  const kept = e && (e.accountIds.length > 0 || e.subscriptionIds.length > 0);

  const form = h(
    "form",
    {
      class: "card form",
      "aria-label": e ? "Edit schedule" : "New schedule",
      onsubmit: async (event: Event) => {
        event.preventDefault();
        error.textContent = "";
        const data: CreateBillRunScheduleInput = {
          repeatType: repeatType.value as RepeatType,
          runTime: runTime.value,
          timeZone: timeZone.value.trim(),
          targetDateOffsetDays: Number(targetOffset.value || 0),
          invoiceDateOffsetDays: Number(invoiceOffset.value || 0),
          autoPost: autoPost.checked,
          autoEmail: autoEmail.checked,
          noEmailForZeroAmountInvoice: autoEmail.checked && noZero.checked,
        };
        if (data.repeatType === "WEEKLY") data.weeklyOnDay = weeklyOnDay.value as DayOfWeek;
        if (data.repeatType === "MONTHLY") {
          if (endOfMonth.checked) data.monthlyOnEndOfMonth = true;
          else if (dayOfMonth.value) data.dayOfMonth = Number(dayOfMonth.value);
        }
        if (repeatFrom.value) data.repeatFrom = repeatFrom.value;
        if (repeatTo.value) data.repeatTo = repeatTo.value;
        const numbers = accountNumbers.value.split(/[\s,]+/).filter(Boolean);
        if (numbers.length > 0) data.accountNumbers = numbers;
        else if (kept) {
          if (e!.accountIds.length) data.accountIds = e!.accountIds;
          else data.subscriptionIds = e!.subscriptionIds;
        } else {
          const list = batches.value
            .split(/[\s,]+/)
            .filter(Boolean)
            .map(Number);
          if (list.some((b) => !Number.isInteger(b))) return void (error.textContent = "Batches are whole numbers, e.g. 1, 2.");
          if (list.length) data.batches = list;
          if (billCycleDay.value) data.billCycleDay = Number(billCycleDay.value);
        }
        const excluded = charges.filter((c) => c.checked).map((c) => c.value as ChargeType);
        if (excluded.length) data.chargeTypesToExclude = excluded;
        try {
          const refused = await save(data);
          if (refused) error.textContent = `Not saved: ${refused.message}`;
        } catch (err) {
          error.textContent = `Not saved: ${(err as ApiError).message}`;
        }
      },
    },
    h("h2", {}, e ? "Edit schedule" : "New schedule"),
    e ? h("p", { class: "hint" }, "Saving creates the schedule anew with these settings and cancels the old one.") : null,
    h(
      "div",
      { class: "grid-2" },
      field("Repeats", repeatType),
      field("On (weekly)", weeklyOnDay),
      field("Day of month (monthly)", dayOfMonth, "In shorter months, the last day."),
      check("Monthly on the last day", endOfMonth),
    ),
    h(
      "div",
      { class: "grid-2" },
      field("Run time", runTime),
      field("Time zone", timeZone, "IANA name, e.g. America/New_York."),
      field("From", repeatFrom, "Empty: today."),
      field("Until", repeatTo, "Empty: no end."),
    ),
    h("div", { class: "grid-2" }, field("Target date offset (days)", targetOffset), field("Invoice date offset (days)", invoiceOffset)),
    h(
      "fieldset",
      {},
      h("legend", {}, "Accounts"),
      kept
        ? h(
            "p",
            { class: "hint" },
            `Kept: the ${e!.accountIds.length || e!.subscriptionIds.length} specific ${e!.accountIds.length ? "accounts" : "subscriptions"} of the schedule, unless account numbers are given.`,
          )
        : null,
      h("div", { class: "grid-2" }, field("Batches", batches, "Empty: every batch."), field("Bill cycle day", billCycleDay, "Empty: every day.")),
      field("Or specific account numbers", accountNumbers),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Excluded charge types (at most two)"),
      charges.map((c) => check(CHARGE_LABELS[c.value]!, c)),
    ),
    h(
      "fieldset",
      {},
      h("legend", {}, "Options"),
      check("Post automatically", autoPost),
      check("Email posted invoices", autoEmail),
      check("Except zero-amount invoices", noZero),
    ),
    error,
    h(
      "div",
      { class: "form-actions" },
      h("button", { type: "submit", class: "primary" }, e ? "Save schedule" : "Create schedule"),
      h("button", { type: "button", onclick: close }, "Close"),
    ),
  );
  return form;
}
