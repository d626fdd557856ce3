import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { registerWorkers } from "../../src/billruns/executor.ts";
import { AMOUNT_INTEGER_DIGITS } from "../../src/billing/money.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { createRun, dataOf, getRun, nodes, type Json } from "../billruns/helpers.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ BILLRUN_CHUNK_SIZE: "10" });
  await registerWorkers(t.app, 1);
});
afterAll(() => t.close());

const HUGE = "999999999999999.99999999";

async function runToCompletion(accountIds: string[]) {
  const created = await createRun(t, { targetDate: "2026-03-01", accountIds });
  expect(created.__typename).toBe("BillRun");
  await waitForStatus(t, created.id, ["COMPLETED"]);
  return getRun(t, created.id);
}

async function preview(accountId: string) {
  const result = await t.gql<Json, unknown>(
    `query($id: ID!) { billingPreview(accountId: $id, targetDate: "2026-03-01") {
       __typename ... on BillingPreview { failureCode failureMessage documents { amount } } ... on Error { code message } } }`,
    { id: accountId },
  );
  return dataOf(result).billingPreview;
}

async function createSubscription(input: Record<string, unknown>) {
  const result = await t.gql<Json, unknown>(
    `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) {
       __typename ... on Error { code message } ... on ValidationError { field } } }`,
    { input },
  );
  return dataOf(result).createSubscription;
}

