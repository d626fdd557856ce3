import type { BillRunStatus } from "../generated/prisma/enums.ts";
import { InvalidStateError, NotFoundError } from "../errors.ts";
import type { Sql } from "../db/sql.ts";
import { ANNOUNCED_COLUMNS, announceEvents, type EventRow } from "../events/notices.ts";
import { announceTransition } from "./hooks.ts";

/** Every allowed move of a bill run, in one place. Anything else is refused with INVALID_STATE. */
export const TRANSITIONS = {
  start: { from: ["PENDING"], to: "PROCESSING" },
  pause: { from: ["PENDING"], to: "PAUSED" },
  resume: { from: ["PAUSED"], to: "PENDING" },
  cancelPending: { from: ["PENDING", "PAUSED"], to: "CANCELED" },
  complete: { from: ["PROCESSING"], to: "COMPLETED" },
  fail: { from: ["PROCESSING"], to: "ERROR" },
  beginPost: { from: ["COMPLETED"], to: "POST_IN_PROGRESS" },
  finishPost: { from: ["POST_IN_PROGRESS"], to: "POSTED" },
  postIncomplete: { from: ["POST_IN_PROGRESS"], to: "COMPLETED" },
  beginCancel: { from: ["COMPLETED"], to: "CANCEL_IN_PROGRESS" },
  finishCancel: { from: ["CANCEL_IN_PROGRESS"], to: "CANCELED" },
  beginRemove: { from: ["CANCELED", "ERROR"], to: "REMOVE_IN_PROGRESS" },
} as const satisfies Record<string, { from: readonly BillRunStatus[]; to: BillRunStatus }>;

export type TransitionName = keyof typeof TRANSITIONS;

/** Statuses from which a run's failed accounts can be retried: it has finished billing. */
export const RETRY_FROM = ["COMPLETED", "POST_IN_PROGRESS", "POSTED"] as const satisfies readonly BillRunStatus[];

/** What an operator can ask of a run (the mutations that move it), as the dashboard offers them. */
export type BillRunAction = "POST" | "CANCEL" | "DELETE" | "RETRY" | "PAUSE" | "RESUME";

/**
 * The actions the transition table allows a run in its present state, in the order a client shows
 * them. PAUSE and RESUME need a run a schedule created; RETRY needs failed accounts. An action
 * listed may still be refused for a reason beyond the status (a cancel after a later run billed
 * the same accounts further; a retry whose accounts were all billed since): the mutation's error
 * says why.
 */
export function availableActions(run: { status: BillRunStatus; scheduleId: string | null; failedAccountCount: number }): BillRunAction[] {
  const from = (name: TransitionName) => (TRANSITIONS[name].from as readonly BillRunStatus[]).includes(run.status);
  const actions: BillRunAction[] = [];
  if (from("beginPost")) actions.push("POST");
  if (run.scheduleId !== null && from("pause")) actions.push("PAUSE");
  if (run.scheduleId !== null && from("resume")) actions.push("RESUME");
  if ((RETRY_FROM as readonly BillRunStatus[]).includes(run.status) && run.failedAccountCount > 0) actions.push("RETRY");
  if (from("cancelPending") || from("beginCancel")) actions.push("CANCEL");
  if (from("beginRemove")) actions.push("DELETE");
  return actions;
}

export interface TransitionResult {
  id: string;
  billRunNumber: string;
  from: BillRunStatus;
  to: BillRunStatus;
  eventId: string;
}

/** Column changes that go with a move (timestamps, error message). */
const SIDE_EFFECTS: Partial<Record<TransitionName, string>> = {
  start: "started_at = now(), error_message = NULL",
  complete: "completed_at = now()",
  fail: "completed_at = now()",
  finishPost: "posted_at = now(), error_message = NULL",
  beginPost: "error_message = NULL",
};

/**
 * Moves a run if, and only if, its status is one the transition allows, in one conditional
 * UPDATE: of two concurrent requests only one can win. The status event is written in the same
 * transaction (and announced by NOTIFY, which PostgreSQL delivers at commit, and to the
 * transition hooks, which run in it). Returns null when the run is not in a status the transition
 * leaves from (or does not exist); raises whatever a transition hook raises.
 */
