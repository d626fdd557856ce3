// Bulk import on the embedded PostgreSQL (normal durability: fsync on), the runner in this
// process: accounts with 2 subscriptions × 2 charges each (the bill-run benchmark's shape,
// imported as an accounts file then a subscriptions file), then a usage file of 1,000,000 rows.
// Each figure counts from the first byte staged to the job's COMPLETED. Prints accounts/s,
// usage records/s and this process's memory, then one JSON line. On a machine busy with other
// work, wall-clock rates say little: the CPU time spent per row (this process, its main thread,
// and the PostgreSQL server's processes, ended ones included) is printed too, per file, with the
// rate it allows on two idle cores.
import { createReadStream } from "node:fs";
import { appendFile, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { type App } from "../src/app.ts";
import { startImportRunner, wakeImportRunners } from "../src/imports/runner.ts";
import { stageImport, type NewImport } from "../src/imports/staging.ts";
import { cpuSeconds, PROFILE_SETTINGS, startBenchApp, withBenchDatabase } from "./support.ts";

const ACCOUNTS = Number(process.env.BENCH_IMPORT_ACCOUNTS ?? 50_000);
const USAGE = Number(process.env.BENCH_IMPORT_USAGE ?? 1_000_000);
// BENCH_PROFILE=1: load pg_stat_statements and print where the database's time went, per file.
const PROFILE = process.env.BENCH_PROFILE === "1";

const seconds = (ms: number) => (ms / 1000).toFixed(2);
const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);
const number = (n: number) => String(n).padStart(8, "0");

/** Writes a file in pieces of `rowsPerPiece` rows (the generator never holds the whole file). */
async function writeRows(file: string, header: string, rows: number, row: (i: number) => string): Promise<number> {
  await writeFile(file, `${header}\n`);
  for (let i = 0; i < rows; i += 10_000) {
    let piece = "";
    for (let n = i; n < Math.min(rows, i + 10_000); n++) piece += `${row(n)}\n`;
    await appendFile(file, piece);
  }
  return (await stat(file)).size;
}

/** CPU milliseconds used so far by the PostgreSQL server's processes, ended ones included (Linux /proc; 0 elsewhere). */
async function postgresCpuMs(dataDir: string): Promise<number> {
  try {
    const postmaster = Number((await readFile(path.join(dataDir, "postmaster.pid"), "utf8")).split("\n")[0]);
    return ((await cpuSeconds(postmaster))?.database ?? 0) * 1000;
  } catch {
    return 0;
  }
}

/**
 * Runs `work`, returning its result with the CPU milliseconds spent meanwhile by this process (all
 * its threads, the garbage collector's included), by its main thread alone (the one JavaScript runs
 * on: what bounds the rate when it is the busier side), and by PostgreSQL.
 */
async function measured<T>(dataDir: string, work: () => Promise<T>): Promise<T & { nodeCpuMs: number; mainCpuMs: number; pgCpuMs: number }> {
  const cpu = process.cpuUsage();
  const main = process.threadCpuUsage();
  const pg = await postgresCpuMs(dataDir);
  const result = await work();
  const used = process.cpuUsage(cpu);
  const usedMain = process.threadCpuUsage(main);
  return {
    ...result,
    nodeCpuMs: (used.user + used.system) / 1000,
    mainCpuMs: (usedMain.user + usedMain.system) / 1000,
    pgCpuMs: (await postgresCpuMs(dataDir)) - pg,
  };
}

/** Rows/s two idle cores allow at this CPU cost: both busy, and this process's main thread no busier than one. */
const idleRate = (rows: number, nodeMs: number, mainMs: number, pgMs: number) =>
  Math.round(Math.min((2 * rows) / ((nodeMs + pgMs) / 1000), rows / (mainMs / 1000)));

