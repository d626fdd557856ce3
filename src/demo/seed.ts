import { timeOrderedId } from "../ids.ts";
import type { Db } from "../db/client.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import { dateOnly } from "../util.ts";

/** Small deterministic PRNG (mulberry32): the same demo data on every machine. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min: number, max: number) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
  };
}

const CURRENCIES = ["USD", "USD", "USD", "USD", "EUR", "EUR", "GBP", "CAD", "AUD", "JPY", "KWD"] as const;
const PRICES: Record<string, readonly string[]> = {
  USD: ["29.00", "49.99", "99.00", "149.50", "499.00"],
  EUR: ["25.00", "45.00", "89.90", "140.00"],
  GBP: ["20.00", "39.00", "79.00"],
  CAD: ["35.00", "65.00", "120.00"],
  AUD: ["39.00", "70.00", "130.00"],
  JPY: ["3000", "5500", "12000"],
  KWD: ["9.500", "15.250", "42.125"],
};
const COMPANY = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Tyrell", "Soylent", "Cyberdyne", "Wonka"];
const KIND = ["Labs", "Industries", "Holdings", "Trading", "Systems", "Foods", "Logistics", "Media"];

export interface DemoSummary {
  accounts: number;
  subscriptions: number;
  charges: number;
  usageRecords: number;
}

/**
 * A few hundred accounts across currencies, batches and bill cycle days, with one-time,
 * recurring (in advance and in arrears, monthly to annual) and usage charges started during
 * 2026, so a bill run with a target date in late 2026 bills several periods each. A handful of
 * accounts fail a bill run on purpose, one group per failure reason of the spec.
 */
export async function loadDemoData(db: Db, accountCount = 300): Promise<DemoSummary> {
  const rnd = prng(20261124);
  const accounts: Prisma.AccountCreateManyInput[] = [];
  const subscriptions: Prisma.SubscriptionCreateManyInput[] = [];
  const charges: Prisma.ChargeCreateManyInput[] = [];
  const usage: Prisma.UsageRecordCreateManyInput[] = [];

  for (let i = 1; i <= accountCount; i++) {
    // The last nine accounts are the deliberate failures: 3 × each reason.
    const failure = i > accountCount - 9 ? (["MISSING_BILL_TO_CONTACT", "CURRENCY_MISMATCH", "USAGE_RATING_ERROR"] as const)[(accountCount - i) % 3] : null;
    const currency = failure ? "USD" : rnd.pick(CURRENCIES);
    const name = `${rnd.pick(COMPANY)} ${rnd.pick(KIND)} ${String(i).padStart(3, "0")}`;
    const accountId = timeOrderedId();
    accounts.push({
      id: accountId,
      name,
      currency,
      billCycleDay: rnd.pick([1, 1, 1, 5, 10, 15, 20, 28, 29, 30, 31]),
      batch: rnd.int(1, 5),
      billToEmail: failure === "MISSING_BILL_TO_CONTACT" ? "" : `billing+${i}@${name.split(" ")[0]!.toLowerCase()}.example`,
      paymentTermDays: rnd.pick([15, 30, 30, 45, 60]),
      status: i % 97 === 0 ? "INACTIVE" : "ACTIVE",
    });

    const subscriptionCount = rnd.int(1, 3);
    for (let s = 0; s < subscriptionCount; s++) {
      const subscriptionId = timeOrderedId();
      const start = `2026-${String(rnd.int(1, 9)).padStart(2, "0")}-${String(rnd.int(1, 28)).padStart(2, "0")}`;
      const cancelled = !failure && rnd.next() < 0.05;
      subscriptions.push({
        id: subscriptionId,
        accountId,
        startDate: dateOnly(start),
        invoiceSeparately: !failure && rnd.next() < 0.1,
        status: cancelled ? "CANCELLED" : "ACTIVE",
        cancelledOn: cancelled ? dateOnly("2026-11-10") : null,
      });
      const price = () => rnd.pick(PRICES[currency]!);
      const base = { subscriptionId, startDate: dateOnly(start), currency };
      charges.push({ ...base, position: 0, name: "Platform fee", type: "RECURRING", price: price(), billingPeriod: "MONTH", billingTiming: "IN_ADVANCE" });
      if (rnd.next() < 0.5) {
        charges.push({
          ...base,
          position: 1,
          name: "Support",
          type: "RECURRING",
          price: price(),
          billingPeriod: rnd.pick(["MONTH", "QUARTER"]),
          billingTiming: "IN_ARREARS",
        });
      }
      if (rnd.next() < 0.2) {
        charges.push({
          ...base,
          position: 2,
          name: "Annual licence",
          type: "RECURRING",
          price: price(),
          billingPeriod: "ANNUAL",
          billingTiming: "IN_ADVANCE",
          quantity: String(rnd.int(1, 5)),
        });
      }
      if (rnd.next() < 0.4) {
        charges.push({ ...base, position: 3, name: "Setup", type: "ONE_TIME", price: price() });
      }
      if (rnd.next() < 0.1) {
        charges.push({
          ...base,
          position: 4,
          name: "Loyalty discount",
          type: "RECURRING",
          price: `-${price()}`,
          billingPeriod: "MONTH",
          billingTiming: "IN_ADVANCE",
        });
      }
      if (failure === "CURRENCY_MISMATCH" && s === 0) {
        charges.push({
          ...base,
          currency: "EUR",
          position: 5,
          name: "EU add-on",
          type: "RECURRING",
          price: "10.00",
          billingPeriod: "MONTH",
          billingTiming: "IN_ADVANCE",
        });
      }
      if (rnd.next() < 0.4 || (failure === "USAGE_RATING_ERROR" && s === 0)) {
        const chargeId = timeOrderedId();
        charges.push({
          ...base,
          id: chargeId,
          position: 6,
          name: "API calls",
          type: "USAGE",
          price: currency === "JPY" ? "1" : currency === "KWD" ? "0.001" : "0.01",
          billingPeriod: "MONTH",
          billingTiming: "IN_ARREARS",
          unitOfMeasure: "call",
        });
        for (let m = Number(start.slice(5, 7)); m <= 10; m++) {
          const wrongUnit = failure === "USAGE_RATING_ERROR" && m === 10;
          usage.push({
            subscriptionId,
            chargeId,
            quantity: String(rnd.int(100, 20_000)),
            unitOfMeasure: wrongUnit ? "GB" : "call",
            usageDate: dateOnly(
              `2026-${String(m).padStart(2, "0")}-${String(rnd.int(Math.max(1, m === Number(start.slice(5, 7)) ? Number(start.slice(8, 10)) : 1), 28)).padStart(2, "0")}`,
            ),
          });
        }
      }
    }
  }

  await db.$transaction([
    db.account.createMany({ data: accounts }),
    db.subscription.createMany({ data: subscriptions }),
    db.charge.createMany({ data: charges }),
    db.usageRecord.createMany({ data: usage }),
  ]);
  return { accounts: accounts.length, subscriptions: subscriptions.length, charges: charges.length, usageRecords: usage.length };
}
