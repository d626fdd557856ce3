import { describe, expect, it } from "vitest";
import { formatDate, parseDate } from "./dates.ts";
import { periodSchedule, periodsBetween } from "./periods.ts";

function starts(views: { start: string; end: string; days: number; fullDays: number }[]) {
  return views.map((view) => [view.start, view.end, view.days, view.fullDays]);
}

describe("anchor", () => {
  it.each([
    ["2026-01-10", 1, "2026-02-01"],
    ["2026-01-01", 1, "2026-01-01"],
    ["2026-02-28", 31, "2026-02-28"],
    ["2026-02-10", 31, "2026-02-28"],
    ["2026-01-31", 30, "2026-02-28"],
    ["2027-02-28", 29, "2027-02-28"],
    ["2028-02-28", 29, "2028-02-29"],
    ["2026-12-20", 15, "2027-01-15"],
  ])("start %s, bill cycle day %i → anchor %s", (start, billCycleDay, anchor) => {
    expect(formatDate(periodSchedule(parseDate(start), billCycleDay, 1).anchor)).toBe(anchor);
  });

  it("rejects a bill cycle day outside 1–31", () => {
    expect(() => periodSchedule(parseDate("2026-01-01"), 0, 1)).toThrow(/1 to 31/);
    expect(() => periodSchedule(parseDate("2026-01-01"), 32, 1)).toThrow(/1 to 31/);
  });
});

describe("periods", () => {
  it("SPEC example 5: bill cycle day 31 from 2026-02-28 follows month ends without drifting", () => {
    expect(starts(periodsBetween("2026-02-28", 31, "MONTH", "2026-02-28", "2026-07-31"))).toEqual([
      ["2026-02-28", "2026-03-31", 31, 31],
      ["2026-03-31", "2026-04-30", 30, 30],
      ["2026-04-30", "2026-05-31", 31, 31],
      ["2026-05-31", "2026-06-30", 30, 30],
      ["2026-06-30", "2026-07-31", 31, 31],
    ]);
  });

  it("a partial first period is prorated against the full period before the anchor", () => {
    expect(starts(periodsBetween("2026-01-10", 1, "MONTH", "2026-01-10", "2026-03-01"))).toEqual([
      ["2026-01-10", "2026-02-01", 22, 31],
      ["2026-02-01", "2026-03-01", 28, 28],
    ]);
  });

  it("bill cycle day 29 lands on 29 February in 2028 and 28 February in 2027", () => {
    expect(starts(periodsBetween("2028-01-29", 29, "MONTH", "2028-01-29", "2028-03-29"))).toEqual([
      ["2028-01-29", "2028-02-29", 31, 31],
      ["2028-02-29", "2028-03-29", 29, 29],
    ]);
    expect(starts(periodsBetween("2027-01-29", 29, "MONTH", "2027-01-29", "2027-03-29"))).toEqual([
      ["2027-01-29", "2027-02-28", 30, 30],
      ["2027-02-28", "2027-03-29", 29, 29],
    ]);
  });

  it.each([
    ["QUARTER", "2026-02-15", 1, ["2026-02-15", "2026-03-01", 14, 90], ["2026-03-01", "2026-06-01", 92, 92]],
    ["SEMI_ANNUAL", "2026-01-01", 15, ["2026-01-01", "2026-01-15", 14, 184], ["2026-01-15", "2026-07-15", 181, 181]],
    ["ANNUAL", "2026-03-15", 1, ["2026-03-15", "2026-04-01", 17, 365], ["2026-04-01", "2027-04-01", 365, 365]],
    ["ANNUAL", "2028-02-29", 29, ["2028-02-29", "2029-02-28", 365, 365], ["2029-02-28", "2030-02-28", 365, 365]],
  ] as const)("%s from %s (bill cycle day %i)", (period, start, billCycleDay, first, second) => {
    const views = periodsBetween(start, billCycleDay, period, start, "2031-01-01");
    expect(starts(views.slice(0, 2))).toEqual([first, second]);
  });

  it("cuts a stretch at the boundaries and prorates each piece in its own period", () => {
    expect(starts(periodsBetween("2026-01-10", 1, "MONTH", "2026-02-15", "2026-04-10"))).toEqual([
      ["2026-02-15", "2026-03-01", 14, 28],
      ["2026-03-01", "2026-04-01", 31, 31],
      ["2026-04-01", "2026-04-10", 9, 30],
    ]);
  });
});
