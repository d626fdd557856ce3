import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { registerWorkers } from "../../src/billruns/executor.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await registerWorkers(t.app, 2);
});
afterAll(() => t.close());

type Result = { __typename: string; id?: string; code?: string; message?: string; field?: string[] } & Record<string, unknown>;

async function mutate(field: string, query: string, variables: Record<string, unknown>, token = t.tokens.operator): Promise<Result> {
  const result = await t.gql<Record<string, Result>, unknown>(query, variables, token);
  expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
  return result.data![field]!;
}

const ERROR_FIELDS = `... on Error { code message } ... on ValidationError { field }`;

const createRun = (input: Record<string, unknown>, idempotencyKey?: string | null, token?: string) =>
  mutate(
    "createBillRun",
    `mutation($input: CreateBillRunInput!, $key: String) { createBillRun(input: $input, idempotencyKey: $key) {
       __typename ... on BillRun { id status createdBy { email } } ${ERROR_FIELDS} } }`,
    { input, key: idempotencyKey },
    token,
  );

const postRun = (id: string, idempotencyKey?: string) =>
  mutate(
    "postBillRun",
    `mutation($id: ID!, $key: String) { postBillRun(id: $id, idempotencyKey: $key) { __typename ... on BillRun { id status } ${ERROR_FIELDS} } }`,
    { id, key: idempotencyKey },
  );

const pay = (input: Record<string, unknown>, idempotencyKey?: string) =>
  mutate(
    "applyPayment",
    `mutation($input: ApplyPaymentInput!, $key: String) { applyPayment(input: $input, idempotencyKey: $key) {
       __typename ... on Payment { id amount invoice { id balance } } ${ERROR_FIELDS} } }`,
    { input, key: idempotencyKey },
  );

const subscribe = (input: Record<string, unknown>, idempotencyKey?: string) =>
  mutate(
    "createSubscription",
    `mutation($input: CreateSubscriptionInput!, $key: String) { createSubscription(input: $input, idempotencyKey: $key) {
       __typename ... on CustomerSubscription { id subscriptionNumber charges { id name } } ${ERROR_FIELDS} } }`,
    { input, key: idempotencyKey },
  );

const runCount = () => t.app.db.billRun.count();

