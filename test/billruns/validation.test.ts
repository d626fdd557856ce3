import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount } from "../support/billing.ts";
import { countRows, createRun, type Json } from "./helpers.ts";

// No workers: validation happens before anything is enqueued, and created runs may stay PENDING.
let t: TestApp;
let accountId: string;
let subscriptionId: string;
beforeAll(async () => {
  t = await createTestApp({ BILLRUN_CHUNK_SIZE: "2" });
  const seeded = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "10.00" }] });
  accountId = seeded.account.id;
  subscriptionId = seeded.subscription.id;
});
afterAll(() => t.close());

const UNKNOWN_ACCOUNT = "00000000-0000-4000-8000-00000000abcd";

async function expectRefused(input: Record<string, unknown>, field: string[], message: RegExp | string) {
  const runsBefore = await countRows(t, "bill_runs");
  const eventsBefore = await countRows(t, "bill_run_events");
  const jobsBefore = await countRows(t, "pgboss.job");
  const result = await createRun(t, input);
  expect(result).toMatchObject({ __typename: "ValidationError", code: "VALIDATION", field });
  if (typeof message === "string") expect(result.message).toBe(message);
  else expect(result.message).toMatch(message);
  expect(await countRows(t, "bill_runs")).toBe(runsBefore);
  expect(await countRows(t, "bill_run_events")).toBe(eventsBefore);
  expect(await countRows(t, "pgboss.job")).toBe(jobsBefore);
}

describe("createBillRun validation", () => {
  it("refuses batches together with accountIds", async () => {
    await expectRefused(
      { targetDate: "2026-02-01", batches: [1], accountIds: [accountId] },
      ["input", "accountIds"],
      "input.accountIds: filter by batches/billCycleDay or by specific accounts/subscriptions, not both",
    );
  });

  it("refuses billCycleDay together with subscriptionIds", async () => {
    await expectRefused(
      { targetDate: "2026-02-01", billCycleDay: 1, subscriptionIds: [subscriptionId] },
      ["input", "subscriptionIds"],
      "input.subscriptionIds: filter by batches/billCycleDay or by specific accounts/subscriptions, not both",
    );
  });

  it("refuses accountIds together with subscriptionIds", async () => {
    await expectRefused(
      { targetDate: "2026-02-01", accountIds: [accountId], subscriptionIds: [subscriptionId] },
      ["input", "subscriptionIds"],
      "input.subscriptionIds: give accountIds or subscriptionIds, not both",
    );
  });

  it("refuses three charge types to exclude", async () => {
    await expectRefused(
      { targetDate: "2026-02-01", chargeTypesToExclude: ["ONE_TIME", "RECURRING", "USAGE"] },
      ["input", "chargeTypesToExclude"],
      "input.chargeTypesToExclude: at most two charge types can be excluded",
    );
  });

  it("refuses batch 51 and batch 0", async () => {
    await expectRefused({ targetDate: "2026-02-01", batches: [1, 51] }, ["input", "batches", "1"], "input.batches.1: batches are 1-50");
    await expectRefused({ targetDate: "2026-02-01", batches: [0] }, ["input", "batches", "0"], "input.batches.0: batches are 1-50");
  });

  it("refuses bill cycle day 0 and 32", async () => {
    const message = /bill cycle day must be between 1 and 31/;
    await expectRefused({ targetDate: "2026-02-01", billCycleDay: 0 }, ["input", "billCycleDay"], message);
    await expectRefused({ targetDate: "2026-02-01", billCycleDay: 32 }, ["input", "billCycleDay"], message);
  });

  it("refuses an unknown account id, naming it", async () => {
    await expectRefused(
      { targetDate: "2026-02-01", accountIds: [accountId, UNKNOWN_ACCOUNT] },
      ["input", "accountIds"],
      `accountIds: unknown accounts ${UNKNOWN_ACCOUNT}`,
    );
  });

  it("refuses an unknown subscription id, naming it", async () => {
    await expectRefused(
      { targetDate: "2026-02-01", subscriptionIds: [UNKNOWN_ACCOUNT, subscriptionId] },
      ["input", "subscriptionIds"],
      `subscriptionIds: unknown subscriptions ${UNKNOWN_ACCOUNT}`,
    );
  });

  it("refuses a malformed account id", async () => {
    await expectRefused(
      { targetDate: "2026-02-01", accountIds: ["A-00000001"] },
      ["input", "accountIds"],
      'input.accountIds: "A-00000001" is not an account id (to name accounts by number, use accountNumbers)',
    );
  });

  it("refuses an empty accountIds list instead of billing everyone", async () => {
    await expectRefused({ targetDate: "2026-02-01", accountIds: [] }, ["input", "accountIds"], /empty list/);
  });

  it("refuses an invalid date with a top-level error and creates nothing", async () => {
    const runsBefore = await countRows(t, "bill_runs");
    for (const targetDate of ["2026-02-30", "01/02/2026", "2026-2-1"]) {
      const result = await t.gql<Json, unknown>(`mutation($input: CreateBillRunInput!) { createBillRun(input: $input) { __typename } }`, {
        input: { targetDate },
      });
      expect(result.data ?? null).toBeNull();
      expect(result.errors).toHaveLength(1);
      expect(result.errors![0]!.message).toContain("Date must be a calendar date written YYYY-MM-DD");
    }
    // Also as a literal in the document, and for invoiceDate.
    const literal = await t.gql<Json, unknown>(`mutation { createBillRun(input: { targetDate: "2026-13-01" }) { __typename } }`);
    expect(literal.errors?.[0]?.message).toContain("Date must be a calendar date written YYYY-MM-DD");
    const invoiceDate = await t.gql<Json, unknown>(`mutation($input: CreateBillRunInput!) { createBillRun(input: $input) { __typename } }`, {
      input: { targetDate: "2026-02-01", invoiceDate: "2026-02-29" },
    });
    expect(invoiceDate.errors?.[0]?.message).toContain("Date must be a calendar date written YYYY-MM-DD");
    expect(await countRows(t, "bill_runs")).toBe(runsBefore);
  });

  it("accepts the same inputs once the problem is removed (control)", async () => {
    const runsBefore = await countRows(t, "bill_runs");
    const jobsBefore = await countRows(t, "pgboss.job");
    const run = await createRun(t, {
      targetDate: "2026-02-01",
      accountIds: [accountId, accountId],
      chargeTypesToExclude: ["USAGE", "USAGE", "ONE_TIME"],
    });
    expect(run).toMatchObject({
      __typename: "BillRun",
      status: "PENDING",
      targetDate: "2026-02-01",
      invoiceDate: "2026-02-01",
      accountIds: [accountId],
    });
    expect(await countRows(t, "bill_runs")).toBe(runsBefore + 1);
    expect(await countRows(t, "pgboss.job")).toBe(jobsBefore + 1);
  });
});
