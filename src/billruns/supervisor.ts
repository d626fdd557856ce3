import os from "node:os";
import type { App } from "../app.ts";
import { transaction, type Sql } from "../db/sql.ts";
import { QUEUES } from "../jobs.ts";
import { finishCancelIn, finishRemoveIn } from "./rollback.ts";

// Advisory-lock classes (two-int form). PRESENCE: held on a worker process's LISTEN session for
// as long as the process lives, keyed by its worker_processes id. SWEEP: one sweeper at a time.
export const PRESENCE_LOCK_CLASS = 0x42_50;
const SWEEP_LOCK_CLASS = 0x42_53;

/** pg-boss's schema (its default), read to find the active jobs of our queues. */
const BOSS_SCHEMA = "pgboss";
const RUN_QUEUES = [QUEUES.start, QUEUES.chunk, QUEUES.post, QUEUES.dead];

/**
 * A job whose holder died this many times is not sent again but dead-lettered (its run goes to
 * ERROR): a chunk that kills every worker that takes it must not take the fleet down forever.
 */
const MAX_HOLDER_LOSSES = 5;

export interface HeldJob {
  id: string;
  queue: string;
  data: Record<string, unknown>;
}

export interface Supervisor {
  /** This process's worker_processes id; null when it takes no jobs. */
  processId: number | null;
  /** Runs one sweep now (tests, and a worker that wants its own leftovers picked up at once). */
  sweep: () => Promise<void>;
  /** Stops sweeping and beating, and forgets this process (its held jobs, if any, then count as released). */
  stop: () => Promise<void>;
}

/** The SQL condition "process row p is alive": it beats, and its session holds its presence lock. */
const ALIVE = `(p.heartbeat_at >= now() - make_interval(secs => $1::float8)
   AND EXISTS (SELECT 1 FROM pg_locks l
                WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND l.classid = ${PRESENCE_LOCK_CLASS}::int::oid AND l.objid = p.id::oid))`;

/**
 * Every process runs one: every `BILLRUN_SWEEP_SECONDS` it
 * - (a worker) says it lives: a heartbeat row, and an advisory lock on its LISTEN session that
 *   PostgreSQL frees the moment the process dies;
 * - finds active bill-run jobs whose holder is gone (lock free, heartbeat older than
 *   `BILLRUN_PROCESS_TIMEOUT_SECONDS`, or no holder recorded half that long after it started) and
 *   sends them again at once (every step is idempotent), rather than after pg-boss's expiry;
 * - finishes cancels and deletes whose process died between their two transactions (the run's
 *   row is unlocked: nobody is on it), and re-sends the job of a run that has none left;
 * - logs a run without progress for `BILLRUN_STALL_WARN_SECONDS` as a warning, with its id.
 * Only one process sweeps at a time (a transaction-level advisory lock), so a pooler in
 * transaction mode is fine for all but the LISTEN session.
 */
export async function startSupervisor(app: App, options: { worker: boolean; kind?: string }): Promise<Supervisor> {
  const { sweepIntervalMs } = app.config.recovery;
  let processId: number | null = null;
  const kind = options.kind ?? "worker";
  if (options.worker) {
    // The id first, then the lock, then the row: no moment where the row exists unlocked.
    const next = await app.pool.query<{ id: number }>("SELECT nextval(pg_get_serial_sequence('worker_processes', 'id'))::int AS id");
    const id = next.rows[0]!.id;
    await app.events.addSessionSetup((client) => client.query("SELECT pg_advisory_lock($1, $2)", [PRESENCE_LOCK_CLASS, id]));
    processId = id;
    await beat(app, id, kind);
    app.log.info({ processId: id }, "worker process registered");
  }
  const stalls = new Map<string, string>();
  let running: Promise<void> | null = null;
  let stopped = false;
  const tick = async () => {
    if (processId !== null) await beat(app, processId, kind);
    await sweep(app, stalls);
  };
  const runOnce = (): Promise<void> => {
    if (!running) {
      running = tick()
        .catch((error) => {
          if (!stopped) app.log.warn({ err: error }, "recovery sweep failed; trying again at the next one");
        })
        .finally(() => {
          running = null;
        });
    }
    return running;
  };
  const timer = setInterval(() => void runOnce(), sweepIntervalMs);
  timer.unref();
  return {
    processId,
    sweep: runOnce,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
      if (processId !== null) await app.pool.query("DELETE FROM worker_processes WHERE id = $1", [processId]);
    },
  };
}

