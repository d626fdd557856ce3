import { z } from "zod";
import type { inputSchemas } from "../accounts/service.ts";
import { AMOUNT_INTEGER_DIGITS, isCurrency } from "../billing/money.ts";
import { AccountStatus, BillingPeriod, BillingTiming, ChargeType } from "../generated/prisma/enums.ts";
import { isUuid, isValidIsoDate } from "../util.ts";

/*
 * Row validation without zod for the rows that are plainly valid: most rows of a file, where
 * running the mutations' zod schemas costs more than everything else the import does in Node.
 * Each function answers exactly what the schema would output, or `undefined` whenever the row is
 * not plainly valid (anything unusual: white space at an edge, non-ASCII text, a value out of
 * range, a broken cross-field rule); the caller then runs the schema itself, which decides and
 * words the error. So a row is never accepted here that the schema refuses (test/imports/
 * fastpath.test.ts compares both on valid and invalid values), and messages are the schema's.
 */

type CreateAccount = z.output<typeof inputSchemas.createAccountInput>;
type CreateSubscription = z.output<typeof inputSchemas.createSubscriptionInput>;
type Charge = CreateSubscription["charges"][number];
type RecordUsage = z.output<typeof inputSchemas.recordUsageInput>;
type Values = Record<string, unknown>;

/**
 * Printable ASCII without white space at either end: text that normalisation (NFC, invisible
 * edges) leaves as it is, with no control characters, and not empty.
 */
const PLAIN_TEXT = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;
const plainText = (value: unknown, max: number): value is string => typeof value === "string" && value.length <= max && PLAIN_TEXT.test(value);
const NUMBER = /^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/;
const DECIMAL = /^-?\d{1,15}(\.\d{1,8})?$/;
const NON_NEGATIVE_DECIMAL = /^\d{1,15}(\.\d{1,8})?$/;
const EMAIL = z.regexes.email;
const ACCOUNT_STATUSES = new Set<unknown>(Object.values(AccountStatus));
const CHARGE_TYPES = new Set<unknown>(Object.values(ChargeType));
const BILLING_PERIODS = new Set<unknown>(Object.values(BillingPeriod));
const BILLING_TIMINGS = new Set<unknown>(Object.values(BillingTiming));

const intIn = (value: unknown, min: number, max: number): value is number => Number.isInteger(value) && (value as number) >= min && (value as number) <= max;
/** Dates found valid so far (a file repeats a few hundred), up to DATES_KEPT. */
const validDates = new Set<string>();
const DATES_KEPT = 10_000;
const date = (value: unknown): value is string => {
  if (typeof value !== "string") return false;
  if (validDates.has(value)) return true;
  if (!isValidIsoDate(value)) return false;
  if (validDates.size < DATES_KEPT) validDates.add(value);
  return true;
};

/** createAccountInput's output for a plainly valid row; undefined: ask the schema. */
export function plainAccount(v: Values): CreateAccount | undefined {
  const { accountNumber, name, currency, billCycleDay, batch, billToEmail, paymentTermDays, status } = v;
  if (accountNumber !== undefined && !(typeof accountNumber === "string" && NUMBER.test(accountNumber) && !/^A-\d{8,}$/.test(accountNumber))) return undefined;
  if (!plainText(name, 200)) return undefined;
  if (typeof currency !== "string" || !isCurrency(currency)) return undefined;
  if (!intIn(billCycleDay, 1, 31)) return undefined;
  if (batch !== undefined && !intIn(batch, 1, 50)) return undefined;
  if (billToEmail !== undefined && !(plainText(billToEmail, 254) && EMAIL.test(billToEmail))) return undefined;
  if (paymentTermDays !== undefined && !intIn(paymentTermDays, 0, 3650)) return undefined;
  if (status !== undefined && !ACCOUNT_STATUSES.has(status)) return undefined;
  const out: CreateAccount = {
    name,
    currency,
    billCycleDay,
    batch: batch ?? 1,
    billToEmail: (billToEmail as string | undefined) ?? "",
    paymentTermDays: paymentTermDays ?? 30,
    status: (status as AccountStatus | undefined) ?? "ACTIVE",
  };
  if (accountNumber !== undefined) out.accountNumber = accountNumber;
  return out;
}