describe("createBillRun with an idempotencyKey", () => {
  it("returns the first run to a replay with the same input, and creates exactly one", async () => {
    const before = await runCount();
    const first = await createRun({ targetDate: "2026-03-01", batches: [7] }, "run-2026-03");
    expect(first.__typename).toBe("BillRun");
    // A replay after the run has moved on: the same run, as it is now.
    await waitForStatus(t, first.id!, ["COMPLETED"]);
    const replay = await createRun({ batches: [7], targetDate: "2026-03-01", autoPost: null }, "run-2026-03");
    expect(replay).toMatchObject({ __typename: "BillRun", id: first.id, status: "COMPLETED" });
    expect(await runCount()).toBe(before + 1);

    const stored = await t.app.pool.query(`SELECT operation, key, result_id, completed_at FROM idempotency_keys WHERE key = 'run-2026-03'`);
    expect(stored.rows).toEqual([expect.objectContaining({ operation: "createBillRun", result_id: first.id, completed_at: expect.any(Date) })]);

    // Without a key, or with another key, each request creates a run.
    const third = await createRun({ targetDate: "2026-03-01", batches: [7] });
    const fourth = await createRun({ targetDate: "2026-03-01", batches: [7] }, "run-2026-03-b");
    expect(new Set([first.id, third.id, fourth.id]).size).toBe(3);
    expect(await runCount()).toBe(before + 3);
  });

  it("answers the same key with different input with a ConflictError and creates nothing", async () => {
    await createRun({ targetDate: "2026-04-01", batches: [8] }, "conflicting");
    const before = await runCount();
    const conflict = await createRun({ targetDate: "2026-04-02", batches: [8] }, "conflicting");
    expect(conflict).toMatchObject({
      __typename: "ConflictError",
      code: "CONFLICT",
      message: expect.stringMatching(/idempotencyKey "conflicting".*different input/),
    });
    expect(await runCount()).toBe(before);
  });

  it("creates exactly one run for 10 concurrent requests with one key, and gives all of them its id", async () => {
    const before = await runCount();
    const results = await Promise.all(Array.from({ length: 10 }, () => createRun({ targetDate: "2026-05-01", batches: [9] }, "storm")));
    expect(results.map((r) => r.__typename)).toEqual(Array(10).fill("BillRun"));
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(await runCount()).toBe(before + 1);
  });

  it("keeps each user's keys apart", async () => {
    const before = await runCount();
    const byOperator = await createRun({ targetDate: "2026-06-01", batches: [10] }, "shared-key", t.tokens.operator);
    const byAdmin = await createRun({ targetDate: "2026-06-01", batches: [10] }, "shared-key", t.tokens.admin);
    expect(byOperator.id).not.toBe(byAdmin.id);
    expect((byAdmin.createdBy as { email: string }).email).toBe("admin@localhost");
    expect(await runCount()).toBe(before + 2);
  });

  it("does not remember a failure: the same key can be used again once the input is fixed", async () => {
    const before = await runCount();
    const unknownAccount = { targetDate: "2026-02-28", accountIds: ["00000000-0000-4000-8000-000000000000"] };
    const invalid = await createRun(unknownAccount, "fix-me");
    expect(invalid).toMatchObject({ __typename: "ValidationError", field: ["input", "accountIds"] });
    // The same failing request fails the same way (not a conflict, not a stale result).
    expect((await createRun(unknownAccount, "fix-me")).__typename).toBe("ValidationError");
    const fixed = await createRun({ targetDate: "2026-02-28", batches: [11] }, "fix-me");
    expect(fixed.__typename).toBe("BillRun");
    expect(await runCount()).toBe(before + 1);
  });

  it("refuses an empty, over-long or control-character key with a ValidationError naming idempotencyKey", async () => {
    const before = await runCount();
    for (const key of ["", "k".repeat(256), "line\nbreak"]) {
      expect(await createRun({ targetDate: "2026-07-01" }, key)).toMatchObject({ __typename: "ValidationError", field: ["idempotencyKey"] });
    }
    expect((await createRun({ targetDate: "2026-07-01", batches: [12] }, "k".repeat(255))).__typename).toBe("BillRun");
    expect(await runCount()).toBe(before + 1);
  });
});

describe("postBillRun with an idempotencyKey", () => {
  let runId: string;
  beforeAll(async () => {
    await seedAccount(t, { batch: 20, startDate: "2026-01-01", charges: [{ type: "ONE_TIME", price: "100.00" }] });
    runId = (await createRun({ targetDate: "2026-01-15", batches: [20] })).id!;
    await waitForStatus(t, runId, ["COMPLETED"]);
  });

  const postings = () => t.app.db.billRunEvent.count({ where: { billRunId: runId, toStatus: "POST_IN_PROGRESS" } });

  it("starts one posting for 10 concurrent requests with one key, and a replay returns the run", async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => postRun(runId, "post-once")));
    expect(results.map((r) => r.__typename)).toEqual(Array(10).fill("BillRun"));
    expect(new Set(results.map((r) => r.id))).toEqual(new Set([runId]));
    await waitForStatus(t, runId, ["POSTED"]);
    expect(await postings()).toBe(1);
    expect(await postRun(runId, "post-once")).toMatchObject({ __typename: "BillRun", id: runId, status: "POSTED" });
    expect(await postings()).toBe(1);
  });

  it("answers the same key for another run with a ConflictError, changing nothing", async () => {
    const other = (await createRun({ targetDate: "2026-01-15", batches: [21] })).id!;
    await waitForStatus(t, other, ["COMPLETED"]);
    expect(await postRun(other, "post-once")).toMatchObject({ __typename: "ConflictError" });
    expect((await t.app.db.billRun.findUniqueOrThrow({ where: { id: other } })).status).toBe("COMPLETED");
  });

  it("frees the key of a refused posting", async () => {
    const pending = await createRun({ targetDate: "2026-01-15", batches: [22] });
    await waitForStatus(t, pending.id!, ["COMPLETED"]);
    await t.gql(`mutation($id: ID!) { cancelBillRun(id: $id) { __typename } }`, { id: pending.id }, t.tokens.operator);
    await waitForStatus(t, pending.id!, ["CANCELED"]);
    expect(await postRun(pending.id!, "post-canceled")).toMatchObject({ __typename: "InvalidStateError" });
    expect(await postRun(pending.id!, "post-canceled")).toMatchObject({ __typename: "InvalidStateError" });
    expect((await t.app.pool.query(`SELECT 1 FROM idempotency_keys WHERE key = 'post-canceled'`)).rowCount).toBe(0);
  });
});

