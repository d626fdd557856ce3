import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount } from "../support/billing.ts";
import { processChunk, startRun } from "../../src/billruns/executor.ts";
import { cancelBillRun, createBillRun } from "../../src/billruns/service.ts";
import { updateAccount } from "../../src/accounts/service.ts";
import type { Json } from "./helpers.ts";

// Mutations a client may send twice (a double click, a retry after a timeout) have one effect.
// No worker runs here: runs are executed step by step (`execute`), so a retry stays PENDING for
// as long as a test needs it to.

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const ERRORS = "... on Error { code message }";

async function gql(field: string, query: string, variables: Record<string, unknown>): Promise<Json> {
  const result = await t.gql<Record<string, Json>, unknown>(query, variables, t.tokens.operator);
  expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
  return result.data![field];
}

const retry = (billRunId: string, key?: string) =>
  gql(
    "retryFailedAccounts",
    `mutation($id: ID!, $key: String) { retryFailedAccounts(billRunId: $id, idempotencyKey: $key) {
       __typename ... on BillRun { id status accountIds retriedFrom { id } } ${ERRORS} } }`,
    { id: billRunId, key },
  );
const cancel = (id: string, key?: string) =>
  gql(
    "cancelBillRun",
    `mutation($id: ID!, $key: String) { cancelBillRun(id: $id, idempotencyKey: $key) { __typename ... on BillRun { id status } ${ERRORS} } }`,
    {
      id,
      key,
    },
  );
const remove = (id: string, key?: string) =>
  gql(
    "deleteBillRun",
    `mutation($id: ID!, $key: String) { deleteBillRun(id: $id, idempotencyKey: $key) { __typename ... on DeleteBillRunPayload { id billRunNumber } ${ERRORS} } }`,
    { id, key },
  );

/** Runs a PENDING run to its end in this process, as the workers would. */
async function execute(id: string): Promise<void> {
  await startRun(t.app, id);
  const chunks = await t.app.pool.query<{ chunk: number }>("SELECT DISTINCT chunk FROM bill_run_accounts WHERE bill_run_id = $1 ORDER BY chunk", [id]);
  for (const { chunk } of chunks.rows) await processChunk(t.app, id, chunk);
  const run = await t.app.db.billRun.findUniqueOrThrow({ where: { id } });
  expect(["COMPLETED", "ERROR"]).toContain(run.status);
}

/** A COMPLETED run in which one account (no bill-to email) failed and another was billed. */
async function runWithFailure() {
  const good = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "10.00" }] });
  const bad = await seedAccount(t, { billToEmail: "", charges: [{ type: "ONE_TIME", price: "20.00" }] });
  const id = await createBillRun(t.app, { targetDate: "2026-02-01", accountIds: [good.account.id, bad.account.id] }, { createdById: null });
  await execute(id);
  const run = await t.app.db.billRun.findUniqueOrThrow({ where: { id } });
  expect(run.failedAccountCount).toBe(1);
  return { id, number: run.billRunNumber, bad: bad.account };
}

const retriesOf = (id: string) => t.app.db.billRun.findMany({ where: { retriedFromId: id }, orderBy: { createdAt: "asc" } });
const concurrently = <T>(n: number, call: (i: number) => Promise<T>) => Promise.all(Array.from({ length: n }, (_, i) => call(i)));

