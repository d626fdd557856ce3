import { describe, expect, it } from "vitest";
import { firstOccurrenceAtOrAfter, lastOccurrenceAtOrBefore, occurrenceAfter, type Occurrence, type Recurrence } from "../../src/schedules/recurrence.ts";
import { isValidTimeZone } from "../../src/schedules/timezone.ts";

/** The first `n` occurrences from `from` on, as [local day, UTC instant]. */
function occurrences(rule: Recurrence, from: string, n: number): [string, string][] {
  const out: [string, string][] = [];
  let o: Occurrence | null = firstOccurrenceAtOrAfter(rule, new Date(from));
  while (o && out.length < n) {
    out.push([o.date, o.at.toISOString()]);
    o = occurrenceAfter(rule, o);
  }
  return out;
}

const daily = (runTime: string, timeZone: string, repeatFrom = "2026-01-01"): Recurrence => ({ repeatType: "DAILY", runTime, timeZone, repeatFrom });

describe("daylight-saving changes", () => {
  it("America/New_York, spring forward: 02:30 does not exist on 2026-03-08 and runs at 03:00 EDT, the first instant after the gap", () => {
    expect(occurrences(daily("02:30", "America/New_York"), "2026-03-07T00:00:00Z", 3)).toEqual([
      ["2026-03-07", "2026-03-07T07:30:00.000Z"], // 02:30 EST (-05:00)
      ["2026-03-08", "2026-03-08T07:00:00.000Z"], // 03:00 EDT (-04:00)
      ["2026-03-09", "2026-03-09T06:30:00.000Z"], // 02:30 EDT
    ]);
  });

  it("America/New_York, fall back: 01:30 happens twice on 2026-11-01 and runs once, at the first (EDT)", () => {
    expect(occurrences(daily("01:30", "America/New_York"), "2026-10-31T00:00:00Z", 3)).toEqual([
      ["2026-10-31", "2026-10-31T05:30:00.000Z"],
      ["2026-11-01", "2026-11-01T05:30:00.000Z"], // 01:30 EDT; 01:30 EST (06:30Z) is not an occurrence
      ["2026-11-02", "2026-11-02T06:30:00.000Z"], // 01:30 EST
    ]);
  });

  it("Europe/London: 01:30 is skipped on 2026-03-29 (runs 02:00 BST) and doubled on 2026-10-25 (runs at the first, BST)", () => {
    expect(occurrences(daily("01:30", "Europe/London"), "2026-03-28T00:00:00Z", 3)).toEqual([
      ["2026-03-28", "2026-03-28T01:30:00.000Z"], // GMT
      ["2026-03-29", "2026-03-29T01:00:00.000Z"], // 02:00 BST
      ["2026-03-30", "2026-03-30T00:30:00.000Z"], // 01:30 BST
    ]);
    expect(occurrences(daily("01:30", "Europe/London"), "2026-10-24T00:00:00Z", 3)).toEqual([
      ["2026-10-24", "2026-10-24T00:30:00.000Z"],
      ["2026-10-25", "2026-10-25T00:30:00.000Z"], // the first 01:30 (BST)
      ["2026-10-26", "2026-10-26T01:30:00.000Z"], // GMT
    ]);
  });

  it("keeps the wall-clock time across the change for times the change does not touch", () => {
    const at = occurrences(daily("09:00", "Europe/London"), "2026-03-28T00:00:00Z", 2).map(([, iso]) => iso);
    expect(at).toEqual(["2026-03-28T09:00:00.000Z", "2026-03-29T08:00:00.000Z"]);
  });

  it("handles a half-hour change (Australia/Lord_Howe)", () => {
    // Clocks go from 02:00 to 02:30 on 2026-10-04: 02:15 runs at 02:30 (+11:00).
    expect(occurrences(daily("02:15", "Australia/Lord_Howe"), "2026-10-03T00:00:00Z", 1)).toEqual([["2026-10-04", "2026-10-03T15:30:00.000Z"]]);
  });
});

