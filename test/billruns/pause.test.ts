import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount, waitForJobsSettled, waitForStatus } from "../support/billing.ts";
import { QUEUES } from "../../src/jobs.ts";
import { processChunk, registerWorkers, startRun } from "../../src/billruns/executor.ts";
import { createBillRun } from "../../src/billruns/service.ts";
import { createSchedule } from "../../src/schedules/service.ts";
import { cancelRun, countRows, createRun, dataOf, getRun, RUN_FIELDS, type Json } from "./helpers.ts";

// No workers until the test that needs them registers them: a run stays PENDING until acted on.
let t: TestApp;
let ownerId: string;
let scheduleId: string;
beforeAll(async () => {
  // Chunks of two accounts: a run of several accounts has several chunks.
  t = await createTestApp({ BILLRUN_CHUNK_SIZE: "2" });
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

async function scheduledRun(accounts = 1): Promise<{ runId: string; accountIds: string[] }> {
  const accountIds = [];
  for (let i = 0; i < accounts; i++) accountIds.push((await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "12.50" }] })).account.id);
  const runId = await createBillRun(t.app, { targetDate: "2026-01-15", accountIds }, { createdById: ownerId, scheduleId });
  return { runId, accountIds };
}

const targeted = async (runId: string) =>
  (await t.app.pool.query<{ position: number }>("SELECT position FROM bill_run_accounts WHERE bill_run_id = $1 ORDER BY position", [runId])).rows.map(
    (r) => r.position,
  );

/** Waits until every start job of the run has been handled by a worker. */
const startJobsDone = (runId: string) => waitForJobsSettled(t, QUEUES.start, runId, 20_000);

