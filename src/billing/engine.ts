// The billing engine: one account's charges, usage and a run's options in; the documents
// to create, the chargedThroughDate moves and the failures out. Pure: no I/O, no clock.
//
// Everything a run does to a charge is expressed as a move of its chargedThroughDate (CTD):
// billing advances it over the periods billed, a cancellation credit moves it back to the
// service end. Because each run starts where the CTD stands, running twice with the same
// target date adds nothing, and two runs at T1 ≤ T2 bill exactly what one run at T2 would.

import { formatDate, parseDate } from "./dates.ts";
import type { DayNumber } from "./dates.ts";
import { addDecimals, amountFits, formatDecimal, formatScaled, minorUnits, multiplyDecimals, parseDecimal, rescaleHalfUp, scaleAndRound } from "./money.ts";
import type { ScaledDecimal } from "./money.ts";
import { boundary, PERIOD_MONTHS, periodIndexContaining, periodSchedule, splitAtBoundaries } from "./periods.ts";
import type { PeriodSchedule } from "./periods.ts";
import type {
  AccountFailure,
  AccountInput,
  AccountResult,
  ChargeInput,
  ChargeType,
  ChargeUpdate,
  ProposedDocument,
  ProposedItem,
  RunOptions,
  SubscriptionFailure,
  SubscriptionInput,
  UsageInput,
} from "./types.ts";

/** Input the billing core cannot interpret (a bug or a gap in validation upstream, not a billing failure). */
export class BillingInputError extends Error {
  override name = "BillingInputError";
}

/** A run's options parsed once, to bill many accounts with them. */
export interface PreparedRun {
  readonly prepared: true;
  readonly targetDate: string;
  readonly targetDay: DayNumber;
  readonly invoiceDate: string;
  readonly invoiceDay: DayNumber;
  readonly excludedTypes: ReadonlySet<ChargeType>;
  /** null = every subscription. */
  readonly subscriptionIds: ReadonlySet<string> | null;
}

export function prepareRun(options: RunOptions): PreparedRun {
  return {
    prepared: true,
    targetDate: options.targetDate,
    targetDay: parseInputDate(options.targetDate, "targetDate"),
    invoiceDate: options.invoiceDate,
    invoiceDay: parseInputDate(options.invoiceDate, "invoiceDate"),
    excludedTypes: new Set(options.chargeTypesToExclude),
    subscriptionIds: options.subscriptionIds === undefined ? null : new Set(options.subscriptionIds),
  };
}

/** Bills many accounts with the same options (parses the options once). */
export function billAccounts(accounts: readonly AccountInput[], options: RunOptions | PreparedRun): AccountResult[] {
  const run = toPreparedRun(options);
  return accounts.map((account) => billAccount(account, run));
}

/**
 * What a bill run with these options does to one account. The account is atomic: when any
 * failure is found nothing is billed (ok: false); otherwise the documents to create and the
 * chargedThroughDate moves to store with them (ok: true; no documents when nothing is due).
 */
export function billAccount(account: AccountInput, options: RunOptions | PreparedRun): AccountResult {
  const run = toPreparedRun(options);
  const context = accountContext(account, run);
  const chargeUpdates: ChargeUpdate[] = [];
  const billed: BilledSubscription[] = [];
  const failures: SubscriptionFailure[] = [];

  for (const subscription of account.subscriptions) {
    if (run.subscriptionIds !== null && !run.subscriptionIds.has(subscription.id)) continue;
    const outcome = billSubscription(subscription, context, chargeUpdates);
    if (outcome.problems.length > 0) failures.push(subscriptionFailure(subscription, outcome.problems));
    if (outcome.items.length > 0) billed.push(outcome);
  }

  const hasWork = billed.length > 0 || chargeUpdates.length > 0;
  const missingContact = hasWork && (account.billToEmail === null || account.billToEmail.trim() === "");
  if (missingContact || failures.length > 0) {
    return { accountId: account.id, ok: false, failure: accountFailure(account, missingContact, failures) };
  }
  const documents = composeDocuments(billed, context);
  const tooLarge = documents.find((document) => !amountFits(parseDecimal(document.amount).units, context.scale));
  if (tooLarge !== undefined) {
    const kind = tooLarge.type === "INVOICE" ? "an invoice" : "a credit memo";
    return {
      accountId: account.id,
      ok: false,
      failure: {
        code: "AMOUNT_OUT_OF_RANGE",
        message: `Account ${account.accountNumber} would get ${kind} of ${tooLarge.amount} ${tooLarge.currency}; a document's amount must be less than 10^20`,
        subscriptions: [],
      },
    };
  }
  return { accountId: account.id, ok: true, documents, chargeUpdates };
}