describe("month ends", () => {
  const monthly31: Recurrence = { repeatType: "MONTHLY", dayOfMonth: 31, runTime: "06:00", timeZone: "UTC", repeatFrom: "2026-01-01" };

  it("runs the 31st on a 30-day month's last day and on February's (leap year or not)", () => {
    expect(occurrences(monthly31, "2026-01-01T00:00:00Z", 5).map(([d]) => d)).toEqual(["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]);
    expect(occurrences({ ...monthly31, repeatFrom: "2028-01-01" }, "2028-01-01T00:00:00Z", 3).map(([d]) => d)).toEqual([
      "2028-01-31",
      "2028-02-29",
      "2028-03-31",
    ]);
  });

  it("runs the 29th and 30th on February's last day too, and monthlyOnEndOfMonth on every last day", () => {
    const on30 = { ...monthly31, dayOfMonth: 30 };
    expect(occurrences(on30, "2027-01-01T00:00:00Z", 3).map(([d]) => d)).toEqual(["2027-01-30", "2027-02-28", "2027-03-30"]);
    const endOfMonth: Recurrence = {
      repeatType: "MONTHLY",
      monthlyOnEndOfMonth: true,
      runTime: "23:30",
      timeZone: "America/New_York",
      repeatFrom: "2027-11-01",
    };
    expect(occurrences(endOfMonth, "2027-11-01T00:00:00Z", 4)).toEqual([
      ["2027-11-30", "2027-12-01T04:30:00.000Z"],
      ["2027-12-31", "2028-01-01T04:30:00.000Z"],
      ["2028-01-31", "2028-02-01T04:30:00.000Z"],
      ["2028-02-29", "2028-03-01T04:30:00.000Z"],
    ]);
  });
});

describe("rules and bounds", () => {
  it("WEEKLY runs on its weekday in the schedule's zone, not in UTC", () => {
    // Monday 00:30 in Tokyo is Sunday 15:30 UTC.
    const rule: Recurrence = { repeatType: "WEEKLY", weeklyOnDay: "MONDAY", runTime: "00:30", timeZone: "Asia/Tokyo", repeatFrom: "2026-06-01" };
    expect(occurrences(rule, "2026-06-01T00:00:00Z", 2)).toEqual([
      ["2026-06-08", "2026-06-07T15:30:00.000Z"],
      ["2026-06-15", "2026-06-14T15:30:00.000Z"],
    ]);
  });

  it("starts at repeatFrom and ends after repeatTo", () => {
    const rule: Recurrence = { ...daily("10:00", "UTC", "2026-05-10"), repeatTo: "2026-05-12" };
    expect(occurrences(rule, "2026-01-01T00:00:00Z", 10).map(([d]) => d)).toEqual(["2026-05-10", "2026-05-11", "2026-05-12"]);
    expect(firstOccurrenceAtOrAfter(rule, new Date("2026-05-12T10:00:01Z"))).toBeNull();
  });

  it("finds the latest occurrence that has come, and none before repeatFrom", () => {
    const rule = daily("10:00", "UTC", "2026-05-10");
    expect(lastOccurrenceAtOrBefore(rule, new Date("2026-05-20T09:59:59Z"))?.date).toBe("2026-05-19");
    expect(lastOccurrenceAtOrBefore(rule, new Date("2026-05-20T10:00:00Z"))?.date).toBe("2026-05-20");
    expect(lastOccurrenceAtOrBefore(rule, new Date("2026-05-10T09:00:00Z"))).toBeNull();
  });

  it("accepts IANA names only", () => {
    expect(isValidTimeZone("Europe/London")).toBe(true);
    expect(isValidTimeZone("America/Argentina/Buenos_Aires")).toBe(true);
    expect(isValidTimeZone("UTC")).toBe(true);
    expect(isValidTimeZone("Mars/Olympus_Mons")).toBe(false);
    expect(isValidTimeZone("+02:00")).toBe(false);
    expect(isValidTimeZone("")).toBe(false);
  });
});
