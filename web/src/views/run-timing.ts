// The "Timing" block of a run's page: wall time, time per phase and throughput (BillRun.metrics).
import { request } from "../api.ts";
import { fill, h } from "../dom.ts";
import { DashboardRunMetricsDocument } from "../../../src/generated/graphql/graphql.ts";

/** "850 ms", "42 s", "3 min 05 s", "2 h 07 min"; "—" when the phase has not happened. */
export function formatSeconds(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  const s = Math.round(value);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  const minutes = Math.round(s / 60);
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

const perSecond = (value: number | null | undefined) =>
  value === null || value === undefined ? "—" : `${value.toLocaleString(undefined, { maximumFractionDigits: 1 })}/s`;

/** A self-contained section; `refresh()` reloads it (call it when the run changes). */
export function runTimingBlock(billRunId: string): { element: HTMLElement; refresh: () => Promise<void> } {
  const list = h("dl", { class: "details" });
  const element = h("section", { "aria-label": "Timing", class: "run-timing", "data-block": "timing" }, h("h2", {}, "Timing"), list);
  let loads = 0;
  return {
    element,
    refresh: async () => {
      const mine = ++loads;
      const data = await request(DashboardRunMetricsDocument, { id: billRunId }).catch(() => null);
      const m = data?.billRun?.metrics;
      if (mine !== loads || !m) return;
      const row = (label: string, value: string, key: string) => [h("dt", {}, label), h("dd", { "data-metric": key }, value)];
      fill(
        list,
        row("Wall time", formatSeconds(m.wallSeconds), "wall"),
        row("Waiting", formatSeconds(m.waitingSeconds), "waiting"),
        row("Processing", formatSeconds(m.processingSeconds), "processing"),
        row("Posting", formatSeconds(m.postingSeconds), "posting"),
        row("Accounts", perSecond(m.accountsPerSecond), "accounts-per-second"),
        row("Documents", perSecond(m.documentsPerSecond), "documents-per-second"),
      );
    },
  };
}