function toPreparedRun(options: RunOptions | PreparedRun): PreparedRun {
  return "prepared" in options ? options : prepareRun(options);
}

// ---------------------------------------------------------------------------------------
// Per-account state

interface AccountContext {
  readonly account: AccountInput;
  readonly run: PreparedRun;
  /** Minor units of the account's currency. */
  readonly scale: number;
  /** Usage records by charge id, built on first use. */
  usageByCharge: Map<string, ParsedUsage[]> | null;
}

interface ParsedUsage {
  readonly day: DayNumber;
  readonly quantity: ScaledDecimal;
  readonly record: UsageInput;
}

function accountContext(account: AccountInput, run: PreparedRun): AccountContext {
  let scale: number;
  try {
    scale = minorUnits(account.currency);
  } catch {
    throw new BillingInputError(`Account ${account.accountNumber} has an unknown currency "${account.currency}"`);
  }
  if (!Number.isInteger(account.billCycleDay) || account.billCycleDay < 1 || account.billCycleDay > 31) {
    throw new BillingInputError(`Account ${account.accountNumber} has bill cycle day ${account.billCycleDay}; it must be 1 to 31`);
  }
  if (!Number.isInteger(account.paymentTermDays) || account.paymentTermDays < 0) {
    throw new BillingInputError(`Account ${account.accountNumber} has payment terms of ${account.paymentTermDays} days; it must be a whole number ≥ 0`);
  }
  return { account, run, scale, usageByCharge: null };
}

function usageOf(context: AccountContext, chargeId: string): readonly ParsedUsage[] {
  if (context.usageByCharge === null) {
    const byCharge = new Map<string, ParsedUsage[]>();
    for (const record of context.account.usage) {
      const parsed: ParsedUsage = {
        day: parseInputDate(record.usageDate, "usageDate"),
        quantity: parseInputDecimal(record.quantity, "usage quantity"),
        record,
      };
      const list = byCharge.get(record.chargeId);
      if (list === undefined) byCharge.set(record.chargeId, [parsed]);
      else list.push(parsed);
    }
    context.usageByCharge = byCharge;
  }
  return context.usageByCharge.get(chargeId) ?? NO_USAGE;
}

const NO_USAGE: readonly ParsedUsage[] = Object.freeze([]);

// ---------------------------------------------------------------------------------------
// Subscriptions

interface Problem {
  readonly code: SubscriptionFailure["code"];
  readonly message: string;
}

interface BilledSubscription {
  readonly subscription: SubscriptionInput;
  readonly items: ProposedItem[];
  /** Σ item amounts in minor units. */
  total: bigint;
  readonly problems: Problem[];
}

function billSubscription(subscription: SubscriptionInput, context: AccountContext, chargeUpdates: ChargeUpdate[]): BilledSubscription {
  const outcome: BilledSubscription = { subscription, items: [], total: 0n, problems: [] };
  const subscriptionEnd = subscriptionServiceEnd(subscription);
  for (const charge of subscription.charges) {
    if (context.run.excludedTypes.has(charge.type)) continue;
    const itemsBefore = outcome.items.length;
    const update = billCharge(charge, subscription, subscriptionEnd, context, outcome);
    if (update !== null) chargeUpdates.push(update);
    const hasWork = update !== null || outcome.items.length > itemsBefore;
    // A charge in a foreign currency only fails the account when it has something to bill now,
    // so a misconfigured future or finished charge does not block the account's other billing.
    if (hasWork && charge.currency !== context.account.currency) {
      outcome.problems.push({
        code: "CURRENCY_MISMATCH",
        message: `Charge "${charge.name}" of subscription ${subscription.subscriptionNumber} is priced in ${charge.currency} but account ${context.account.accountNumber} bills in ${context.account.currency}`,
      });
    }
  }
  return outcome;
}

