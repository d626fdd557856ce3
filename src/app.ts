import pg from "pg";
import type { Config } from "./config.ts";
import { createDb, type Db, type DbOptions } from "./db/client.ts";
import { startJobs, type Jobs } from "./jobs.ts";
import type { Logger } from "./log.ts";

/** Everything a process shares between its HTTP server, WebSockets and workers. */
export interface App {
  config: Config;
  db: Db;
  /** Raw pg pool for set-based SQL that Prisma's typed queries cannot express. */
  pool: pg.Pool;
  jobs: Jobs;
  log: Logger;
  close: () => Promise<void>;
}

export async function startApp(config: Config, databaseUrl: string, log: Logger, dbOptions: DbOptions = {}): Promise<App> {
  const db = createDb(databaseUrl, dbOptions);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  pool.on("error", (error) => log.error({ err: error }, "idle database connection failed"));
  const jobs = await startJobs(databaseUrl, config.jobs, log);
  return {
    config,
    db,
    pool,
    jobs,
    log,
    close: async () => {
      await jobs.stop();
      await db.$disconnect();
      await pool.end();
    },
  };
}
