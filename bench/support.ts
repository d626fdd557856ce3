// What every benchmark starts from: a migrated database on its own embedded PostgreSQL, and the app over it
// configured as in production.
import { mkdtemp, rm } from "node:fs/promises";
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
    await body({ dir, url });
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
