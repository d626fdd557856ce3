// When a schedule's occurrences fall: pure functions of the rule and an instant.
// An occurrence is a local calendar day of the schedule's time zone; it happens at runTime on
// that day's wall clock (see instantOf for the days clocks change).
import { civilFromDayNumber, daysInMonth, formatDate, parseDate } from "../billing/dates.ts";
import { instantOf, localDayAt } from "./timezone.ts";

export const DAYS_OF_WEEK = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"] as const;
export type DayOfWeek = (typeof DAYS_OF_WEEK)[number];

export interface Recurrence {
  repeatType: "DAILY" | "WEEKLY" | "MONTHLY";
  weeklyOnDay?: DayOfWeek | null;
  dayOfMonth?: number | null;
  monthlyOnEndOfMonth?: boolean;
  /** "HH:MM", wall-clock time in timeZone. */
  runTime: string;
  timeZone: string;
  /** First and last local days (inclusive) that may hold an occurrence, YYYY-MM-DD. */
  repeatFrom: string;
  repeatTo?: string | null;
}

export interface Occurrence {
  /** The local day, YYYY-MM-DD. */
  date: string;
  at: Date;
}

// Far enough for any rule (a monthly one waits at most 31 days), bounded so a bad rule cannot spin.
const SEARCH_DAYS = 400;

function minuteOfDay(runTime: string): number {
  const [h, m] = runTime.split(":").map(Number);
  return h! * 60 + m!;
}

/** Monday = 0 ... Sunday = 6. */
function weekdayIndex(dayNumber: number): number {
  // 1970-01-01 was a Thursday (index 3).
  return (((dayNumber + 3) % 7) + 7) % 7;
}

/** Does local day `dayNumber` hold an occurrence (ignoring repeatFrom/repeatTo)? */
export function isOccurrenceDay(rule: Recurrence, dayNumber: number): boolean {
  switch (rule.repeatType) {
    case "DAILY":
      return true;
    case "WEEKLY":
      return DAYS_OF_WEEK[weekdayIndex(dayNumber)] === rule.weeklyOnDay;
    case "MONTHLY": {
      const { year, month, day } = civilFromDayNumber(dayNumber);
      const last = daysInMonth(year, month);
      // The 31st of a 30-day month (or February) is that month's last day.
      const wanted = rule.monthlyOnEndOfMonth ? last : Math.min(rule.dayOfMonth ?? 1, last);
      return day === wanted;
    }
  }
}

function occurrenceOn(rule: Recurrence, dayNumber: number): Occurrence {
  return { date: formatDate(dayNumber), at: new Date(instantOf(rule.timeZone, dayNumber, minuteOfDay(rule.runTime))) };
}

/** The first occurrence at or after `instant`; null when the schedule has none left. */
export function firstOccurrenceAtOrAfter(rule: Recurrence, instant: Date): Occurrence | null {
  const from = parseDate(rule.repeatFrom);
  const to = rule.repeatTo ? parseDate(rule.repeatTo) : Number.POSITIVE_INFINITY;
  // The day before too: an occurrence's instant may lie on another UTC day than its local day.
  const start = Math.max(from, localDayAt(rule.timeZone, instant.getTime()) - 1);
  for (let day = start; day <= to && day < start + SEARCH_DAYS; day++) {
    if (!isOccurrenceDay(rule, day)) continue;
    const occurrence = occurrenceOn(rule, day);
    if (occurrence.at.getTime() >= instant.getTime()) return occurrence;
  }
  return null;
}

/** The first occurrence strictly after `previous`. */
export function occurrenceAfter(rule: Recurrence, previous: Occurrence): Occurrence | null {
  return firstOccurrenceAtOrAfter(rule, new Date(previous.at.getTime() + 1));
}

/** The last occurrence at or before `instant`; null when none has come yet. */
export function lastOccurrenceAtOrBefore(rule: Recurrence, instant: Date): Occurrence | null {
  const from = parseDate(rule.repeatFrom);
  const to = rule.repeatTo ? parseDate(rule.repeatTo) : Number.POSITIVE_INFINITY;
  const start = Math.min(to, localDayAt(rule.timeZone, instant.getTime()) + 1);
  for (let day = start; day >= from && day > start - SEARCH_DAYS; day--) {
    if (!isOccurrenceDay(rule, day)) continue;
    const occurrence = occurrenceOn(rule, day);
    if (occurrence.at.getTime() <= instant.getTime()) return occurrence;
  }
  return null;
}

/** Today's date in the zone, YYYY-MM-DD. */
export function localDate(timeZone: string, instant: Date): string {
  return formatDate(localDayAt(timeZone, instant.getTime()));
}