async function importFile(app: App, spec: Omit<NewImport, "createdById">, file: string, createdById: string) {
  const started = performance.now();
  const id = await stageImport(app, { ...spec, createdById }, createReadStream(file, { highWaterMark: 256 * 1024 }), 1024 ** 4);
  const stagedMs = performance.now() - started;
  wakeImportRunners();
  for (;;) {
    // Plain SQL: the poll should cost next to nothing next to what it measures.
    const found = await app.pool.query<{ status: string; error_message: string | null; rows_rejected: number; rows_imported: number }>(
      "SELECT status, error_message, rows_rejected, rows_imported FROM import_jobs WHERE id = $1",
      [id],
    );
    const job = found.rows[0]!;
    if (job.status === "COMPLETED" || job.status === "FAILED") {
      if (job.status === "FAILED" || job.rows_rejected > 0)
        throw new Error(`import ${spec.kind}: ${job.status} ${job.error_message ?? ""} (${job.rows_rejected} rejected)`);
      return { ms: performance.now() - started, stagedMs, rows: job.rows_imported };
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Where the database's time went since the last call: statements by total time. */
async function profile(app: App, what: string): Promise<void> {
  if (!PROFILE) return;
  const statements = await app.pool.query<{ calls: string; total: number; rows: string; walMb: number; query: string }>(
    `SELECT calls::text, total_exec_time AS total, rows::text, wal_bytes / 1048576.0 AS "walMb", regexp_replace(query, '\\s+', ' ', 'g') AS query
       FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC LIMIT 12`,
  );
  console.log(`profile (${what}): database time by statement`);
  for (const s of statements.rows) {
    console.log(
      `  ${seconds(s.total).padStart(7)} s  ${s.calls.padStart(6)} calls  ${s.rows.padStart(8)} rows  WAL ${Number(s.walMb).toFixed(0).padStart(4)} MB  ${s.query.slice(0, 150)}`,
    );
  }
  await app.pool.query("SELECT pg_stat_statements_reset()");
}

export async function main(): Promise<void> {
  await withBenchDatabase(
    "billrun-bench-imports-",
    async ({ dir, url }) => {
      const { app, config } = await startBenchApp(url);
      const user = await app.db.user.create({ data: { email: "bench@localhost", name: "Bench", role: "OPERATOR" } });
      const runner = startImportRunner(app, { pollMs: 50 });
      if (PROFILE) {
        await app.pool.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
        await app.pool.query("SELECT pg_stat_statements_reset()");
      }

      const accountsFile = path.join(dir, "accounts.csv");
      const subscriptionsFile = path.join(dir, "subscriptions.csv");
      const usageFile = path.join(dir, "usage.csv");
      await writeRows(
        accountsFile,
        "accountNumber,name,currency,billCycleDay,batch,billToEmail",
        ACCOUNTS,
        (n) => `IMP-${number(n)},Imported customer ${n},USD,${1 + (n % 28)},${1 + (n % 50)},billing${n}@import.example`,
      );
      await writeRows(
        subscriptionsFile,
        "subscriptionNumber,accountNumber,startDate,chargeName,chargeType,price,billingPeriod,billingTiming,unitOfMeasure",
        ACCOUNTS * 4,
        (i) => {
          const n = Math.floor(i / 4);
          const s = Math.floor(i / 2) % 2;
          const charge =
            i % 2 === 0
              ? s === 0
                ? "Platform fee,RECURRING,49.99,MONTH,IN_ADVANCE,"
                : "Support,RECURRING,19.50,MONTH,IN_ARREARS,"
              : "API calls,USAGE,0.0025,MONTH,,call";
          return `IMP-${number(n)}-S${s},IMP-${number(n)},2026-01-01,${charge}`;
        },
      );
      const usageBytes = await writeRows(usageFile, "subscriptionNumber,chargeName,quantity,unitOfMeasure,usageDate,usageId", USAGE, (i) => {
        const n = i % ACCOUNTS;
        return `IMP-${number(n)}-S${i % 2},API calls,${(i % 500) + 1},call,2026-01-${String((i % 28) + 1).padStart(2, "0")},evt-${i}`;
      });

      const pgDir = path.join(dir, "pg");
      const accounts = await measured(pgDir, () =>
        importFile(app, { kind: "ACCOUNTS", format: "CSV", mode: "CREATE", atomic: false, fileName: "accounts.csv" }, accountsFile, user.id),
      );
      await profile(app, "accounts");
      const subscriptions = await measured(pgDir, () =>
        importFile(app, { kind: "SUBSCRIPTIONS", format: "CSV", mode: "CREATE", atomic: false, fileName: "subscriptions.csv" }, subscriptionsFile, user.id),
      );
      await profile(app, "subscriptions");
      const accountsMs = accounts.ms + subscriptions.ms;
      const accountsPerSecond = Math.round(ACCOUNTS / (accountsMs / 1000));
      const accountsNodeCpu = accounts.nodeCpuMs + subscriptions.nodeCpuMs;
      const accountsMainCpu = accounts.mainCpuMs + subscriptions.mainCpuMs;
      const accountsPgCpu = accounts.pgCpuMs + subscriptions.pgCpuMs;
      const accountsIdle = idleRate(ACCOUNTS, accountsNodeCpu, accountsMainCpu, accountsPgCpu);
      console.log(
        `import ${ACCOUNTS} accounts (${seconds(accounts.ms)} s) + ${ACCOUNTS * 2} subscriptions with ${subscriptions.rows} charges (${seconds(subscriptions.ms)} s): ` +
          `${accountsPerSecond} accounts/s; CPU per account ${Math.round((accountsNodeCpu * 1000) / ACCOUNTS)} µs here (main thread ${Math.round((accountsMainCpu * 1000) / ACCOUNTS)} µs) + ${Math.round((accountsPgCpu * 1000) / ACCOUNTS)} µs PostgreSQL ` +
          `(two idle cores: about ${accountsIdle} accounts/s)`,
      );
      for (const [file, m] of [
        ["accounts", accounts],
        ["subscriptions", subscriptions],
      ] as const) {
        console.log(
          `  ${file} file: ${seconds(m.ms)} s (staging ${seconds(m.stagedMs)} s); CPU ${seconds(m.nodeCpuMs)} s here (main thread ${seconds(m.mainCpuMs)} s) + ${seconds(m.pgCpuMs)} s PostgreSQL`,
        );
      }

      await app.pool.query("VACUUM ANALYZE");
      let peakRss = process.memoryUsage().rss;
      let peakHeap = process.memoryUsage().heapUsed;
      const rssBefore = peakRss;
      const sampler = setInterval(() => {
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
        peakHeap = Math.max(peakHeap, m.heapUsed);
      }, 50);
      const usage = await measured(pgDir, () =>
        importFile(app, { kind: "USAGE", format: "CSV", mode: "CREATE", atomic: false, fileName: "usage.csv" }, usageFile, user.id),
      );
      clearInterval(sampler);
      await profile(app, "usage");
      const usagePerSecond = Math.round(USAGE / (usage.ms / 1000));
      const usageIdle = idleRate(USAGE, usage.nodeCpuMs, usage.mainCpuMs, usage.pgCpuMs);
      console.log(
        `import ${USAGE} usage records (${mb(usageBytes)} MB file; staged in ${seconds(usage.stagedMs)} s): ${seconds(usage.ms)} s, ${usagePerSecond} records/s; ` +
          `CPU per record ${((usage.nodeCpuMs * 1000) / USAGE).toFixed(1)} µs here (main thread ${((usage.mainCpuMs * 1000) / USAGE).toFixed(1)} µs) + ${((usage.pgCpuMs * 1000) / USAGE).toFixed(1)} µs PostgreSQL (two idle cores: about ${usageIdle} records/s); ` +
          `memory: RSS ${mb(rssBefore)} MB before, peak ${mb(peakRss)} MB, peak heap ${mb(peakHeap)} MB`,
      );
      console.log(
        JSON.stringify({
          bench: "imports",
          accounts: ACCOUNTS,
          accountsPerSecond,
          accountsPerSecondIdleCores: accountsIdle,
          accountCpuMicroseconds: {
            node: Math.round((accountsNodeCpu * 1000) / ACCOUNTS),
            nodeMainThread: Math.round((accountsMainCpu * 1000) / ACCOUNTS),
            postgres: Math.round((accountsPgCpu * 1000) / ACCOUNTS),
          },
          usageRecords: USAGE,
          usagePerSecond,
          usagePerSecondIdleCores: usageIdle,
          usageCpuMicroseconds: {
            node: Number(((usage.nodeCpuMs * 1000) / USAGE).toFixed(1)),
            nodeMainThread: Number(((usage.mainCpuMs * 1000) / USAGE).toFixed(1)),
            postgres: Number(((usage.pgCpuMs * 1000) / USAGE).toFixed(1)),
          },
          usageFileMb: mb(usageBytes),
          peakRssMb: mb(peakRss),
          peakHeapMb: mb(peakHeap),
          batchRows: config.imports.batchRows,
        }),
      );
      await runner.stop();
      await app.close();
    },
    PROFILE ? PROFILE_SETTINGS : {},
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
