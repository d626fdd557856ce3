// CSV exports of a bill run with 100,000 invoices (and 400,000 items) on the embedded
// PostgreSQL, downloaded over HTTP from the real server as a client would. Prints the time and
// size of each export and the server process's memory growth, then one JSON line. The run's
// documents are seeded set-based in SQL (billing them is bench/billrun.ts's subject).
import { ensureAdmin } from "../src/auth/users.ts";
import { startHttpServer } from "../src/http.ts";
import { startBenchApp, withBenchDatabase } from "./support.ts";
import { seedBulkAccounts } from "../test/support/seed.ts";

const INVOICES = Number(process.env.BENCH_INVOICES ?? 100_000);
const TOKEN = "brt_bench_exports_token_0123456789";
const seconds = (ms: number) => (ms / 1000).toFixed(2);

export async function main(): Promise<void> {
  await withBenchDatabase("billrun-bench-exports-", async ({ dir, url }) => {
    const { app } = await startBenchApp(url, { BILLRUN_DATA_DIR: dir });
    await ensureAdmin(app.db, TOKEN);

    let started = Date.now();
    await seedBulkAccounts(app.pool, INVOICES);
    const run = await app.pool.query<{ id: string }>(
      `INSERT INTO bill_runs (id, status, target_date, invoice_date, accounts_total, accounts_processed, invoice_count, updated_at)
       VALUES (gen_random_uuid(), 'COMPLETED', '2026-02-01', '2026-02-01', $1, $1, $1, now()) RETURNING id`,
      [INVOICES],
    );
    const billRunId = run.rows[0]!.id;
    await app.pool.query(
      `INSERT INTO documents (id, number, type, status, bill_run_id, account_id, currency, amount, balance, invoice_date, due_date)
       SELECT gen_random_uuid(), 'INV-' || lpad(row_number() OVER (ORDER BY a.account_number)::text, 8, '0'), 'INVOICE', 'DRAFT', $1,
              a.id, a.currency, CASE WHEN a.currency = 'JPY' THEN 13948 ELSE 138.98 END,
              CASE WHEN a.currency = 'JPY' THEN 13948 ELSE 138.98 END, '2026-02-01', '2026-03-03'
         FROM accounts a`,
      [billRunId],
    );
    await app.pool.query(
      `INSERT INTO document_items (id, document_id, charge_id, subscription_id, position, charge_name, charge_type, kind,
                                   service_start, service_end, quantity, unit_price, amount)
       SELECT gen_random_uuid(), d.id, c.id, c.subscription_id, row_number() OVER (PARTITION BY d.id ORDER BY s.subscription_number, c.position),
              c.name, c.type, 'CHARGE', '2026-01-01', '2026-02-01', 1, c.price, c.price
         FROM documents d JOIN subscriptions s ON s.account_id = d.account_id JOIN charges c ON c.subscription_id = s.id
        WHERE d.bill_run_id = $1`,
      [billRunId],
    );
    await app.pool.query("VACUUM ANALYZE");
    console.log(`seeded a run of ${INVOICES} invoices × 4 items in SQL: ${seconds(Date.now() - started)} s`);

    const http = await startHttpServer(app, 0, "127.0.0.1");
    const base = http.url.replace(/\/graphql$/, "");
    const figures: Record<string, { seconds: number; rows: number; megabytes: number; rowsPerSecond: number }> = {};
    let rssGrowthMb = 0;
    for (const name of ["invoices", "items"] as const) {
      global.gc?.();
      const rssBefore = process.memoryUsage().rss;
      let peak = rssBefore;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      started = performance.now();
      const response = await fetch(`${base}/exports/bill-runs/${billRunId}/${name}.csv`, { headers: { authorization: `Bearer ${TOKEN}` } });
      if (response.status !== 200) throw new Error(`export ${name}: HTTP ${response.status}`);
      // Read it as a client saving a file would: chunk by chunk, counting lines.
      let bytes = 0;
      let lines = 0;
      const reader = response.body!.getReader();
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        const buffer = next.value;
        bytes += buffer.length;
        for (let i = 0; i < buffer.length; i++) if (buffer[i] === 10) lines++;
      }
      const ms = performance.now() - started;
      clearInterval(sampler);
      const rows = lines - 1;
      rssGrowthMb = Math.max(rssGrowthMb, Math.round((peak - rssBefore) / 1024 / 1024));
      figures[name] = { seconds: Number(seconds(ms)), rows, megabytes: Math.round(bytes / 1024 / 102.4) / 10, rowsPerSecond: Math.round(rows / (ms / 1000)) };
      console.log(
        `${name}.csv: ${rows} rows, ${figures[name].megabytes} MB in ${seconds(ms)} s (${figures[name].rowsPerSecond} rows/s); ` +
          `RSS growth of the process (server and client) ${Math.round((peak - rssBefore) / 1024 / 1024)} MB`,
      );
    }
    await http.close();
    await app.close();
    console.log(
      JSON.stringify({
        bench: "exports",
        invoices: INVOICES,
        invoicesCsvSeconds: figures.invoices!.seconds,
        itemsCsvSeconds: figures.items!.seconds,
        itemRows: figures.items!.rows,
        rssGrowthMb,
        withinTarget: figures.invoices!.seconds <= 5,
      }),
    );
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
