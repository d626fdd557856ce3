import type { App } from "../app.ts";
import { billAccounts, prepareRun } from "../billing/engine.ts";
import { transaction, type Sql } from "../db/sql.ts";
import { announceProgress } from "../events/notices.ts";
import { QUEUES } from "../jobs.ts";
import { arrayLiteral } from "./arrays.ts";
import { loadBillingInputs } from "./load.ts";
import { addCounts, applyResults, recordAlerts, type AccountFailureRecord, type RunChunk } from "./persist.ts";
import { tryTransition } from "./transitions.ts";
import { postRun } from "./posting.ts";
import { readRun, readRunDuration, type RunRow } from "./runs.ts";
import { recoverRuns } from "./recovery.ts";
import { forgetJob, holdJob, releaseJobs, type HeldJob } from "./supervisor.ts";
import { withLogFields } from "../log.ts";
import { metrics, recordChunkCommitted } from "../observability/metrics.ts";
import { inJobSpan, setJobAttributes } from "../observability/tracing.ts";

/**
 * "This account is being billed", per account, held for a transaction: the key of the advisory
 * lock for the account whose uuid is the SQL expression `accountId`, a 64-bit hash of all its
 * 128 bits (PostgreSQL's uuid_hash_extended). Account ids are time-ordered (UUIDv7): their first
 * 64 bits are the millisecond they were created and 12 random bits, which accounts created in the
 * same millisecond (a bulk import creates ten) share one time in 4,096. A key made of them failed
 * one of two such accounts as CONCURRENT_BILL_RUN for nothing when two chunks billed them at once.
 */
export const accountLockKey = (accountId: string) => `uuid_hash_extended(${accountId}, 0)`;

/**
 * PENDING → PROCESSING: fixes the set of targeted accounts, numbers their chunks and enqueues
 * one job per chunk, all in one transaction. Run again (after a crash, or as a second start job:
 * pg-boss keeps both), it finds the run PROCESSING with its accounts fixed, and enqueues the
 * chunks again (a chunk whose accounts are billed finds nothing to do).
 */
export async function startRun(app: App, billRunId: string): Promise<void> {
  // Committed on its own, so that a snapshot that keeps failing ends the run in ERROR.
  await transaction(app.pool, (sql) => tryTransition(sql, billRunId, "start"));
  await transaction(app.pool, async (sql) => {
    // Two starts of one run take turns from here: the second sees the first one's accounts
    // (without the lock it would see none, insert none, and count the run as having none).
    const run = await readRun(sql, billRunId, true);
    if (!run || run.status !== "PROCESSING") return;
    const snapshotTaken = (await sql.query("SELECT 1 FROM bill_run_accounts WHERE bill_run_id = $1 LIMIT 1", [billRunId])).rowCount;
    let chunks: ChunkJob[];
    if (!snapshotTaken) {
      const inserted = await sql.query(
        `INSERT INTO bill_run_accounts (bill_run_id, account_id, position, chunk)
         SELECT $1, id, position, (position - 1) / $2
           FROM (SELECT a.id, row_number() OVER (ORDER BY length(a.account_number), a.account_number)::int AS position
                   FROM accounts a
                  WHERE a.status = 'ACTIVE' AND CASE
                        WHEN cardinality($5::uuid[]) > 0 THEN a.id = ANY($5::uuid[])
                        WHEN cardinality($6::uuid[]) > 0 THEN a.id IN (SELECT account_id FROM subscriptions WHERE id = ANY($6::uuid[]))
                        ELSE (cardinality($3::int[]) = 0 OR a.batch = ANY($3::int[])) AND ($4::int IS NULL OR a.bill_cycle_day = $4::int)
                      END) targeted`,
        [billRunId, app.config.chunkSize, run.batches, run.bill_cycle_day, run.account_ids, run.subscription_ids],
      );
      const total = inserted.rowCount ?? 0;
      await sql.query("UPDATE bill_runs SET accounts_total = $2 WHERE id = $1", [billRunId, total]);
      // As the statement above cut them: chunk k holds positions k × size + 1 to (k + 1) × size.
      const size = app.config.chunkSize;
      chunks = Array.from({ length: Math.ceil(total / size) }, (_, chunk) => ({
        billRunId,
        chunk,
        first: chunk * size + 1,
        last: Math.min((chunk + 1) * size, total),
      }));
    } else {
      // Taken by an earlier start (with whatever chunk size it had): the chunks with work left.
      const pending = await sql.query<{ chunk: number; first: number; last: number }>(
        `SELECT chunk, min(position) AS first, max(position) AS last FROM bill_run_accounts
          WHERE bill_run_id = $1 AND status = 'PENDING' GROUP BY chunk ORDER BY chunk`,
        [billRunId],
      );
      chunks = pending.rows.map((r) => ({ billRunId, ...r }));
    }
    if (chunks.length === 0) {
      await completeIfDone(app, sql, billRunId);
      return;
    }
    await app.jobs.sendMany(
      QUEUES.chunk,
      chunks.map((data) => ({ data, singletonKey: `${billRunId}:${data.chunk}` })),
      { sql },
    );
  });
}

