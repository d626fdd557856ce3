// Properties of billAccount over random accounts and target dates (fast-check).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { billCycleDate, formatDate, monthIndexOf, parseDate } from "./dates.ts";
import { billAccount } from "./engine.ts";
import { formatScaled, minorUnits, parseDecimal, rescaleHalfUp } from "./money.ts";
import { periodsBetween } from "./periods.ts";
import { applyChargeUpdates, expectOk, runAt } from "./test-support.ts";
import type { AccountInput, ChargeInput, ProposedItem, SubscriptionInput, UsageInput } from "./types.ts";

const RUNS = 250;

const date = (from: string, to: string) => fc.integer({ min: parseDate(from), max: parseDate(to) }).map(formatDate);
const target = date("2024-01-01", "2033-12-31");

interface ChargeSeed {
  type: ChargeInput["type"];
  billingPeriod: NonNullable<ChargeInput["billingPeriod"]>;
  billingTiming: ChargeInput["billingTiming"];
  priceUnits: number;
  priceScale: number;
  quantity: string;
  startDate: string;
  endAfterDays: number | null;
  usage: { offsetDays: number; quantity: string }[];
}

const chargeSeed: fc.Arbitrary<ChargeSeed> = fc.record({
  type: fc.constantFrom("ONE_TIME", "RECURRING", "RECURRING", "USAGE"),
  billingPeriod: fc.constantFrom("MONTH", "QUARTER", "SEMI_ANNUAL", "ANNUAL"),
  billingTiming: fc.constantFrom("IN_ADVANCE", "IN_ARREARS", null),
  priceUnits: fc.integer({ min: -1_000_000, max: 1_000_000 }),
  priceScale: fc.constantFrom(0, 2, 3, 4),
  quantity: fc.constantFrom("0", "1", "1", "2", "3", "10", "1.5", "0.25"),
  startDate: date("2024-01-01", "2030-12-31"),
  endAfterDays: fc.option(fc.integer({ min: 1, max: 900 })),
  usage: fc.array(fc.record({ offsetDays: fc.integer({ min: -20, max: 500 }), quantity: fc.constantFrom("1", "7", "12.5", "0", "1000") }), { maxLength: 5 }),
});

const subscriptionSeed = fc.record({
  charges: fc.array(chargeSeed, { minLength: 1, maxLength: 3 }),
  cancelAfterDays: fc.option(fc.integer({ min: -30, max: 1200 })),
  invoiceSeparately: fc.boolean(),
});

const accountArb: fc.Arbitrary<AccountInput> = fc
  .record({
    billCycleDay: fc.integer({ min: 1, max: 31 }),
    currency: fc.constantFrom("USD", "USD", "JPY", "KWD"),
    paymentTermDays: fc.integer({ min: 0, max: 90 }),
    subscriptions: fc.array(subscriptionSeed, { minLength: 1, maxLength: 3 }),
  })
  .map(({ billCycleDay, currency, paymentTermDays, subscriptions }) => {
    const usage: UsageInput[] = [];
    const built = subscriptions.map((seed, s): SubscriptionInput => {
      const firstStart = Math.min(...seed.charges.map((charge) => parseDate(charge.startDate)));
      const cancelledOn = seed.cancelAfterDays === null ? null : formatDate(firstStart + seed.cancelAfterDays);
      return {
        id: `sub-${s}`,
        subscriptionNumber: `S-${s}`,
        status: cancelledOn === null ? "ACTIVE" : "CANCELLED",
        startDate: formatDate(firstStart),
        cancelledOn,
        invoiceSeparately: seed.invoiceSeparately,
        charges: seed.charges.map((charge, c) => {
          const id = `charge-${s}-${c}`;
          const start = parseDate(charge.startDate);
          if (charge.type === "USAGE") {
            for (const record of charge.usage) {
              usage.push({ chargeId: id, quantity: record.quantity, unitOfMeasure: "unit", usageDate: formatDate(start + record.offsetDays) });
            }
          }
          return {
            id,
            name: `Charge ${s}.${c}`,
            type: charge.type,
            currency,
            price: formatScaled(BigInt(charge.priceUnits), charge.priceScale),
            quantity: charge.quantity,
            startDate: charge.startDate,
            endDate: charge.endAfterDays === null ? null : formatDate(start + charge.endAfterDays),
            billingPeriod: charge.type === "ONE_TIME" ? null : charge.billingPeriod,
            billingTiming: charge.type === "RECURRING" ? charge.billingTiming : null,
            unitOfMeasure: charge.type === "USAGE" ? "unit" : null,
            chargedThroughDate: null,
          };
        }),
      };
    });
    return {
      id: "account",
      accountNumber: "A-1",
      currency,
      billCycleDay,
      billToEmail: "billing@example.com",
      paymentTermDays,
      subscriptions: built,
      usage,
    };
  });

