import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount } from "../support/billing.ts";
import { QUEUES } from "../../src/jobs.ts";
import { processChunk, startRun } from "../../src/billruns/executor.ts";
import { createBillRun } from "../../src/billruns/service.ts";

// No workers: the test starts the run and bills its chunks itself, and reads the jobs left queued.
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ BILLRUN_CHUNK_SIZE: "2" });
});
afterAll(() => t?.close());

/** The chunk jobs queued for a run, oldest first, as their workers will read them. */
async function chunkJobs(runId: string): Promise<{ chunk: number; first: number; last: number }[]> {
  const jobs = await t.app.pool.query<{ data: { chunk: number; first: number; last: number } }>(
    "SELECT data FROM pgboss.job WHERE name = $1 AND data->>'billRunId' = $2 ORDER BY created_on, (data->>'chunk')::int",
    [QUEUES.chunk, runId],
  );
  return jobs.rows.map(({ data }) => ({ chunk: data.chunk, first: data.first, last: data.last }));
}

/** The positions each chunk of the run holds, with their accounts' status. */
async function chunksOf(runId: string): Promise<{ chunk: number; positions: number[]; statuses: string[] }[]> {
  const rows = await t.app.pool.query<{ chunk: number; positions: number[]; statuses: string[] }>(
    `SELECT chunk, array_agg(position ORDER BY position) AS positions, array_agg(status::text ORDER BY position) AS statuses
       FROM bill_run_accounts WHERE bill_run_id = $1 GROUP BY chunk ORDER BY chunk`,
    [runId],
  );
  return rows.rows;
}

describe("chunk jobs", () => {
  it("name the range of positions their accounts hold; a start after the snapshot names the chunks with work left", async () => {
    const accountIds: string[] = [];
    for (let i = 0; i < 5; i++) accountIds.push((await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "3.00" }] })).account.id);
    const runId = await createBillRun(t.app, { targetDate: "2026-01-15", accountIds }, { createdById: null });

    await startRun(t.app, runId);
    expect(await chunksOf(runId)).toEqual([
      { chunk: 0, positions: [1, 2], statuses: ["PENDING", "PENDING"] },
      { chunk: 1, positions: [3, 4], statuses: ["PENDING", "PENDING"] },
      { chunk: 2, positions: [5], statuses: ["PENDING"] },
    ]);
    expect(await chunkJobs(runId)).toEqual([
      { chunk: 0, first: 1, last: 2 },
      { chunk: 1, first: 3, last: 4 },
      { chunk: 2, first: 5, last: 5 },
    ]);

    // The middle chunk is billed through its range; the others are untouched.
    await processChunk(t.app, runId, 1, { first: 3, last: 4 });
    expect((await chunksOf(runId)).map((c) => c.statuses)).toEqual([["PENDING", "PENDING"], ["DONE", "DONE"], ["PENDING"]]);

    // A second start (a start job run again after a crash) finds the snapshot taken and queues
    // the chunks with pending accounts, each with its range.
    await t.app.pool.query("DELETE FROM pgboss.job WHERE name = $1 AND data->>'billRunId' = $2", [QUEUES.chunk, runId]);
    await startRun(t.app, runId);
    expect(await chunkJobs(runId)).toEqual([
      { chunk: 0, first: 1, last: 2 },
      { chunk: 2, first: 5, last: 5 },
    ]);

    // A job of the former kind, without a range, bills its chunk all the same.
    await processChunk(t.app, runId, 0);
    await processChunk(t.app, runId, 2, { first: 5, last: 5 });
    expect((await chunksOf(runId)).flatMap((c) => c.statuses)).toEqual(["DONE", "DONE", "DONE", "DONE", "DONE"]);
    const run = await t.app.db.billRun.findUniqueOrThrow({ where: { id: runId } });
    expect(run).toMatchObject({ status: "COMPLETED", accountsProcessed: 5, invoiceCount: 5 });
  });
});
