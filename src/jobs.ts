import PgBoss from "pg-boss";
import type { Sql } from "./db/sql.ts";
import type { Logger } from "./log.ts";
import { traceCarrier } from "./observability/tracing.ts";

/** The pg-boss queues bill runs use. Every job is idempotent: a retry after a crash is safe. */
export const QUEUES = {
  /** Snapshot the targeted accounts, split them into chunks, enqueue the chunks. */
  start: "billrun-start",
  /** Bill one chunk of accounts. */
  chunk: "billrun-chunk",
  /** Post the documents of a run. */
  post: "billrun-post",
  /** Jobs that failed every retry: their run goes to ERROR. */
  dead: "billrun-dead",
} as const;

/**
 * The schedule tick (src/schedules/scheduler.ts): one job per tick interval for all processes
 * together (a throttle key), taken by any process that runs the scheduler.
 */
export const SCHEDULE_QUEUES = {
  tick: "schedule-tick",
  /** Ticks that failed every retry: logged, and the next interval's tick runs anyway. */
  dead: "schedule-tick-dead",
} as const;

export interface JobOptions {
  /** How long a job may stay active before it is presumed dead (its worker crashed) and retried. */
  expireInSeconds: number;
  /** How often expired jobs are looked for. */
  maintenanceIntervalSeconds: number;
  pollingIntervalSeconds: number;
  /** Connections of pg-boss's own pool. */
  poolSize: number;
}

export interface Jobs {
  boss: PgBoss;
  /**
   * Enqueues a job; null when a job with the same singletonKey already holds its place (and, with
   * `singletonSeconds`, the same time slot of that many seconds). With `sql`, in that transaction.
   */
  send: (queue: string, data: object, options?: { singletonKey?: string; singletonSeconds?: number; sql?: Sql }) => Promise<string | null>;
  /**
   * Enqueues jobs of one queue in one statement, with `sql` in that transaction; a job whose
   * singletonKey already holds its place is left out, as with `send`.
   */
  sendMany: (queue: string, jobs: readonly { data: object; singletonKey?: string }[], options?: { sql?: Sql }) => Promise<void>;
  /** Stops pg-boss; jobs still active after `timeoutMs` are failed (and so retried). */
  stop: (timeoutMs?: number) => Promise<void>;
}

/**
 * pg-boss's `db` option for enqueuing on `sql`, the caller's transaction: the job exists if and
 * only if the change commits. Undefined without `sql` (pg-boss's own connection).
 */
function inTransaction(sql: Sql | undefined): { executeSql: (text: string, values: unknown[]) => Promise<{ rows: unknown[] }> } | undefined {
  return sql ? { executeSql: (text, values) => sql.query(text, values) } : undefined;
}

export async function startJobs(databaseUrl: string, options: JobOptions, log: Logger): Promise<Jobs> {
  const boss = new PgBoss({
    connectionString: databaseUrl,
    max: options.poolSize,
    maintenanceIntervalSeconds: options.maintenanceIntervalSeconds,
  });
  // Like the app's pool: pg-boss's pool.end() resolves before its sockets close, so a database
  // stopped right after may still kill one of them. Not news once the queue has stopped.
  let stopped = false;
  boss.on("error", (error) => {
    if (!stopped) log.error({ err: error }, "job queue error");
  });
  await boss.start();
  const retries = { retryLimit: 3, retryDelay: 1, retryBackoff: true, expireInSeconds: options.expireInSeconds };
  // Queues keep the settings they were created with; update them so that the configuration of
  // the most recently started process applies.
  const dead = { name: QUEUES.dead, retryLimit: 5, expireInSeconds: options.expireInSeconds };
  await retryDeadlocks(async () => {
    await boss.createQueue(QUEUES.dead, dead);
    await boss.updateQueue(QUEUES.dead, dead);
    for (const name of [QUEUES.start, QUEUES.chunk, QUEUES.post]) {
      await boss.createQueue(name, { name, ...retries, deadLetter: QUEUES.dead });
      await boss.updateQueue(name, { name, ...retries, deadLetter: QUEUES.dead });
    }
    // A tick that fails is tried twice more soon (backoff from 1 s); the next interval's tick is a new job.
    const tickDead = { name: SCHEDULE_QUEUES.dead, retryLimit: 3, expireInSeconds: options.expireInSeconds };
    const tick = {
      name: SCHEDULE_QUEUES.tick,
      retryLimit: 2,
      retryDelay: 1,
      retryBackoff: true,
      expireInSeconds: options.expireInSeconds,
      deadLetter: SCHEDULE_QUEUES.dead,
    };
    for (const queue of [tickDead, tick]) {
      await boss.createQueue(queue.name, queue);
      await boss.updateQueue(queue.name, queue);
    }
  });
  return {
    boss,
    send: (queue, data, sendOptions = {}) =>
      // The sender's trace goes with the job (data.trace) and is continued by the worker that takes it.
      boss.send(queue, withTrace(data), {
        singletonKey: sendOptions.singletonKey,
        singletonSeconds: sendOptions.singletonSeconds,
        db: inTransaction(sendOptions.sql),
      }),
    sendMany: async (queue, jobs, sendOptions = {}) => {
      if (jobs.length === 0) return;
      // One INSERT … SELECT FROM json_to_recordset for all of them: a run's hundreds of chunk
      // jobs were as many round trips on the way to its first chunk.
      await boss.insert(
        jobs.map((job) => ({ name: queue, data: withTrace(job.data), singletonKey: job.singletonKey })),
        { db: inTransaction(sendOptions.sql) },
      );
    },
    stop: async (timeoutMs = 10_000) => {
      await boss.stop({ graceful: true, wait: true, timeout: timeoutMs });
      stopped = true;
    },
  };
}

function withTrace(data: object): object {
  const trace = traceCarrier();
  return Object.keys(trace).length > 0 ? { ...data, trace } : data;
}

/**
 * Processes started together on a new database create the queues at the same moment, and
 * pg-boss's create_queue (a row, a partition) can deadlock with itself: one of them loses and
 * tries again, after a random pause, until the queues exist.
 */
async function retryDeadlocks(work: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if ((error as { code?: string }).code !== "40P01" || attempt >= 10) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 200 * attempt));
    }
  }
}
