// What every benchmark starts from: a migrated database on its own embedded PostgreSQL, and the app over it
// configured as in production.
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { startApp, type App } from "../src/app.ts";
import { loadConfig, type Config } from "../src/config.ts";
import { ensureDatabase } from "../src/database.ts";
import { startEmbeddedPostgres } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { createLogger } from "../src/log.ts";

export interface BenchDatabase {
  /** A temporary directory of the benchmark's own (PostgreSQL's data lives in `<dir>/pg`). */
  dir: string;
  /** Connection string of the migrated `bench` database. */
  url: string;
  /** Process id of its postmaster, for cpuSeconds. */
  postmasterPid: number;
}

/**
 * Runs `body` against a migrated `bench` database on a fresh embedded PostgreSQL (normal durability) in a
 * new temporary directory named `<dirPrefix>…`; stops PostgreSQL and removes the directory afterwards,
 * whether `body` succeeds or throws (its error is rethrown). `settings` are PostgreSQL settings to start it with.
 */
export async function withBenchDatabase(
  dirPrefix: string,
  body: (bench: BenchDatabase) => Promise<void>,
  settings: Record<string, string> = {},
): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), dirPrefix));
  const pg = await startEmbeddedPostgres({ dataDir: path.join(dir, "pg"), temporary: true, settings });
  try {
    await ensureDatabase(pg.url(), "bench");
    const url = pg.url("bench");
    await migrate(url);
    await body({ dir, url, postmasterPid: pg.pid });
  } finally {
    await pg.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Starts the app on `url` with the production configuration, warnings only, plus `env`. The caller closes it. */
export async function startBenchApp(url: string, env: Record<string, string> = {}): Promise<{ app: App; config: Config }> {
  const config = loadConfig({ ...process.env, NODE_ENV: "production", LOG_LEVEL: "warn", ...env });
  const app = await startApp(config, url, createLogger("warn"));
  return { app, config };
}

/** PostgreSQL settings that load pg_stat_statements and time I/O, for the benchmarks' `BENCH_PROFILE=1`. */
export const PROFILE_SETTINGS: Record<string, string> = {
  shared_preload_libraries: "pg_stat_statements",
  "pg_stat_statements.track": "all",
  track_io_timing: "on",
};

/** Waits until the run reaches `status`; a run that ends in ERROR fails the benchmark. */
export async function waitForStatus(app: Pick<App, "pool">, id: string, status: string): Promise<void> {
  while (true) {
    const row = await app.pool.query<{ status: string; error_message: string | null }>("SELECT status, error_message FROM bill_runs WHERE id = $1", [id]);
    if (row.rows[0]!.status === status) return;
    if (row.rows[0]!.status === "ERROR") throw new Error(`run failed: ${row.rows[0]!.error_message}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * CPU seconds used so far by the PostgreSQL cluster `postmasterPid` (its live processes, and the
 * ones that have ended) and by this process. Less swayed than wall time by other work on the
 * machine. Linux only; null elsewhere.
 */
export async function cpuSeconds(postmasterPid: number): Promise<{ database: number; node: number } | null> {
  const ticks = 100; // USER_HZ: 100 on every Linux that node runs on
  const stat = async (pid: string) => {
    const text = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => null);
    if (!text) return null;
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(fields[1]), own: Number(fields[11]) + Number(fields[12]), children: Number(fields[13]) + Number(fields[14]) };
  };
  const postmaster = await stat(String(postmasterPid));
  if (!postmaster) return null;
  let database = postmaster.own + postmaster.children;
  for (const pid of (await readdir("/proc")).filter((name) => /^\d+$/.test(name))) {
    const child = await stat(pid);
    if (child?.ppid === postmasterPid) database += child.own;
  }
  const usage = process.cpuUsage();
  return { database: database / ticks, node: (usage.user + usage.system) / 1e6 };
}