async function beat(app: App, id: number, kind: string): Promise<void> {
  // An upsert: a process presumed dead during a long pause (and swept) comes back.
  await app.pool.query(
    `INSERT INTO worker_processes (id, host, pid, kind) VALUES ($1, $2, $3, $4)
     ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()`,
    [id, os.hostname(), process.pid, kind],
  );
}

/** Records that `processId` works on `job` (until forgetJob). */
export async function holdJob(app: App, processId: number, job: HeldJob): Promise<void> {
  await app.pool.query(
    `INSERT INTO job_holders (job_id, queue, process_id, bill_run_id) VALUES ($1, $2, $3, $4)
     ON CONFLICT (job_id) DO UPDATE SET process_id = EXCLUDED.process_id, started_at = now()`,
    [job.id, job.queue, processId, typeof job.data.billRunId === "string" ? job.data.billRunId : null],
  );
}

export async function forgetJob(app: App, jobId: string): Promise<void> {
  await app.pool.query("DELETE FROM job_holders WHERE job_id = $1", [jobId]);
}

/**
 * Sends each still-active job again as a new job and cancels the old one, in one transaction
 * (so exactly one copy is live). `lost`: the holder died (counted; past MAX_HOLDER_LOSSES the
 * job is dead-lettered), rather than handing it back on a graceful stop. Returns how many moved.
 */
export async function releaseJobs(app: App, jobs: HeldJob[], lost: boolean, sql?: Sql): Promise<number> {
  if (jobs.length === 0) return 0;
  const run = async (tx: Sql) => {
    let moved = 0;
    const db = { executeSql: (text: string, values: unknown[]) => tx.query(text, values) };
    for (const job of jobs) {
      const active = await tx.query(`SELECT 1 FROM ${BOSS_SCHEMA}.job WHERE name = $1 AND id = $2 AND state = 'active' FOR UPDATE`, [job.queue, job.id]);
      if (!active.rowCount) continue;
      await app.jobs.boss.cancel(job.queue, job.id, { db });
      const losses = (typeof job.data.holderLosses === "number" ? job.data.holderLosses : 0) + (lost ? 1 : 0);
      if (losses > MAX_HOLDER_LOSSES && job.queue !== QUEUES.dead) {
        app.log.error({ queue: job.queue, job: job.data }, "a bill-run job lost its worker too many times; failing its run");
        await app.jobs.send(QUEUES.dead, { ...job.data, holderLosses: losses }, { sql: tx });
      } else {
        await app.jobs.send(job.queue, { ...job.data, holderLosses: losses }, { sql: tx });
      }
      await tx.query("DELETE FROM job_holders WHERE job_id = $1", [job.id]);
      moved += 1;
    }
    return moved;
  };
  return sql ? run(sql) : transaction(app.pool, run);
}

