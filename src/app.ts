import pg from "pg";
import type { Config } from "./config.ts";
import { createDb, type Db, type DbOptions } from "./db/client.ts";
import { startJobs, type Jobs } from "./jobs.ts";
import { EventBus } from "./events/bus.ts";
import { EventLoader } from "./events/loader.ts";
import { AccessWatch } from "./auth/access.ts";
import type { Logger } from "./log.ts";
import { subscribeEmailToTransitions } from "./notifications/outbox.ts";
import { subscribeWebhooksToTransitions } from "./webhooks/status-events.ts";

/** Everything a process shares between its HTTP server, WebSockets and workers. */
export interface App {
  config: Config;
  db: Db;
  /** The process's one pg pool (`BILLRUN_DB_POOL_SIZE`): Prisma runs on it, and so does the set-based SQL its typed queries cannot express. */
  pool: pg.Pool;
  jobs: Jobs;
  /** Committed bill-run events of every process, for live subscriptions. */
  events: EventBus;
  eventLoader: EventLoader;
  /** Open subscriptions of this process, ended when a security change takes their access away. */
  access: AccessWatch;
  log: Logger;
  close: () => Promise<void>;
}

export async function startApp(config: Config, databaseUrl: string, log: Logger, dbOptions: DbOptions = {}): Promise<App> {
  // What a run's status change sets off, in its transaction (src/billruns/hooks.ts).
  subscribeEmailToTransitions();
  subscribeWebhooksToTransitions();
  // One pool for Prisma and our SQL: the process's share of max_connections is one number.
  const pool = new pg.Pool({ connectionString: databaseUrl, max: config.dbPoolSize, connectionTimeoutMillis: 10_000 });
  const db = createDb(pool, dbOptions);
  let closing = false;
  // pool.end() resolves once its clients are let go, not once their sockets have closed: a
  // database stopped right after (embedded PostgreSQL at exit) may still kill one. Not news then.
  pool.on("error", (error) => {
    if (!closing) log.error({ err: error }, "idle database connection failed");
  });
  const jobs = await startJobs(databaseUrl, config.jobs, log);
  // LISTEN needs a session of its own: DATABASE_LISTEN_URL lets it bypass a transaction-mode pooler.
  const events = new EventBus(config.databaseListenUrl ?? databaseUrl, log);
  const access = new AccessWatch(db, log, config.security.wsReauthMs);
  events.onSecurityChange((notice) => (notice ? access.apply(notice) : void access.check()));
  await events.start();
  const app: App = {
    config,
    db,
    pool,
    jobs,
    events,
    eventLoader: new EventLoader(db),
    access,
    log,
    close: async () => {
      access.stop();
      await events.close();
      await jobs.stop();
      await db.$disconnect();
      closing = true;
      await pool.end();
    },
  };
  return app;
}