/**
 * A chunk job's data: the chunk, and the range of positions its accounts hold in the run, by
 * which they are found (`first` and `last`, both included). Jobs queued before the range was part
 * of the data have only the chunk.
 */
export interface ChunkJob {
  billRunId: string;
  chunk: number;
  first?: number;
  last?: number;
}

/**
 * Bills the still-pending accounts of one chunk; safe to run twice, or by two workers at once.
 * `positions` is the chunk's range of positions (see ChunkJob): without it, the chunk's rows are
 * looked for among all of the run's.
 */
export async function processChunk(app: App, billRunId: string, chunk: number, positions?: { first: number; last: number }): Promise<void> {
  const run = await readRun(app.pool, billRunId);
  if (!run || run.status !== "PROCESSING") return;
  const pending = await app.pool.query<{ account_id: string; position: number }>(
    positions
      ? `SELECT account_id, position FROM bill_run_accounts
          WHERE bill_run_id = $1 AND position BETWEEN $3 AND $4 AND chunk = $2 AND status = 'PENDING'`
      : "SELECT account_id, position FROM bill_run_accounts WHERE bill_run_id = $1 AND chunk = $2 AND status = 'PENDING'",
    positions ? [billRunId, chunk, positions.first, positions.last] : [billRunId, chunk],
  );
  const accountIds = pending.rows.map((r) => r.account_id);
  setJobAttributes({ "billrun.accounts": accountIds.length });
  if (accountIds.length === 0) return;
  // Every statement below names the range of its accounts' positions too: the planner, which
  // knows nothing yet of a run's freshly written rows, would otherwise read them all for each chunk.
  let first = pending.rows[0]!.position;
  let last = first;
  for (const { position } of pending.rows) {
    if (position < first) first = position;
    if (position > last) last = position;
  }
  const work: RunChunk = { billRunId, chunk, first, last };
  try {
    await billAccountsOfRun(app, run, work, accountIds);
  } catch (error) {
    if (isInfrastructureError(error)) throw error;
    // Something in this chunk is wrong: bill its accounts one by one so only the culprit fails.
    app.log.warn({ err: error, billRunId, chunk }, "chunk failed as a whole; billing its accounts one at a time");
    for (const accountId of accountIds) {
      try {
        await billAccountsOfRun(app, run, work, [accountId]);
      } catch (accountError) {
        if (isInfrastructureError(accountError)) throw accountError;
        app.log.error({ err: accountError, billRunId, accountId }, "account could not be billed");
        await recordInternalError(app, run, work, accountId, isNumericOverflow(accountError));
      }
    }
  }
}

async function billAccountsOfRun(app: App, run: RunRow, work: RunChunk, accountIds: string[]): Promise<void> {
  const committed = await transaction(app.pool, async (sql) => {
    // Rows of this run that another worker holds are its business (a presumed-dead job retried).
    const claimed = await sql.query<{ account_id: string; locked: boolean }>(
      `SELECT w.account_id, pg_try_advisory_xact_lock(${accountLockKey("w.account_id")}) AS locked
         FROM bill_run_accounts w
        WHERE w.bill_run_id = $1 AND w.position BETWEEN $4 AND $5 AND w.chunk = $3 AND w.account_id = ANY($2::uuid[]) AND w.status = 'PENDING'
        FOR UPDATE SKIP LOCKED`,
      [run.id, arrayLiteral(accountIds), work.chunk, work.first, work.last],
    );
    if (claimed.rows.length === 0) return null;
    const locked = claimed.rows.filter((r) => r.locked).map((r) => r.account_id);
    const busy: AccountFailureRecord[] = claimed.rows
      .filter((r) => !r.locked)
      .map((r) => ({
        accountId: r.account_id,
        code: "CONCURRENT_BILL_RUN",
        message: "another bill run is billing this account; retry when it has finished",
        subscriptions: [],
      }));
    // The inputs and results are not kept in variables here: once applyResults has drawn its
    // statements' data from them, nothing holds them while the chunk waits on its statements.
    const counts = await applyResults(
      sql,
      work,
      billAccounts(
        await loadBillingInputs(sql, locked, run.target_date),
        prepareRun({
          targetDate: run.target_date,
          invoiceDate: run.invoice_date,
          chargeTypesToExclude: run.charge_types_to_exclude,
          subscriptionIds: run.subscription_ids.length > 0 ? run.subscription_ids : undefined,
        }),
      ),
      busy,
    );
    const progress = await addCounts(sql, run.id, counts);
    await recordAlerts(sql, run.id, counts.alerts);
    await announceProgress(sql, run.id, progress.processed, progress.total);
    const completed = progress.processed >= progress.total && (await completeIfDone(app, sql, run.id));
    return { ...counts, completed };
  });
  if (committed) recordCommitted(app, run.id, committed);
}

