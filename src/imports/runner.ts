import type pg from "pg";
import type { App } from "../app.ts";
import { FileError, readCsv, readNdjson, type ReadRow, type RowError } from "./rows.ts";
import { IMPORT_LOCK, lockConnection, type ImportFormat } from "./staging.ts";
import { WRITERS, type BatchPlan, type ImportKind, type ImportMode } from "./writers.ts";

interface JobRow {
  id: string;
  kind: ImportKind;
  format: ImportFormat;
  mode: ImportMode;
  atomic: boolean;
  status: string;
  committed_line: number;
}

export interface ImportRunner {
  /** Look for work now rather than at the next poll. */
  wake: () => void;
  /** Stops after the batch in progress commits; an unfinished job stays RUNNING and is resumed later. */
  stop: () => Promise<void>;
}

const runners = new Set<ImportRunner>();

/** Wakes this process's runners (a job was just queued here). */
export function wakeImportRunners(): void {
  for (const runner of runners) runner.wake();
}

/**
 * Runs queued imports, `app.config.imports.concurrency` at once. A job is worked on by whoever
 * holds its advisory lock, taken on a connection of the runner's own: when a process dies, its
 * connections close, its locks go with them, and the next poll of any runner (this process
 * restarted, or another one) takes the job up again after its last committed batch. A job still
 * RECEIVING whose lock is free lost its uploader: it is marked FAILED.
 */
export function startImportRunner(app: App, options: { pollMs?: number } = {}): ImportRunner {
  const pollMs = options.pollMs ?? 1000;
  let stopping = false;
  let wakeUp: (() => void) | null = null;
  const sleep = () =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, pollMs);
      function done() {
        clearTimeout(timer);
        wakeUp = null;
        resolve();
      }
      wakeUp = done;
    });

  const slot = async () => {
    let client: pg.Client | null = null;
    while (!stopping) {
      try {
        client ??= await lockConnection(app);
        const job = await claim(client);
        if (job) {
          await runJob(app, client, job, () => stopping).catch(async (error: unknown) => {
            app.log.error({ err: error, importJobId: job.id }, "import failed");
            await client?.end().catch(() => {});
            client = null;
            await app.pool
              .query(
                `UPDATE import_jobs SET status = 'FAILED', error_message = 'Unexpected error (see the server log).', finished_at = now() WHERE id = $1 AND status = 'RUNNING'`,
                [job.id],
              )
              .catch(() => {});
          });
          continue;
        }
      } catch (error) {
        if (!stopping) app.log.error({ err: error }, "import runner: cannot reach the database");
        await client?.end().catch(() => {});
        client = null;
      }
      if (!stopping) await sleep();
    }
    await client?.end().catch(() => {});
  };

  const slots = Array.from({ length: app.config.imports.concurrency }, () => slot());
  const runner: ImportRunner = {
    wake: () => wakeUp?.(),
    stop: async () => {
      stopping = true;
      runners.delete(runner);
      wakeUp?.();
      await Promise.all(slots);
    },
  };
  runners.add(runner);
  return runner;
}

/** The oldest unfinished job nobody works on, locked on `client`; null when there is none. */
async function claim(client: pg.Client): Promise<JobRow | null> {
  const candidates = await client.query<{ id: string }>(
    `SELECT id FROM import_jobs WHERE status IN ('RECEIVING', 'QUEUED', 'RUNNING') ORDER BY created_at, id LIMIT 20`,
  );
  for (const { id } of candidates.rows) {
    const locked = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked", [IMPORT_LOCK, id]);
    if (!locked.rows[0]!.locked) continue;
    const found = await client.query<JobRow>(
      `SELECT id, kind::text AS kind, format::text AS format, mode::text AS mode, atomic, status::text AS status, committed_line FROM import_jobs WHERE id = $1`,
      [id],
    );
    const job = found.rows[0];
    if (job?.status === "QUEUED" || job?.status === "RUNNING") return job;
    if (job?.status === "RECEIVING") {
      await client.query("DELETE FROM import_job_chunks WHERE job_id = $1", [id]);
      await client.query(
        `UPDATE import_jobs SET status = 'FAILED', error_message = 'the upload was interrupted; send the file again', finished_at = now() WHERE id = $1 AND status = 'RECEIVING'`,
        [id],
      );
    }
    await client.query("SELECT pg_advisory_unlock($1, hashtext($2))", [IMPORT_LOCK, id]);
  }
  return null;
}

