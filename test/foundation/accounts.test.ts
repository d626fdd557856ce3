import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import {
  CancelSubscriptionDocument,
  CreateAccountDocument,
  CreateSubscriptionDocument,
  GetAccountDocument,
  GetSubscriptionDocument,
  RecordUsageDocument,
  UpdateAccountDocument,
  type ChargeInput,
  type CreateAccountInput,
} from "../../src/generated/graphql/graphql.ts";
import { as, counts, createAccount, createSubscription, dataOf, plain } from "./helpers.ts";

const UNKNOWN_ID = "00000000-0000-4000-8000-000000000000";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

describe("accounts", () => {
  // Runs first in this file's own database, so it gets the first generated number.
  it("creates an account with the documented defaults and reads it back", async () => {
    const result = await t.gql(CreateAccountDocument, { input: { name: "  First Customer  ", currency: "USD", billCycleDay: 15 } }, t.tokens.operator);
    const account = as(dataOf(result).createAccount, "Account");
    expect(account).toMatchObject({
      accountNumber: "A-00000001",
      name: "First Customer",
      currency: "USD",
      billCycleDay: 15,
      batch: 1,
      billToEmail: "",
      paymentTermDays: 30,
      status: "ACTIVE",
    });
    expect(account.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Math.abs(Date.parse(account.createdAt) - Date.now())).toBeLessThan(60_000);

    const read = dataOf(await t.gql(GetAccountDocument, { id: account.id }, t.tokens.viewer)).account;
    expect(read).toEqual({ ...plain(account), subscriptions: { totalCount: 0, edges: [] } });

    const row = await t.app.db.account.findUniqueOrThrow({ where: { id: account.id } });
    expect(row).toMatchObject({ accountNumber: "A-00000001", batch: 1, paymentTermDays: 30, status: "ACTIVE", billToEmail: "" });

    const second = await createAccount(t, { name: "Second" });
    expect(second.accountNumber).toBe("A-00000002");
  });

  it("keeps every given field and an explicit account number", async () => {
    const account = await createAccount(t, {
      accountNumber: "ACME-42",
      name: "Acme GmbH",
      currency: "EUR",
      billCycleDay: 31,
      batch: 50,
      billToEmail: "ap@acme.example",
      paymentTermDays: 0,
      status: "INACTIVE",
    });
    expect(account).toMatchObject({
      accountNumber: "ACME-42",
      name: "Acme GmbH",
      currency: "EUR",
      billCycleDay: 31,
      batch: 50,
      billToEmail: "ap@acme.example",
      paymentTermDays: 0,
      status: "INACTIVE",
    });
  });

  it("returns a ConflictError for a taken account number and creates nothing", async () => {
    await createAccount(t, { accountNumber: "DUP-1" });
    const before = await counts(t);
    const result = await t.gql(CreateAccountDocument, { input: { accountNumber: "DUP-1", name: "Again", currency: "USD", billCycleDay: 1 } });
    expect(as(dataOf(result).createAccount, "ConflictError")).toMatchObject({ code: "CONFLICT" });
    expect(await counts(t)).toEqual(before);
  });

  it("answers concurrent creates with the same account number with one Account and ConflictErrors, never an unexpected error", async () => {
    const before = await t.app.db.account.count();
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        t.gql(CreateAccountDocument, { input: { accountNumber: "RACE-1", name: `Racer ${i}`, currency: "USD", billCycleDay: 1 } }),
      ),
    );
    expect(results.flatMap((r) => r.errors ?? [])).toEqual([]);
    const typenames = results.map((r) => r.data?.createAccount.__typename).sort();
    expect(typenames).toEqual(["Account", "ConflictError", "ConflictError", "ConflictError", "ConflictError", "ConflictError"]);
    expect(await t.app.db.account.count()).toBe(before + 1);
  });

  it("refuses an explicit number in the generated A-00000000 form, so generated numbers never collide", async () => {
    const previous = await createAccount(t, { name: "Sequence probe" });
    const next = `A-${String(Number(previous.accountNumber.slice(2)) + 1).padStart(8, "0")}`;
    const refused = await t.gql(CreateAccountDocument, { input: { name: "Took the next number", currency: "USD", billCycleDay: 1, accountNumber: next } });
    const error = as(refused.data?.createAccount, "ValidationError");
    expect(error.field).toEqual(["input", "accountNumber"]);
    // Past 99999999 the generator writes nine digits: those are its own too.
    const nine = await t.gql(CreateAccountDocument, { input: { name: "Nine digits", currency: "USD", billCycleDay: 1, accountNumber: "A-100000000" } });
    expect(as(nine.data?.createAccount, "ValidationError").field).toEqual(["input", "accountNumber"]);

    const result = await t.gql(CreateAccountDocument, { input: { name: "Generated after", currency: "USD", billCycleDay: 1 } });
    expect(result.errors).toBeUndefined();
    expect(as(result.data?.createAccount, "Account").accountNumber).toBe(next);
  });

  it("treats explicit nulls as absent: defaults on create, unchanged on update", async () => {
    const created = await t.gql(CreateAccountDocument, {
      input: { name: "Nulls", currency: "CAD", billCycleDay: 9, batch: null, billToEmail: null, paymentTermDays: null, status: null, accountNumber: null },
    });
    const account = as(dataOf(created).createAccount, "Account");
    expect(account).toMatchObject({ batch: 1, billToEmail: "", paymentTermDays: 30, status: "ACTIVE", accountNumber: expect.stringMatching(/^A-\d{8}$/) });

    const updated = await t.gql(UpdateAccountDocument, {
      input: { id: account.id, name: null, billCycleDay: null, batch: null, billToEmail: null, paymentTermDays: null, status: null },
    });
    expect(plain(as(dataOf(updated).updateAccount, "Account"))).toEqual(plain(account));
  });

  it("returns null for an unknown or malformed account id", async () => {
    expect(dataOf(await t.gql(GetAccountDocument, { id: UNKNOWN_ID })).account).toBeNull();
    expect(dataOf(await t.gql(GetAccountDocument, { id: "not-a-uuid" })).account).toBeNull();
    expect(dataOf(await t.gql(GetSubscriptionDocument, { id: UNKNOWN_ID })).subscription).toBeNull();
    expect(dataOf(await t.gql(GetSubscriptionDocument, { id: "not-a-uuid" })).subscription).toBeNull();
  });

  const invalidCreates: [string, Partial<CreateAccountInput>, string[]][] = [
    ["an unknown currency", { currency: "XXX" }, ["input", "currency"]],
    ["a lower-case currency", { currency: "usd" }, ["input", "currency"]],
    ["bill cycle day 0", { billCycleDay: 0 }, ["input", "billCycleDay"]],
    ["bill cycle day 32", { billCycleDay: 32 }, ["input", "billCycleDay"]],
    ["batch 0", { batch: 0 }, ["input", "batch"]],
    ["batch 51", { batch: 51 }, ["input", "batch"]],
    ["a bad email", { billToEmail: "not an email" }, ["input", "billToEmail"]],
    ["negative payment terms", { paymentTermDays: -1 }, ["input", "paymentTermDays"]],
    ["an empty name", { name: "   " }, ["input", "name"]],
    ["a bad account number", { accountNumber: "has space" }, ["input", "accountNumber"]],
  ];

  it.each(invalidCreates)("refuses %s with a ValidationError naming the field and creates nothing", async (_label, override, field) => {
    const before = await counts(t);
    const result = await t.gql(CreateAccountDocument, { input: { name: "Invalid Inc", currency: "USD", billCycleDay: 1, ...override } });
    const error = as(dataOf(result).createAccount, "ValidationError");
    expect(error.code).toBe("VALIDATION");
    expect(error.field).toEqual(field);
    expect(error.message.length).toBeGreaterThan(0);
    expect(await counts(t)).toEqual(before);
  });

  it("updates the given fields only", async () => {
    const account = await createAccount(t, { name: "Before", currency: "GBP", billCycleDay: 10, billToEmail: "old@example.com" });
    const result = await t.gql(
      UpdateAccountDocument,
      {
        input: { id: account.id, name: "After", billCycleDay: 28, batch: 7, billToEmail: "", paymentTermDays: 45, status: "INACTIVE" },
      },
      t.tokens.operator,
    );
    const updated = plain(as(dataOf(result).updateAccount, "Account"));
    expect(updated).toEqual({
      ...account,
      name: "After",
      billCycleDay: 28,
      batch: 7,
      billToEmail: "",
      paymentTermDays: 45,
      status: "INACTIVE",
    });
    const read = dataOf(await t.gql(GetAccountDocument, { id: account.id })).account;
    expect(read).toMatchObject({ name: "After", currency: "GBP", billCycleDay: 28, batch: 7, billToEmail: "", paymentTermDays: 45, status: "INACTIVE" });

    // Omitted fields stay as they are.
    const partial = as(dataOf(await t.gql(UpdateAccountDocument, { input: { id: account.id, status: "ACTIVE" } })).updateAccount, "Account");
    expect(partial).toMatchObject({ name: "After", billCycleDay: 28, batch: 7, paymentTermDays: 45, status: "ACTIVE" });
  });

  it("refuses invalid updates with a ValidationError and changes nothing", async () => {
    const account = await createAccount(t, { name: "Stable", billCycleDay: 3 });
    for (const [input, field] of [
      [{ billCycleDay: 32 }, ["input", "billCycleDay"]],
      [{ batch: 51 }, ["input", "batch"]],
      [{ billToEmail: "nope" }, ["input", "billToEmail"]],
      [{ paymentTermDays: -5 }, ["input", "paymentTermDays"]],
    ] as const) {
      const result = await t.gql(UpdateAccountDocument, { input: { id: account.id, name: "Changed", ...input } });
      expect(as(dataOf(result).updateAccount, "ValidationError")).toMatchObject({ code: "VALIDATION", field });
    }
    expect(await t.app.db.account.findUniqueOrThrow({ where: { id: account.id } })).toMatchObject({ name: "Stable", billCycleDay: 3, batch: 1 });
  });

  it("returns a NotFoundError when updating an unknown account", async () => {
    const result = await t.gql(UpdateAccountDocument, { input: { id: UNKNOWN_ID, name: "Ghost" } });
    expect(as(dataOf(result).updateAccount, "NotFoundError")).toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("subscriptions", () => {
  it("creates a subscription with ONE_TIME, RECURRING and USAGE charges and reads them back", async () => {
    const account = await createAccount(t, { name: "Subscriber" });
    const subscription = await createSubscription(t, {
      accountId: account.id,
      startDate: "2026-01-10",
      invoiceSeparately: true,
      charges: [
        { name: "Setup fee", type: "ONE_TIME", price: "30" },
        { name: "Platform", type: "RECURRING", price: "19.9", quantity: "3", billingPeriod: "MONTH" },
        {
          name: "Support",
          type: "RECURRING",
          price: "1200.00",
          billingPeriod: "ANNUAL",
          billingTiming: "IN_ARREARS",
          startDate: "2026-02-01",
          endDate: "2027-02-01",
        },
        { name: "API calls", type: "USAGE", price: "0.0015", billingPeriod: "QUARTER", unitOfMeasure: "call" },
        { name: "Loyalty credit", type: "ONE_TIME", price: "-5" },
      ],
    });
    expect(subscription).toMatchObject({
      subscriptionNumber: expect.stringMatching(/^S-\d{8}$/),
      status: "ACTIVE",
      startDate: "2026-01-10",
      cancelledOn: null,
      invoiceSeparately: true,
      account: { id: account.id, accountNumber: account.accountNumber },
    });
    const expectedCharges = [
      {
        name: "Setup fee",
        type: "ONE_TIME",
        currency: "USD",
        price: "30.00",
        quantity: "1",
        startDate: "2026-01-10",
        endDate: null,
        billingPeriod: null,
        billingTiming: null,
        unitOfMeasure: null,
        chargedThroughDate: null,
      },
      {
        name: "Platform",
        type: "RECURRING",
        currency: "USD",
        price: "19.90",
        quantity: "3",
        startDate: "2026-01-10",
        endDate: null,
        billingPeriod: "MONTH",
        billingTiming: "IN_ADVANCE",
        unitOfMeasure: null,
        chargedThroughDate: null,
      },
      {
        name: "Support",
        type: "RECURRING",
        currency: "USD",
        price: "1200.00",
        quantity: "1",
        startDate: "2026-02-01",
        endDate: "2027-02-01",
        billingPeriod: "ANNUAL",
        billingTiming: "IN_ARREARS",
        unitOfMeasure: null,
        chargedThroughDate: null,
      },
      {
        name: "API calls",
        type: "USAGE",
        currency: "USD",
        price: "0.0015",
        quantity: "1",
        startDate: "2026-01-10",
        endDate: null,
        billingPeriod: "QUARTER",
        billingTiming: "IN_ARREARS",
        unitOfMeasure: "call",
        chargedThroughDate: null,
      },
      {
        name: "Loyalty credit",
        type: "ONE_TIME",
        currency: "USD",
        price: "-5.00",
        quantity: "1",
        startDate: "2026-01-10",
        endDate: null,
        billingPeriod: null,
        billingTiming: null,
        unitOfMeasure: null,
        chargedThroughDate: null,
      },
    ];
    expect(subscription.charges.map(({ id: _id, ...c }) => c)).toEqual(expectedCharges);

    // Read back through subscription(id) and through the account's connection: same data, same order.
    const read = dataOf(await t.gql(GetSubscriptionDocument, { id: subscription.id }, t.tokens.viewer)).subscription;
    expect(read).toEqual(subscription);
    const viaAccount = dataOf(await t.gql(GetAccountDocument, { id: account.id })).account!;
    expect(viaAccount.subscriptions.totalCount).toBe(1);
    expect(viaAccount.subscriptions.edges.map((e) => e.node)).toEqual([subscription]);

    // Stored exactly, never as a float.
    const rows = await t.app.db.charge.findMany({ where: { subscriptionId: subscription.id }, orderBy: { position: "asc" } });
    expect(rows.map((r) => r.price.toFixed())).toEqual(["30", "19.9", "1200", "0.0015", "-5"]);
  });

  it.each([
    ["JPY", "1000", "1000"],
    ["JPY", "1000.5", "1000.5"],
    ["KWD", "1.25", "1.250"],
    ["BHD", "7", "7.000"],
    ["EUR", "0.1", "0.10"],
  ])("formats a %s price %s as %s", async (currency, price, shown) => {
    const account = await createAccount(t, { name: `${currency} customer`, currency });
    const subscription = await createSubscription(t, {
      accountId: account.id,
      startDate: "2026-01-01",
      charges: [{ name: "Fee", type: "RECURRING", price, billingPeriod: "MONTH" }],
    });
    expect(subscription.charges[0]).toMatchObject({ currency, price: shown });
  });

  it("keeps a charge currency given explicitly", async () => {
    const account = await createAccount(t, { currency: "USD" });
    const subscription = await createSubscription(t, {
      accountId: account.id,
      startDate: "2026-01-01",
      charges: [{ name: "Fee", type: "ONE_TIME", price: "1.25", currency: "KWD" }],
    });
    expect(subscription.charges[0]).toMatchObject({ currency: "KWD", price: "1.250" });
  });

  const recurring: ChargeInput = { name: "Monthly", type: "RECURRING", price: "10.00", billingPeriod: "MONTH" };
  const invalidCharges: [string, ChargeInput[], string[]][] = [
    ["a negative quantity", [{ ...recurring, quantity: "-1" }], ["input", "charges", "0", "quantity"]],
    ["an end date before the start date", [{ ...recurring, startDate: "2026-03-01", endDate: "2026-02-01" }], ["input", "charges", "0", "endDate"]],
    ["an end date equal to the start date", [{ ...recurring, endDate: "2026-01-01" }], ["input", "charges", "0", "endDate"]],
    ["a RECURRING charge without a billing period", [{ name: "R", type: "RECURRING", price: "1" }], ["input", "charges", "0", "billingPeriod"]],
    ["a USAGE charge without a billing period", [{ name: "U", type: "USAGE", price: "1", unitOfMeasure: "GB" }], ["input", "charges", "0", "billingPeriod"]],
    [
      "a USAGE charge without a unit of measure",
      [{ name: "U", type: "USAGE", price: "1", billingPeriod: "MONTH" }],
      ["input", "charges", "0", "unitOfMeasure"],
    ],
    [
      "a USAGE charge billed in advance",
      [{ name: "U", type: "USAGE", price: "1", billingPeriod: "MONTH", unitOfMeasure: "GB", billingTiming: "IN_ADVANCE" }],
      ["input", "charges", "0", "billingTiming"],
    ],
    ["a unit of measure on a RECURRING charge", [{ ...recurring, unitOfMeasure: "GB" }], ["input", "charges", "0", "unitOfMeasure"]],
    [
      "a billing period on a ONE_TIME charge",
      [{ name: "O", type: "ONE_TIME", price: "1", billingPeriod: "MONTH" }],
      ["input", "charges", "0", "billingPeriod"],
    ],
    [
      "duplicate charge names",
      [recurring, { name: "Setup", type: "ONE_TIME", price: "5" }, { ...recurring, price: "20.00" }],
      ["input", "charges", "2", "name"],
    ],
    ["a charge starting before its subscription", [{ ...recurring, startDate: "2025-12-31" }], ["input", "charges", "0", "startDate"]],
    ["an unknown charge currency", [{ ...recurring, currency: "XXX" }], ["input", "charges", "0", "currency"]],
    ["no charges", [], ["input", "charges"]],
    ["the second charge invalid", [recurring, { name: "Bad", type: "ONE_TIME", price: "1", quantity: "-0.5" }], ["input", "charges", "1", "quantity"]],
  ];

  it.each(invalidCharges)("refuses %s with a ValidationError naming the field and creates nothing", async (_label, charges, field) => {
    const account = await createAccount(t, { name: "Validation target" });
    const before = await counts(t);
    const result = await t.gql(CreateSubscriptionDocument, { input: { accountId: account.id, startDate: "2026-01-01", charges } });
    const error = as(dataOf(result).createSubscription, "ValidationError");
    expect(error.code).toBe("VALIDATION");
    expect(error.field).toEqual(field);
    expect(await counts(t)).toEqual(before);
  });

  it("returns a NotFoundError for an unknown account and a ValidationError for a malformed id", async () => {
    const before = await counts(t);
    const missing = await t.gql(CreateSubscriptionDocument, { input: { accountId: UNKNOWN_ID, startDate: "2026-01-01", charges: [recurring] } });
    const notFound = as(dataOf(missing).createSubscription, "NotFoundError");
    expect(notFound.code).toBe("NOT_FOUND");
    expect(notFound.message).toContain(UNKNOWN_ID);

    const malformed = await t.gql(CreateSubscriptionDocument, { input: { accountId: "42", startDate: "2026-01-01", charges: [recurring] } });
    expect(as(dataOf(malformed).createSubscription, "ValidationError")).toMatchObject({ code: "VALIDATION", field: ["input", "accountId"] });
    expect(await counts(t)).toEqual(before);
  });

  it("returns a ConflictError for a taken subscription number", async () => {
    const account = await createAccount(t);
    await createSubscription(t, { accountId: account.id, subscriptionNumber: "SUB-DUP", startDate: "2026-01-01", charges: [recurring] });
    const before = await counts(t);
    const result = await t.gql(CreateSubscriptionDocument, {
      input: { accountId: account.id, subscriptionNumber: "SUB-DUP", startDate: "2026-01-01", charges: [recurring] },
    });
    expect(as(dataOf(result).createSubscription, "ConflictError").code).toBe("CONFLICT");
    expect(await counts(t)).toEqual(before);
  });

  it("refuses an explicit number in the generated S-00000000 form, so generated numbers never collide", async () => {
    const account = await createAccount(t);
    const previous = await createSubscription(t, { accountId: account.id, startDate: "2026-01-01", charges: [recurring] });
    const next = `S-${String(Number(previous.subscriptionNumber.slice(2)) + 1).padStart(8, "0")}`;
    const refused = await t.gql(CreateSubscriptionDocument, {
      input: { accountId: account.id, subscriptionNumber: next, startDate: "2026-01-01", charges: [recurring] },
    });
    expect(as(refused.data?.createSubscription, "ValidationError").field).toEqual(["input", "subscriptionNumber"]);

    const result = await t.gql(CreateSubscriptionDocument, { input: { accountId: account.id, startDate: "2026-01-01", charges: [recurring] } });
    expect(result.errors).toBeUndefined();
    expect(as(result.data?.createSubscription, "CustomerSubscription").subscriptionNumber).toBe(next);
  });

  it("refuses createSubscription to a VIEWER", async () => {
    const account = await createAccount(t);
    const before = await counts(t);
    const result = await t.gql(
      CreateSubscriptionDocument,
      { input: { accountId: account.id, startDate: "2026-01-01", charges: [recurring] } },
      t.tokens.viewer,
    );
    expect(result.errors?.map((e) => e.extensions?.code)).toEqual(["FORBIDDEN"]);
    expect(await counts(t)).toEqual(before);
  });
});

describe("cancelSubscription", () => {
  it("cancels once, refuses a second cancellation and a date before the start", async () => {
    const account = await createAccount(t);
    const subscription = await createSubscription(t, {
      accountId: account.id,
      startDate: "2026-01-10",
      charges: [{ name: "Monthly", type: "RECURRING", price: "30.00", billingPeriod: "MONTH" }],
    });

    const early = await t.gql(CancelSubscriptionDocument, { input: { subscriptionId: subscription.id, cancelledOn: "2026-01-09" } });
    expect(as(dataOf(early).cancelSubscription, "ValidationError")).toMatchObject({ code: "VALIDATION", field: ["input", "cancelledOn"] });
    expect(await t.app.db.subscription.findUniqueOrThrow({ where: { id: subscription.id } })).toMatchObject({ status: "ACTIVE", cancelledOn: null });

    const cancelled = await t.gql(CancelSubscriptionDocument, { input: { subscriptionId: subscription.id, cancelledOn: "2026-02-15" } }, t.tokens.operator);
    expect(as(dataOf(cancelled).cancelSubscription, "CustomerSubscription")).toEqual({
      __typename: "CustomerSubscription",
      id: subscription.id,
      status: "CANCELLED",
      cancelledOn: "2026-02-15",
    });
    expect(dataOf(await t.gql(GetSubscriptionDocument, { id: subscription.id })).subscription).toMatchObject({
      status: "CANCELLED",
      cancelledOn: "2026-02-15",
    });

    const again = await t.gql(CancelSubscriptionDocument, { input: { subscriptionId: subscription.id, cancelledOn: "2026-03-01" } });
    expect(as(dataOf(again).cancelSubscription, "InvalidStateError").code).toBe("INVALID_STATE");
    // The first cancellation date stands.
    expect(dataOf(await t.gql(GetSubscriptionDocument, { id: subscription.id })).subscription).toMatchObject({
      status: "CANCELLED",
      cancelledOn: "2026-02-15",
    });
  });

  it("allows cancelling on the start date", async () => {
    const account = await createAccount(t);
    const subscription = await createSubscription(t, {
      accountId: account.id,
      startDate: "2026-05-01",
      charges: [{ name: "Once", type: "ONE_TIME", price: "1" }],
    });
    const result = await t.gql(CancelSubscriptionDocument, { input: { subscriptionId: subscription.id, cancelledOn: "2026-05-01" } });
    expect(as(dataOf(result).cancelSubscription, "CustomerSubscription")).toMatchObject({ status: "CANCELLED", cancelledOn: "2026-05-01" });
  });

  it("returns a NotFoundError for an unknown subscription", async () => {
    const result = await t.gql(CancelSubscriptionDocument, { input: { subscriptionId: UNKNOWN_ID, cancelledOn: "2026-01-01" } });
    expect(as(dataOf(result).cancelSubscription, "NotFoundError").code).toBe("NOT_FOUND");
  });
});

describe("recordUsage", () => {
  async function usageSubscription() {
    const account = await createAccount(t);
    return createSubscription(t, {
      accountId: account.id,
      startDate: "2026-01-01",
      charges: [
        { name: "Platform", type: "RECURRING", price: "30.00", billingPeriod: "MONTH" },
        { name: "Storage", type: "USAGE", price: "0.10", billingPeriod: "MONTH", unitOfMeasure: "GB" },
      ],
    });
  }

  it("records usage by charge name and by charge id", async () => {
    const subscription = await usageSubscription();
    const storage = subscription.charges.find((c) => c.name === "Storage")!;

    const byName = await t.gql(
      RecordUsageDocument,
      {
        input: { subscriptionId: subscription.id, chargeName: "Storage", quantity: "1234", unitOfMeasure: "GB", usageDate: "2026-01-15" },
      },
      t.tokens.operator,
    );
    const first = as(dataOf(byName).recordUsage, "UsageRecord");
    expect(first).toMatchObject({
      quantity: "1234",
      unitOfMeasure: "GB",
      usageDate: "2026-01-15",
      charge: { id: storage.id, name: "Storage" },
      subscription: { id: subscription.id },
    });

    const byId = await t.gql(RecordUsageDocument, {
      input: { subscriptionId: subscription.id, chargeId: storage.id, quantity: "12.5", unitOfMeasure: "GB", usageDate: "2026-01-31" },
    });
    const second = as(dataOf(byId).recordUsage, "UsageRecord");
    expect(second).toMatchObject({ quantity: "12.5", usageDate: "2026-01-31", charge: { id: storage.id, name: "Storage" } });
    expect(second.id).not.toBe(first.id);

    const rows = await t.app.db.usageRecord.findMany({ where: { chargeId: storage.id }, orderBy: { usageDate: "asc" } });
    expect(rows.map((r) => [r.quantity.toFixed(), r.usageDate.toISOString().slice(0, 10)])).toEqual([
      ["1234", "2026-01-15"],
      ["12.5", "2026-01-31"],
    ]);
  });

  it("refuses usage for a non-USAGE charge, by name and by id, and records nothing", async () => {
    const subscription = await usageSubscription();
    const platform = subscription.charges.find((c) => c.name === "Platform")!;
    const before = await counts(t);

    const byName = await t.gql(RecordUsageDocument, {
      input: { subscriptionId: subscription.id, chargeName: "Platform", quantity: "1", unitOfMeasure: "GB", usageDate: "2026-01-15" },
    });
    expect(as(dataOf(byName).recordUsage, "ValidationError")).toMatchObject({ code: "VALIDATION", field: ["input", "chargeName"] });

    const byId = await t.gql(RecordUsageDocument, {
      input: { subscriptionId: subscription.id, chargeId: platform.id, quantity: "1", unitOfMeasure: "GB", usageDate: "2026-01-15" },
    });
    expect(as(dataOf(byId).recordUsage, "ValidationError")).toMatchObject({ code: "VALIDATION", field: ["input", "chargeId"] });
    expect(await counts(t)).toEqual(before);
  });

  it("refuses an unknown charge, a missing charge reference, negative quantity and usage before the charge starts", async () => {
    const subscription = await usageSubscription();
    const other = await usageSubscription();
    const otherStorage = other.charges.find((c) => c.name === "Storage")!;
    const before = await counts(t);
    const base = { subscriptionId: subscription.id, quantity: "1", unitOfMeasure: "GB", usageDate: "2026-01-15" };

    const unknownName = await t.gql(RecordUsageDocument, { input: { ...base, chargeName: "Bandwidth" } });
    expect(as(dataOf(unknownName).recordUsage, "NotFoundError").code).toBe("NOT_FOUND");

    // A charge of another subscription is not found on this one.
    const foreign = await t.gql(RecordUsageDocument, { input: { ...base, chargeId: otherStorage.id } });
    expect(as(dataOf(foreign).recordUsage, "NotFoundError").code).toBe("NOT_FOUND");

    const neither = await t.gql(RecordUsageDocument, { input: base });
    expect(as(dataOf(neither).recordUsage, "ValidationError").code).toBe("VALIDATION");

    const negative = await t.gql(RecordUsageDocument, { input: { ...base, chargeName: "Storage", quantity: "-1" } });
    expect(as(dataOf(negative).recordUsage, "ValidationError").field).toEqual(["input", "quantity"]);

    const tooEarly = await t.gql(RecordUsageDocument, { input: { ...base, chargeName: "Storage", usageDate: "2025-12-31" } });
    expect(as(dataOf(tooEarly).recordUsage, "ValidationError").field).toEqual(["input", "usageDate"]);

    expect(await counts(t)).toEqual(before);
  });
});

describe("scalars", () => {
  it("rejects an impossible Date with a top-level error and changes nothing", async () => {
    const account = await createAccount(t);
    const subscription = await createSubscription(t, {
      accountId: account.id,
      startDate: "2026-01-01",
      charges: [{ name: "Once", type: "ONE_TIME", price: "1" }],
    });
    const before = await counts(t);

    for (const date of ["2026-02-30", "2026-13-01", "2026-1-5", "05/01/2026", "2026-01-01T00:00:00Z"]) {
      const created = await t.gql(CreateSubscriptionDocument, {
        input: { accountId: account.id, startDate: date, charges: [{ name: "Once", type: "ONE_TIME", price: "1" }] },
      });
      expect(created.data ?? null, date).toBeNull();
      expect(created.errors?.length, date).toBe(1);
      expect(created.errors![0]!.message, date).toContain("Date must be a calendar date");
    }

    const cancelled = await t.gql(CancelSubscriptionDocument, { input: { subscriptionId: subscription.id, cancelledOn: "2026-02-30" } });
    expect(cancelled.data ?? null).toBeNull();
    expect(cancelled.errors![0]!.message).toContain("Date must be a calendar date");

    // The same date written as a literal in the document.
    const literal = await t.gql(`mutation { cancelSubscription(input: { subscriptionId: "${subscription.id}", cancelledOn: "2026-02-30" }) { __typename } }`);
    expect(literal.data ?? null).toBeNull();
    expect(literal.errors![0]!.message).toContain("Date must be a calendar date");

    expect(await counts(t)).toEqual(before);
    expect(await t.app.db.subscription.findUniqueOrThrow({ where: { id: subscription.id } })).toMatchObject({ status: "ACTIVE", cancelledOn: null });
  });

  it("rejects a Decimal given as a JSON number with a top-level error and changes nothing", async () => {
    const account = await createAccount(t);
    const subscription = await createSubscription(t, {
      accountId: account.id,
      startDate: "2026-01-01",
      charges: [{ name: "Storage", type: "USAGE", price: "0.10", billingPeriod: "MONTH", unitOfMeasure: "GB" }],
    });
    const before = await counts(t);

    const numeric = await t.gql(CreateSubscriptionDocument, {
      input: { accountId: account.id, startDate: "2026-01-01", charges: [{ name: "Fee", type: "ONE_TIME", price: 30 as unknown as string }] },
    });
    expect(numeric.data ?? null).toBeNull();
    expect(numeric.errors?.length).toBe(1);
    expect(numeric.errors![0]!.message).toContain("Decimal must be a string");

    const quantity = await t.gql(RecordUsageDocument, {
      input: { subscriptionId: subscription.id, chargeName: "Storage", quantity: 5 as unknown as string, unitOfMeasure: "GB", usageDate: "2026-01-15" },
    });
    expect(quantity.data ?? null).toBeNull();
    expect(quantity.errors![0]!.message).toContain("Decimal must be a string");

    // A numeric literal in the document is refused too.
    const literal = await t.gql(
      `mutation { recordUsage(input: { subscriptionId: "${subscription.id}", chargeName: "Storage", quantity: 5, unitOfMeasure: "GB", usageDate: "2026-01-15" }) { __typename } }`,
    );
    expect(literal.data ?? null).toBeNull();
    expect(literal.errors![0]!.message).toContain("Decimal must be a string");

    // Strings that are not plain decimals (exponent, too many places, comma, empty) are refused too.
    for (const bad of ["1e3", "1.123456789", "12,5", "", "NaN"]) {
      const garbage = await t.gql(RecordUsageDocument, {
        input: { subscriptionId: subscription.id, chargeName: "Storage", quantity: bad, unitOfMeasure: "GB", usageDate: "2026-01-15" },
      });
      expect(garbage.data ?? null, bad).toBeNull();
      expect(garbage.errors![0]!.message, bad).toContain("Decimal must be a string");
    }
    const price = await t.gql(CreateSubscriptionDocument, {
      input: { accountId: account.id, startDate: "2026-01-01", charges: [{ name: "Fee", type: "ONE_TIME", price: "0.123456789" }] },
    });
    expect(price.data ?? null).toBeNull();
    expect(price.errors![0]!.message).toContain("Decimal must be a string");

    expect(await counts(t)).toEqual(before);
  });
});
