// Schedules: when each one runs next, with pause and resume.
import { ApiError, asError, request } from "../api.ts";
import { h, fill, formatDateTime, Pager, pagerControls, type Child } from "../dom.ts";
import { announce, canOperate, type Cleanup } from "../session.ts";
import {
  DashboardPauseScheduleDocument,
  DashboardResumeScheduleDocument,
  DashboardSchedulesDocument,
  type DashboardScheduleRowFragment,
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

function rule(s: DashboardScheduleRowFragment): string {
  if (s.repeatType === "DAILY") return "Every day";
  if (s.repeatType === "WEEKLY") return `Every ${DAY_NAMES[s.weeklyOnDay ?? ""] ?? "week"}`;
  if (s.monthlyOnEndOfMonth) return "Monthly, on the last day";
  return `Monthly, on day ${s.dayOfMonth ?? "?"}`;
}

export function renderSchedules(main: HTMLElement): Cleanup {
  const pager = new Pager(PAGE_SIZE);
  let disposed = false;
  const message = h("p", { class: "action-message", role: "alert", tabindex: "-1" });
  const content = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  fill(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "Schedules")),
    h("p", { class: "muted" }, "Next run times are shown in each schedule's own time zone."),
    message,
    content,
  );

  async function load(): Promise<void> {
    try {
      const { billRunSchedules: connection } = await request(DashboardSchedulesDocument, { first: PAGE_SIZE, after: pager.after });
      if (disposed) return;
      if (connection.totalCount === 0) return fill(content, h("p", { class: "empty" }, "No schedules yet."));
      fill(
        content,
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            {},
            h("caption", { class: "visually-hidden" }, "Bill run schedules"),
            h("thead", {}, h("tr", {}, ["Repeats", "Run time", "Next run", "Last run", "Period", "Owner", "Status", "Actions"].map((label) => h("th", { scope: "col" }, label)))),
            h("tbody", {}, connection.edges.map(({ node }) => row(node))),
          ),
        ),
        pagerControls("Schedule", pager, connection.totalCount, connection.pageInfo.hasNextPage, connection.pageInfo.endCursor ?? null, () => void load()),
      );
    } catch (error) {
      if (!disposed) fill(content, h("p", { class: "error", role: "alert" }, (error as ApiError).message));
    }
  }

  function row(s: DashboardScheduleRowFragment): HTMLTableRowElement {
    const label = `${rule(s)} at ${s.runTime}`;
    const action: Child =
      s.status === "ACTIVE"
        ? h("button", { type: "button", disabled: !canOperate(), "aria-label": `Pause schedule: ${label}`, onclick: () => void toggle(s, "pause") }, "Pause")
        : s.status === "PAUSED"
          ? h("button", { type: "button", disabled: !canOperate(), "aria-label": `Resume schedule: ${label}`, onclick: () => void toggle(s, "resume") }, "Resume")
          : "—";
    return h(
      "tr",
      { "data-id": s.id },
      h("th", { scope: "row" }, rule(s)),
      h("td", {}, `${s.runTime} ${s.timeZone}`),
      h("td", { "data-next-run": s.nextRunAt ?? "" }, s.nextRunAt ? formatDateTime(s.nextRunAt, s.timeZone) : "—"),
      h("td", {}, s.lastRunAt ? formatDateTime(s.lastRunAt, s.timeZone) : "—"),
      h("td", {}, `${s.repeatFrom} → ${s.repeatTo ?? "no end"}`),
      h("td", {}, s.owner.email),
      h("td", {}, h("span", { class: `badge badge-schedule-${s.status.toLowerCase()}`, "data-status": s.status }, s.status === "ACTIVE" ? "Active" : s.status === "PAUSED" ? "Paused" : "Canceled")),
      h("td", {}, action),
    );
  }

  async function toggle(s: DashboardScheduleRowFragment, action: "pause" | "resume"): Promise<void> {
    message.textContent = "";
    message.className = "action-message";
    try {
      const result =
        action === "pause"
          ? (await request(DashboardPauseScheduleDocument, { id: s.id })).pauseBillRunSchedule
          : (await request(DashboardResumeScheduleDocument, { id: s.id })).resumeBillRunSchedule;
      const refused = asError(result);
      if (refused) {
        message.className = "action-message error";
        message.textContent = `${action === "pause" ? "Pause" : "Resume"} refused: ${refused.message}`;
        return;
      }
      announce(`Schedule ${action === "pause" ? "paused" : "resumed"}.`);
      await load();
      // Keeps keyboard users where they were: on the row's (now opposite) button.
      content.querySelector<HTMLElement>(`tr[data-id="${CSS.escape(s.id)}"] button`)?.focus();
    } catch (error) {
      message.className = "action-message error";
      message.textContent = (error as ApiError).message;
    }
  }

  void load();
  return () => {
    disposed = true;
  };
}