describe("pauseBillRun and resumeBillRun", () => {
  it("refuses ad-hoc runs, unknown ids, moves outside the table and viewers, changing nothing", async () => {
    const { account } = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "1.00" }] });
    const adHoc = await createRun(t, { targetDate: "2026-01-15", accountIds: [account.id] });
    for (const [name, action] of [
      ["pauseBillRun", "paused"],
      ["resumeBillRun", "resumed"],
    ] as const) {
      expect(await act(name, adHoc.id)).toMatchObject({
        code: "INVALID_STATE",
        message: `bill run ${adHoc.billRunNumber} was not created by a schedule; only a scheduled run can be ${action}`,
      });
    }
    expect(await act("pauseBillRun", "00000000-0000-4000-8000-000000000000")).toMatchObject({ code: "NOT_FOUND" });
    expect(await act("resumeBillRun", "not-an-id")).toMatchObject({ code: "NOT_FOUND" });
    expect((await getRun(t, adHoc.id)).statusHistory).toHaveLength(1);

    const { runId } = await scheduledRun();
    const run = await getRun(t, runId);
    const viewer = await t.gql(`mutation($id: ID!) { pauseBillRun(id: $id) { __typename } }`, { id: runId }, t.tokens.viewer);
    expect(viewer.errors?.map((e) => e.extensions?.code)).toEqual(["FORBIDDEN"]);
    expect(await act("resumeBillRun", runId)).toMatchObject({
      code: "INVALID_STATE",
      message: `bill run ${run.billRunNumber} is PENDING; only a PAUSED run can be resumed`,
    });
    expect((await getRun(t, runId)).status).toBe("PENDING");

    expect(await act("pauseBillRun", runId)).toMatchObject({ status: "PAUSED" });
    expect(await act("pauseBillRun", runId)).toMatchObject({
      code: "INVALID_STATE",
      message: `bill run ${run.billRunNumber} is PAUSED; only a PENDING run can be paused`,
    });
    expect((await getRun(t, runId)).statusHistory.map((h: Json) => h.to)).toEqual(["PENDING", "PAUSED"]);

    // A PAUSED run can be canceled; then neither pause nor resume applies.
    expect(await cancelRun(t, runId)).toMatchObject({ status: "CANCELED" });
    expect(await act("pauseBillRun", runId)).toMatchObject({
      code: "INVALID_STATE",
      message: `bill run ${run.billRunNumber} is CANCELED; only a PENDING run can be paused`,
    });
    expect(await act("resumeBillRun", runId)).toMatchObject({
      code: "INVALID_STATE",
      message: `bill run ${run.billRunNumber} is CANCELED; only a PAUSED run can be resumed`,
    });
  });

  it("two starts of one run at once fix its accounts once, and every account is billed", async () => {
    const { runId } = await scheduledRun(8);
    await Promise.all([startRun(t.app, runId), startRun(t.app, runId)]);
    expect(await targeted(runId)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect((await t.app.db.billRun.findUniqueOrThrow({ where: { id: runId } })).accountsTotal).toBe(8);
    await Promise.all([0, 1, 2, 3].map((chunk) => processChunk(t.app, runId, chunk)));
    expect(await t.app.db.billRun.findUniqueOrThrow({ where: { id: runId } })).toMatchObject({ status: "COMPLETED", accountsProcessed: 8, invoiceCount: 8 });
  });

  it("holds a paused run back from the workers, and a resumed one is billed whole", async () => {
    const held = await scheduledRun(8);
    expect(await act("pauseBillRun", held.runId)).toMatchObject({ __typename: "BillRun", status: "PAUSED" });
    expect((await getRun(t, held.runId)).statusHistory).toEqual([
      { from: null, to: "PENDING", by: { email: "operator@example.com" } },
      { from: "PENDING", to: "PAUSED", by: { email: "operator@example.com" } },
    ]);
    // Paused and resumed before any worker came: two start jobs wait for the same run.
    const twice = await scheduledRun(8);
    await act("pauseBillRun", twice.runId);
    expect(await act("resumeBillRun", twice.runId)).toMatchObject({ __typename: "BillRun", status: "PENDING" });

    // Workers come: the start jobs enqueued at creation leave the paused run alone, and the
    // run with two start jobs is billed once, whole.
    await registerWorkers(t.app, 2);
    await startJobsDone(held.runId);
    expect((await getRun(t, held.runId)).status).toBe("PAUSED");
    expect(await targeted(held.runId)).toEqual([]);
    await waitForStatus(t, twice.runId, ["COMPLETED"]);
    expect(await getRun(t, twice.runId)).toMatchObject({
      accountsTotal: 8,
      accountsProcessed: 8,
      invoiceCount: 8,
      invoiceTotals: [{ currency: "USD", amount: "100.00" }],
    });

    expect(await act("resumeBillRun", held.runId)).toMatchObject({ __typename: "BillRun" });
    await waitForStatus(t, held.runId, ["COMPLETED"]);
    const done = await getRun(t, held.runId);
    expect(done).toMatchObject({ accountsTotal: 8, invoiceCount: 8, invoiceTotals: [{ currency: "USD", amount: "100.00" }] });
    expect(done.statusHistory.map((h: Json) => h.to)).toEqual(["PENDING", "PAUSED", "PENDING", "PROCESSING", "COMPLETED"]);
  });

  it("racing a worker's start, either the pause wins and nothing is billed, or the start wins and the pause is refused", async () => {
    const outcomes = new Set<string>();
    const documentsBefore = await countRows(t, "documents");
    let billed = 0;
    for (let i = 0; i < 8; i++) {
      const { runId } = await scheduledRun(3);
      // The start a worker would make, at about the moment of the pause: each side wins sometimes.
      const start = new Promise((resolve) => setTimeout(resolve, i * 3)).then(() => startRun(t.app, runId));
      const [result] = await Promise.all([act("pauseBillRun", runId), start]);
      if (result.__typename === "BillRun") {
        outcomes.add("paused");
        await startJobsDone(runId);
        expect((await getRun(t, runId)).status).toBe("PAUSED");
        expect(await targeted(runId)).toEqual([]);
        expect(await cancelRun(t, runId)).toMatchObject({ status: "CANCELED" });
      } else {
        outcomes.add("started");
        expect(result).toMatchObject({
          code: "INVALID_STATE",
          message: expect.stringMatching(/ is (PROCESSING|COMPLETED); only a PENDING run can be paused$/),
        });
        await waitForStatus(t, runId, ["COMPLETED"]);
        expect((await getRun(t, runId)).invoiceCount).toBe(3);
        billed += 3;
      }
    }
    expect(await countRows(t, "documents")).toBe(documentsBefore + billed);
    console.log(`pause racing start: ${[...outcomes].join(" and ")}`);
  });
});