/**
 * Target dates for an account: random days, and days where something happens — bill cycle
 * dates, charge starts and service ends — since that is where off-by-one mistakes hide.
 */
function targetFor(account: AccountInput): fc.Arbitrary<string> {
  const events = chargesOf(account).flatMap((charge) => [
    charge.startDate,
    charge.endDate,
    ...account.subscriptions.map((subscription) => subscription.cancelledOn),
  ]);
  const eventDates = events.filter((event): event is string => event !== null);
  const billCycleDates = fc
    .record({ year: fc.integer({ min: 2024, max: 2033 }), month: fc.integer({ min: 1, max: 12 }) })
    .map(({ year, month }) => formatDate(billCycleDate(monthIndexOf(year, month), account.billCycleDay)));
  return fc.oneof(target, billCycleDates, fc.constantFrom(...eventDates));
}

const accountAndTarget = accountArb.chain((account) => fc.tuple(fc.constant(account), targetFor(account)));
const accountAndTwoTargets = accountArb.chain((account) => fc.tuple(fc.constant(account), targetFor(account), targetFor(account)));
const accountAndTargets = accountArb.chain((account) => fc.tuple(fc.constant(account), fc.array(targetFor(account), { minLength: 1, maxLength: 4 })));

function chargesOf(account: AccountInput): ChargeInput[] {
  return account.subscriptions.flatMap((subscription) => subscription.charges);
}

function serviceEndOf(account: AccountInput, charge: ChargeInput): number {
  const subscription = account.subscriptions.find((candidate) => candidate.charges.includes(charge));
  const ends = [charge.endDate, subscription?.cancelledOn ?? null].filter((end) => end !== null).map(parseDate);
  return Math.min(Number.POSITIVE_INFINITY, ...ends);
}

function itemKey(item: ProposedItem): string {
  return JSON.stringify(item);
}

/** Bills at each target date in turn, storing the moved dates in between, like successive bill runs. */
function billSuccessively(
  account: AccountInput,
  targets: readonly string[],
  afterEachRun?: (billed: AccountInput, targetDate: string, items: ProposedItem[]) => void,
) {
  const items: ProposedItem[] = [];
  let current = account;
  for (const targetDate of targets) {
    const result = expectOk(billAccount(current, runAt(targetDate)));
    const runItems = result.documents.flatMap((document) => document.items);
    items.push(...runItems);
    current = applyChargeUpdates(current, result.chargeUpdates);
    afterEachRun?.(current, targetDate, runItems);
  }
  return { items, account: current };
}

function isInAdvance(charge: ChargeInput): boolean {
  return charge.type === "RECURRING" && (charge.billingTiming ?? "IN_ADVANCE") === "IN_ADVANCE";
}

/**
 * A run at T bills exactly what is due: in advance, periods started by T; in arrears and
 * usage, periods ended by T; and after it, the next unbilled period is not due yet.
 */
