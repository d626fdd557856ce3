import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { inputSchemas } from "../../src/accounts/service.ts";
import { amountFits, extendedAmount, minorUnits } from "../../src/billing/money.ts";
import { plainAccount, plainSubscription, plainUsage, surelyFits } from "../../src/imports/fastpath.ts";

// The import's fast path must answer as the mutations' schemas do: whatever it accepts, the
// schema accepts with the same output. Each field takes values the fast path handles, values only
// the schema handles (white space, non-ASCII, defaults) and invalid ones, in many combinations.

/** A deterministic generator: the same combinations on every run. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

type Variants = Record<string, unknown[]>;

/**
 * `count` objects, each field picked among its variants (undefined: the field is absent); the
 * first variant, a plain valid value, most often, so that most objects differ from a plainly
 * valid one in a field or two: where the fast path's edges are.
 */
function combinations(variants: Variants, count: number, seed: number): Record<string, unknown>[] {
  const next = random(seed);
  return Array.from({ length: count }, () => {
    const out: Record<string, unknown> = {};
    for (const [field, values] of Object.entries(variants)) {
      const value = next() < 0.7 ? values[0] : values[Math.floor(next() * values.length)];
      if (value !== undefined) out[field] = value;
    }
    return out;
  });
}

/** Compares the fast path with the schema on `inputs`; returns how many the fast path took. */
function compare<T>(schema: z.ZodType, inputs: T[], fast: (input: T) => unknown): number {
  let taken = 0;
  for (const input of inputs) {
    const plain = fast(input);
    if (plain === undefined) continue;
    taken++;
    const parsed = schema.safeParse(input);
    expect({ input, success: parsed.success }).toEqual({ input, success: true });
    expect(plain).toEqual(parsed.data);
  }
  return taken;
}

const TEXT = [
  "Acme",
  "Acme Inc.",
  " Acme",
  "Acme ",
  "Café",
  "Cafe\u0301",
  "\u200bAcme",
  "",
  " ",
  "a\tb",
  "x".repeat(40),
  "x".repeat(41),
  "x".repeat(101),
  "x".repeat(201),
];
const DATES = ["2026-01-01", "2026-02-28", "2026-02-29", "2028-02-29", "2026-13-01", "1899-12-31", " 2026-01-01", "2026-1-1", "20260101"];
const DECIMALS = [
  "1",
  "0",
  "49.99",
  "-5",
  "-0.5",
  "0.00000001",
  "0.000000001",
  "1234567890123456",
  "123456789012345",
  " 12.5",
  "12.5 ",
  "1e3",
  "1,5",
  "abc",
  "",
];

