import { describe, expect, it } from "vitest";
import {
  addDays,
  addMonths,
  billCycleDate,
  civilFromDayNumber,
  dayNumberFromCivil,
  daysBetween,
  daysInMonth,
  formatDate,
  isLeapYear,
  isValidDate,
  monthIndexOf,
  parseDate,
} from "./dates.ts";

describe("day numbers", () => {
  it("counts days from 1970-01-01", () => {
    expect(parseDate("1970-01-01")).toBe(0);
    expect(parseDate("1970-01-02")).toBe(1);
    expect(parseDate("1969-12-31")).toBe(-1);
    expect(parseDate("2000-03-01")).toBe(11017);
    expect(parseDate("2026-01-10")).toBe(20463);
  });

  it("agrees with the JavaScript UTC calendar for every day from 1900 to 2100", () => {
    const msPerDay = 86_400_000;
    const mismatches: string[] = [];
    let checked = 0;
    for (let day = parseDate("1900-01-01"); day <= parseDate("2100-12-31"); day += 1) {
      const iso = new Date(day * msPerDay).toISOString().slice(0, 10);
      if (formatDate(day) !== iso || parseDate(iso) !== day) mismatches.push(iso);
      checked += 1;
    }
    expect(mismatches).toEqual([]);
    expect(checked).toBe(73_414); // 201 years × 365 + 49 leap days
  });

  it("round-trips civil dates", () => {
    expect(civilFromDayNumber(dayNumberFromCivil(2028, 2, 29))).toEqual({ year: 2028, month: 2, day: 29 });
  });
});

describe("validation", () => {
  it.each(["2026-02-30", "2027-02-29", "2026-13-01", "2026-00-10", "2026-1-01", "2026/01/01", "20260101", "", "2026-01-01T00:00:00Z", "0000-01-01"])(
    "rejects %j",
    (text) => {
      expect(isValidDate(text)).toBe(false);
      expect(() => parseDate(text)).toThrow(/Not a calendar date/);
    },
  );

  it("accepts 29 February in a leap year only", () => {
    expect(isValidDate("2028-02-29")).toBe(true);
    expect(isValidDate("2000-02-29")).toBe(true);
    expect(isValidDate("2100-02-29")).toBe(false);
  });
});

describe("calendar", () => {
  it.each([
    [2024, true],
    [2027, false],
    [2028, true],
    [1900, false],
    [2000, true],
  ])("%i leap: %s", (year, leap) => {
    expect(isLeapYear(year as number)).toBe(leap);
  });

  it("knows February's length", () => {
    expect(daysInMonth(2027, 2)).toBe(28);
    expect(daysInMonth(2028, 2)).toBe(29);
    expect(daysInMonth(2026, 4)).toBe(30);
  });

  it.each([
    [2027, 2, 29, "2027-02-28"],
    [2028, 2, 29, "2028-02-29"],
    [2028, 2, 30, "2028-02-29"],
    [2028, 2, 31, "2028-02-29"],
    [2026, 4, 31, "2026-04-30"],
    [2026, 1, 31, "2026-01-31"],
    [2026, 3, 1, "2026-03-01"],
  ])("bill cycle date of %i-%i with day %i is %s", (year, month, day, expected) => {
    expect(formatDate(billCycleDate(monthIndexOf(year, month), day))).toBe(expected);
  });

  it("adds days and months", () => {
    expect(addDays("2026-02-01", 30)).toBe("2026-03-03");
    expect(addDays("2028-02-28", 1)).toBe("2028-02-29");
    expect(addDays("2026-01-01", -1)).toBe("2025-12-31");
    expect(addMonths("2026-01-31", 1)).toBe("2026-02-28");
    expect(addMonths("2028-01-31", 1)).toBe("2028-02-29");
    expect(addMonths("2026-03-31", -1)).toBe("2026-02-28");
    expect(addMonths("2026-11-15", 3)).toBe("2027-02-15");
    expect(addMonths("2028-02-29", 12)).toBe("2029-02-28");
  });

  it("counts days between dates", () => {
    expect(daysBetween("2026-01-10", "2026-02-01")).toBe(22);
    expect(daysBetween("2028-02-01", "2028-03-01")).toBe(29);
    expect(daysBetween("2026-03-01", "2027-03-01")).toBe(365);
    expect(daysBetween("2026-02-01", "2026-01-01")).toBe(-31);
  });
});