function expectBilledExactlyWhatIsDue(account: AccountInput, targetDate: string, items: readonly ProposedItem[]): void {
  for (const item of items) {
    const charge = chargesOf(account).find((candidate) => candidate.id === item.chargeId);
    if (charge === undefined) throw new Error(`item of unknown charge ${item.chargeId}`);
    const dueBy = charge.type === "ONE_TIME" || isInAdvance(charge) ? item.serviceStart : item.serviceEnd;
    expect(dueBy <= targetDate).toBe(true);
  }
  for (const charge of chargesOf(account)) {
    if (charge.type === "ONE_TIME") continue;
    const serviceEnd = serviceEndOf(account, charge);
    const resume = charge.chargedThroughDate ?? charge.startDate;
    if (parseDate(resume) >= serviceEnd) continue;
    const [next] = periodsBetween(
      charge.startDate,
      account.billCycleDay,
      charge.billingPeriod ?? "MONTH",
      resume,
      formatDate(Math.min(serviceEnd, parseDate(resume) + 400)),
    );
    expect((isInAdvance(charge) ? next.start : next.end) > targetDate).toBe(true);
  }
}

/** Σ of the usage records dated in [from, to) as an exact decimal. */
function usageBetween(account: AccountInput, chargeId: string, from: string, to: string): bigint {
  return account.usage
    .filter((record) => record.chargeId === chargeId && record.usageDate >= from && record.usageDate < to)
    .reduce((sum, record) => sum + rescaleHalfUp(parseDecimal(record.quantity), 6), 0n);
}