describe("amounts that cannot be stored", () => {
  it("refuses a charge whose price × quantity cannot be an item, naming the field and the limit, and creates nothing", async () => {
    const { account } = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "1" }] });
    const before = await t.app.db.charge.count();
    const refused = await createSubscription({
      accountId: account.id,
      startDate: "2026-01-01",
      charges: [
        { name: "Fine", type: "ONE_TIME", price: "10" },
        { name: "Huge", type: "ONE_TIME", price: HUGE, quantity: HUGE },
      ],
    });
    expect(refused).toMatchObject({ __typename: "ValidationError", code: "VALIDATION", field: ["input", "charges", "1", "quantity"] });
    expect(refused.message).toContain("10^20");
    expect(await t.app.db.charge.count()).toBe(before);

    // A recurring charge alike: proration never makes an item larger than price × quantity.
    const recurring = await createSubscription({
      accountId: account.id,
      startDate: "2026-01-01",
      charges: [{ name: "Monthly", type: "RECURRING", billingPeriod: "MONTH", price: "-999999999999999", quantity: "100001" }],
    });
    expect(recurring).toMatchObject({ __typename: "ValidationError", field: ["input", "charges", "0", "quantity"] });
  });

  it("accepts the largest charge that fits, and bills it", async () => {
    // 20 digits before the point: the largest order of magnitude an item may have.
    const { account } = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "9999999999999", quantity: "9999999" }] });
    const run = await runToCompletion([account.id]);
    expect(run.failedAccountCount).toBe(0);
    expect(nodes(run.invoices)[0].amount).toBe(`${9999999999999n * 9999999n}.00`);
  });

  it("two accounts whose totals each fit bill in one run: the run total per currency has no limit", async () => {
    const one = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "999999999999999", quantity: "60000" }] });
    const two = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "999999999999999", quantity: "60000" }] });
    const run = await runToCompletion([one.account.id, two.account.id]);
    expect(run.failedAccountCount).toBe(0);
    expect(run.invoiceCount).toBe(2);
    expect(run.invoiceTotals).toEqual([{ currency: "USD", amount: "119999999999999880000.00" }]);
  });

  it("fails an account whose document would exceed the limit with AMOUNT_OUT_OF_RANGE; the preview says so too", async () => {
    const big = { type: "ONE_TIME", price: "999999999999999", quantity: "60000" } as const;
    const { account } = await seedAccount(t, { charges: [big, big] });
    const fine = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "5" }] });

    const previewed = await preview(account.id);
    expect(previewed).toMatchObject({ __typename: "BillingPreview", failureCode: "AMOUNT_OUT_OF_RANGE", documents: [] });
    expect(previewed.failureMessage).toContain("10^20");

    const run = await runToCompletion([account.id, fine.account.id]);
    const failed = nodes(run.failedAccounts);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ account: { id: account.id }, code: "AMOUNT_OUT_OF_RANGE" });
    expect(failed[0].message).toContain("10^20");
    expect(run.invoiceCount).toBe(1);
  });

  it("usage: refuses one record that cannot be billed, and fails a period whose sum cannot (subscription level)", async () => {
    const { account, subscription } = await seedAccount(t, {
      charges: [{ name: "Calls", type: "USAGE", price: "999999999999999", billingPeriod: "MONTH", unitOfMeasure: "call" }],
    });
    const record = async (quantity: string) =>
      dataOf(
        await t.gql<Json, unknown>(
          `mutation($input: RecordUsageInput!) { recordUsage(input: $input) { __typename ... on Error { code message } ... on ValidationError { field } } }`,
          { input: { subscriptionId: subscription.id, chargeName: "Calls", quantity, unitOfMeasure: "call", usageDate: "2026-01-15" } },
        ),
      ).recordUsage;
    const refused = await record("200000");
    expect(refused).toMatchObject({ __typename: "ValidationError", field: ["input", "quantity"] });
    expect(refused.message).toContain("10^20");
    expect(await record("60000")).toEqual({ __typename: "UsageRecord" });
    expect(await record("60000")).toEqual({ __typename: "UsageRecord" });

    expect(await preview(account.id)).toMatchObject({ failureCode: "AMOUNT_OUT_OF_RANGE" });
    const run = await runToCompletion([account.id]);
    const [failed] = nodes(run.failedAccounts);
    expect(failed).toMatchObject({ code: "AMOUNT_OUT_OF_RANGE", subscriptions: [{ subscription: { id: subscription.id }, code: "AMOUNT_OUT_OF_RANGE" }] });
  });

  it("a charge stored before the limits (30-digit item) fails the preview and the run with AMOUNT_OUT_OF_RANGE, not INTERNAL_ERROR", async () => {
    const { account, subscription } = await seedAccount(t, { charges: [{ name: "Legacy", type: "ONE_TIME", price: "1" }] });
    await t.app.db.charge.updateMany({ where: { subscriptionId: subscription.id }, data: { price: HUGE, quantity: HUGE } });
    const previewed = await preview(account.id);
    expect(previewed).toMatchObject({ failureCode: "AMOUNT_OUT_OF_RANGE", documents: [] });
    expect(previewed.failureMessage).toContain('Charge "Legacy"');
    const run = await runToCompletion([account.id]);
    const [failed] = nodes(run.failedAccounts);
    expect(failed).toMatchObject({ code: "AMOUNT_OUT_OF_RANGE", subscriptions: [{ code: "AMOUNT_OUT_OF_RANGE" }] });
  });

  it("every numeric column is one of: an input (15+8 digits fit), an amount (20 digits), or an unbounded sum", async () => {
    const client = new pg.Client({ connectionString: t.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ table_name: string; column_name: string; numeric_precision: number | null; numeric_scale: number | null }>(
        `SELECT table_name, column_name, numeric_precision, numeric_scale FROM information_schema.columns
          WHERE table_schema = 'public' AND data_type = 'numeric' ORDER BY table_name, column_name`,
      );
      expect(rows.length).toBeGreaterThan(0);
      // Every money or quantity column, by what it holds. A column added later fails here until classified.
      const kinds: Record<string, "input" | "amount" | "sum"> = {
        "charges.price": "input",
        "charges.quantity": "input",
        "usage_records.quantity": "input",
        "document_items.unit_price": "input",
        "document_items.quantity": "sum",
        "document_items.amount": "amount",
        "documents.amount": "amount",
        "documents.balance": "amount",
        "payments.amount": "amount",
        "bill_run_totals.amount": "sum",
      };
      for (const column of rows) {
        const name = `${column.table_name}.${column.column_name}`;
        const kind = kinds[name];
        expect(kind, `${name} is not classified`).toBeDefined();
        const integerDigits = column.numeric_precision === null ? Infinity : column.numeric_precision - column.numeric_scale!;
        if (kind === "sum") expect(column.numeric_precision, `${name} holds a sum of unbounded rows`).toBeNull();
        if (kind === "amount") expect(integerDigits, name).toBeGreaterThanOrEqual(AMOUNT_INTEGER_DIGITS);
        if (kind === "amount") expect(column.numeric_scale, name).toBeGreaterThanOrEqual(3);
        if (kind === "input") {
          expect(integerDigits, name).toBeGreaterThanOrEqual(15);
          expect(column.numeric_scale, name).toBeGreaterThanOrEqual(8);
        }
      }
    } finally {
      await client.end();
    }
  });
});