function plainCharge(c: Values): Charge | undefined {
  const { name, type, currency, price, quantity, startDate, endDate, billingPeriod, billingTiming, unitOfMeasure } = c;
  if (!plainText(name, 100) || !CHARGE_TYPES.has(type)) return undefined;
  if (currency !== undefined && !(typeof currency === "string" && isCurrency(currency))) return undefined;
  if (typeof price !== "string" || !DECIMAL.test(price)) return undefined;
  if (quantity !== undefined && !(typeof quantity === "string" && NON_NEGATIVE_DECIMAL.test(quantity))) return undefined;
  if ((startDate !== undefined && !date(startDate)) || (endDate !== undefined && !date(endDate))) return undefined;
  if (billingPeriod !== undefined && !BILLING_PERIODS.has(billingPeriod)) return undefined;
  if (billingTiming !== undefined && !BILLING_TIMINGS.has(billingTiming)) return undefined;
  if (unitOfMeasure !== undefined && !plainText(unitOfMeasure, 40)) return undefined;
  // The schema's cross-field rules: any of them broken, the schema words it.
  if (type === "ONE_TIME" ? billingPeriod !== undefined || billingTiming !== undefined : billingPeriod === undefined) return undefined;
  if (type === "USAGE" ? unitOfMeasure === undefined || (billingTiming !== undefined && billingTiming !== "IN_ARREARS") : unitOfMeasure !== undefined)
    return undefined;
  const out: Charge = { name, type: type as ChargeType, price, quantity: (quantity as string | undefined) ?? "1" };
  if (currency !== undefined) out.currency = currency;
  if (startDate !== undefined) out.startDate = startDate;
  if (endDate !== undefined) out.endDate = endDate;
  if (billingPeriod !== undefined) out.billingPeriod = billingPeriod as BillingPeriod;
  if (billingTiming !== undefined) out.billingTiming = billingTiming as BillingTiming;
  if (unitOfMeasure !== undefined) out.unitOfMeasure = unitOfMeasure;
  return out;
}

/** createSubscriptionInput's output for a plainly valid subscription; undefined: ask the schema. */
export function plainSubscription(s: {
  accountId: unknown;
  subscriptionNumber: unknown;
  startDate: unknown;
  invoiceSeparately: unknown;
  charges: Values[];
}): CreateSubscription | undefined {
  const { accountId, subscriptionNumber, startDate, invoiceSeparately } = s;
  if (!isUuid(accountId)) return undefined;
  if (
    subscriptionNumber !== undefined &&
    !(typeof subscriptionNumber === "string" && NUMBER.test(subscriptionNumber) && !/^S-\d{8,}$/.test(subscriptionNumber))
  )
    return undefined;
  if (!date(startDate)) return undefined;
  if (invoiceSeparately !== undefined && typeof invoiceSeparately !== "boolean") return undefined;
  if (s.charges.length < 1 || s.charges.length > 100) return undefined;
  const charges: Charge[] = [];
  const names = new Set<string>();
  for (const input of s.charges) {
    const c = plainCharge(input);
    if (!c || names.has(c.name)) return undefined;
    names.add(c.name);
    const start = c.startDate ?? startDate;
    if (start < startDate || (c.endDate !== undefined && c.endDate <= start)) return undefined;
    charges.push(c);
  }
  const out: CreateSubscription = { accountId, startDate, invoiceSeparately: invoiceSeparately ?? false, charges };
  if (subscriptionNumber !== undefined) out.subscriptionNumber = subscriptionNumber;
  return out;
}

/** recordUsageInput's output for a plainly valid record named by charge name; undefined: ask the schema. */
export function plainUsage(subscriptionId: string, v: Values): RecordUsage | undefined {
  const { chargeId, chargeName, quantity, unitOfMeasure, usageDate } = v;
  if (chargeId !== undefined || !isUuid(subscriptionId) || !plainText(chargeName, 100)) return undefined;
  if (typeof quantity !== "string" || !NON_NEGATIVE_DECIMAL.test(quantity)) return undefined;
  if (!plainText(unitOfMeasure, 40) || !date(usageDate)) return undefined;
  return { subscriptionId, chargeName, quantity, unitOfMeasure, usageDate };
}

/** Digits before the decimal point of a decimal string ('-12.50': 2). */
const integerDigits = (decimal: string) => {
  const point = decimal.indexOf(".");
  return (point < 0 ? decimal.length : point) - (decimal.startsWith("-") ? 1 : 0);
};

/**
 * Whether price × quantity (decimal strings) surely fits an amount, without computing it: with
 * fewer than AMOUNT_INTEGER_DIGITS integer digits between them, the product is below a tenth of
 * the limit, and rounding it to minor units keeps it below the limit. False: compute it
 * (amountFits of extendedAmount), which decides.
 */
export const surelyFits = (price: string, quantity: string): boolean => integerDigits(price) + integerDigits(quantity) < AMOUNT_INTEGER_DIGITS;
