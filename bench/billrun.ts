// A bill run over 100,000 accounts × 2 subscriptions × 2 charges on the embedded PostgreSQL
// (normal durability: fsync on), with the workers in this process. Prints the time from
// PENDING to COMPLETED, accounts/s, posting time, this process's peak memory, and for
// comparison one set-based INSERT ... SELECT producing the same number of rows.
import { type App } from "../src/app.ts";
import { registerWorkers } from "../src/billruns/executor.ts";
import { createBillRun, postBillRun } from "../src/billruns/service.ts";
import { startBenchApp, withBenchDatabase } from "./support.ts";
import { seedBulkAccounts } from "../test/support/seed.ts";

const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 100_000);

const seconds = (ms: number) => (ms / 1000).toFixed(2);

/** Waits until the run reaches `status`; a run that ends in ERROR fails the benchmark. */
export async function waitForStatus(app: Pick<App, "pool">, id: string, status: string): Promise<void> {
  while (true) {
    const row = await app.pool.query<{ status: string; error_message: string | null }>("SELECT status, error_message FROM bill_runs WHERE id = $1", [id]);
    if (row.rows[0]!.status === status) return;
    if (row.rows[0]!.status === "ERROR") throw new Error(`run failed: ${row.rows[0]!.error_message}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function main(): Promise<void> {
  await withBenchDatabase("billrun-bench-", async ({ url }) => {
    const { app, config } = await startBenchApp(url);

    let started = Date.now();
    await seedBulkAccounts(app.pool, ACCOUNTS);
    await app.pool.query("VACUUM ANALYZE");
    console.log(`seeded ${ACCOUNTS} accounts × 2 subscriptions × 2 charges in SQL: ${seconds(Date.now() - started)} s`);

    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
    await registerWorkers(app, config.workerConcurrency);

    started = Date.now();
    const id = await createBillRun(app, { targetDate: "2026-02-01" }, { createdById: null });
    await waitForStatus(app, id, "COMPLETED");
    const runMs = Date.now() - started;
    const counts = await app.pool.query<{ invoice_count: number; failed_account_count: number; items: string }>(
      `SELECT invoice_count, failed_account_count,
              (SELECT count(*) FROM document_items i JOIN documents d ON d.id = i.document_id WHERE d.bill_run_id = r.id)::text AS items
         FROM bill_runs r WHERE id = $1`,
      [id],
    );
    const c = counts.rows[0]!;
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

    started = Date.now();
    await postBillRun(app, id, null);
    await waitForStatus(app, id, "POSTED");
    console.log(`posting ${c.invoice_count} invoices: ${seconds(Date.now() - started)} s`);
    clearInterval(sampler);
    console.log(`peak memory (RSS) of the API+worker process during the run: ${Math.round(peakRss / 1024 / 1024)} MB`);

    // The floor: one statement writing as many invoice and item rows, with nothing computed.
    await app.pool.query("CREATE TABLE bench_documents (LIKE documents INCLUDING ALL)");
    await app.pool.query("CREATE TABLE bench_items (LIKE document_items INCLUDING DEFAULTS)");
    started = Date.now();
    await app.pool.query(
      `WITH docs AS (
         INSERT INTO bench_documents (id, number, type, status, account_id, currency, amount, balance, invoice_date, due_date)
         SELECT gen_random_uuid(), 'X-' || a.account_number, 'INVOICE', 'DRAFT', a.id, a.currency, 100, 100, '2026-02-01', '2026-03-03'
           FROM accounts a RETURNING id, account_id)
       INSERT INTO bench_items (id, document_id, charge_id, subscription_id, position, charge_name, charge_type, kind,
                                service_start, service_end, quantity, unit_price, amount)
       SELECT gen_random_uuid(), d.id, c.id, c.subscription_id, p, c.name, c.type, 'CHARGE', '2026-01-01', '2026-02-01', 1, c.price, c.price
         FROM docs d JOIN subscriptions s ON s.account_id = d.account_id JOIN charges c ON c.subscription_id = s.id
        CROSS JOIN generate_series(1, CASE WHEN c.billing_timing = 'IN_ADVANCE' THEN 2 ELSE 1 END) AS p`,
    );
    console.log(`one set-based INSERT ... SELECT of the same ${ACCOUNTS} invoices and ${c.items} items: ${seconds(Date.now() - started)} s`);
    await app.close();
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
