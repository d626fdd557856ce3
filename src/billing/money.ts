// Money as exact decimals. Amounts cross every boundary as decimal strings ("12.50");
// inside the billing core they are scaled BigInts (an integer count of 10^-scale units),
// which is exact and much faster than an arbitrary-precision decimal object per item.

/** ISO 4217 minor units of the currencies Billrun accepts. */
export const CURRENCIES = Object.freeze({
  USD: 2,
  EUR: 2,
  GBP: 2,
  CAD: 2,
  AUD: 2,
  JPY: 0,
  KRW: 0,
  KWD: 3,
  BHD: 3,
} as const);

export type CurrencyCode = keyof typeof CURRENCIES;

export const CURRENCY_CODES: readonly CurrencyCode[] = Object.freeze(Object.keys(CURRENCIES) as CurrencyCode[]);

export function isCurrency(code: string): code is CurrencyCode {
  return Object.hasOwn(CURRENCIES, code);
}

/** Minor units (digits after the decimal point) of a currency; throws for an unknown code. */
export function minorUnits(code: string): number {
  if (!isCurrency(code)) throw new RangeError(`Unknown currency code "${code}"`);
  return CURRENCIES[code];
}

/** An exact decimal: value = units × 10^-scale. */
export interface ScaledDecimal {
  readonly units: bigint;
  readonly scale: number;
}

const DECIMAL_PATTERN = /^-?(\d+)(?:\.(\d+))?$/;

export function isDecimalString(value: string): boolean {
  return DECIMAL_PATTERN.test(value);
}

/** Parses "12.50", "-3", "0.125" exactly. No "+", no exponents, no thousands separators. */
export function parseDecimal(value: string): ScaledDecimal {
  const match = DECIMAL_PATTERN.exec(value);
  if (match === null) throw new RangeError(`Not a decimal number: "${value}"`);
  const fraction = match[2] ?? "";
  const text = match[1] + fraction;
  // Up to 15 digits are exact as a double, and converting a number is much faster than a string.
  const digits = text.length <= 15 ? BigInt(Number(text)) : BigInt(text);
  return { units: value.charCodeAt(0) === 45 /* - */ ? -digits : digits, scale: fraction.length };
}

const POWERS_OF_TEN: bigint[] = Array.from({ length: 40 }, (_, i) => 10n ** BigInt(i));

export function powerOfTen(exponent: number): bigint {
  return POWERS_OF_TEN[exponent] ?? 10n ** BigInt(exponent);
}

/**
 * numerator ÷ denominator rounded to an integer HALF_UP, i.e. ties away from zero
 * (Java's RoundingMode.HALF_UP, decimal.js ROUND_HALF_UP): 2.5 → 3, -2.5 → -3.
 * Rounding a negative amount therefore mirrors the positive one, so a credit for a
 * period equals minus the charge for it.
 */
export function divideHalfUp(numerator: bigint, denominator: bigint): bigint {
  if (denominator === 0n) throw new RangeError("Division by zero");
  if (denominator < 0n) {
    numerator = -numerator;
    denominator = -denominator;
  }
  const negative = numerator < 0n;
  const magnitude = negative ? -numerator : numerator;
  const rounded = (magnitude * 2n + denominator) / (denominator * 2n);
  return negative ? -rounded : rounded;
}

/** Rescales an exact decimal to `targetScale` digits, rounding HALF_UP when digits are dropped. */
export function rescaleHalfUp(value: ScaledDecimal, targetScale: number): bigint {
  if (value.scale <= targetScale) return value.units * powerOfTen(targetScale - value.scale);
  return divideHalfUp(value.units, powerOfTen(value.scale - targetScale));
}

/** value × numerator ÷ denominator, rounded once HALF_UP to `targetScale` digits. */
export function scaleAndRound(value: ScaledDecimal, numerator: bigint, denominator: bigint, targetScale: number): bigint {
  if (value.scale <= targetScale) {
    return divideHalfUp(value.units * numerator * powerOfTen(targetScale - value.scale), denominator);
  }
  return divideHalfUp(value.units * numerator, denominator * powerOfTen(value.scale - targetScale));
}

export function multiplyDecimals(a: ScaledDecimal, b: ScaledDecimal): ScaledDecimal {
  return { units: a.units * b.units, scale: a.scale + b.scale };
}

export function addDecimals(a: ScaledDecimal, b: ScaledDecimal): ScaledDecimal {
  if (a.scale === b.scale) return { units: a.units + b.units, scale: a.scale };
  if (a.scale > b.scale) return { units: a.units + b.units * powerOfTen(a.scale - b.scale), scale: a.scale };
  return { units: a.units * powerOfTen(b.scale - a.scale) + b.units, scale: b.scale };
}

/** Formats an integer count of 10^-scale units with exactly `scale` fraction digits. */
export function formatScaled(units: bigint, scale: number): string {
  const negative = units < 0n;
  let digits = (negative ? -units : units).toString();
  if (scale > 0) {
    if (digits.length <= scale) digits = digits.padStart(scale + 1, "0");
    digits = `${digits.slice(0, digits.length - scale)}.${digits.slice(digits.length - scale)}`;
  }
  return negative ? `-${digits}` : digits;
}

