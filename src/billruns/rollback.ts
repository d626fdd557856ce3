/**
 * The second halves of cancel and delete: giving back what a run billed (charged-through dates,
 * draft documents) and removing the run. Called by the services right after the first half, and
 * re-run by crash recovery (executor.ts, supervisor.ts) for a run left in CANCEL_IN_PROGRESS or
 * REMOVE_IN_PROGRESS.
 */
import type { App } from "../app.ts";
import { transaction, type Sql } from "../db/sql.ts";
import { recordStatusEvent, tryTransition } from "./transitions.ts";

/** The work of a cancel, in one transaction; also what recovery re-runs for a run stuck in CANCEL_IN_PROGRESS. */
export async function finishCancel(app: App, billRunId: string, actorId: string | null): Promise<void> {
  await transaction(app.pool, (sql) => finishCancelIn(sql, billRunId, actorId));
}

/** finishCancel's work in the caller's transaction. */
export async function finishCancelIn(sql: Sql, billRunId: string, actorId: string | null): Promise<void> {
  // The run's row stays locked until commit: the sweeper (supervisor.ts) sees it taken and
  // leaves a cancel that a live process is doing alone.
  await sql.query("SELECT 1 FROM bill_runs WHERE id = $1 FOR UPDATE", [billRunId]);
  await rollBackDocuments(sql, billRunId);
  await tryTransition(sql, billRunId, "finishCancel", { actorId });
}

async function rollBackDocuments(sql: Sql, billRunId: string): Promise<void> {
  // A charge another run has moved since is left where that run put it.
  await sql.query(
    `UPDATE charges c SET charged_through_date = m.through_before
       FROM bill_run_charge_moves r, unnest(r.charge_ids, r.through_before, r.through_after) AS m(charge_id, through_before, through_after)
      WHERE r.bill_run_id = $1 AND c.id = m.charge_id AND c.charged_through_date IS NOT DISTINCT FROM m.through_after`,
    [billRunId],
  );
  await sql.query("DELETE FROM bill_run_charge_moves WHERE bill_run_id = $1", [billRunId]);
  await sql.query(
    `UPDATE document_items SET voided = true
      WHERE document_id IN (SELECT id FROM documents WHERE bill_run_id = $1 AND status = 'DRAFT') AND NOT voided`,
    [billRunId],
  );
  await sql.query(`UPDATE documents SET status = 'CANCELED', canceled_at = now() WHERE bill_run_id = $1 AND status = 'DRAFT'`, [billRunId]);
}

/**
 * Deletes a run in REMOVE_IN_PROGRESS (also what recovery re-runs): its documents and work go,
 * its events stay. The last of them, REMOVE_IN_PROGRESS → REMOVED, is the run's tombstone: written
 * in the same transaction, before the row goes (the event takes the run's number from it), so
 * subscribers and clients resuming with `after` learn that the run is gone.
 */
export async function finishRemove(app: App, billRunId: string, actorId: string | null = null): Promise<void> {
  await transaction(app.pool, (sql) => finishRemoveIn(sql, billRunId, actorId));
}

/** finishRemove's work in the caller's transaction; the run's row is locked first, as finishCancelIn does. */
export async function finishRemoveIn(sql: Sql, billRunId: string, actorId: string | null = null): Promise<void> {
  const locked = await sql.query<{ status: string }>("SELECT status FROM bill_runs WHERE id = $1 FOR UPDATE", [billRunId]);
  if (locked.rows[0]?.status !== "REMOVE_IN_PROGRESS") return;
  // An ERROR run may have billed some accounts before it failed: free those periods first.
  await rollBackDocuments(sql, billRunId);
  await recordStatusEvent(sql, billRunId, "REMOVE_IN_PROGRESS", "REMOVED", actorId);
  await sql.query("DELETE FROM bill_runs WHERE id = $1", [billRunId]);
}
