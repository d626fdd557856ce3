import pg from "pg";
import type { Config } from "./config.ts";
import { createDb, type Db, type DbOptions } from "./db/client.ts";
import type { Logger } from "./log.ts";

/** Everything a process shares between its HTTP server, WebSockets and workers. */
export interface App {
  config: Config;
  db: Db;
  /** Raw pg pool for set-based SQL that Prisma's typed queries cannot express. */
  pool: pg.Pool;
  log: Logger;
  close: () => Promise<void>;
}

export function createApp(config: Config, databaseUrl: string, log: Logger, dbOptions: DbOptions = {}): App {
  const db = createDb(databaseUrl, dbOptions);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  pool.on("error", (error) => log.error({ err: error }, "idle database connection failed"));
  const closers: (() => Promise<void>)[] = [];
  return {
    config,
    db,
    pool,
    log,
    close: async () => {
      for (const close of closers.reverse()) await close();
      await db.$disconnect();
      await pool.end();
    },
  };
}
