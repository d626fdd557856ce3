import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { registerWorkers } from "../../src/billruns/executor.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { cancelRun, countRows, createRun, dataOf, deleteRun, getRun, postRun, retryRun, updateAccountStatus, type Json } from "./helpers.ts";

// `t` has workers: its runs execute. `idle` has none: its runs stay PENDING until acted on.
let t: TestApp;
let idle: TestApp;
beforeAll(async () => {
  [t, idle] = await Promise.all([createTestApp({ BILLRUN_CHUNK_SIZE: "2" }), createTestApp({ BILLRUN_CHUNK_SIZE: "2" })]);
  await registerWorkers(t.app, 2);
});
afterAll(async () => {
  await Promise.all([t?.close(), idle?.close()]);
});

const UNKNOWN_ID = "00000000-0000-4000-8000-000000000000";

async function completedRun(app: TestApp, accounts = 1) {
  const seeded = [];
  for (let i = 0; i < accounts; i++) seeded.push(await seedAccount(app, { charges: [{ type: "ONE_TIME", price: "10.00" }] }));
  const run = await createRun(app, { targetDate: "2026-01-15", accountIds: seeded.map((s) => s.account.id) });
  expect(run.__typename).toBe("BillRun");
  await waitForStatus(app, run.id, ["COMPLETED"]);
  return { run: await getRun(app, run.id), seeded };
}

/** An INVALID_STATE result whose message names the run's number and its current status. */
function expectInvalidState(result: Json, billRunNumber: string, status: string) {
  expect(result).toMatchObject({ __typename: "InvalidStateError", code: "INVALID_STATE" });
  expect(result.message).toContain(billRunNumber);
  expect(result.message).toContain(` is ${status}`);
}

describe("refused transitions answer INVALID_STATE naming the run and its status", () => {
  it("refuses to post a PENDING run and a CANCELED run", async () => {
    const { account } = await seedAccount(idle, { charges: [{ type: "ONE_TIME", price: "10.00" }] });
    const pending = await createRun(idle, { targetDate: "2026-01-15", accountIds: [account.id] });
    expect(pending.status).toBe("PENDING");

    const postPending = await postRun(idle, pending.id);
    expectInvalidState(postPending, pending.billRunNumber, "PENDING");
    expect(postPending.message).toBe(`bill run ${pending.billRunNumber} is PENDING; only a COMPLETED run can be posted`);
    expect((await getRun(idle, pending.id)).status).toBe("PENDING");

    // Deleting a PENDING run is refused too (only CANCELED or ERROR runs can be deleted).
    expectInvalidState(await deleteRun(idle, pending.id), pending.billRunNumber, "PENDING");
    // Retrying a run that has not completed is refused.
    expectInvalidState(await retryRun(idle, pending.id), pending.billRunNumber, "PENDING");

    const canceled = await cancelRun(idle, pending.id);
    expect(canceled).toMatchObject({ __typename: "BillRun", status: "CANCELED" });
    const postCanceled = await postRun(idle, pending.id);
    expectInvalidState(postCanceled, pending.billRunNumber, "CANCELED");
    // A second cancel is refused: CANCELED is final.
    expectInvalidState(await cancelRun(idle, pending.id), pending.billRunNumber, "CANCELED");

    const after = await getRun(idle, pending.id);
    expect(after.status).toBe("CANCELED");
    expect(after.statusHistory.map((h: Json) => [h.from, h.to])).toEqual([
      [null, "PENDING"],
      ["PENDING", "CANCELED"],
    ]);
  });

  it("refuses to cancel a POSTED run, and a COMPLETED run that has posted invoices", async () => {
    const { run } = await completedRun(t);
    expect(await postRun(t, run.id)).toMatchObject({ __typename: "BillRun" });
    await waitForStatus(t, run.id, ["POSTED"]);

    const refused = await cancelRun(t, run.id);
    expectInvalidState(refused, run.billRunNumber, "POSTED");
    const after = await getRun(t, run.id);
    expect(after.status).toBe("POSTED");
    expect(after.invoices.edges.map((e: Json) => e.node.status)).toEqual(["POSTED"]);

    // A partial post (one account made INACTIVE) leaves the run COMPLETED with a POSTED invoice.
    const partial = await completedRun(t, 2);
    await updateAccountStatus(t, partial.seeded[1]!.account.id, "INACTIVE");
    await postRun(t, partial.run.id);
    await waitForStatus(t, partial.run.id, ["COMPLETED"]);
    const refusedPartial = await cancelRun(t, partial.run.id);
    expect(refusedPartial).toEqual({
      __typename: "InvalidStateError",
      code: "INVALID_STATE",
      message: `bill run ${partial.run.billRunNumber} has posted invoices; it cannot be canceled`,
    });
    const partialAfter = await getRun(t, partial.run.id);
    expect(partialAfter.status).toBe("COMPLETED");
    expect(partialAfter.invoices.edges.map((e: Json) => e.node.status).sort()).toEqual(["DRAFT", "POSTED"]);
    // The refused cancel left no trace in the history (its transaction rolled back).
    expect(partialAfter.statusHistory.map((h: Json) => h.to)).not.toContain("CANCEL_IN_PROGRESS");
  });

  it("refuses to delete a COMPLETED run", async () => {
    const { run } = await completedRun(t);
    const refused = await deleteRun(t, run.id);
    expectInvalidState(refused, run.billRunNumber, "COMPLETED");
    expect(refused.message).toBe(`bill run ${run.billRunNumber} is COMPLETED; this needs it to be CANCELED or ERROR`);
    const after = await getRun(t, run.id);
    expect(after.status).toBe("COMPLETED");
    expect(after.invoices.totalCount).toBe(1);
  });

  it("refuses to retry a run with no failed accounts", async () => {
    const { run } = await completedRun(t);
    const runsBefore = await countRows(t, "bill_runs");
    const refused = await retryRun(t, run.id);
    expect(refused).toEqual({
      __typename: "InvalidStateError",
      code: "INVALID_STATE",
      message: `bill run ${run.billRunNumber} has no failed accounts`,
    });
    expect(await countRows(t, "bill_runs")).toBe(runsBefore);
  });
});

