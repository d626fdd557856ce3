-- The webhooks of a run's status changes (bill_run.status_changed, completed, error, posted) are
-- written by the webhooks' transition hook (src/webhooks/status-events.ts), in the transaction of
-- the change, like the status emails. This trigger keeps the account failures
-- (bill_run.account_failed): a chunk writes them with one INSERT, and the trigger turns the
-- whole statement into webhook events and deliveries at once.
CREATE OR REPLACE FUNCTION "webhook_on_bill_run_events"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE status = 'ENABLED' AND 'bill_run.account_failed' = ANY (event_types)) THEN RETURN NULL; END IF;
  WITH stored AS (
    INSERT INTO webhook_events (id, type, bill_run_event_id, data, created_at)
    SELECT x.id, 'bill_run.account_failed', x.id,
           jsonb_build_object(
             'eventId', x.id::text, 'billRunId', x.bill_run_id, 'billRunNumber', x.bill_run_number, 'at', webhook_iso(x.created_at),
             'account', (SELECT jsonb_build_object('id', a.id, 'accountNumber', a.account_number, 'name', a.name) FROM accounts a WHERE a.id = x.account_id),
             'subscription', (SELECT jsonb_build_object('id', s.id, 'subscriptionNumber', s.subscription_number) FROM subscriptions s WHERE s.id = x.subscription_id),
             'code', x.code, 'message', x.message),
           x.created_at
      FROM new_events x
     WHERE x.kind = 'ALERT'
     ORDER BY x.id
    RETURNING id, type
  )
  INSERT INTO webhook_deliveries (endpoint_id, event_id)
  SELECT w.id, s.id FROM stored s JOIN webhook_endpoints w ON w.status = 'ENABLED' AND s.type = ANY (w.event_types)
   ORDER BY s.id;
  RETURN NULL;
END $$;
