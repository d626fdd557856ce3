/**
 * Reads of a bill run's own row, shared by the executor (start, chunks, completion) and the
 * services (cancel, retry): a module of its own so that neither imports the other for it.
 */
import type { Sql } from "../db/sql.ts";
import type { RunOptions } from "./options.ts";

/** A run's row as the executor and services read it: dates as YYYY-MM-DD, ids as text. */
export interface RunRow {
  id: string;
  bill_run_number: string;
  status: string;
  target_date: string;
  invoice_date: string;
  batches: number[];
  bill_cycle_day: number | null;
  account_ids: string[];
  subscription_ids: string[];
  charge_types_to_exclude: RunOptions["chargeTypesToExclude"];
  auto_post: boolean;
  schedule_id: string | null;
}

/** The run's row; `forUpdate` also locks it until the transaction ends. */
export async function readRun(sql: Pick<Sql, "query">, billRunId: string, forUpdate = false): Promise<RunRow | null> {
  const result = await sql.query<RunRow>(
    `SELECT id, bill_run_number, status, to_char(target_date, 'YYYY-MM-DD') AS target_date,
            to_char(invoice_date, 'YYYY-MM-DD') AS invoice_date, batches, bill_cycle_day,
            account_ids::text[] AS account_ids, subscription_ids::text[] AS subscription_ids,
            charge_types_to_exclude::text[] AS charge_types_to_exclude, auto_post, schedule_id
       FROM bill_runs WHERE id = $1${forUpdate ? " FOR UPDATE" : ""}`,
    [billRunId],
  );
  return result.rows[0] ?? null;
}

/** Seconds from the run's start to its completion; null for a run gone or not both started and completed. */
export async function readRunDuration(sql: Pick<Sql, "query">, billRunId: string): Promise<number | null> {
  const found = await sql.query<{ seconds: number | null }>(
    "SELECT extract(epoch FROM completed_at - started_at)::float8 AS seconds FROM bill_runs WHERE id = $1",
    [billRunId],
  );
  return found.rows[0]?.seconds ?? null;
}

/**
 * Runs in a status that some job or process should be moving on, untouched for a minute: what
 * crash recovery resumes. `status` is the run's BillRunStatus.
 */
export async function findUnfinishedRuns(sql: Pick<Sql, "query">): Promise<{ id: string; status: string }[]> {
  const stuck = await sql.query<{ id: string; status: string }>(
    `SELECT id, status FROM bill_runs
      WHERE status IN ('PENDING', 'PROCESSING', 'POST_IN_PROGRESS', 'CANCEL_IN_PROGRESS', 'REMOVE_IN_PROGRESS')
        AND updated_at < now() - interval '1 minute'`,
  );
  return stuck.rows;
}