describe("postBillRun is idempotent", () => {
  it("returns a POSTED run as it is, without error or new history", async () => {
    const { run } = await completedRun(t);
    await postRun(t, run.id);
    await waitForStatus(t, run.id, ["POSTED"]);
    const before = await getRun(t, run.id);

    const again = await postRun(t, run.id);
    expect(again).toMatchObject({ __typename: "BillRun", id: run.id, status: "POSTED" });
    const after = await getRun(t, run.id);
    expect(after.statusHistory).toEqual(before.statusHistory);
    expect(after.statusHistory.map((h: Json) => h.to)).toEqual(["PENDING", "PROCESSING", "COMPLETED", "POST_IN_PROGRESS", "POSTED"]);
    expect(after.postedAt).toBe(before.postedAt);
    expect(after.invoices.edges[0].node.postedAt).toBe(before.invoices.edges[0].node.postedAt);
  });
});

describe("NOT_FOUND", () => {
  it.each([
    ["an unknown id", UNKNOWN_ID],
    ["a malformed id", "not-a-bill-run"],
  ])("answers NOT_FOUND for %s on every bill-run mutation", async (_what, id) => {
    for (const action of [postRun, cancelRun, deleteRun, retryRun]) {
      const result = await action(t, id);
      expect(result).toMatchObject({ __typename: "NotFoundError", code: "NOT_FOUND" });
      expect(result.message).toBe(`bill run ${id} not found`);
    }
    const query = await t.gql<Json, unknown>(`query($id: ID!) { billRun(id: $id) { id } }`, { id });
    expect(dataOf(query).billRun).toBeNull();
  });
});

describe("authorization", () => {
  it("refuses createBillRun and postBillRun to a VIEWER with FORBIDDEN, changing nothing", async () => {
    const { run, seeded } = await completedRun(t);
    const runsBefore = await countRows(t, "bill_runs");
    const eventsBefore = await countRows(t, "bill_run_events");

    const create = await t.gql<Json, unknown>(
      `mutation($input: CreateBillRunInput!) { createBillRun(input: $input) { __typename } }`,
      { input: { targetDate: "2026-01-15", accountIds: [seeded[0]!.account.id] } },
      t.tokens.viewer,
    );
    expect(create.errors?.map((e) => e.extensions?.code)).toEqual(["FORBIDDEN"]);
    expect(create.data?.createBillRun ?? null).toBeNull();

    const post = await t.gql<Json, unknown>(`mutation($id: ID!) { postBillRun(id: $id) { __typename } }`, { id: run.id }, t.tokens.viewer);
    expect(post.errors?.map((e) => e.extensions?.code)).toEqual(["FORBIDDEN"]);
    expect(post.data?.postBillRun ?? null).toBeNull();

    expect(await countRows(t, "bill_runs")).toBe(runsBefore);
    expect(await countRows(t, "bill_run_events")).toBe(eventsBefore);
    const after = await getRun(t, run.id);
    expect(after.status).toBe("COMPLETED");
    expect(after.invoices.edges[0].node).toMatchObject({ status: "DRAFT", postedAt: null });
  });
});