/** The subscription's cancelledOn (service ends the day before, i.e. cancelledOn is the exclusive end). */
function subscriptionServiceEnd(subscription: SubscriptionInput): DayNumber {
  if (subscription.cancelledOn !== null) return parseInputDate(subscription.cancelledOn, "cancelledOn");
  if (subscription.status === "CANCELLED") {
    throw new BillingInputError(`Subscription ${subscription.subscriptionNumber} is CANCELLED but has no cancelledOn date`);
  }
  return Number.POSITIVE_INFINITY;
}

function subscriptionFailure(subscription: SubscriptionInput, problems: readonly Problem[]): SubscriptionFailure {
  return {
    subscriptionId: subscription.id,
    code: problems[0].code,
    message: problems.map((problem) => problem.message).join("; "),
  };
}

function accountFailure(account: AccountInput, missingContact: boolean, subscriptions: SubscriptionFailure[]): AccountFailure {
  const contactMessage = `Account ${account.accountNumber} has no bill-to email address`;
  if (subscriptions.length === 0) return { code: "MISSING_BILL_TO_CONTACT", message: contactMessage, subscriptions };
  const subscriptionMessage =
    subscriptions.length === 1
      ? subscriptions[0].message
      : `${subscriptions.length} subscriptions cannot be billed: ${subscriptions.map((failure) => failure.message).join("; ")}`;
  return missingContact
    ? { code: "MISSING_BILL_TO_CONTACT", message: `${contactMessage}; ${subscriptionMessage}`, subscriptions }
    : { code: subscriptions[0].code, message: subscriptionMessage, subscriptions };
}

// ---------------------------------------------------------------------------------------
// Charges

/** A charge's figures parsed once. */
interface PricedCharge {
  readonly charge: ChargeInput;
  readonly subscription: SubscriptionInput;
  readonly price: ScaledDecimal;
  /** price × quantity, exact. */
  readonly extendedPrice: ScaledDecimal;
  /** Amount of one full period, rounded; computed on first use. */
  fullPeriodAmount: bigint | null;
}

/** Bills one charge into `outcome`; returns its chargedThroughDate move, if any. */
function billCharge(
  charge: ChargeInput,
  subscription: SubscriptionInput,
  subscriptionEnd: DayNumber,
  context: AccountContext,
  outcome: BilledSubscription,
): ChargeUpdate | null {
  const startDay = parseInputDate(charge.startDate, "charge startDate");
  const chargeEnd = charge.endDate === null ? Number.POSITIVE_INFINITY : parseInputDate(charge.endDate, "charge endDate");
  const serviceEnd = Math.min(chargeEnd, subscriptionEnd);
  const chargedThrough = charge.chargedThroughDate === null ? null : parseInputDate(charge.chargedThroughDate, "chargedThroughDate");
  const priced = pricedCharge(charge, subscription);

  let newChargedThrough: DayNumber | null;
  switch (charge.type) {
    case "ONE_TIME":
      newChargedThrough = billOneTime(priced, startDay, serviceEnd, chargedThrough, context, outcome);
      break;
    case "RECURRING":
      newChargedThrough = billRecurring(priced, startDay, serviceEnd, chargedThrough, context, outcome);
      break;
    case "USAGE":
      newChargedThrough = billUsage(priced, startDay, serviceEnd, chargedThrough, context, outcome);
      break;
    default:
      throw new BillingInputError(`Charge "${charge.name}" has an unknown type "${String(charge.type)}"`);
  }
  if (newChargedThrough === null || newChargedThrough === chargedThrough) return null;
  return { chargeId: charge.id, from: charge.chargedThroughDate, to: formatDate(newChargedThrough) };
}

