// The webhooks of a run's status changes, written by a transition hook in the transaction of the
// change: nothing is announced for a change that rolled back, nothing is lost when a process dies.
// (Account failures and posted documents are written by the triggers of migration
// 20261129200000_webhooks: they come from set-based statements of the billing path.)
import type { Sql } from "../db/sql.ts";
import { onTransition, type StatusChange } from "../billruns/hooks.ts";

/**
 * Stores the webhook events a status change makes, for the enabled endpoints subscribed to them,
 * with one delivery per endpoint: `bill_run.status_changed` always (its id is the status event's),
 * `bill_run.completed` (PROCESSING → COMPLETED only), `bill_run.error` and `bill_run.posted`
 * (events of their own, ids from the same sequence, taken after the status event's). The payload
 * is the event and a snapshot of the run (`webhook_bill_run_summary`). One statement; with no
 * subscribed endpoint it writes nothing.
 */
export async function queueStatusWebhooks(sql: Sql, change: Pick<StatusChange, "eventId">): Promise<void> {
  await sql.query(
    `WITH wanted AS (
       SELECT x.*, t.type, t.own_id
         FROM bill_run_events x
        CROSS JOIN LATERAL (VALUES
           ('bill_run.status_changed', true, true),
           ('bill_run.completed', x.from_status = 'PROCESSING' AND x.to_status = 'COMPLETED', false),
           ('bill_run.error', x.to_status = 'ERROR', false),
           ('bill_run.posted', x.to_status = 'POSTED', false)) AS t(type, applies, own_id)
        WHERE x.id = $1::bigint AND x.kind = 'STATUS' AND t.applies
          AND EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.status = 'ENABLED' AND t.type = ANY (w.event_types))
     ), stored AS (
       INSERT INTO webhook_events (id, type, bill_run_event_id, data, created_at)
       SELECT CASE WHEN own_id THEN x.id ELSE nextval('bill_run_events_id_seq'::regclass) END,
              x.type, x.id,
              jsonb_build_object(
                'eventId', x.id::text, 'billRunId', x.bill_run_id, 'billRunNumber', x.bill_run_number, 'at', webhook_iso(x.created_at),
                'previousStatus', x.from_status, 'status', x.to_status, 'actorId', x.actor_id, 'message', x.message,
                'billRun', webhook_bill_run_summary(x.bill_run_id)),
              x.created_at
         FROM wanted x
        ORDER BY x.own_id DESC, x.type
       RETURNING id, type
     )
     INSERT INTO webhook_deliveries (endpoint_id, event_id)
     SELECT w.id, s.id FROM stored s JOIN webhook_endpoints w ON w.status = 'ENABLED' AND s.type = ANY (w.event_types)
      ORDER BY s.id`,
    [change.eventId],
  );
}

/** Makes every status change of a run queue its webhooks (start-up, once per process). Returns the unsubscriber. */
export function subscribeWebhooksToTransitions(): () => void {
  return onTransition("webhooks", queueStatusWebhooks);
}
