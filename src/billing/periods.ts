// Billing period boundaries of a RECURRING or USAGE charge (SPEC §1 "How a charge is billed").
//
// The boundaries are bill cycle dates: the anchor is the first bill cycle date on or after the
// charge's start, and boundary k is the bill cycle date of (anchor's month + k × N months).
// Because every boundary is taken from its own month (not by adding days to the previous one),
// a bill cycle day of 31 gives Jan 31, Feb 28, Mar 31, … and never drifts to the 28th.
//
// A stretch of service [from, to) is billed as pieces cut at the boundaries; each piece is
// prorated against the full period [boundary k, boundary k+1) it lies in. The partial first
// period [start, anchor) is simply the piece of period k = −1, so it needs no special case.

import { billCycleDate, formatDate, monthIndexOfDay, parseDate } from "./dates.ts";
import type { DayNumber, MonthIndex } from "./dates.ts";
import type { BillingPeriod } from "./types.ts";

export const PERIOD_MONTHS: Readonly<Record<BillingPeriod, number>> = Object.freeze({
  MONTH: 1,
  QUARTER: 3,
  SEMI_ANNUAL: 6,
  ANNUAL: 12,
});

export interface PeriodSchedule {
  readonly startDay: DayNumber;
  readonly billCycleDay: number;
  /** Months per period. */
  readonly months: number;
  readonly anchorMonth: MonthIndex;
  /** The first bill cycle date on or after the start: boundary 0. */
  readonly anchor: DayNumber;
}

/** A stretch of service inside one billing period, prorated by days ÷ fullDays. */
export interface PeriodPiece {
  readonly start: DayNumber;
  /** Exclusive. */
  readonly end: DayNumber;
  /** The full period the piece lies in: [fullStart, fullEnd). */
  readonly fullStart: DayNumber;
  readonly fullEnd: DayNumber;
}

export function periodSchedule(startDay: DayNumber, billCycleDay: number, months: number): PeriodSchedule {
  if (!Number.isInteger(billCycleDay) || billCycleDay < 1 || billCycleDay > 31) {
    throw new RangeError(`Bill cycle day must be an integer from 1 to 31, got ${billCycleDay}`);
  }
  const startMonth = monthIndexOfDay(startDay);
  const cycleDateInStartMonth = billCycleDate(startMonth, billCycleDay);
  const anchorMonth = cycleDateInStartMonth >= startDay ? startMonth : startMonth + 1;
  return {
    startDay,
    billCycleDay,
    months,
    anchorMonth,
    anchor: anchorMonth === startMonth ? cycleDateInStartMonth : billCycleDate(anchorMonth, billCycleDay),
  };
}

/** Boundary k: k = 0 is the anchor, k = −1 the bill cycle date N months before it. */
export function boundary(schedule: PeriodSchedule, k: number): DayNumber {
  return billCycleDate(schedule.anchorMonth + k * schedule.months, schedule.billCycleDay);
}

/** The k with boundary(k) ≤ day < boundary(k + 1). */
export function periodIndexContaining(schedule: PeriodSchedule, day: DayNumber): number {
  // The month distance gives k exactly or one too high (when day precedes its month's bill cycle date).
  let k = Math.floor((monthIndexOfDay(day) - schedule.anchorMonth) / schedule.months);
  while (boundary(schedule, k) > day) k -= 1;
  while (boundary(schedule, k + 1) <= day) k += 1;
  return k;
}

/** [from, to) cut at the period boundaries, each piece with the full period it lies in. */
export function splitAtBoundaries(schedule: PeriodSchedule, from: DayNumber, to: DayNumber): PeriodPiece[] {
  const pieces: PeriodPiece[] = [];
  if (from >= to) return pieces;
  let k = periodIndexContaining(schedule, from);
  let fullStart = boundary(schedule, k);
  let start = from;
  while (start < to) {
    const fullEnd = boundary(schedule, k + 1);
    const end = fullEnd < to ? fullEnd : to;
    pieces.push({ start, end, fullStart, fullEnd });
    start = end;
    fullStart = fullEnd;
    k += 1;
  }
  return pieces;
}

export interface PeriodView {
  start: string;
  end: string;
  fullStart: string;
  fullEnd: string;
  days: number;
  fullDays: number;
}

/**
 * The billing periods of a charge that starts on `startDate`, between `from` and `to`
 * (dates as strings) — for previews, documentation and tests.
 */
export function periodsBetween(startDate: string, billCycleDay: number, billingPeriod: BillingPeriod, from: string, to: string): PeriodView[] {
  const schedule = periodSchedule(parseDate(startDate), billCycleDay, PERIOD_MONTHS[billingPeriod]);
  const fromDay = Math.max(parseDate(from), schedule.startDay);
  return splitAtBoundaries(schedule, fromDay, parseDate(to)).map((piece) => ({
    start: formatDate(piece.start),
    end: formatDate(piece.end),
    fullStart: formatDate(piece.fullStart),
    fullEnd: formatDate(piece.fullEnd),
    days: piece.end - piece.start,
    fullDays: piece.fullEnd - piece.fullStart,
  }));
}
