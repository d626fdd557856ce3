// A bill run over 100,000 accounts × 2 subscriptions × 2 charges on the embedded PostgreSQL
// (normal durability: fsync on), with the workers in this process. Prints the time from
// PENDING to COMPLETED, accounts/s, posting time, this process's peak memory, and for
// comparison one set-based INSERT ... SELECT producing the same number of rows.
//
// As in production, the worker has been running when the run starts: a run of 1,000 other
// accounts goes through first and is not counted (its accounts are then deactivated, so the
// measured run and the floor do not see them). BENCH_WARM_UP=0 leaves it out, to see a freshly
// started worker's first run.
import os from "node:os";
import type { App } from "../src/app.ts";
import { registerWorkers } from "../src/billruns/executor.ts";
import { createBillRun, postBillRun } from "../src/billruns/service.ts";
import { seedBulkAccounts } from "../test/support/seed.ts";
import { cpuSeconds, PROFILE_SETTINGS, startBenchApp, waitForStatus, withBenchDatabase } from "./support.ts";

const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 100_000);
// BENCH_PROFILE=1: load pg_stat_statements and print where the database's time went.
const PROFILE = process.env.BENCH_PROFILE === "1";
const WARM_UP_ACCOUNTS = process.env.BENCH_WARM_UP === "0" ? 0 : 1_000;

const seconds = (ms: number) => (ms / 1000).toFixed(2);