async function sweep(app: App, stalls: Map<string, string>): Promise<void> {
  const { processTimeoutMs, stallWarnMs } = app.config.recovery;
  const timeout = processTimeoutMs / 1000;
  // A live process records a job it took, or takes the row of a cancel or delete it started,
  // within milliseconds: after this long without, its process died in between.
  const quiet = timeout / 2;
  const leftovers = await transaction(app.pool, async (sql) => {
    const turn = await sql.query<{ ok: boolean }>("SELECT pg_try_advisory_xact_lock($1, 0) AS ok", [SWEEP_LOCK_CLASS]);
    if (!turn.rows[0]!.ok) return null;

    const orphaned = await sql.query<{ id: string; name: string; data: Record<string, unknown>; process_id: number | null }>(
      `SELECT j.id, j.name, j.data, h.process_id
         FROM ${BOSS_SCHEMA}.job j
         LEFT JOIN job_holders h ON h.job_id = j.id AND h.queue = j.name
         LEFT JOIN worker_processes p ON p.id = h.process_id
        WHERE j.name = ANY($2::text[]) AND j.state = 'active'
          AND CASE WHEN h.job_id IS NULL THEN j.started_on < now() - make_interval(secs => $3::float8)
                   ELSE p.id IS NULL OR NOT ${ALIVE} END`,
      [timeout, RUN_QUEUES, quiet],
    );
    if (orphaned.rows.length > 0) {
      const moved = await releaseJobs(
        app,
        orphaned.rows.map((r) => ({ id: r.id, queue: r.name, data: r.data ?? {} })),
        true,
        sql,
      );
      for (const r of orphaned.rows) {
        app.log.info(
          { queue: r.name, billRunId: r.data?.billRunId, chunk: r.data?.chunk, holder: r.process_id },
          "the worker holding a bill-run job is gone; job sent again",
        );
      }
      if (moved > 0) app.log.info({ jobs: moved }, "jobs of gone workers sent again");
    }
    await sql.query(`DELETE FROM worker_processes p WHERE NOT ${ALIVE}`, [timeout]);
    await sql.query("DELETE FROM job_holders h WHERE NOT EXISTS (SELECT 1 FROM worker_processes p WHERE p.id = h.process_id)");
    // Rows a live process could not remove (its database went away for a moment) once their job is over.
    await sql.query(
      `DELETE FROM job_holders h WHERE h.started_at < now() - make_interval(secs => $1::float8)
          AND NOT EXISTS (SELECT 1 FROM ${BOSS_SCHEMA}.job j WHERE j.name = h.queue AND j.id = h.job_id AND j.state = 'active')`,
      [timeout],
    );

    // A run that should be moving but has no job at all (none queued, active or retrying).
    const jobless = await sql.query<{ id: string; status: string }>(
      `SELECT r.id, r.status FROM bill_runs r
        WHERE r.status IN ('PENDING', 'PROCESSING', 'POST_IN_PROGRESS') AND r.updated_at < now() - make_interval(secs => $1::float8)
          AND NOT EXISTS (SELECT 1 FROM ${BOSS_SCHEMA}.job j
                           WHERE j.name = ANY($2::text[]) AND j.state < 'completed' AND j.data->>'billRunId' = r.id::text)`,
      [timeout, RUN_QUEUES],
    );
    for (const run of jobless.rows) {
      const queue = run.status === "POST_IN_PROGRESS" ? QUEUES.post : QUEUES.start;
      await app.jobs.send(queue, { billRunId: run.id }, { sql });
      app.log.info({ billRunId: run.id, status: run.status }, "bill run had no job left; sent it again");
    }

    const halfDone = await sql.query<{ id: string; status: string }>(
      `SELECT id, status FROM bill_runs
        WHERE status IN ('CANCEL_IN_PROGRESS', 'REMOVE_IN_PROGRESS') AND updated_at < now() - make_interval(secs => $1::float8)`,
      [quiet],
    );

    const stalled = await sql.query<{ id: string; bill_run_number: string; status: string; updated_at: string; idle: number }>(
      `SELECT id, bill_run_number, status, updated_at::text AS updated_at, extract(epoch FROM now() - updated_at)::int AS idle
         FROM bill_runs
        WHERE status IN ('PENDING', 'PROCESSING', 'POST_IN_PROGRESS', 'CANCEL_IN_PROGRESS', 'REMOVE_IN_PROGRESS')
          AND updated_at < now() - make_interval(secs => $1::float8)`,
      [stallWarnMs / 1000],
    );
    return { halfDone: halfDone.rows, stalled: stalled.rows };
  });
  if (!leftovers) return;

  for (const run of leftovers.halfDone) {
    await transaction(app.pool, async (sql) => {
      // Locked by the process doing it: that one lives, leave it be.
      const mine = await sql.query('SELECT 1 FROM bill_runs WHERE id = $1 AND status = $2::"BillRunStatus" FOR UPDATE SKIP LOCKED', [run.id, run.status]);
      if (!mine.rowCount) return;
      if (run.status === "CANCEL_IN_PROGRESS") {
        const actor = await sql.query<{ actor_id: string | null }>(
          "SELECT actor_id FROM bill_run_events WHERE bill_run_id = $1 AND to_status = 'CANCEL_IN_PROGRESS' ORDER BY id DESC LIMIT 1",
          [run.id],
        );
        await finishCancelIn(sql, run.id, actor.rows[0]?.actor_id ?? null);
      } else {
        await finishRemoveIn(sql, run.id);
      }
      app.log.info({ billRunId: run.id, status: run.status }, "finished a cancel or delete its process left half done");
    });
  }

  const seen = new Set<string>();
  for (const run of leftovers.stalled) {
    seen.add(run.id);
    if (stalls.get(run.id) === run.updated_at) continue;
    stalls.set(run.id, run.updated_at);
    app.log.warn({ billRunId: run.id, billRunNumber: run.bill_run_number, status: run.status, idleSeconds: run.idle }, "bill run has made no progress");
  }
  for (const id of stalls.keys()) if (!seen.has(id)) stalls.delete(id);
}