export async function tryTransition(
  sql: Sql,
  billRunId: string,
  name: TransitionName,
  options: { actorId?: string | null; errorMessage?: string | null } = {},
): Promise<TransitionResult | null> {
  const { from, to } = TRANSITIONS[name];
  const sets = [`status = $3::"BillRunStatus"`, "updated_at = now()"];
  if (SIDE_EFFECTS[name]) sets.push(SIDE_EFFECTS[name]!);
  const params: unknown[] = [billRunId, from, to];
  if (options.errorMessage !== undefined) {
    params.push(options.errorMessage);
    sets.push(`error_message = $${params.length}`);
  }
  const updated = await sql.query<{ id: string; bill_run_number: string; previous: BillRunStatus }>(
    `UPDATE bill_runs r SET ${sets.join(", ")}
       FROM (SELECT id, status AS previous FROM bill_runs WHERE id = $1 FOR UPDATE) old
      WHERE r.id = old.id AND r.status = ANY($2::"BillRunStatus"[])
      RETURNING r.id, r.bill_run_number, old.previous`,
    params,
  );
  const row = updated.rows[0];
  if (!row) return null;
  const event = await recordStatusEvent(sql, row.id, row.previous, to, options.actorId ?? null, options.errorMessage ?? null);
  return { id: row.id, billRunNumber: row.bill_run_number, from: row.previous, to, eventId: event };
}

/** Like tryTransition, but a refusal is an INVALID_STATE error that says why. */
export async function transition(
  sql: Sql,
  billRunId: string,
  name: TransitionName,
  options: { actorId?: string | null; errorMessage?: string | null } = {},
): Promise<TransitionResult> {
  const result = await tryTransition(sql, billRunId, name, options);
  if (result) return result;
  const current = await sql.query<{ bill_run_number: string; status: BillRunStatus }>("SELECT bill_run_number, status FROM bill_runs WHERE id = $1", [
    billRunId,
  ]);
  const run = current.rows[0];
  if (!run) throw new NotFoundError(await notFoundMessage(sql, billRunId));
  const allowed = TRANSITIONS[name].from.join(" or ");
  throw new InvalidStateError(`bill run ${run.bill_run_number} is ${run.status}; this needs it to be ${allowed}`);
}

/** "bill run <id> not found", or, for a deleted run, its number and that it was deleted (read from its events). */
export async function notFoundMessage(sql: Sql, billRunId: string): Promise<string> {
  const removed = await sql.query<{ bill_run_number: string }>(
    `SELECT bill_run_number FROM bill_run_events WHERE bill_run_id = $1 AND kind = 'STATUS' AND to_status = 'REMOVED' LIMIT 1`,
    [billRunId],
  );
  const number = removed.rows[0]?.bill_run_number;
  return number ? `bill run ${number} (${billRunId}) was deleted` : `bill run ${billRunId} not found`;
}

/**
 * Records a status event (in the caller's transaction, which must hold the run's row lock so that
 * a run's event ids commit in order) and announces it: by NOTIFY at commit, and to every
 * transition hook (src/billruns/hooks.ts) now, in the transaction. The run must exist: its number
 * is copied into the event, which outlives it. Returns the event's id; raises what a hook raises.
 */
export async function recordStatusEvent(
  sql: Sql,
  billRunId: string,
  from: BillRunStatus | null,
  to: BillRunStatus,
  actorId: string | null,
  message: string | null = null,
): Promise<string> {
  const inserted = await sql.query<EventRow>(
    `INSERT INTO bill_run_events (bill_run_id, kind, from_status, to_status, actor_id, message)
     VALUES ($1, 'STATUS', $2, $3, $4, $5) RETURNING ${ANNOUNCED_COLUMNS}`,
    [billRunId, from, to, actorId, message],
  );
  await announceEvents(sql, inserted.rows);
  const event = inserted.rows[0]!;
  await announceTransition(sql, { id: billRunId, billRunNumber: event.bill_run_number, from, to, eventId: event.id, actorId, message });
  return event.id;
}