function pricedCharge(charge: ChargeInput, subscription: SubscriptionInput): PricedCharge {
  const price = parseInputDecimal(charge.price, "price", charge);
  const quantity = parseInputDecimal(charge.quantity, "quantity", charge);
  return { charge, subscription, price, extendedPrice: multiplyDecimals(price, quantity), fullPeriodAmount: null };
}

/** ONE_TIME: once, by the first run on or after its start, unless service ended before it began. */
function billOneTime(
  priced: PricedCharge,
  startDay: DayNumber,
  serviceEnd: DayNumber,
  chargedThrough: DayNumber | null,
  context: AccountContext,
  outcome: BilledSubscription,
): DayNumber | null {
  if (chargedThrough !== null || startDay > context.run.targetDay || startDay >= serviceEnd) return chargedThrough;
  const amount = rescaleHalfUp(priced.extendedPrice, context.scale);
  const date = priced.charge.startDate;
  pushItem(outcome, priced, "CHARGE", date, date, priced.charge.quantity, amount, context.scale);
  return startDay + 1;
}

function chargeSchedule(priced: PricedCharge, startDay: DayNumber, context: AccountContext): PeriodSchedule {
  const { billingPeriod } = priced.charge;
  if (billingPeriod === null || !(billingPeriod in PERIOD_MONTHS)) {
    throw new BillingInputError(`${priced.charge.type} charge "${priced.charge.name}" has no valid billingPeriod`);
  }
  return periodSchedule(startDay, context.account.billCycleDay, PERIOD_MONTHS[billingPeriod]);
}

/** Where billing picks up: the charged-through date, or the start when nothing (or less) was billed. */
function resumeDay(chargedThrough: DayNumber | null, startDay: DayNumber): DayNumber {
  return chargedThrough === null || chargedThrough < startDay ? startDay : chargedThrough;
}

/** RECURRING: a cancellation credit when service ended inside billed time, else the periods now due. */
function billRecurring(
  priced: PricedCharge,
  startDay: DayNumber,
  serviceEnd: DayNumber,
  chargedThrough: DayNumber | null,
  context: AccountContext,
  outcome: BilledSubscription,
): DayNumber | null {
  const schedule = chargeSchedule(priced, startDay, context);
  if (chargedThrough !== null && serviceEnd < chargedThrough) {
    return creditAfterServiceEnd(priced, schedule, serviceEnd, chargedThrough, context, outcome);
  }
  const inAdvance = (priced.charge.billingTiming ?? "IN_ADVANCE") === "IN_ADVANCE";
  const targetDay = context.run.targetDay;
  const resumeFrom = resumeDay(chargedThrough, startDay);
  let from = resumeFrom;
  if (from >= serviceEnd) return chargedThrough;
  let k = periodIndexContaining(schedule, from);
  let fullStart = boundary(schedule, k);
  while (from < serviceEnd) {
    const fullEnd = boundary(schedule, k + 1);
    const end = fullEnd < serviceEnd ? fullEnd : serviceEnd;
    // IN_ADVANCE bills a period once it has started, IN_ARREARS once it has ended.
    if (inAdvance ? from > targetDay : end > targetDay) break;
    const amount = periodAmount(priced, from, end, fullStart, fullEnd, context.scale);
    pushItem(outcome, priced, "CHARGE", formatDate(from), formatDate(end), priced.charge.quantity, amount, context.scale);
    from = end;
    fullStart = fullEnd;
    k += 1;
  }
  return from === resumeFrom ? chargedThrough : from;
}

/**
 * Service ended (cancellation or a shortened end date) inside time already billed: credit
 * [service end, chargedThroughDate), each piece prorated within its own period, and move the
 * chargedThroughDate back. Waits for the first run whose target date reaches the service end.
 */