/** The staged file, piece by piece. */
async function* stagedChunks(pool: pg.Pool, jobId: string): AsyncGenerator<Buffer> {
  for (let seq = 0; ; seq++) {
    const piece = await pool.query<{ data: Buffer }>("SELECT data FROM import_job_chunks WHERE job_id = $1 AND seq = $2", [jobId, seq]);
    if (piece.rows.length === 0) return;
    yield piece.rows[0]!.data;
  }
}

async function insertErrors(sql: pg.ClientBase | pg.Pool, jobId: string, errors: RowError[]): Promise<void> {
  if (errors.length === 0) return;
  await sql.query(
    `INSERT INTO import_job_errors (job_id, line, field, code, message)
     SELECT $1, e.line, e.field, e.code, e.message FROM json_to_recordset($2::json) AS e(line int, field text, code text, message text)
     ON CONFLICT (job_id, line) DO NOTHING`,
    [jobId, JSON.stringify(errors.map((e) => ({ ...e, message: e.message.slice(0, 1000) })))],
  );
}

/**
 * Reads the staged file and writes it batch by batch. Without `atomic`, each batch commits with
 * its rejected rows and the job's counters and committed line, and a resumed job skips the lines
 * already committed. With `atomic`, the whole file is one transaction, committed only when no
 * row was rejected (rejected rows are recorded outside it, so they outlive the rollback); a
 * resumed atomic job starts over.
 */