describe("billAccount properties", () => {
  it("(a) each document's items sum to its total, amount = |total|, and the type follows the sign", () => {
    fc.assert(
      fc.property(accountAndTarget, ([account, targetDate]) => {
        const result = expectOk(billAccount(account, runAt(targetDate)));
        const scale = minorUnits(account.currency);
        const amountPattern = scale === 0 ? /^-?\d+$/ : new RegExp(`^-?\\d+\\.\\d{${scale}}$`);
        for (const document of result.documents) {
          expect(document.items.length).toBeGreaterThan(0);
          const sum = document.items.reduce((total, item) => {
            expect(item.amount).toMatch(amountPattern);
            return total + rescaleHalfUp(parseDecimal(item.amount), scale);
          }, 0n);
          expect(document.total).toBe(formatScaled(sum, scale));
          expect(document.amount).toBe(formatScaled(sum < 0n ? -sum : sum, scale));
          expect(document.type).toBe(sum < 0n ? "CREDIT_MEMO" : "INVOICE");
          const separate = account.subscriptions.filter((subscription) => subscription.invoiceSeparately).map((subscription) => subscription.id);
          for (const item of document.items) {
            if (document.subscriptionId === null) expect(separate).not.toContain(item.subscriptionId);
            else expect(item.subscriptionId).toBe(document.subscriptionId);
          }
        }
        expect(result.documents.filter((document) => document.subscriptionId === null).length).toBeLessThanOrEqual(1);
      }),
      { numRuns: RUNS },
    );
  });

  it("(b) successive runs bill what is due in contiguous, non-overlapping periods that tile [start, chargedThroughDate)", () => {
    fc.assert(
      fc.property(accountAndTargets, ([account, targets]) => {
        const sorted = [...targets].sort();
        const { items, account: billed } = billSuccessively(account, sorted, expectBilledExactlyWhatIsDue);
        expect(items.every((item) => item.kind === "CHARGE")).toBe(true);
        for (const charge of chargesOf(billed)) {
          const own = items.filter((item) => item.chargeId === charge.id).sort((x, y) => x.serviceStart.localeCompare(y.serviceStart));
          const chargedThrough = charge.chargedThroughDate;
          const serviceEnd = serviceEndOf(billed, charge);
          if (chargedThrough === null) {
            expect(own).toEqual([]);
            continue;
          }
          expect(parseDate(chargedThrough)).toBeLessThanOrEqual(Math.max(serviceEnd, parseDate(charge.startDate) + 1));
          if (charge.type === "ONE_TIME") {
            expect(own.map((item) => [item.serviceStart, item.serviceEnd])).toEqual([[charge.startDate, charge.startDate]]);
            expect(parseDate(charge.startDate)).toBeLessThan(serviceEnd);
            continue;
          }
          // Recurring items cover every day; usage items may skip periods without usage.
          let cursor = charge.startDate;
          for (const item of own) {
            if (charge.type === "RECURRING") expect(item.serviceStart).toBe(cursor);
            else expect(item.serviceStart >= cursor).toBe(true);
            expect(item.serviceEnd > item.serviceStart).toBe(true);
            cursor = item.serviceEnd;
          }
          if (charge.type === "RECURRING") expect(cursor).toBe(chargedThrough);
          else expect(cursor <= chargedThrough).toBe(true);
          if (charge.type === "USAGE") {
            const billedQuantity = own.reduce((sum, item) => sum + rescaleHalfUp(parseDecimal(item.quantity), 6), 0n);
            expect(billedQuantity).toBe(usageBetween(billed, charge.id, charge.startDate, chargedThrough));
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("(b′) after a cancellation, charges minus credits cover exactly [start, service end)", () => {
    fc.assert(
      fc.property(accountAndTarget, fc.integer({ min: 0, max: 800 }), fc.integer({ min: 0, max: 400 }), ([account, firstTarget], cancelDays, laterDays) => {
        const evergreen: AccountInput = {
          ...account,
          subscriptions: account.subscriptions.map((subscription) => ({ ...subscription, status: "ACTIVE", cancelledOn: null })),
        };
        const first = billSuccessively(evergreen, [firstTarget]);
        const cancelledOn = formatDate(parseDate(account.subscriptions[0].startDate) + cancelDays);
        const cancelled: AccountInput = {
          ...first.account,
          subscriptions: first.account.subscriptions.map((subscription, index) =>
            index === 0 ? { ...subscription, status: "CANCELLED", cancelledOn } : subscription,
          ),
        };
        const laterTarget = formatDate(Math.max(parseDate(firstTarget), parseDate(cancelledOn)) + laterDays);
        const second = billSuccessively(cancelled, [laterTarget]);
        const items = [...first.items, ...second.items];
        for (const charge of second.account.subscriptions[0].charges) {
          if (charge.type !== "RECURRING" || charge.chargedThroughDate === null) continue;
          const coverage = new Map<number, number>();
          for (const item of items.filter((candidate) => candidate.chargeId === charge.id)) {
            const sign = item.kind === "CREDIT" ? -1 : 1;
            for (let day = parseDate(item.serviceStart); day < parseDate(item.serviceEnd); day += 1) {
              coverage.set(day, (coverage.get(day) ?? 0) + sign);
            }
          }
          const start = parseDate(charge.startDate);
          const chargedThrough = parseDate(charge.chargedThroughDate);
          const wrongDays: string[] = [];
          for (const [day, count] of coverage) {
            if (count !== (day >= start && day < chargedThrough ? 1 : 0)) wrongDays.push(`${formatDate(day)}×${count}`);
          }
          for (let day = start; day < chargedThrough; day += 1) if (!coverage.has(day)) wrongDays.push(`${formatDate(day)}×0`);
          expect(wrongDays).toEqual([]);
          expect(chargedThrough).toBeLessThanOrEqual(Math.max(start, serviceEndOf(second.account, charge)));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("(c) billing again at the same target date, after storing the dates, adds nothing", () => {
    fc.assert(
      fc.property(accountAndTarget, ([account, targetDate]) => {
        const first = expectOk(billAccount(account, runAt(targetDate)));
        const again = expectOk(billAccount(applyChargeUpdates(account, first.chargeUpdates), runAt(targetDate)));
        expect(again.documents).toEqual([]);
        expect(again.chargeUpdates).toEqual([]);
      }),
      { numRuns: RUNS },
    );
  });

  it("(d) billing at T1 then T2 bills the same items and dates as billing once at T2", () => {
    fc.assert(
      fc.property(accountAndTwoTargets, ([account, a, b]) => {
        const [t1, t2] = a <= b ? [a, b] : [b, a];
        const twice = billSuccessively(account, [t1, t2]);
        const once = billSuccessively(account, [t2]);
        expect(twice.items.map(itemKey).sort()).toEqual(once.items.map(itemKey).sort());
        expect(chargesOf(twice.account).map((charge) => charge.chargedThroughDate)).toEqual(chargesOf(once.account).map((charge) => charge.chargedThroughDate));
      }),
      { numRuns: RUNS },
    );
  });
});