function creditAfterServiceEnd(
  priced: PricedCharge,
  schedule: PeriodSchedule,
  serviceEnd: DayNumber,
  chargedThrough: DayNumber,
  context: AccountContext,
  outcome: BilledSubscription,
): DayNumber {
  if (context.run.targetDay < serviceEnd) return chargedThrough;
  // Service that ended before the charge began is credited from the charge start.
  const creditFrom = Math.max(serviceEnd, schedule.startDay);
  if (creditFrom >= chargedThrough) return chargedThrough;
  for (const piece of splitAtBoundaries(schedule, creditFrom, chargedThrough)) {
    const amount = -periodAmount(priced, piece.start, piece.end, piece.fullStart, piece.fullEnd, context.scale);
    pushItem(outcome, priced, "CREDIT", formatDate(piece.start), formatDate(piece.end), priced.charge.quantity, amount, context.scale);
  }
  return creditFrom;
}

/** price × quantity × days ÷ full period days, rounded once HALF_UP; a full period is exactly price × quantity. */
function periodAmount(priced: PricedCharge, start: DayNumber, end: DayNumber, fullStart: DayNumber, fullEnd: DayNumber, scale: number): bigint {
  if (start === fullStart && end === fullEnd) {
    priced.fullPeriodAmount ??= rescaleHalfUp(priced.extendedPrice, scale);
    return priced.fullPeriodAmount;
  }
  return scaleAndRound(priced.extendedPrice, BigInt(end - start), BigInt(fullEnd - fullStart), scale);
}

/**
 * USAGE: periods like RECURRING, always in arrears; each ended period bills the sum of its
 * usage × price. A period without usage records has no item but is still charged through, so
 * usage recorded later for it is not billed (it would be a late adjustment, out of scope).
 */
function billUsage(
  priced: PricedCharge,
  startDay: DayNumber,
  serviceEnd: DayNumber,
  chargedThrough: DayNumber | null,
  context: AccountContext,
  outcome: BilledSubscription,
): DayNumber | null {
  const schedule = chargeSchedule(priced, startDay, context);
  const targetDay = context.run.targetDay;
  const resumeFrom = resumeDay(chargedThrough, startDay);
  let from = resumeFrom;
  if (from >= serviceEnd) return chargedThrough;
  const records = usageOf(context, priced.charge.id);
  const mismatched: ParsedUsage[] = [];
  let k = periodIndexContaining(schedule, from);
  while (from < serviceEnd) {
    const fullEnd = boundary(schedule, k + 1);
    const end = fullEnd < serviceEnd ? fullEnd : serviceEnd;
    if (end > targetDay) break;
    const rated = rateUsage(records, from, end, priced.charge.unitOfMeasure, mismatched);
    if (rated !== null) {
      const amount = rescaleHalfUp(multiplyDecimals(rated, priced.price), context.scale);
      pushItem(outcome, priced, "CHARGE", formatDate(from), formatDate(end), formatDecimal(rated), amount, context.scale);
    }
    from = end;
    k += 1;
  }
  if (mismatched.length > 0) outcome.problems.push(usageProblem(priced, mismatched));
  return from === resumeFrom ? chargedThrough : from;
}

/** Σ quantity of the usage dated in [from, end); null when there is none. Collects unit mismatches. */
function rateUsage(
  records: readonly ParsedUsage[],
  from: DayNumber,
  end: DayNumber,
  unitOfMeasure: string | null,
  mismatched: ParsedUsage[],
): ScaledDecimal | null {
  let total: ScaledDecimal | null = null;
  for (const usage of records) {
    if (usage.day < from || usage.day >= end) continue;
    if (usage.record.unitOfMeasure !== unitOfMeasure) mismatched.push(usage);
    total = total === null ? usage.quantity : addDecimals(total, usage.quantity);
  }
  return total;
}

