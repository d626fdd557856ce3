// Numbers and times as people read them: the browser's locale, each currency's own digits, the
// user's time zone named. Every amount on screen goes through formatMoney.

const moneyFormats = new Map<string, Intl.NumberFormat>();

function moneyFormat(currency: string): Intl.NumberFormat {
  let format = moneyFormats.get(currency);
  if (!format) {
    try {
      format = new Intl.NumberFormat(undefined, { style: "currency", currency, currencyDisplay: "code" });
    } catch {
      // Not a currency the browser knows: the amount in plain digits, the code beside it.
      format = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 8 });
    }
    moneyFormats.set(currency, format);
  }
  return format;
}

/**
 * "12345.6700" in USD → "USD 12,345.67" (in an en locale): the API's exact decimal text is
 * formatted as a decimal string (Intl formats strings exactly), never through a binary float.
 */
export function formatMoney(amount: string, currency: string): string {
  const format = moneyFormat(currency);
  const text = format.format(amount as unknown as number);
  return format.resolvedOptions().style === "currency" ? text : `${text} ${currency}`;
}

/** A unit price keeps up to eight decimals (prices may be finer than the currency's cents). */
export function formatPrice(amount: string, currency: string): string {
  const digits = moneyFormat(currency).resolvedOptions().minimumFractionDigits ?? 2;
  const format = new Intl.NumberFormat(undefined, {
    style: "currency",
    currency,
    currencyDisplay: "code",
    minimumFractionDigits: digits,
    maximumFractionDigits: 8,
  });
  return format.format(amount as unknown as number);
}

const quantityFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 8 });

/** A quantity: grouped digits, no trailing zeros ("8707.00000000" → "8,707"). */
export function formatQuantity(quantity: string): string {
  return quantityFormat.format(quantity as unknown as number);
}

const integerFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
export function formatCount(count: number): string {
  return integerFormat.format(count);
}

// dateStyle/timeStyle cannot be combined with timeZoneName: the parts are spelled out.
const DATE_TIME = { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" } as const;
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { ...DATE_TIME, second: "2-digit" });

/** An instant in the browser's time zone (or the one given), with the zone named: "29 Nov 2026, 09:12:03 UTC". */
export function formatInstant(iso: string, timeZone?: string): string {
  const format = timeZone ? new Intl.DateTimeFormat(undefined, { ...DATE_TIME, timeZone }) : dateTimeFormat;
  return format.format(new Date(iso));
}

/** The browser's time zone, e.g. "Europe/Paris", shown once on screens full of times. */
export function userTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** 3723.4 s → "1 h 2 min 3 s"; under a minute with one decimal. */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 }).format(seconds)} s`;
  const whole = Math.round(seconds);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  return [h ? `${h} h` : "", m ? `${m} min` : "", s ? `${s} s` : ""].filter(Boolean).join(" ");
}

/** "USD 12,345.67 and 4 other currencies": the first total, and how many more. */
export function totalsSentence(totals: { currency: string; amount: string }[]): string {
  if (totals.length === 0) return "nothing";
  const first = formatMoney(totals[0]!.amount, totals[0]!.currency);
  const others = totals.length - 1;
  return others === 0 ? first : `${first} and ${others} other currenc${others === 1 ? "y" : "ies"}`;
}
