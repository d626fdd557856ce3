import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { registerWorkers } from "../../src/billruns/executor.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { cancelRun, chargedThrough, createRun, dataOf, deleteRun, getRun, nodes, postRun, type Json } from "./helpers.ts";

// `t` has workers; `idle` has none, so its runs stay PENDING (no race with a worker).
let t: TestApp;
let idle: TestApp;
beforeAll(async () => {
  [t, idle] = await Promise.all([createTestApp({ BILLRUN_CHUNK_SIZE: "2" }), createTestApp({ BILLRUN_CHUNK_SIZE: "2" })]);
  await registerWorkers(t.app, 2);
});
afterAll(async () => {
  await Promise.all([t?.close(), idle?.close()]);
});

const MONTHLY_30 = { type: "RECURRING", price: "30.00", billingPeriod: "MONTH" } as const;
const OPERATOR = "operator@example.com";

async function runToCompletion(app: TestApp, input: Record<string, unknown>) {
  const created = await createRun(app, input, app.tokens.operator);
  expect(created.__typename).toBe("BillRun");
  await waitForStatus(app, created.id, ["COMPLETED"]);
  return getRun(app, created.id);
}

/** What an invoice bills, without its identity: to compare a re-billing with the original. */
const billed = (run: Json) =>
  nodes(run.invoices)
    .map((i: Json) => ({
      account: i.account.accountNumber,
      amount: i.amount,
      items: i.items.map((it: Json) => [it.chargeName, it.serviceStartDate, it.serviceEndDate, it.amount]),
    }))
    .sort((a: Json, b: Json) => a.account.localeCompare(b.account));