/** Shortest exact decimal string: trailing fraction zeros dropped ("1.50" → "1.5", "2.00" → "2"). */
export function formatDecimal(value: ScaledDecimal): string {
  let { units, scale } = value;
  while (scale > 0 && units % 10n === 0n) {
    units /= 10n;
    scale -= 1;
  }
  return formatScaled(units, scale);
}

/** An amount in a currency's minor units (cents, yen, fils). */
export function formatMinorUnits(minor: bigint, currency: string): string {
  return formatScaled(minor, minorUnits(currency));
}

/** Rounds a decimal string HALF_UP to the currency's minor units: ("1.2345", "KWD") → "1.235". */
export function roundToCurrency(amount: string, currency: string): string {
  const scale = minorUnits(currency);
  return formatScaled(rescaleHalfUp(parseDecimal(amount), scale), scale);
}

/**
 * A decimal as the database or Prisma hands it over: a string ("20.0000"), or a Decimal object,
 * read through `toFixed()` because its `toString()` may switch to exponent notation ("1e-8").
 */
export type DecimalText = string | { toFixed(): string };

const decimalText = (value: DecimalText): string => (typeof value === "string" ? value : value.toFixed());

/**
 * THE way an amount of money becomes text, wherever it is shown (the API's `Decimal` fields, email
 * bodies, error messages): exactly the currency's minor units, rounded HALF_UP, whatever scale the
 * database stores. ("20.0000", "USD") → "20.00"; ("1200.0000", "JPY") → "1200"; ("1.5", "KWD") →
 * "1.500". Throws RangeError for an unknown currency or a value that is not a decimal.
 */
export function formatAmount(amount: DecimalText, currency: string): string {
  return roundToCurrency(decimalText(amount), currency);
}

/**
 * An amount with its currency, for people to read (messages, emails): "USD 20.00", "JPY 1200",
 * "KWD 20.000". Built on `formatAmount`; same errors.
 */
export function formatMoney(amount: DecimalText, currency: string): string {
  return `${currency} ${formatAmount(amount, currency)}`;
}

/**
 * A unit price keeps its own precision (a usage rate of 0.0125) but never shows fewer places than
 * the currency has: ("0.1000", "USD") → "0.10", ("0.0125", "USD") → "0.0125", ("5", "KWD") → "5.000".
 */
export function formatUnitPrice(price: DecimalText, currency: string): string {
  const exact = parseDecimal(decimalText(price));
  const shortest = parseDecimal(formatDecimal(exact));
  const scale = Math.max(minorUnits(currency), shortest.scale);
  return formatScaled(rescaleHalfUp(shortest, scale), scale);
}

/** A quantity, shortest exact form: "10.0000" → "10", "2.5000" → "2.5". */
export function formatQuantity(quantity: DecimalText): string {
  return formatDecimal(parseDecimal(decimalText(quantity)));
}

/** The exact sum of decimal strings, formatted with the currency's minor units (each rounded first). */
export function sumAmounts(amounts: readonly string[], currency: string): string {
  const scale = minorUnits(currency);
  let total = 0n;
  for (const amount of amounts) total += rescaleHalfUp(parseDecimal(amount), scale);
  return formatScaled(total, scale);
}

/** Compares two decimal strings exactly: negative, zero or positive like a sort comparator. */
export function compareDecimals(a: string, b: string): number {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  const scale = Math.max(x.scale, y.scale);
  const difference = rescaleHalfUp(x, scale) - rescaleHalfUp(y, scale);
  return difference < 0n ? -1 : difference > 0n ? 1 : 0;
}

/**
 * Every amount Billrun stores (an invoice item, a document's amount and balance, a payment) is
 * a numeric(24,4): at most 20 digits before the point. An amount must be less than 10^20 in
 * magnitude once rounded to its currency. (Run totals per currency are unbounded numerics.)
 */
export const AMOUNT_INTEGER_DIGITS = 20;

/** The largest magnitude an amount may reach, as text for messages. */
export const MAX_AMOUNT_TEXT = "99999999999999999999.9999";

/** True when `units` × 10^-scale is less than 10^AMOUNT_INTEGER_DIGITS in magnitude. */
export function amountFits(units: bigint, scale: number): boolean {
  const magnitude = units < 0n ? -units : units;
  return magnitude < powerOfTen(AMOUNT_INTEGER_DIGITS + scale);
}

/**
 * price × quantity rounded HALF_UP to the currency's minor units, as minor units; the largest
 * amount a charge (or one usage record) can produce, since proration only shrinks it.
 */
export function extendedAmount(price: string, quantity: string, currency: string): bigint {
  return rescaleHalfUp(multiplyDecimals(parseDecimal(price), parseDecimal(quantity)), minorUnits(currency));
}

/** True when the decimal string has no more fraction digits than the currency allows. */
export function fitsCurrency(amount: string, currency: string): boolean {
  const match = DECIMAL_PATTERN.exec(amount);
  return match !== null && (match[2]?.length ?? 0) <= minorUnits(currency);
}