function usageProblem(priced: PricedCharge, mismatched: readonly ParsedUsage[]): Problem {
  const units = [...new Set(mismatched.map((usage) => usage.record.unitOfMeasure))].join(", ");
  const expected = priced.charge.unitOfMeasure === null ? "has no unit of measure" : `is rated per ${priced.charge.unitOfMeasure}`;
  const where = `charge "${priced.charge.name}" of subscription ${priced.subscription.subscriptionNumber}`;
  const first = mismatched[0].record;
  const message =
    mismatched.length === 1
      ? `Usage of ${first.quantity} ${first.unitOfMeasure} on ${first.usageDate} for ${where} cannot be rated: the charge ${expected}`
      : `${mismatched.length} usage records for ${where} are in ${units} (first on ${first.usageDate}) and cannot be rated: the charge ${expected}`;
  return { code: "USAGE_RATING_ERROR", message };
}

function pushItem(
  outcome: BilledSubscription,
  priced: PricedCharge,
  kind: ProposedItem["kind"],
  serviceStart: string,
  serviceEnd: string,
  quantity: string,
  amount: bigint,
  scale: number,
): void {
  const { charge } = priced;
  outcome.items.push({
    chargeId: charge.id,
    subscriptionId: outcome.subscription.id,
    chargeName: charge.name,
    chargeType: charge.type,
    kind,
    serviceStart,
    serviceEnd,
    quantity,
    unitPrice: charge.price,
    amount: formatScaled(amount, scale),
  });
  outcome.total += amount;
  if (!amountFits(amount, scale)) {
    // Usage summed over a period can outgrow what one record could: the item cannot be stored.
    const where = `Charge "${charge.name}" of subscription ${outcome.subscription.subscriptionNumber}`;
    if (!outcome.problems.some((problem) => problem.code === "AMOUNT_OUT_OF_RANGE" && problem.message.startsWith(where))) {
      outcome.problems.push({
        code: "AMOUNT_OUT_OF_RANGE",
        message: `${where} would bill ${formatScaled(amount, scale)} for the period from ${serviceStart}; an item's amount must be less than 10^20`,
      });
    }
  }
}

// ---------------------------------------------------------------------------------------
// Documents

/** The account's own document for every subscription not invoiced separately, then one per separate subscription. */
function composeDocuments(billed: readonly BilledSubscription[], context: AccountContext): ProposedDocument[] {
  const documents: ProposedDocument[] = [];
  const consolidated = billed.filter((outcome) => !outcome.subscription.invoiceSeparately);
  if (consolidated.length > 0) {
    const items = consolidated.length === 1 ? consolidated[0].items : consolidated.flatMap((outcome) => outcome.items);
    const total = consolidated.reduce((sum, outcome) => sum + outcome.total, 0n);
    documents.push(composeDocument(null, items, total, context));
  }
  for (const outcome of billed) {
    if (outcome.subscription.invoiceSeparately) {
      documents.push(composeDocument(outcome.subscription.id, outcome.items, outcome.total, context));
    }
  }
  return documents;
}

function composeDocument(subscriptionId: string | null, items: ProposedItem[], total: bigint, context: AccountContext): ProposedDocument {
  const { run, account, scale } = context;
  return {
    // A zero total is a (zero-amount) invoice, not a credit memo.
    type: total < 0n ? "CREDIT_MEMO" : "INVOICE",
    subscriptionId,
    currency: account.currency,
    total: formatScaled(total, scale),
    amount: formatScaled(total < 0n ? -total : total, scale),
    invoiceDate: run.invoiceDate,
    dueDate: formatDate(run.invoiceDay + account.paymentTermDays),
    items,
  };
}

// ---------------------------------------------------------------------------------------
// Input parsing

function parseInputDate(value: string, field: string): DayNumber {
  try {
    return parseDate(value);
  } catch {
    throw new BillingInputError(`${field} is not a date (YYYY-MM-DD): "${value}"`);
  }
}

/** `field` names the value in the error; with `charge`, as that charge's (the label is built only on failure). */
function parseInputDecimal(value: string, field: string, charge?: ChargeInput): ScaledDecimal {
  try {
    return parseDecimal(value);
  } catch {
    const label = charge === undefined ? field : `${field} of charge "${charge.name}"`;
    throw new BillingInputError(`${label} is not a decimal number: "${value}"`);
  }
}
