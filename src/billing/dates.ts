// Calendar dates without time zones. At the API boundary a date is a 'YYYY-MM-DD' string;
// inside the billing core it is a day number (days since 1970-01-01), so that date
// arithmetic and comparisons are plain integer operations. A month is a month index
// (year × 12 + month − 1), so "N months later" is an addition.
//
// Conversions use the proleptic Gregorian calendar algorithms published by Howard Hinnant
// ("chrono-compatible low-level date algorithms").

/** Days since 1970-01-01. */
export type DayNumber = number;
/** year × 12 + (month − 1). */
export type MonthIndex = number;

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** month: 1–12 */
export function daysInMonth(year: number, month: number): number {
  return month === 2 && isLeapYear(year) ? 29 : DAYS_IN_MONTH[month - 1];
}

/** month: 1–12, day: 1–31; no validation. */
export function dayNumberFromCivil(year: number, month: number, day: number): DayNumber {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

export interface CivilDate {
  year: number;
  /** 1–12 */
  month: number;
  /** 1–31 */
  day: number;
}

export function civilFromDayNumber(dayNumber: DayNumber): CivilDate {
  const z = dayNumber + 719468;
  const era = Math.floor(z / 146097);
  const dayOfEra = z - era * 146097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36524) - Math.floor(dayOfEra / 146096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const shiftedMonth = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * shiftedMonth + 2) / 5) + 1;
  const month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9;
  return { year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

/** Digits at value[from, from + length) as a number, or −1 if any is not a digit. */
function readDigits(value: string, from: number, length: number): number {
  let result = 0;
  for (let i = from; i < from + length; i += 1) {
    const digit = value.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    result = result * 10 + digit;
  }
  return result;
}

/** 'YYYY-MM-DD' → day number, or NaN when it is not a calendar date. Hand-rolled: the bill run parses millions. */
function tryParseDate(value: string): DayNumber {
  if (value.length !== 10 || value.charCodeAt(4) !== 45 || value.charCodeAt(7) !== 45) return Number.NaN;
  const year = readDigits(value, 0, 4);
  const month = readDigits(value, 5, 2);
  const day = readDigits(value, 8, 2);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return Number.NaN;
  return dayNumberFromCivil(year, month, day);
}

export function isValidDate(value: string): boolean {
  return !Number.isNaN(tryParseDate(value));
}

/** 'YYYY-MM-DD' → day number; throws on anything else, including 2026-02-30. */
export function parseDate(value: string): DayNumber {
  const dayNumber = tryParseDate(value);
  if (Number.isNaN(dayNumber)) throw new RangeError(`Not a calendar date (YYYY-MM-DD): "${value}"`);
  return dayNumber;
}

function pad2(value: number): string {
  return value < 10 ? `0${value}` : `${value}`;
}

/** Day number → 'YYYY-MM-DD'. */
export function formatDate(dayNumber: DayNumber): string {
  // A bill run formats the same few hundred dates (period bounds, due dates) for every account:
  // remembered, they cost a lookup instead of a conversion and a new string each time.
  let text = formattedDates.get(dayNumber);
  if (text === undefined) {
    const { year, month, day } = civilFromDayNumber(dayNumber);
    text = `${String(year).padStart(4, "0")}-${pad2(month)}-${pad2(day)}`;
    if (formattedDates.size >= FORMATTED_DATES_KEPT) formattedDates.clear();
    formattedDates.set(dayNumber, text);
  }
  return text;
}
const FORMATTED_DATES_KEPT = 4_096;
const formattedDates = new Map<DayNumber, string>();

export function monthIndexOf(year: number, month: number): MonthIndex {
  return year * 12 + (month - 1);
}

export function monthIndexOfDay(dayNumber: DayNumber): MonthIndex {
  const { year, month } = civilFromDayNumber(dayNumber);
  return monthIndexOf(year, month);
}

/**
 * The bill cycle date of a month: its `billCycleDay`, or its last day when the month is
 * shorter (bill cycle day 31 in April is the 30th; 29, 30 or 31 in February is the 28th or 29th).
 */
export function billCycleDate(monthIndex: MonthIndex, billCycleDay: number): DayNumber {
  const year = Math.floor(monthIndex / 12);
  const month = monthIndex - year * 12 + 1;
  return dayNumberFromCivil(year, month, Math.min(billCycleDay, daysInMonth(year, month)));
}

export function addDays(date: string, days: number): string {
  return formatDate(parseDate(date) + days);
}

/** Same day `months` later, clamped to the last day of a shorter month (Jan 31 + 1 → Feb 28/29). */
export function addMonths(date: string, months: number): string {
  const { year, month, day } = civilFromDayNumber(parseDate(date));
  const target = monthIndexOf(year, month) + months;
  const targetYear = Math.floor(target / 12);
  const targetMonth = target - targetYear * 12 + 1;
  return formatDate(dayNumberFromCivil(targetYear, targetMonth, Math.min(day, daysInMonth(targetYear, targetMonth))));
}

/** Days from `from` to `to` (positive when `to` is later). */
export function daysBetween(from: string, to: string): number {
  return parseDate(to) - parseDate(from);
}
