// How the state machine announces a run's status changes to the parts that act on them (email,
// webhooks) without knowing them: they register a hook at start-up (src/app.ts), and every
// recorded status change runs every hook inside the transaction that makes the change.
import type { Sql } from "../db/sql.ts";
import type { BillRunStatus } from "../generated/prisma/enums.ts";

/** A status change of a run, as recorded in its status event. */
export interface StatusChange {
  /** The run's id. */
  id: string;
  billRunNumber: string;
  /** Null for the first status (PENDING) of a new run. */
  from: BillRunStatus | null;
  /** REMOVED for a deleted run (whose row is gone once its transaction commits). */
  to: BillRunStatus;
  /** The id of the status event (`bill_run_events.id`, the API's `eventId`), as text. */
  eventId: string;
  actorId: string | null;
  message: string | null;
}

/**
 * Runs in the transaction of the change, after its status event is written and while the run's
 * row is locked: what the hook writes commits if and only if the change does. A hook that throws
 * fails the transaction, so the change is rolled back with it (and the caller sees the error).
 */
export type TransitionHook = (sql: Sql, change: StatusChange) => Promise<void>;

const hooks = new Map<string, TransitionHook>();

/**
 * Subscribes `hook` to every status change of every run, under `name`: registering a name again
 * replaces its hook (so that start-up may run more than once in a process). Hooks run one after
 * another in the order their names were first registered. Returns a function that unsubscribes it.
 */
export function onTransition(name: string, hook: TransitionHook): () => void {
  hooks.set(name, hook);
  return () => {
    if (hooks.get(name) === hook) hooks.delete(name);
  };
}

/** Runs every registered hook for `change`, in `sql`'s transaction; the first failure is thrown. */
export async function announceTransition(sql: Sql, change: StatusChange): Promise<void> {
  for (const hook of hooks.values()) await hook(sql, change);
}