describe("applyPayment with an idempotencyKey", () => {
  let invoiceId: string;
  beforeAll(async () => {
    await seedAccount(t, { batch: 30, startDate: "2026-01-01", charges: [{ type: "ONE_TIME", price: "100.00" }] });
    const run = (await createRun({ targetDate: "2026-01-15", batches: [30] })).id!;
    await waitForStatus(t, run, ["COMPLETED"]);
    await postRun(run);
    await waitForStatus(t, run, ["POSTED"]);
    invoiceId = (await t.app.db.document.findFirstOrThrow({ where: { billRunId: run, type: "INVOICE" } })).id;
  });

  const balance = async () => (await t.app.db.document.findUniqueOrThrow({ where: { id: invoiceId } })).balance.toString();
  const paymentCount = () => t.app.db.payment.count({ where: { documentId: invoiceId } });

  it("applies a payment once for a replay and for 10 concurrent requests with one key", async () => {
    const first = await pay({ invoiceId, amount: "10.00" }, "pay-1");
    expect(first).toMatchObject({ __typename: "Payment", amount: "10.00", invoice: { balance: "90.00" } });
    const replay = await pay({ invoiceId, amount: "10.00" }, "pay-1");
    expect(replay.id).toBe(first.id);
    expect(await balance()).toBe("90");

    const results = await Promise.all(Array.from({ length: 10 }, () => pay({ invoiceId, amount: "5.00" }, "pay-2")));
    expect(results.map((r) => r.__typename)).toEqual(Array(10).fill("Payment"));
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(await balance()).toBe("85");
    expect(await paymentCount()).toBe(2);
  });

  it("answers the same key with another amount with a ConflictError, taking no money", async () => {
    expect(await pay({ invoiceId, amount: "11.00" }, "pay-1")).toMatchObject({ __typename: "ConflictError" });
    expect(await balance()).toBe("85");
    expect(await paymentCount()).toBe(2);
  });

  it("frees the key of a refused payment", async () => {
    expect(await pay({ invoiceId, amount: "1000.00" }, "pay-3")).toMatchObject({ __typename: "ValidationError" });
    expect(await pay({ invoiceId, amount: "1.00" }, "pay-3")).toMatchObject({ __typename: "Payment" });
    expect(await balance()).toBe("84");
  });
});

describe("createSubscription with an idempotencyKey", () => {
  it("creates one subscription (and its charges) for a replay and for 10 concurrent requests; other input is a conflict", async () => {
    const { account } = await seedAccount(t, { batch: 40, charges: [{ type: "ONE_TIME", price: "1.00" }] });
    const input = { accountId: account.id, startDate: "2026-02-01", charges: [{ name: "Support", type: "RECURRING", price: "20.00", billingPeriod: "MONTH" }] };
    const subscriptions = () => t.app.db.subscription.count({ where: { accountId: account.id } });
    const before = await subscriptions();
    const charges = await t.app.db.charge.count();

    const first = await subscribe(input, "sub-1");
    expect(first).toMatchObject({ __typename: "CustomerSubscription", charges: [{ name: "Support" }] });
    const replay = await subscribe(input, "sub-1");
    expect(replay).toEqual(first);

    const results = await Promise.all(Array.from({ length: 10 }, () => subscribe({ ...input, startDate: "2026-03-01" }, "sub-2")));
    expect(results.map((r) => r.__typename)).toEqual(Array(10).fill("CustomerSubscription"));
    expect(new Set(results.map((r) => r.id)).size).toBe(1);

    expect(await subscribe({ ...input, startDate: "2026-04-01" }, "sub-1")).toMatchObject({ __typename: "ConflictError" });
    expect(await subscriptions()).toBe(before + 2);
    expect(await t.app.db.charge.count()).toBe(charges + 2);
  });
});
