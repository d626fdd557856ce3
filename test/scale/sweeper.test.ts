import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startApp, type App } from "../../src/app.ts";
import { loadConfig } from "../../src/config.ts";
import { registerWorkers } from "../../src/billruns/executor.ts";
import { cancelBillRun, createBillRun } from "../../src/billruns/service.ts";
import { startSupervisor, type Supervisor } from "../../src/billruns/supervisor.ts";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { waitFor } from "../support/processes.ts";

// A process that died between two transactions of a cancel, a delete or a run leaves it half
// done; another process's sweeper (default settings, but the stall warning) finishes it within
// seconds, without a restart. The "other process" is a second App on the same database.
let t: TestApp;
let other: App;
let supervisor: Supervisor;
const logs: { level: number; msg: string; billRunId?: string }[] = [];

beforeAll(async () => {
  t = await createTestApp();
  const config = loadConfig({ NODE_ENV: "test", BILLRUN_DATA_DIR: "/tmp/billrun-test-data", BILLRUN_STALL_WARN_SECONDS: "1" });
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n")) if (line) logs.push(JSON.parse(line) as (typeof logs)[number]);
      done();
    },
  });
  other = await startApp(config, t.databaseUrl, pino({ level: "info" }, sink));
  supervisor = await startSupervisor(other, { worker: false });
});
afterAll(async () => {
  await supervisor.stop();
  await other.close();
  await t.close();
});

const SECONDS_ALLOWED = 15;

async function completedRun(): Promise<string> {
  const { subscription } = await seedAccount(t, { charges: [{ type: "RECURRING", price: "10.00", billingPeriod: "MONTH" }] });
  const id = await createBillRun(t.app, { targetDate: "2026-02-01", subscriptionIds: [subscription.id] }, { createdById: null });
  await waitForStatus(t, id, ["COMPLETED"]);
  return id;
}

it("finishes a cancel and a delete whose process died between their transactions, and leaves one a live process holds", async () => {
  const workers = await registerWorkers(t.app, 1);
  const [cancel, held, remove] = [await completedRun(), await completedRun(), await completedRun()];
  await cancelBillRun(t.app, remove, null);
  await workers.stop(1000);

  // What the first transaction of each left behind (a process would then die): the status moved, nothing else.
  const connection = await t.app.pool.connect();
  try {
    await t.app.pool.query("UPDATE bill_runs SET status = 'CANCEL_IN_PROGRESS', updated_at = now() WHERE id = ANY($1::uuid[])", [[cancel, held]]);
    await t.app.pool.query("UPDATE bill_runs SET status = 'REMOVE_IN_PROGRESS', updated_at = now() WHERE id = $1", [remove]);
    // A live process is on `held`: it has the run's row.
    await connection.query("BEGIN");
    await connection.query("SELECT 1 FROM bill_runs WHERE id = $1 FOR UPDATE", [held]);
    const since = Date.now();

    await waitFor(
      "the cancel finished",
      async () => (await t.app.db.billRun.findUnique({ where: { id: cancel } }))?.status === "CANCELED",
      SECONDS_ALLOWED * 1000,
    );
    await waitFor("the delete finished", async () => (await t.app.db.billRun.findUnique({ where: { id: remove } })) === null, SECONDS_ALLOWED * 1000);
    expect(Date.now() - since).toBeLessThan(SECONDS_ALLOWED * 1000);
    const documents = await t.app.db.document.findMany({ where: { billRunId: cancel } });
    expect(documents.map((d) => d.status)).toEqual(["CANCELED"]);
    // A sweep came and went while `held` was locked: left to the process that holds it.
    await supervisor.sweep();
    expect((await t.app.db.billRun.findUniqueOrThrow({ where: { id: held } })).status).toBe("CANCEL_IN_PROGRESS");
  } finally {
    await connection.query("ROLLBACK");
    connection.release();
  }
  await waitFor(
    "the released cancel finished",
    async () => (await t.app.db.billRun.findUnique({ where: { id: held } }))?.status === "CANCELED",
    SECONDS_ALLOWED * 1000,
  );
});

it("sends a run's job again when it has none left, and warns about the stall with the run's id", async () => {
  const { account } = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "3.00" }] });
  const id = await createBillRun(t.app, { targetDate: "2026-02-01", accountIds: [account.id] }, { createdById: null });
  // No process takes jobs yet; the run's start job is lost.
  await t.app.pool.query("DELETE FROM pgboss.job WHERE name = 'billrun-start' AND data->>'billRunId' = $1", [id]);
  const since = Date.now();
  await waitFor(
    "the start job sent again",
    async () =>
      (await t.app.pool.query("SELECT 1 FROM pgboss.job WHERE name = 'billrun-start' AND state = 'created' AND data->>'billRunId' = $1", [id])).rowCount === 1,
    SECONDS_ALLOWED * 1000,
  );
  expect(Date.now() - since).toBeLessThan(SECONDS_ALLOWED * 1000);
  expect(logs.some((l) => l.level === 40 && l.msg === "bill run has made no progress" && l.billRunId === id)).toBe(true);
  const workers = await registerWorkers(t.app, 1);
  await waitForStatus(t, id, ["COMPLETED"]);
  await workers.stop(1000);
});

it("a stopping worker hands a chunk it cannot finish within its grace period back to the queue at once", async () => {
  const { account, subscription } = await seedAccount(t, { charges: [{ type: "RECURRING", price: "10.00", billingPeriod: "MONTH" }] });
  const charge = await t.app.db.charge.findFirstOrThrow({ where: { subscriptionId: subscription.id } });
  const workers = await registerWorkers(t.app, 1);
  const blocker = await t.app.pool.connect();
  try {
    // The chunk's transaction will wait for this row: the job stays in the worker's hands.
    await blocker.query("BEGIN");
    await blocker.query("SELECT 1 FROM charges WHERE id = $1 FOR UPDATE", [charge.id]);
    const id = await createBillRun(t.app, { targetDate: "2026-02-01", accountIds: [account.id] }, { createdById: null });
    const activeChunk = async () =>
      (await t.app.pool.query("SELECT 1 FROM pgboss.job WHERE name = 'billrun-chunk' AND state = 'active' AND data->>'billRunId' = $1", [id])).rowCount === 1;
    await waitFor("the chunk in the worker's hands", activeChunk);
    const since = Date.now();
    expect(await workers.stop(500)).toBe(1);
    expect(Date.now() - since).toBeLessThan(5_000);
    // At once: the old job canceled, a new one waiting for any worker.
    expect(await activeChunk()).toBe(false);
    const queued = await t.app.pool.query("SELECT 1 FROM pgboss.job WHERE name = 'billrun-chunk' AND state = 'created' AND data->>'billRunId' = $1", [id]);
    expect(queued.rowCount).toBe(1);
    await blocker.query("ROLLBACK");
    const next = await registerWorkers(t.app, 1);
    await waitForStatus(t, id, ["COMPLETED"]);
    await waitFor(
      "the queue to empty",
      async () =>
        (await t.app.pool.query("SELECT 1 FROM pgboss.job WHERE name = 'billrun-chunk' AND state < 'completed' AND data->>'billRunId' = $1", [id])).rowCount ===
        0,
    );
    await next.stop(5_000);
    expect(await t.app.db.document.count({ where: { billRunId: id } })).toBe(1);
    expect((await t.app.db.billRun.findUniqueOrThrow({ where: { id } })).invoiceCount).toBe(1);
  } finally {
    await blocker.query("ROLLBACK").catch(() => {});
    blocker.release();
  }
});