export async function main(): Promise<void> {
  let result: Record<string, unknown> | undefined;
  await withBenchDatabase(
    "billrun-bench-",
    async ({ url, postmasterPid }) => {
      const { app, config } = await startBenchApp(url);

      let started = Date.now();
      if (WARM_UP_ACCOUNTS > 0) await seedBulkAccounts(app.pool, WARM_UP_ACCOUNTS, { prefix: "W" });
      await seedBulkAccounts(app.pool, ACCOUNTS);
      await app.pool.query("VACUUM ANALYZE");
      console.log(`seeded ${ACCOUNTS} accounts × 2 subscriptions × 2 charges in SQL: ${seconds(Date.now() - started)} s`);

      let peakRss = process.memoryUsage().rss;
      const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
      await registerWorkers(app, config.workerConcurrency);
      if (WARM_UP_ACCOUNTS > 0) {
        const warmUp = await app.pool.query<{ id: string }>("SELECT id FROM accounts WHERE account_number LIKE 'W-%'");
        const ids = warmUp.rows.map((r) => r.id);
        const warmUpRun = await createBillRun(app, { targetDate: "2026-02-01", accountIds: ids }, { createdById: null });
        await waitForStatus(app, warmUpRun, "COMPLETED");
        await app.pool.query("UPDATE accounts SET status = 'INACTIVE' WHERE id = ANY($1::uuid[])", [ids]);
        console.log(`warm-up run over ${WARM_UP_ACCOUNTS} other accounts done (not counted)`);
      }
      if (PROFILE) {
        await app.pool.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
        await app.pool.query("SELECT pg_stat_statements_reset(), pg_stat_reset(), pg_stat_reset_shared('checkpointer')");
      }

      const cpuBefore = await cpuSeconds(postmasterPid);
      started = Date.now();
      const id = await createBillRun(app, { targetDate: "2026-02-01" }, { createdById: null });
      await waitForStatus(app, id, "COMPLETED");
      const runMs = Date.now() - started;
      const cpuAfter = await cpuSeconds(postmasterPid);
      const runCpu = cpuBefore && cpuAfter ? { database: cpuAfter.database - cpuBefore.database, node: cpuAfter.node - cpuBefore.node } : null;
      const counts = await app.pool.query<{ invoice_count: number; failed_account_count: number; items: string }>(
        `SELECT invoice_count, failed_account_count,
              (SELECT count(*) FROM document_items i JOIN documents d ON d.id = i.document_id WHERE d.bill_run_id = r.id)::text AS items
         FROM bill_runs r WHERE id = $1`,
        [id],
      );
      const c = counts.rows[0]!;
      if (PROFILE) await printProfile(app, id, runMs);
      console.log(
        `bill run PENDING → COMPLETED: ${seconds(runMs)} s, ${Math.round(ACCOUNTS / (runMs / 1000))} accounts/s ` +
          `(${c.invoice_count} invoices, ${c.items} items, ${c.failed_account_count} failed; chunk ${config.chunkSize}, ${config.workerConcurrency} workers)`,
      );

      if (c.failed_account_count > 0) {
        const failures = await app.pool.query<{ failure_code: string; failure_message: string; accounts: string }>(
          `SELECT failure_code, failure_message, count(*)::text AS accounts FROM bill_run_accounts
          WHERE bill_run_id = $1 AND status = 'FAILED' GROUP BY 1, 2`,
          [id],
        );
        for (const f of failures.rows) console.log(`  failed: ${f.accounts} × ${f.failure_code}: ${f.failure_message}`);
      }

      const postCpuBefore = await cpuSeconds(postmasterPid);
      started = Date.now();
      await postBillRun(app, id, null);
      await waitForStatus(app, id, "POSTED");
      const postMs = Date.now() - started;
      const postCpuAfter = await cpuSeconds(postmasterPid);
      const postCpu = postCpuBefore && postCpuAfter ? postCpuAfter.database - postCpuBefore.database : null;
      console.log(`posting ${c.invoice_count} invoices: ${seconds(postMs)} s${postCpu === null ? "" : ` (${postCpu.toFixed(1)} s CPU in PostgreSQL)`}`);
      clearInterval(sampler);
      console.log(`peak memory (RSS) of the API+worker process during the run: ${Math.round(peakRss / 1024 / 1024)} MB`);

      // The floor: one statement writing as many invoice and item rows, with nothing computed.
      await app.pool.query("CREATE TABLE bench_documents (LIKE documents INCLUDING ALL)");
      await app.pool.query("CREATE TABLE bench_items (LIKE document_items INCLUDING DEFAULTS)");
      const floorCpuBefore = await cpuSeconds(postmasterPid);
      started = Date.now();
      await app.pool.query(
        `WITH docs AS (
         INSERT INTO bench_documents (id, number, type, status, account_id, currency, amount, balance, invoice_date, due_date)
         SELECT gen_random_uuid(), 'X-' || a.account_number, 'INVOICE', 'DRAFT', a.id, a.currency, 100, 100, '2026-02-01', '2026-03-03'
           FROM accounts a WHERE a.status = 'ACTIVE' RETURNING id, account_id)
       INSERT INTO bench_items (id, document_id, charge_id, subscription_id, position, charge_name, charge_type, kind,
                                service_start, service_end, quantity, unit_price, amount)
       SELECT gen_random_uuid(), d.id, c.id, c.subscription_id, p, c.name, c.type, 'CHARGE', '2026-01-01', '2026-02-01', 1, c.price, c.price
         FROM docs d JOIN subscriptions s ON s.account_id = d.account_id JOIN charges c ON c.subscription_id = s.id
        CROSS JOIN generate_series(1, CASE WHEN c.billing_timing = 'IN_ADVANCE' THEN 2 ELSE 1 END) AS p`,
      );
      const floorMs = Date.now() - started;
      const floorCpuAfter = await cpuSeconds(postmasterPid);
      const floorCpu = floorCpuBefore && floorCpuAfter ? floorCpuAfter.database - floorCpuBefore.database : null;
      console.log(`one set-based INSERT ... SELECT of the same ${ACCOUNTS} invoices and ${c.items} items: ${seconds(floorMs)} s`);
      console.log(`the run costs ${(runMs / floorMs).toFixed(2)}× the set-based floor`);
      if (runCpu && floorCpu) {
        console.log(
          `CPU: the run ${runCpu.database.toFixed(2)} s in PostgreSQL + ${runCpu.node.toFixed(2)} s in this process; ` +
            `the floor ${floorCpu.toFixed(1)} s in PostgreSQL (${((runCpu.database + runCpu.node) / floorCpu).toFixed(2)}×)`,
        );
      }
      await app.close();
      result = {
        bench: "billrun",
        accounts: ACCOUNTS,
        runSeconds: Number(seconds(runMs)),
        floorSeconds: Number(seconds(floorMs)),
        ratio: Number((runMs / floorMs).toFixed(2)),
        accountsPerSecond: Math.round(ACCOUNTS / (runMs / 1000)),
        runCpuSeconds: runCpu ? Number((runCpu.database + runCpu.node).toFixed(1)) : null,
        floorCpuSeconds: floorCpu === null ? null : Number(floorCpu.toFixed(1)),
        postSeconds: Number(seconds(postMs)),
        postCpuSeconds: postCpu === null ? null : Number(postCpu.toFixed(1)),
        peakRssMb: Math.round(peakRss / 1024 / 1024),
        chunkSize: config.chunkSize,
        workers: config.workerConcurrency,
        cpus: os.availableParallelism(),
        loadAverage: Number(os.loadavg()[0]!.toFixed(2)),
      };
    },
    PROFILE ? PROFILE_SETTINGS : {},
  );
  // Last, once the database has stopped: the line for machines.
  console.log(JSON.stringify(result ?? {}));
}