/** Metrics of a committed chunk, and the run's duration when it completed the run. */
function recordCommitted(
  app: App,
  billRunId: string,
  committed: { accounts: number; invoices: number; creditMemos: number; failureCodes: string[]; completed: boolean },
): void {
  recordChunkCommitted(committed);
  if (!committed.completed) return;
  readRunDuration(app.pool, billRunId)
    .then((seconds) => {
      if (seconds !== null) metrics.runDuration.observe({ status: "COMPLETED" }, seconds);
    })
    .catch((error: unknown) => app.log.warn({ err: error, billRunId }, "the run's duration could not be read for its metric"));
}

/** PostgreSQL's numeric_value_out_of_range: an amount the billing core let through did not fit its column. */
function isNumericOverflow(error: unknown): boolean {
  return (error as { code?: unknown })?.code === "22003";
}

async function recordInternalError(app: App, run: RunRow, work: RunChunk, accountId: string, overflow = false): Promise<void> {
  const committed = await transaction(app.pool, async (sql) => {
    // The billing core refuses amounts that cannot be stored; this is the backstop should one slip by.
    const failure: AccountFailureRecord = overflow
      ? { accountId, code: "AMOUNT_OUT_OF_RANGE", message: "an amount of this account's documents is too large to be stored", subscriptions: [] }
      : {
          accountId,
          code: "INTERNAL_ERROR",
          message: "the account could not be billed because of an internal error; it has been logged",
          subscriptions: [],
        };
    const counts = await applyResults(sql, work, [], [failure]);
    if (counts.failed === 0) return null;
    const progress = await addCounts(sql, run.id, counts);
    await recordAlerts(sql, run.id, counts.alerts);
    await announceProgress(sql, run.id, progress.processed, progress.total);
    const completed = progress.processed >= progress.total && (await completeIfDone(app, sql, run.id));
    return { ...counts, failureCodes: [failure.code], completed };
  });
  if (committed) recordCommitted(app, run.id, committed);
}

/** PROCESSING → COMPLETED when every account is done (and on to posting with autoPost); true if this call completed it. */
async function completeIfDone(app: App, sql: Sql, billRunId: string): Promise<boolean> {
  const completed = await tryTransition(sql, billRunId, "complete");
  if (!completed) return false;
  const run = await readRun(sql, billRunId);
  if (run?.auto_post && (await tryTransition(sql, billRunId, "beginPost"))) {
    await app.jobs.send(QUEUES.post, { billRunId }, { singletonKey: billRunId, sql });
  }
  return true;
}

/** Errors of the platform, not of the data: the job is retried, and the run fails only if they last. */
export function isInfrastructureError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== "string") return false;
  return (
    code.startsWith("08") || // connection exception
    code.startsWith("53") || // insufficient resources
    code.startsWith("57") || // operator intervention (shutdown)
    code.startsWith("58") || // system error
    code === "40001" || // serialization failure
    code === "40P01" || // deadlock
    code === "ECONNREFUSED" ||
    code === "ECONNRESET" ||
    code === "ETIMEDOUT"
  );
}

/** A job that failed all its retries: the run it belongs to cannot execute. */
export async function failRun(app: App, billRunId: string, reason: string): Promise<void> {
  await transaction(app.pool, async (sql) => {
    await tryTransition(sql, billRunId, "fail", { errorMessage: reason });
    // A post that cannot finish leaves the run COMPLETED with the reason, ready to post again.
    await tryTransition(sql, billRunId, "postIncomplete", { errorMessage: reason });
  });
}

export interface Workers {
  /**
   * Stops taking jobs, waits up to `graceMs` for the jobs in hand to finish, and sends those
   * still running back to the queue at once (another worker takes them; every step is
   * idempotent). Resolves with how many were sent back.
   */
  stop: (graceMs: number) => Promise<number>;
}

/**
 * Takes bill-run jobs in this process: `concurrency` at a time per queue. With `processId` (a
 * worker_processes row, see supervisor.ts) every job in hand is recorded as held by this
 * process, so that any process can send it again the moment this one dies.
 */