describe("cancelBillRun on a COMPLETED run", () => {
  it("cancels its documents, rolls chargedThroughDate back, and lets a new run bill the same periods again", async () => {
    const first = await seedAccount(t, { startDate: "2026-01-10", charges: [MONTHLY_30] });
    const second = await seedAccount(t, { startDate: "2026-01-10", charges: [MONTHLY_30] });

    // `second` was billed before, by a run that stays POSTED.
    const earlier = await runToCompletion(t, { targetDate: "2026-02-01", accountIds: [second.account.id] });
    await postRun(t, earlier.id);
    await waitForStatus(t, earlier.id, ["POSTED"]);
    expect(await chargedThrough(t, first.subscription.id)).toEqual([null]);
    expect(await chargedThrough(t, second.subscription.id)).toEqual(["2026-03-01"]);

    const run = await runToCompletion(t, { targetDate: "2026-03-01", accountIds: [first.account.id, second.account.id] });
    expect(run).toMatchObject({ invoiceCount: 2, failedAccountCount: 0, invoiceTotals: [{ currency: "USD", amount: "111.29" }] });
    expect(billed(run)).toEqual(
      [
        {
          account: first.account.accountNumber,
          amount: "81.29",
          items: [
            ["Charge 1", "2026-01-10", "2026-02-01", "21.29"],
            ["Charge 1", "2026-02-01", "2026-03-01", "30.00"],
            ["Charge 1", "2026-03-01", "2026-04-01", "30.00"],
          ],
        },
        { account: second.account.accountNumber, amount: "30.00", items: [["Charge 1", "2026-03-01", "2026-04-01", "30.00"]] },
      ].sort((a, b) => a.account.localeCompare(b.account)),
    );
    expect(await chargedThrough(t, first.subscription.id)).toEqual(["2026-04-01"]);
    expect(await chargedThrough(t, second.subscription.id)).toEqual(["2026-04-01"]);

    const canceled = await cancelRun(t, run.id, t.tokens.operator);
    expect(canceled).toMatchObject({ __typename: "BillRun", id: run.id, status: "CANCELED" });

    const after = await getRun(t, run.id);
    expect(after.status).toBe("CANCELED");
    expect(nodes(after.invoices).map((i: Json) => i.status)).toEqual(["CANCELED", "CANCELED"]);
    // Back to where this run found them: never billed, and billed through March 1.
    expect(await chargedThrough(t, first.subscription.id)).toEqual([null]);
    expect(await chargedThrough(t, second.subscription.id)).toEqual(["2026-03-01"]);
    // The earlier run is untouched.
    const earlierAfter = await getRun(t, earlier.id);
    expect(earlierAfter.status).toBe("POSTED");
    expect(nodes(earlierAfter.invoices).map((i: Json) => i.status)).toEqual(["POSTED"]);

    // Who did what.
    expect(after.statusHistory).toEqual([
      { from: null, to: "PENDING", by: { email: OPERATOR } },
      { from: "PENDING", to: "PROCESSING", by: null },
      { from: "PROCESSING", to: "COMPLETED", by: null },
      { from: "COMPLETED", to: "CANCEL_IN_PROGRESS", by: { email: OPERATOR } },
      { from: "CANCEL_IN_PROGRESS", to: "CANCELED", by: { email: OPERATOR } },
    ]);

    // The same target date bills the same periods again, with the same amounts and new numbers.
    const again = await runToCompletion(t, { targetDate: "2026-03-01", accountIds: [first.account.id, second.account.id] });
    expect(again).toMatchObject({ invoiceCount: 2, failedAccountCount: 0, invoiceTotals: [{ currency: "USD", amount: "111.29" }] });
    expect(billed(again)).toEqual(billed(run));
    const oldNumbers = nodes(run.invoices).map((i: Json) => i.invoiceNumber);
    const newNumbers = nodes(again.invoices).map((i: Json) => i.invoiceNumber);
    for (const n of newNumbers) expect(oldNumbers).not.toContain(n);
    expect(nodes(again.invoices).map((i: Json) => i.status)).toEqual(["DRAFT", "DRAFT"]);
    expect(await chargedThrough(t, first.subscription.id)).toEqual(["2026-04-01"]);
    expect(await chargedThrough(t, second.subscription.id)).toEqual(["2026-04-01"]);
  });

  it("is refused while a later run has billed the account further; allowed once that run is canceled", async () => {
    const { account, subscription } = await seedAccount(t, { startDate: "2026-01-10", charges: [MONTHLY_30] });
    const earlier = await runToCompletion(t, { targetDate: "2026-02-01", accountIds: [account.id] });
    const later = await runToCompletion(t, { targetDate: "2026-03-01", accountIds: [account.id] });
    expect(later.invoiceCount).toBe(1);
    expect(await chargedThrough(t, subscription.id)).toEqual(["2026-04-01"]);

    const refused = await cancelRun(t, earlier.id, t.tokens.operator);
    expect(refused).toEqual({
      __typename: "InvalidStateError",
      code: "INVALID_STATE",
      message: `account ${account.accountNumber} was billed again after bill run ${earlier.billRunNumber}; cancel the later run first`,
    });
    const unchanged = await getRun(t, earlier.id);
    expect(unchanged.status).toBe("COMPLETED");
    expect(unchanged.statusHistory.map((h: Json) => h.to)).toEqual(["PENDING", "PROCESSING", "COMPLETED"]);
    expect(nodes(unchanged.invoices).map((i: Json) => i.status)).toEqual(["DRAFT"]);
    expect(await chargedThrough(t, subscription.id)).toEqual(["2026-04-01"]);

    expect(await cancelRun(t, later.id)).toMatchObject({ status: "CANCELED" });
    expect(await chargedThrough(t, subscription.id)).toEqual(["2026-03-01"]);
    expect(await cancelRun(t, earlier.id)).toMatchObject({ status: "CANCELED" });
    expect(await chargedThrough(t, subscription.id)).toEqual([null]);
  });
});

describe("cancelBillRun on a run of cancellation credits", () => {
  it("moves chargedThroughDate forward again, and a new run gives the same credit", async () => {
    const { account, subscription } = await seedAccount(t, { startDate: "2026-01-10", charges: [MONTHLY_30] });
    await runToCompletion(t, { targetDate: "2026-02-01", accountIds: [account.id] });
    const cancelSubscription = await t.gql<Json, unknown>(`mutation($input: CancelSubscriptionInput!) { cancelSubscription(input: $input) { __typename } }`, {
      input: { subscriptionId: subscription.id, cancelledOn: "2026-02-15" },
    });
    expect(dataOf(cancelSubscription).cancelSubscription.__typename).toBe("CustomerSubscription");

    const credit = await runToCompletion(t, { targetDate: "2026-02-15", accountIds: [account.id] });
    const memo = (run: Json) =>
      nodes(run.creditMemos).map((m: Json) => [m.status, m.amount, m.items.map((i: Json) => [i.kind, i.serviceStartDate, i.serviceEndDate, i.amount])]);
    expect(memo(credit)).toEqual([["DRAFT", "15.00", [["CREDIT", "2026-02-15", "2026-03-01", "-15.00"]]]]);
    expect(await chargedThrough(t, subscription.id)).toEqual(["2026-02-15"]);

    expect(await cancelRun(t, credit.id)).toMatchObject({ status: "CANCELED" });
    expect(memo(await getRun(t, credit.id))).toEqual([["CANCELED", "15.00", [["CREDIT", "2026-02-15", "2026-03-01", "-15.00"]]]]);
    expect(await chargedThrough(t, subscription.id)).toEqual(["2026-03-01"]);

    const again = await runToCompletion(t, { targetDate: "2026-02-15", accountIds: [account.id] });
    expect(memo(again)).toEqual([["DRAFT", "15.00", [["CREDIT", "2026-02-15", "2026-03-01", "-15.00"]]]]);
    expect(nodes(again.creditMemos)[0].creditMemoNumber).not.toBe(nodes(credit.creditMemos)[0].creditMemoNumber);
    expect(await chargedThrough(t, subscription.id)).toEqual(["2026-02-15"]);
  });
});