describe("the import's fast path validates as the mutations' schemas do", () => {
  it("accounts", () => {
    const variants: Variants = {
      accountNumber: [undefined, "CUST-1", "a_b-9", " CUST-1", "CUST 1", "-CUST", "A-00000001", "A-0000001", "x".repeat(40), "x".repeat(41), "Ünïcode", ""],
      name: [...TEXT, undefined],
      currency: ["USD", "EUR", "JPY", "usd", " USD", "XXX", "US", undefined],
      billCycleDay: [1, 15, 31, 0, 32, 1.5, -1, undefined],
      batch: [undefined, 1, 50, 0, 51, 2.5],
      billToEmail: [
        undefined,
        "billing@acme.example",
        "a.b+c@x.io",
        " billing@acme.example",
        "not-an-email",
        "a@b",
        "x@y.z",
        "é@acme.example",
        `${"x".repeat(250)}@a.io`,
        "",
      ],
      paymentTermDays: [undefined, 0, 30, 3650, 3651, -1, 1.5],
      status: [undefined, "ACTIVE", "INACTIVE", "active", "CLOSED"],
    };
    const plain = { accountNumber: "CUST-1", name: "Acme Inc.", currency: "USD", billCycleDay: 1, batch: 2, billToEmail: "billing@acme.example" };
    expect(plainAccount(plain)).toBeDefined();
    expect(plainAccount({ name: "Acme", currency: "EUR", billCycleDay: 31 })).toEqual(
      inputSchemas.createAccountInput.parse({ name: "Acme", currency: "EUR", billCycleDay: 31 }),
    );
    const taken = compare(inputSchemas.createAccountInput, combinations(variants, 20_000, 1), plainAccount);
    expect(taken).toBeGreaterThan(300);
  });

  it("subscriptions and their charges", () => {
    const chargeVariants: Variants = {
      name: ["Platform fee", "API calls", ...TEXT.slice(2)],
      type: ["RECURRING", "RECURRING", "USAGE", "ONE_TIME", "recurring", undefined],
      currency: [undefined, "USD", "usd", "XXX"],
      price: ["49.99", ...DECIMALS, undefined],
      quantity: [undefined, ...DECIMALS],
      startDate: [undefined, undefined, ...DATES],
      endDate: [undefined, undefined, undefined, "2026-06-30", "2025-12-31", "2026-01-01", "2026-02-30"],
      billingPeriod: ["MONTH", undefined, "QUARTER", "ANNUAL", "WEEK", "month"],
      billingTiming: [undefined, "IN_ADVANCE", "IN_ARREARS", "LATER"],
      unitOfMeasure: [undefined, "call", " call", "x".repeat(41)],
    };
    const charges = combinations(chargeVariants, 40_000, 2);
    const next = random(3);
    const subscriptions = Array.from({ length: 20_000 }, (_, i) => {
      const count = [1, 1, 2, 2, 3, 0, 1][i % 7]!;
      return {
        accountId: ["00000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-000000000000", "not-a-uuid"][i % 3],
        subscriptionNumber: next() < 0.7 ? "SUB-1" : [undefined, "SUB-1", "S-00000001", " SUB-1", "SUB 1"][Math.floor(next() * 5)],
        startDate: next() < 0.7 ? DATES[0] : DATES[Math.floor(next() * DATES.length)],
        invoiceSeparately: [undefined, true, false][i % 3],
        // The same charge twice now and then: names must differ.
        charges: Array.from({ length: count }, (_, k) => charges[(i * 3 + (k === 2 && i % 5 === 0 ? 0 : k)) % charges.length]!),
      };
    });
    const plain = {
      accountId: "00000000-0000-4000-8000-000000000000",
      subscriptionNumber: "SUB-1",
      startDate: "2026-01-01",
      invoiceSeparately: undefined,
      charges: [
        { name: "Platform fee", type: "RECURRING", price: "49.99", billingPeriod: "MONTH", billingTiming: "IN_ADVANCE" },
        { name: "API calls", type: "USAGE", price: "0.0025", billingPeriod: "MONTH", unitOfMeasure: "call" },
        { name: "Setup", type: "ONE_TIME", price: "100", quantity: "2", startDate: "2026-02-01", endDate: "2026-03-01" },
      ],
    };
    expect(plainSubscription(plain)).toEqual(inputSchemas.createSubscriptionInput.parse(plain));
    const taken = compare(inputSchemas.createSubscriptionInput, subscriptions, plainSubscription);
    expect(taken).toBeGreaterThan(300);
  });

  it("usage", () => {
    const variants: Variants = {
      chargeName: ["API calls", ...TEXT, undefined],
      quantity: ["1", ...DECIMALS, undefined],
      unitOfMeasure: ["call", ...TEXT, undefined],
      usageDate: ["2026-01-15", ...DATES, undefined],
    };
    const id = "00000000-0000-4000-8000-000000000000";
    const inputs = combinations(variants, 20_000, 4).map((values) => ({ subscriptionId: id, ...values }));
    expect(plainUsage(id, { chargeName: "API calls", quantity: "12.5", unitOfMeasure: "call", usageDate: "2026-01-15" })).toBeDefined();
    const taken = compare(inputSchemas.recordUsageInput, inputs, (input) => plainUsage(input.subscriptionId, input));
    expect(taken).toBeGreaterThan(300);
  });
});

describe("the usage import's shortcut for amounts", () => {
  it("says an amount fits only where computing it says so, and does say so for ordinary prices and quantities", () => {
    const next = random(7);
    // Integer parts of every length up to 16 digits around the limit, with and without fractions.
    const decimal = (negative: boolean) => {
      const digits = 1 + Math.floor(next() * 16);
      const integer = next() < 0.2 ? "0" : String(1 + Math.floor(next() * 9)) + "9".repeat(digits - 1);
      const fraction = next() < 0.5 ? "" : `.${"9".repeat(1 + Math.floor(next() * 8))}`;
      return `${negative && next() < 0.3 ? "-" : ""}${integer}${fraction}`;
    };
    let sure = 0;
    for (let i = 0; i < 20_000; i++) {
      const price = decimal(true);
      const quantity = decimal(false);
      const currency = next() < 0.5 ? "USD" : "JPY";
      if (!surelyFits(price, quantity)) continue;
      sure++;
      expect(amountFits(extendedAmount(price, quantity, currency), minorUnits(currency)), `${price} × ${quantity}`).toBe(true);
    }
    expect(sure).toBeGreaterThan(5_000);
    expect(surelyFits("0.0025", "500")).toBe(true);
    expect(surelyFits("49.99", "1")).toBe(true);
    expect(surelyFits("999999999999999", "200000")).toBe(false);
  });
});