/** Where the run's time went, as the database saw it: statements by total time, and the jobs' waits. */
async function printProfile(app: Pick<App, "pool">, billRunId: string, runMs: number): Promise<void> {
  const statements = await app.pool.query<{ calls: string; total: number; mean: number; rows: string; fpi: string; walMb: number; query: string }>(
    `SELECT calls::text, total_exec_time AS total, mean_exec_time AS mean, rows::text, wal_fpi::text AS fpi,
            wal_bytes / 1048576.0 AS "walMb", regexp_replace(query, '\\s+', ' ', 'g') AS query
       FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC LIMIT 25`,
  );
  console.log(`profile: database time by statement (run took ${seconds(runMs)} s)`);
  for (const s of statements.rows) {
    console.log(
      `  ${seconds(s.total).padStart(7)} s  ${s.calls.padStart(7)} calls  ${s.mean.toFixed(1).padStart(7)} ms/call  ${s.rows.padStart(7)} rows  ` +
        `WAL ${Number(s.walMb).toFixed(0).padStart(4)} MB (${s.fpi} page images)  ${s.query.slice(0, 110)}`,
    );
  }
  const jobs = await app.pool.query<{ name: string; jobs: string; wait: number; active: number; first: number; last: number }>(
    `SELECT name, count(*)::text AS jobs,
            sum(extract(epoch FROM started_on - created_on)) AS wait,
            sum(extract(epoch FROM completed_on - started_on)) AS active,
            extract(epoch FROM min(started_on) - (SELECT created_at FROM bill_runs WHERE id = $1::uuid)) AS first,
            extract(epoch FROM max(completed_on) - (SELECT created_at FROM bill_runs WHERE id = $1::uuid)) AS last
       FROM pgboss.job WHERE data->>'billRunId' = $1::text GROUP BY name ORDER BY first`,
    [billRunId],
  );
  const tables = await app.pool.query<{ relname: string; ins: string; upd: string; hot: string }>(
    `SELECT relname, n_tup_ins::text AS ins, n_tup_upd::text AS upd, n_tup_hot_upd::text AS hot FROM pg_stat_user_tables
      WHERE relname IN ('charges', 'documents', 'document_items', 'bill_run_accounts', 'bill_run_charge_moves') ORDER BY relname`,
  );
  const checkpoints = await app.pool.query<{ timed: string; requested: string }>(
    "SELECT num_timed::text AS timed, num_requested::text AS requested FROM pg_stat_checkpointer",
  );
  console.log(`profile: checkpoints during the run: ${checkpoints.rows[0]!.timed} timed, ${checkpoints.rows[0]!.requested} requested (WAL full)`);
  console.log("profile: rows written by table since the seeding (updates: of which in place, HOT)");
  for (const t of tables.rows) console.log(`  ${t.relname.padEnd(18)} inserted ${t.ins.padStart(8)}  updated ${t.upd.padStart(8)} (${t.hot} HOT)`);
  console.log("profile: jobs (seconds summed over jobs; first start and last end after the run was created)");
  for (const j of jobs.rows) {
    console.log(
      `  ${j.name.padEnd(16)} ${j.jobs.padStart(5)} jobs  queued ${Number(j.wait).toFixed(2)} s  active ${Number(j.active).toFixed(2)} s  first ${Number(j.first).toFixed(2)} s  last ${Number(j.last).toFixed(2)} s`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