describe("retryFailedAccounts: one live retry per run", () => {
  it("10 simultaneous calls make one retry; a call after it billed the account is INVALID_STATE", async () => {
    const source = await runWithFailure();
    const results = await concurrently(10, () => retry(source.id));
    const ids = new Set(results.map((r) => r.id));
    expect(results.every((r) => r.__typename === "BillRun" && r.status === "PENDING" && r.retriedFrom.id === source.id)).toBe(true);
    expect(ids.size).toBe(1);
    const [retryRun] = await retriesOf(source.id);
    expect((await retriesOf(source.id)).map((r) => r.id)).toEqual([...ids]);
    expect(retryRun!.accountIds).toEqual([source.bad.id]);

    // While it waits, one more call still answers it.
    expect((await retry(source.id)).id).toBe(retryRun!.id);

    // The account is fixed, the retry bills it.
    await updateAccount(t.app.db, { id: source.bad.id, billToEmail: "fixed@example.com" });
    await execute(retryRun!.id);
    expect(await t.app.db.billRun.findUniqueOrThrow({ where: { id: retryRun!.id } })).toMatchObject({
      status: "COMPLETED",
      invoiceCount: 1,
      failedAccountCount: 0,
    });

    const emailsBefore = await t.app.db.emailOutbox.count();
    expect(await retry(source.id)).toEqual({
      __typename: "InvalidStateError",
      code: "INVALID_STATE",
      message: `bill run ${source.number} has nothing left to retry: its failed accounts were billed since by ${retryRun!.billRunNumber}`,
    });
    expect(await retriesOf(source.id)).toHaveLength(1);
    expect(await t.app.db.emailOutbox.count()).toBe(emailsBefore);
  });

  it("retries again what a finished retry failed to bill, and what a canceled retry left", async () => {
    const source = await runWithFailure();
    const first = await retry(source.id);
    await execute(first.id);
    // Still no bill-to email: the retry failed the account too, so it is still left to retry.
    const second = await retry(source.id);
    expect(second).toMatchObject({ __typename: "BillRun", status: "PENDING", accountIds: [source.bad.id] });
    expect(second.id).not.toBe(first.id);
    // A canceled retry billed nothing: the account is left to retry once more.
    expect(await cancel(second.id)).toMatchObject({ status: "CANCELED" });
    const third = await retry(source.id);
    expect(third).toMatchObject({ __typename: "BillRun", status: "PENDING" });
    expect(new Set([first.id, second.id, third.id]).size).toBe(3);
  });

  it("is INVALID_STATE when a later run covering the account has billed it since", async () => {
    const source = await runWithFailure();
    await updateAccount(t.app.db, { id: source.bad.id, billToEmail: "later@example.com" });
    const later = await createBillRun(t.app, { targetDate: "2026-02-15", accountIds: [source.bad.id] }, { createdById: null });
    await execute(later);
    const laterNumber = (await t.app.db.billRun.findUniqueOrThrow({ where: { id: later } })).billRunNumber;
    expect(await retry(source.id)).toMatchObject({
      code: "INVALID_STATE",
      message: `bill run ${source.number} has nothing left to retry: its failed accounts were billed since by ${laterNumber}`,
    });
    expect(await retriesOf(source.id)).toHaveLength(0);
  });

  it("is a rule of the database: a second live retry of one run cannot be written", async () => {
    const source = await runWithFailure();
    const live = await retry(source.id);
    await expect(
      t.app.pool.query(`INSERT INTO bill_runs (id, target_date, invoice_date, retried_from_id) VALUES (gen_random_uuid(), '2026-02-01', '2026-02-01', $1)`, [
        source.id,
      ]),
    ).rejects.toMatchObject({ code: "23505", constraint: "bill_runs_one_live_retry_key" });
    expect((await retriesOf(source.id)).map((r) => r.id)).toEqual([live.id]);
  });
});