export async function registerWorkers(app: App, concurrency: number, processId: number | null = null): Promise<Workers> {
  await recoverRuns(app).catch((error) => app.log.error({ err: error }, "recovering unfinished bill runs failed"));
  const boss = app.jobs.boss;
  const options = { pollingIntervalSeconds: app.config.jobs.pollingIntervalSeconds };
  const inHand = new Map<string, HeldJob>();
  // Sent back to the queue at the end of the grace period: their failure past then is expected.
  const handedBack = new Set<string>();
  let stopping = false;
  let settled: (() => void) | null = null;
  const workerIds = new Map<string, string[]>();
  // A job sent while every worker sleeps out its polling interval waits up to that interval:
  // wake the workers of a queue when its jobs are known to exist.
  const wake = (queue: string) => {
    if (stopping) return;
    for (const id of workerIds.get(queue) ?? []) boss.notifyWorker(id);
  };
  // pg-boss retries a job whose handler throws; say why in the log first. After a job, the
  // worker asks for the next at once instead of sleeping out its polling interval.
  const work = async <T extends object>(queue: string, handle: (data: T) => Promise<void>) => {
    let workerId = "";
    workerId = await boss.work<T>(queue, options, async ([job]) => {
      const held: HeldJob = { id: job!.id, queue, data: job!.data as Record<string, unknown> };
      if (stopping) {
        // Fetched while this process was stopping: back to the queue, untouched.
        await releaseJobs(app, [held], false);
        return;
      }
      inHand.set(held.id, held);
      const started = performance.now();
      try {
        if (processId !== null) await holdJob(app, processId, held);
        // Every log line of the job carries its run; its span continues the trace of whoever queued it.
        await withLogFields({ billRunId: held.data.billRunId, queue }, () => inJobSpan(queue, held.data, () => handle(job!.data)));
        metrics.jobs.inc({ queue, outcome: "completed" });
      } catch (error) {
        metrics.jobs.inc({ queue, outcome: "failed" });
        if (handedBack.has(held.id)) {
          app.log.info({ billRunId: held.data.billRunId, queue, job: job!.data }, "a bill-run job sent back to the queue stopped here");
          return;
        }
        app.log.error({ err: error, billRunId: held.data.billRunId, queue, job: job!.data }, "bill-run job failed; it will be retried");
        throw error;
      } finally {
        inHand.delete(held.id);
        metrics.jobDuration.observe({ queue }, (performance.now() - started) / 1000);
        if (processId !== null) await forgetJob(app, held.id).catch(() => {});
        if (inHand.size === 0) settled?.();
      }
      if (!stopping) boss.notifyWorker(workerId);
    });
    workerIds.set(queue, [...(workerIds.get(queue) ?? []), workerId]);
  };
  for (let i = 0; i < concurrency; i++) {
    await work<{ billRunId: string }>(QUEUES.start, async (d) => {
      await startRun(app, d.billRunId);
      // Its chunks are committed: this process's chunk workers start on them now (others poll).
      wake(QUEUES.chunk);
    });
    await work<ChunkJob>(QUEUES.chunk, (d) =>
      processChunk(app, d.billRunId, d.chunk, typeof d.first === "number" && typeof d.last === "number" ? { first: d.first, last: d.last } : undefined),
    );
    await work<{ billRunId: string }>(QUEUES.post, (d) => postRun(app, d.billRunId));
  }
  await work<{ billRunId: string }>(QUEUES.dead, async (d) => {
    metrics.deadLetters.inc();
    app.log.error({ billRunId: d.billRunId }, "a bill-run job failed all its retries");
    await failRun(app, d.billRunId, "the bill run could not be executed (storage or system failure after retries); see the logs");
  });
  // A run created (PENDING), resumed or sent to posting has its job committed with the event.
  const unsubscribe = app.events.subscribe((notice) => {
    if (notice.kind !== "STATUS") return;
    if (notice.to === "PENDING") wake(QUEUES.start);
    else if (notice.to === "POST_IN_PROGRESS") wake(QUEUES.post);
  });
  return {
    stop: async (graceMs) => {
      stopping = true;
      unsubscribe();
      for (const queue of [QUEUES.start, QUEUES.chunk, QUEUES.post, QUEUES.dead]) await boss.offWork(queue);
      if (inHand.size > 0) {
        app.log.info({ jobs: inHand.size, graceSeconds: graceMs / 1000 }, "waiting for the bill-run jobs in hand");
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([new Promise<void>((resolve) => (settled = resolve)), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
        clearTimeout(timer);
      }
      const left = [...inHand.values()];
      if (left.length === 0) return 0;
      for (const job of left) handedBack.add(job.id);
      const released = await releaseJobs(app, left, false);
      app.log.warn({ jobs: released }, "bill-run jobs still running at the end of the grace period were sent back to the queue");
      return released;
    },
  };
}