async function runJob(app: App, client: pg.Client, job: JobRow, shouldStop: () => boolean): Promise<void> {
  const started = performance.now();
  const writer = WRITERS[job.kind];
  const batchRows = app.config.imports.batchRows;
  const resumed = job.status === "RUNNING";
  app.log.info({ importJobId: job.id, kind: job.kind, resumedAfterLine: resumed ? job.committed_line : undefined }, "import started");
  if (job.atomic) {
    await client.query(
      `UPDATE import_jobs SET status = 'RUNNING', started_at = COALESCE(started_at, now()), committed_line = 0, bytes_done = 0,
              rows_total = 0, rows_imported = 0, rows_skipped = 0, rows_rejected = 0 WHERE id = $1`,
      [job.id],
    );
    await client.query("DELETE FROM import_job_errors WHERE job_id = $1", [job.id]);
    job.committed_line = 0;
    await client.query("BEGIN");
  } else {
    await client.query(`UPDATE import_jobs SET status = 'RUNNING', started_at = COALESCE(started_at, now()) WHERE id = $1`, [job.id]);
  }
  const totals = { rows: 0, imported: 0, skipped: 0, rejected: 0 };
  let batch: ReadRow[] = [];
  // Pipelined: a batch is read and prepared (on pooled connections) while the two before it are
  // written, each on a connection of its own and committed in file order.
  const pipelined = !job.atomic && writer.pipelined(job.mode);
  const connections: pg.ClientBase[] = [client];
  const extra = pipelined ? await app.pool.connect() : null;
  if (extra) connections.push(extra);
  const onConnection: Promise<void>[] = connections.map(() => Promise.resolve());
  let turn = 0;
  let lastKeys = new Set<string>();
  // The last batch's write; it settles after every earlier one.
  let writing: Promise<void> = Promise.resolve();

  const flush = async () => {
    if (batch.length === 0) return;
    const rows = batch;
    batch = [];
    const lastLine = rows.reduce((max, r) => Math.max(max, r.line), 0);
    const bytes = rows.at(-1)!.bytes;
    if (job.atomic) {
      const outcome = await (await writer.prepare(client, rows, job.mode)).apply(client);
      await insertErrors(app.pool, job.id, outcome.errors);
      count(rows.length, outcome);
      await app.pool.query(`UPDATE import_jobs SET bytes_done = $2, rows_total = $3, rows_imported = $4, rows_skipped = $5, rows_rejected = $6 WHERE id = $1`, [
        job.id,
        bytes,
        totals.rows,
        totals.imported,
        totals.skipped,
        totals.rejected,
      ]);
      return;
    }
    const plan = pipelined ? await writer.prepare(app.pool, rows, job.mode) : (await writing, await writer.prepare(client, rows, job.mode));
    const slot = turn;
    turn = (turn + 1) % connections.length;
    await onConnection[slot];
    const previous = writing;
    // Two batches writing the same key would wait for each other's commit: those go one at a time.
    if (plan.keys.some((key) => lastKeys.has(key))) await previous;
    lastKeys = new Set(plan.keys);
    writing = write(plan, connections[slot]!, previous, rows.length, lastLine, bytes);
    onConnection[slot] = writing;
    // Its failure surfaces at the next flush, or at the end.
    writing.catch(() => {});
  };
  const write = async (plan: BatchPlan, sql: pg.ClientBase, previous: Promise<void>, rowCount: number, lastLine: number, bytes: number) => {
    await sql.query("BEGIN");
    try {
      const outcome = await plan.apply(sql);
      await insertErrors(sql, job.id, outcome.errors);
      // Commits in file order: the job's committed line only ever moves forward.
      await previous;
      await sql.query(
        `UPDATE import_jobs SET committed_line = $2, bytes_done = $3, rows_total = rows_total + $4, rows_imported = rows_imported + $5,
                rows_skipped = rows_skipped + $6, rows_rejected = rows_rejected + $7 WHERE id = $1`,
        [job.id, lastLine, bytes, rowCount, outcome.imported, outcome.skipped, outcome.errors.length],
      );
      await sql.query("COMMIT");
      count(rowCount, outcome);
    } catch (error) {
      await sql.query("ROLLBACK").catch(() => {});
      throw error;
    }
  };
  const count = (rows: number, outcome: { imported: number; skipped: number; errors: RowError[] }) => {
    totals.rows += rows;
    totals.imported += outcome.imported;
    totals.skipped += outcome.skipped;
    totals.rejected += outcome.errors.length;
  };

  const chunks = stagedChunks(app.pool, job.id);
  const reader = job.format === "CSV" ? readCsv(chunks, writer.columns) : readNdjson(chunks, writer.columns);
  let fileError: FileError | null = null;
  try {
    try {
      for await (const rows of reader) {
        for (const row of rows) {
          if (row.line <= job.committed_line) continue;
          if (batch.length >= batchRows) {
            const key = writer.groupKey;
            // A group (a subscription's rows) stays in one batch, up to twice the batch size.
            if (!key || batch.length >= 2 * batchRows || key(row) === undefined || key(row) !== key(batch.at(-1)!)) {
              await flush();
              if (shouldStop()) {
                await writing;
                if (job.atomic) await client.query("ROLLBACK");
                app.log.info({ importJobId: job.id, rows: totals.rows }, "import interrupted by shutdown; it resumes at the next start");
                return;
              }
            }
          }
          batch.push(row);
        }
      }
      await flush();
      await writing;
    } catch (error) {
      await Promise.allSettled(onConnection);
      if (!(error instanceof FileError)) {
        if (job.atomic) await client.query("ROLLBACK").catch(() => {});
        throw error;
      }
      fileError = error;
      // What was read before the unreadable part still imports (unless atomic).
      await flush();
      await writing;
    }
  } finally {
    await Promise.allSettled(onConnection);
    // Not reused: a failed write may have left it mid-transaction.
    extra?.release(true);
  }

  const atomicRefused = job.atomic && (totals.rejected > 0 || fileError !== null);
  if (job.atomic) await client.query(atomicRefused ? "ROLLBACK" : "SELECT 1");
  if (fileError) {
    await insertErrors(app.pool, job.id, [{ line: fileError.line, field: fileError.field, code: "VALIDATION", message: fileError.message }]);
  }
  const status = fileError || atomicRefused ? "FAILED" : "COMPLETED";
  const message = fileError
    ? fileError.message
    : atomicRefused
      ? `${totals.rejected} row${totals.rejected === 1 ? "" : "s"} rejected: nothing was imported (atomic import)`
      : null;
  if (!job.atomic || atomicRefused) await client.query("BEGIN");
  await client.query(
    `UPDATE import_jobs SET status = $2::"ImportStatus", error_message = $3, finished_at = now(), bytes_done = size_bytes
            ${atomicRefused ? ", rows_imported = 0, rows_skipped = 0" : ""} WHERE id = $1`,
    [job.id, status, message],
  );
  await client.query("DELETE FROM import_job_chunks WHERE job_id = $1", [job.id]);
  await client.query("COMMIT");
  await client.query("SELECT pg_advisory_unlock($1, hashtext($2))", [IMPORT_LOCK, job.id]);
  app.log.info(
    {
      importJobId: job.id,
      kind: job.kind,
      status,
      rows: totals.rows,
      imported: totals.imported,
      skipped: totals.skipped,
      rejected: totals.rejected,
      ms: Math.round(performance.now() - started),
    },
    "import finished",
  );
}
