import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { registerWorkers, startRun } from "../../src/billruns/executor.ts";
import { createBillRun } from "../../src/billruns/service.ts";
import { createSchedule } from "../../src/schedules/service.ts";
import { cancelRun, countRows, createRun, dataOf, getRun, RUN_FIELDS, type Json } from "./helpers.ts";

// No workers until the test that needs them registers them: a run stays PENDING until acted on.
let t: TestApp;
let ownerId: string;
let scheduleId: string;
beforeAll(async () => {
  t = await createTestApp();
  ownerId = (await t.app.db.user.findUniqueOrThrow({ where: { email: "operator@example.com" } })).id;
  // Its occurrences are years away: the runs below are made for it by hand, as the scheduler would.
  scheduleId = await createSchedule(t.app, { repeatType: "DAILY", runTime: "09:00", timeZone: "UTC", repeatFrom: "2040-01-01" }, ownerId);
});
afterAll(() => t?.close());

async function act(name: "pauseBillRun" | "resumeBillRun", id: string, token = t.tokens.operator): Promise<Json> {
  const result = await t.gql<Json, unknown>(
    `mutation($id: ID!) { ${name}(id: $id) { __typename ... on BillRun { ${RUN_FIELDS} } ... on Error { code message } } }`,
    { id },
    token,
  );
  return dataOf(result)[name];
}

async function scheduledRun(): Promise<{ runId: string; accountId: string }> {
  const { account } = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "12.50" }] });
  const runId = await createBillRun(t.app, { targetDate: "2026-01-15", accountIds: [account.id] }, { createdById: ownerId, scheduleId });
  return { runId, accountId: account.id };
}

/** Waits until every start job of the run has been handled by a worker. */
async function startJobsDone(runId: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const open = await t.app.pool.query(
      `SELECT 1 FROM pgboss.job WHERE name = 'billrun-start' AND data->>'billRunId' = $1 AND state NOT IN ('completed', 'failed', 'cancelled')`,
      [runId],
    );
    if (open.rowCount === 0) return;
    if (Date.now() > deadline) throw new Error(`start job of ${runId} still open`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("pauseBillRun and resumeBillRun", () => {
  it("refuses ad-hoc runs, unknown ids, runs in other states and viewers, changing nothing", async () => {
    const { account } = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "1.00" }] });
    const adHoc = await createRun(t, { targetDate: "2026-01-15", accountIds: [account.id] });
    const refused = await act("pauseBillRun", adHoc.id);
    expect(refused).toMatchObject({ code: "INVALID_STATE", message: `bill run ${adHoc.billRunNumber} was not created by a schedule; only a scheduled run can be paused` });
    // Resuming a PENDING run changes nothing.
    expect(await act("resumeBillRun", adHoc.id)).toMatchObject({ __typename: "BillRun", status: "PENDING" });
    expect(await act("pauseBillRun", "00000000-0000-4000-8000-000000000000")).toMatchObject({ code: "NOT_FOUND" });
    expect(await act("resumeBillRun", "not-an-id")).toMatchObject({ code: "NOT_FOUND" });

    const { runId } = await scheduledRun();
    const viewer = await t.gql(`mutation($id: ID!) { pauseBillRun(id: $id) { __typename } }`, { id: runId }, t.tokens.viewer);
    expect(viewer.errors?.map((e) => e.extensions?.code)).toEqual(["FORBIDDEN"]);
    expect((await getRun(t, runId)).status).toBe("PENDING");
    expect((await getRun(t, adHoc.id)).statusHistory).toHaveLength(1);

    // A canceled scheduled run cannot be paused, nor a PAUSED one resumed once canceled.
    expect(await act("pauseBillRun", runId)).toMatchObject({ status: "PAUSED" });
    expect(await cancelRun(t, runId)).toMatchObject({ status: "CANCELED" });
    const run = await getRun(t, runId);
    expect(await act("pauseBillRun", runId)).toMatchObject({ code: "INVALID_STATE", message: `bill run ${run.billRunNumber} is CANCELED; only a PENDING run can be paused` });
    expect(await act("resumeBillRun", runId)).toMatchObject({ code: "INVALID_STATE", message: `bill run ${run.billRunNumber} is CANCELED; only a PAUSED run can be resumed` });
  });

  it("holds a paused run back from the workers, and a resumed one is billed", async () => {
    const { runId } = await scheduledRun();
    const paused = await act("pauseBillRun", runId);
    expect(paused).toMatchObject({ __typename: "BillRun", status: "PAUSED" });
    // Pausing again changes nothing, not even the history.
    expect(await act("pauseBillRun", runId)).toMatchObject({ status: "PAUSED" });
    expect((await getRun(t, runId)).statusHistory).toEqual([
      { from: null, to: "PENDING", by: { email: "operator@example.com" } },
      { from: "PENDING", to: "PAUSED", by: { email: "operator@example.com" } },
    ]);

    // The start job enqueued at creation runs now, and leaves the paused run alone.
    await registerWorkers(t.app, 1);
    await startJobsDone(runId);
    expect((await getRun(t, runId)).status).toBe("PAUSED");
    expect(Number((await t.app.pool.query("SELECT count(*) FROM bill_run_accounts WHERE bill_run_id = $1", [runId])).rows[0].count)).toBe(0);

    expect(await act("resumeBillRun", runId)).toMatchObject({ __typename: "BillRun" });
    await waitForStatus(t, runId, ["COMPLETED"]);
    const done = await getRun(t, runId);
    expect(done).toMatchObject({ invoiceCount: 1, invoiceTotals: [{ currency: "USD", amount: "12.50" }] });
    expect(done.statusHistory.map((h: Json) => h.to)).toEqual(["PENDING", "PAUSED", "PENDING", "PROCESSING", "COMPLETED"]);
  });

  it("racing a worker's start, either the pause wins and nothing is billed, or the start wins and the pause is refused", async () => {
    const outcomes = new Set<string>();
    const documentsBefore = await countRows(t, "documents");
    let billed = 0;
    for (let i = 0; i < 8; i++) {
      const { runId } = await scheduledRun();
      // The start a worker would make, at about the moment of the pause: each side wins sometimes.
      const start = new Promise((resolve) => setTimeout(resolve, i * 3)).then(() => startRun(t.app, runId));
      const [result] = await Promise.all([act("pauseBillRun", runId), start]);
      if (result.__typename === "BillRun") {
        outcomes.add("paused");
        await startJobsDone(runId);
        expect((await getRun(t, runId)).status).toBe("PAUSED");
        expect(Number((await t.app.pool.query("SELECT count(*) FROM bill_run_accounts WHERE bill_run_id = $1", [runId])).rows[0].count)).toBe(0);
        expect(await cancelRun(t, runId)).toMatchObject({ status: "CANCELED" });
      } else {
        outcomes.add("started");
        expect(result).toMatchObject({ code: "INVALID_STATE", message: expect.stringMatching(/ is (PROCESSING|COMPLETED); only a PENDING run can be paused$/) });
        await waitForStatus(t, runId, ["COMPLETED"]);
        billed++;
      }
    }
    expect(await countRows(t, "documents")).toBe(documentsBefore + billed);
    console.log(`pause racing start: ${[...outcomes].join(" and ")}`);
  });
});