describe("10 simultaneous calls with one idempotencyKey have one effect", () => {
  it("retryFailedAccounts", async () => {
    const source = await runWithFailure();
    const results = await concurrently(10, () => retry(source.id, "retry-1"));
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(results[0]).toMatchObject({ __typename: "BillRun", retriedFrom: { id: source.id } });
    expect(await retriesOf(source.id)).toHaveLength(1);
  });

  it("cancelBillRun", async () => {
    const id = await createBillRun(t.app, { targetDate: "2026-02-01", batches: [42] }, { createdById: null });
    const results = await concurrently(10, () => cancel(id, "cancel-1"));
    expect(results).toEqual(Array.from({ length: 10 }, () => ({ __typename: "BillRun", id, status: "CANCELED" })));
    expect(await t.app.db.billRunEvent.count({ where: { billRunId: id, toStatus: "CANCELED" } })).toBe(1);
    // Without a key the first call cancels and the others are told the run is CANCELED already.
    const other = await createBillRun(t.app, { targetDate: "2026-02-01", batches: [42] }, { createdById: null });
    const plain = await concurrently(10, () => cancel(other));
    expect(plain.filter((r) => r.__typename === "BillRun")).toHaveLength(1);
    expect(plain.filter((r) => r.code === "INVALID_STATE")).toHaveLength(9);
    expect(await t.app.db.billRunEvent.count({ where: { billRunId: other, toStatus: "CANCELED" } })).toBe(1);
  });

  it("deleteBillRun", async () => {
    const id = await createBillRun(t.app, { targetDate: "2026-02-01", batches: [42] }, { createdById: null });
    await cancelBillRun(t.app, id, null);
    const number = (await t.app.db.billRun.findUniqueOrThrow({ where: { id } })).billRunNumber;
    const results = await concurrently(10, () => remove(id, "delete-1"));
    expect(results).toEqual(Array.from({ length: 10 }, () => ({ __typename: "DeleteBillRunPayload", id, billRunNumber: number })));
    expect(await t.app.db.billRunEvent.count({ where: { billRunId: id, toStatus: "REMOVED" } })).toBe(1);
    // Without a key: one deletes it, the others learn it was deleted.
    const other = await createBillRun(t.app, { targetDate: "2026-02-01", batches: [42] }, { createdById: null });
    await cancelBillRun(t.app, other, null);
    const plain = await concurrently(10, () => remove(other));
    expect(plain.filter((r) => r.__typename === "DeleteBillRunPayload")).toHaveLength(1);
    expect(plain.filter((r) => r.code === "NOT_FOUND" || r.code === "INVALID_STATE")).toHaveLength(9);
    expect(await t.app.db.billRunEvent.count({ where: { billRunId: other, toStatus: "REMOVED" } })).toBe(1);
  });

  it("createBillRunSchedule", async () => {
    const input = { repeatType: "DAILY", runTime: "09:00", timeZone: "Europe/London", repeatFrom: "2031-01-01", batches: [43] };
    const before = await t.app.db.billRunSchedule.count();
    const results = await concurrently(10, () =>
      gql(
        "createBillRunSchedule",
        `mutation($input: CreateBillRunScheduleInput!, $key: String) { createBillRunSchedule(input: $input, idempotencyKey: $key) {
           __typename ... on BillRunSchedule { id batches } ${ERRORS} } }`,
        { input, key: "schedule-1" },
      ),
    );
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(results[0]).toMatchObject({ __typename: "BillRunSchedule", batches: [43] });
    expect(await t.app.db.billRunSchedule.count()).toBe(before + 1);
  });

  it("createAccount", async () => {
    const input = { name: "Twice Ltd", currency: "EUR", billCycleDay: 5 };
    const results = await concurrently(10, () =>
      gql(
        "createAccount",
        `mutation($input: CreateAccountInput!, $key: String) { createAccount(input: $input, idempotencyKey: $key) {
           __typename ... on Account { id accountNumber name } ${ERRORS} } }`,
        { input, key: "account-1" },
      ),
    );
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(results[0]).toMatchObject({ __typename: "Account", name: "Twice Ltd" });
    expect(await t.app.db.account.count({ where: { name: "Twice Ltd" } })).toBe(1);
    // The same key with other input is refused.
    const other = await gql(
      "createAccount",
      `mutation($input: CreateAccountInput!, $key: String) { createAccount(input: $input, idempotencyKey: $key) { __typename ${ERRORS} } }`,
      { input: { ...input, name: "Other Ltd" }, key: "account-1" },
    );
    expect(other).toMatchObject({ __typename: "ConflictError", code: "CONFLICT" });
  });
});
