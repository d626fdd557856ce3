// Where a bill run's cost per account goes as the run grows: the run of bench/billrun.ts (same
// seed, same run), with the WAL, full-page images, checkpoints, buffer I/O and autovacuum it
// caused, per account. PROBE_SETTINGS (JSON, name → value) overrides server settings, e.g.
// '{"max_wal_size":"1GB","checkpoint_timeout":"5min","shared_buffers":"256MB"}' for PostgreSQL's
// defaults. BENCH_ACCOUNTS=300000 ./node_modules/.bin/node bench/scale-probe.ts
import os from "node:os";
import { registerWorkers } from "../src/billruns/executor.ts";
import { createBillRun } from "../src/billruns/service.ts";
import { seedBulkAccounts } from "../test/support/seed.ts";
import { cpuSeconds, startBenchApp, waitForStatus, withBenchDatabase } from "./support.ts";

const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 100_000);
const extra = JSON.parse(process.env.PROBE_SETTINGS ?? "{}") as Record<string, string>;

await withBenchDatabase(
  "billrun-probe-",
  async ({ url, postmasterPid }) => {
    const { app, config } = await startBenchApp(url);
    let t = Date.now();
    await seedBulkAccounts(app.pool, ACCOUNTS);
    await app.pool.query("VACUUM ANALYZE");
    await app.pool.query("CHECKPOINT");
    console.log(`seeded ${ACCOUNTS} in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    const show = await app.pool.query(
      "SELECT name, setting, unit FROM pg_settings WHERE name IN ('shared_buffers','max_wal_size','checkpoint_timeout','wal_compression','checkpoint_completion_target','wal_buffers','autovacuum')",
    );
    console.log(show.rows.map((r) => `${r.name}=${r.setting}${r.unit ?? ""}`).join(" "));
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
    await registerWorkers(app, config.workerConcurrency);
    await app.pool.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    await app.pool.query(
      "SELECT pg_stat_statements_reset(), pg_stat_reset(), pg_stat_reset_shared('checkpointer'), pg_stat_reset_shared('wal'), pg_stat_reset_shared('io')",
    );
    const cpu0 = (await cpuSeconds(postmasterPid))!.database;
    const node0 = process.cpuUsage();
    t = Date.now();
    const id = await createBillRun(app, { targetDate: "2026-02-01" }, { createdById: null });
    await waitForStatus(app, id, "COMPLETED");
    const runMs = Date.now() - t;
    const db = (await cpuSeconds(postmasterPid))!.database - cpu0;
    const nu = process.cpuUsage(node0);
    const node = (nu.user + nu.system) / 1e6;
    clearInterval(sampler);
    const wal = (await app.pool.query("SELECT wal_records::text, wal_fpi::text, wal_bytes::text, wal_buffers_full::text FROM pg_stat_wal")).rows[0];
    const ck = (await app.pool.query("SELECT num_timed::text, num_requested::text, buffers_written::text, write_time, sync_time FROM pg_stat_checkpointer"))
      .rows[0];
    const io = await app.pool.query(
      `SELECT backend_type, object, context, reads::text, writes::text, extends::text, hits::text, evictions::text, fsyncs::text FROM pg_stat_io
      WHERE (reads > 0 OR writes > 0 OR evictions > 0) ORDER BY writes DESC NULLS LAST LIMIT 12`,
    );
    const av = await app.pool.query(
      "SELECT relname, autovacuum_count::text, autoanalyze_count::text FROM pg_stat_user_tables WHERE autovacuum_count + autoanalyze_count > 0",
    );
    const st = await app.pool.query(
      `SELECT calls::text, round(total_exec_time)::text AS ms, shared_blks_hit::text AS hit, shared_blks_read::text AS rd, shared_blks_dirtied::text AS dirt, shared_blks_written::text AS wr,
            wal_fpi::text AS fpi, round(wal_bytes/1048576.0)::text AS walmb, regexp_replace(query, '\\s+', ' ', 'g') AS q
       FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat%' ORDER BY total_exec_time DESC LIMIT 12`,
    );
    const sizes = await app.pool.query(
      `SELECT relname, pg_size_pretty(pg_total_relation_size(oid)) AS total FROM pg_class WHERE relname IN ('documents','document_items','charges','bill_run_accounts','accounts','subscriptions') ORDER BY relname`,
    );
    console.log(
      `run ${(runMs / 1000).toFixed(1)} s  ${Math.round(ACCOUNTS / (runMs / 1000))} accounts/s  CPU db ${db.toFixed(1)} s node ${node.toFixed(1)} s  = ${(((db + node) / ACCOUNTS) * 1000).toFixed(3)} ms/account (db ${((db / ACCOUNTS) * 1000).toFixed(3)})`,
    );
    console.log(
      `WAL ${(Number(wal.wal_bytes) / ACCOUNTS / 1024).toFixed(2)} KB/account, ${(Number(wal.wal_fpi) / ACCOUNTS).toFixed(2)} FPI/account, ${wal.wal_records} records, buffers_full ${wal.wal_buffers_full}, total ${(Number(wal.wal_bytes) / 2 ** 30).toFixed(2)} GB`,
    );
    console.log(
      `checkpoints timed ${ck.num_timed} requested ${ck.num_requested} buffers_written ${ck.buffers_written} write ${Math.round(ck.write_time)} ms sync ${Math.round(ck.sync_time)} ms`,
    );
    for (const r of io.rows)
      console.log(
        `  io ${r.backend_type}/${r.object}/${r.context}: reads ${r.reads} writes ${r.writes} extends ${r.extends} hits ${r.hits} evictions ${r.evictions} fsyncs ${r.fsyncs}`,
      );
    for (const r of av.rows) console.log(`  autovacuum ${r.relname}: vacuum ${r.autovacuum_count} analyze ${r.autoanalyze_count}`);
    for (const r of st.rows)
      console.log(
        `  ${r.ms.padStart(7)} ms ${r.calls.padStart(6)} calls hit ${r.hit} read ${r.rd} dirtied ${r.dirt} written ${r.wr} fpi ${r.fpi} wal ${r.walmb} MB  ${r.q.slice(0, 100)}`,
      );
    for (const r of sizes.rows) console.log(`  size ${r.relname}: ${r.total}`);
    console.log(
      `peak RSS ${Math.round(peakRss / 2 ** 20)} MB, load ${os
        .loadavg()
        .map((x) => x.toFixed(1))
        .join(" ")}`,
    );
    console.log(
      JSON.stringify({
        bench: "scale-probe",
        accounts: ACCOUNTS,
        runS: runMs / 1000,
        aps: Math.round(ACCOUNTS / (runMs / 1000)),
        dbCpu: db,
        nodeCpu: node,
        msPerAccount: ((db + node) / ACCOUNTS) * 1000,
        walKbPerAccount: Number(wal.wal_bytes) / ACCOUNTS / 1024,
        fpiPerAccount: Number(wal.wal_fpi) / ACCOUNTS,
        checkpointsRequested: Number(ck.num_requested),
        checkpointsTimed: Number(ck.num_timed),
        peakRssMb: Math.round(peakRss / 2 ** 20),
        settings: extra,
        load: os.loadavg()[0],
      }),
    );
    await app.close();
  },
  { shared_preload_libraries: "pg_stat_statements", "pg_stat_statements.track": "all", ...extra },
);
