import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { createBillRun } from "../../src/billruns/service.ts";
import { seedBulkAccounts } from "../support/seed.ts";
import { waitForStatus } from "../support/billing.ts";

const ACCOUNTS = 3000;
const workerEntry = fileURLToPath(new URL("../../src/worker.ts", import.meta.url));
let t: TestApp;
const workers: ChildProcess[] = [];

beforeAll(async () => {
  t = await createTestApp();
  await seedBulkAccounts(t.app.pool, ACCOUNTS);
});
afterAll(async () => {
  for (const worker of workers) worker.kill("SIGKILL");
  await t.close();
});

function startWorker(): ChildProcess {
  const worker = spawn(process.execPath, [workerEntry], {
    env: {
      ...process.env,
      NODE_ENV: "test",
      DATABASE_URL: t.databaseUrl,
      LOG_LEVEL: "error",
      BILLRUN_CHUNK_SIZE: "25",
      BILLRUN_WORKER_CONCURRENCY: "1",
      // Job expiry and every recovery setting are the defaults a user gets: the killed worker's
      // job is sent again because its holder is gone, not because it expired.
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  workers.push(worker);
  return worker;
}

async function progress(billRunId: string) {
  const row = await t.app.pool.query<{ accounts_processed: number; accounts_total: number; status: string }>(
    "SELECT accounts_processed, accounts_total, status FROM bill_runs WHERE id = $1",
    [billRunId],
  );
  return row.rows[0]!;
}

it("a worker killed with SIGKILL in the middle of a run leaves nothing half-done; another finishes it", async () => {
  const billRunId = await createBillRun(t.app, { targetDate: "2026-02-01" }, { createdById: null });
  const first = startWorker();

  // Wait until the run is part-way through, then kill the worker without warning.
  const deadline = Date.now() + 60_000;
  let seen = await progress(billRunId);
  while (Date.now() < deadline && !(seen.accounts_processed > 0 && seen.status === "PROCESSING")) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    seen = await progress(billRunId);
  }
  first.kill("SIGKILL");
  await new Promise((resolve) => first.once("exit", resolve));
  const atKill = await progress(billRunId);
  expect(atKill.status).toBe("PROCESSING");
  expect(atKill.accounts_processed).toBeGreaterThan(0);
  expect(atKill.accounts_processed).toBeLessThan(ACCOUNTS);

  const killedAt = Date.now();
  startWorker();
  await waitForStatus(t, billRunId, ["COMPLETED"], 120_000).catch(async (error) => {
    const jobs = await t.app.pool.query("SELECT name, state, retry_count, count(*)::int FROM pgboss.job GROUP BY 1, 2, 3 ORDER BY 1, 2");
    const work = await t.app.pool.query("SELECT status, count(*)::int FROM bill_run_accounts GROUP BY 1");
    throw new Error(`${(error as Error).message}; jobs ${JSON.stringify(jobs.rows)}; work ${JSON.stringify(work.rows)}`);
  });

  // Far below pg-boss's 300 s job expiry: the job was sent again as soon as its holder was gone.
  expect(Date.now() - killedAt).toBeLessThan(60_000);
  const done = await progress(billRunId);
  expect(done.accounts_processed).toBe(ACCOUNTS);
  expect(done.accounts_total).toBe(ACCOUNTS);
  // Exactly one invoice per account, each with the four expected items, and counters that agree.
  const perAccount = await t.app.pool.query<{ documents: string; accounts: string }>(
    `SELECT count(*)::text AS accounts, sum(n)::text AS documents FROM
       (SELECT account_id, count(*) AS n FROM documents WHERE bill_run_id = $1 GROUP BY account_id) d`,
    [billRunId],
  );
  expect(perAccount.rows[0]).toEqual({ accounts: String(ACCOUNTS), documents: String(ACCOUNTS) });
  const items = await t.app.pool.query<{ n: string }>(
    "SELECT count(*)::text AS n FROM document_items i JOIN documents d ON d.id = i.document_id WHERE d.bill_run_id = $1",
    [billRunId],
  );
  // Per subscription: the advance charge bills January and February, the arrears charge January.
  expect(items.rows[0]!.n).toBe(String(ACCOUNTS * 2 * 3));
  const run = await t.app.db.billRun.findUniqueOrThrow({ where: { id: billRunId } });
  expect(run.invoiceCount).toBe(ACCOUNTS);
  expect(run.failedAccountCount).toBe(0);
}, 180_000);