describe("cancelBillRun on a PENDING run", () => {
  it("cancels it at once, recording who did it", async () => {
    const { account, subscription } = await seedAccount(idle, { charges: [MONTHLY_30] });
    const created = await createRun(idle, { targetDate: "2026-02-01", accountIds: [account.id] }, idle.tokens.operator);
    expect(created.status).toBe("PENDING");

    const canceled = await cancelRun(idle, created.id, idle.tokens.admin);
    expect(canceled).toMatchObject({ __typename: "BillRun", status: "CANCELED", invoiceCount: 0, accountsTotal: 0 });
    expect(canceled.statusHistory).toEqual([
      { from: null, to: "PENDING", by: { email: OPERATOR } },
      { from: "PENDING", to: "CANCELED", by: { email: "admin@localhost" } },
    ]);
    expect(await chargedThrough(idle, subscription.id)).toEqual([null]);
  });
});

describe("deleteBillRun", () => {
  it("removes a CANCELED run and its documents, and keeps its events", async () => {
    const { account, subscription } = await seedAccount(t, { charges: [MONTHLY_30, { type: "ONE_TIME", price: "5.00" }] });
    const run = await runToCompletion(t, { targetDate: "2026-02-01", accountIds: [account.id] });
    expect(run.invoiceCount).toBe(1);
    const invoiceId = nodes(run.invoices)[0].id;
    expect(await cancelRun(t, run.id)).toMatchObject({ status: "CANCELED" });

    const deleted = await deleteRun(t, run.id, t.tokens.operator);
    expect(deleted).toEqual({ __typename: "DeleteBillRunPayload", id: run.id, billRunNumber: run.billRunNumber });

    const query = await t.gql<Json, unknown>(`query($run: ID!, $invoice: ID!) { billRun(id: $run) { id } invoice(id: $invoice) { id } }`, {
      run: run.id,
      invoice: invoiceId,
    });
    expect(dataOf(query)).toEqual({ billRun: null, invoice: null });
    const left = await t.app.pool.query<{ documents: number; items: number; work: number; events: number; marks: number }>(
      `SELECT (SELECT count(*)::int FROM documents WHERE bill_run_id = $1) AS documents,
              (SELECT count(*)::int FROM document_items WHERE document_id = $2) AS items,
              (SELECT count(*)::int FROM bill_run_accounts WHERE bill_run_id = $1) AS work,
              (SELECT count(*)::int FROM bill_run_events WHERE bill_run_id = $1) AS events,
              (SELECT count(*)::int FROM bill_run_charge_moves WHERE bill_run_id = $1) AS marks`,
      [run.id, invoiceId],
    );
    // Its history stays, ending with the removal (see test/events/deleted-runs.test.ts).
    expect(left.rows[0]).toEqual({ documents: 0, items: 0, work: 0, events: 7, marks: 0 });
    // Nothing it billed counts as billed any more.
    expect(await chargedThrough(t, subscription.id)).toEqual([null, null]);

    // A second delete finds nothing.
    expect(await deleteRun(t, run.id)).toMatchObject({ __typename: "NotFoundError", code: "NOT_FOUND" });
  });

  it("removes a CANCELED run that never executed", async () => {
    const { account } = await seedAccount(idle, { charges: [MONTHLY_30] });
    const created = await createRun(idle, { targetDate: "2026-02-01", accountIds: [account.id] });
    await cancelRun(idle, created.id);
    expect(await deleteRun(idle, created.id)).toEqual({ __typename: "DeleteBillRunPayload", id: created.id, billRunNumber: created.billRunNumber });
    expect(dataOf(await idle.gql<Json, unknown>(`query($id: ID!) { billRun(id: $id) { id } }`, { id: created.id })).billRun).toBeNull();
  });
});
