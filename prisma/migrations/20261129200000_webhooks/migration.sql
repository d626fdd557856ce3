-- Outgoing webhooks (Standard Webhooks). Endpoints subscribe to event types; every event a
-- subscribed, enabled endpoint wants becomes a stored webhook event (its id is the message's
-- `webhook-id`) and one delivery row per endpoint, written by triggers in the very transaction
-- that writes the bill-run event or posts the document: nothing is sent for a change that rolled
-- back, nothing is lost when a process dies. The deliverer (src/webhooks/deliverer.ts) sends the rows.

CREATE TYPE "WebhookEndpointStatus" AS ENUM ('ENABLED', 'DISABLED');
CREATE TYPE "WebhookDeliveryStatus" AS ENUM ('PENDING', 'SUCCEEDED', 'FAILED');
ALTER TYPE "EmailKind" ADD VALUE IF NOT EXISTS 'WEBHOOK_ENDPOINT_DISABLED';

CREATE TABLE "webhook_endpoints" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "url" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "event_types" TEXT[] NOT NULL,
    "status" "WebhookEndpointStatus" NOT NULL DEFAULT 'ENABLED',
    -- AES-256-GCM under the process's key (src/webhooks/secrets.ts): signing needs the secret itself.
    "secret_ciphertext" TEXT NOT NULL,
    -- After a rotation the old secret still signs (a second signature) until it expires.
    "previous_secret_ciphertext" TEXT,
    "previous_secret_expires_at" TIMESTAMPTZ(3),
    "created_by_id" UUID,
    "disabled_at" TIMESTAMPTZ(3),
    "disabled_reason" TEXT,
    -- Since when every attempt failed (null after a success): 5 days of it disables the endpoint.
    "failing_since" TIMESTAMPTZ(3),
    -- A delivery failed for a reason of the endpoint (down, 5xx, 429): nothing is sent before this.
    "paused_until" TIMESTAMPTZ(3),
    -- One process at a time delivers to an endpoint (that keeps its order by event id).
    "lease_until" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "webhook_endpoints_pkey" PRIMARY KEY ("id")
);
ALTER TABLE "webhook_endpoints" ADD CONSTRAINT "webhook_endpoints_created_by_id_fkey"
  FOREIGN KEY ("created_by_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;
CREATE INDEX "webhook_endpoints_created_at_id_idx" ON "webhook_endpoints"("created_at", "id");

-- A stored webhook event. Its id comes from the bill-run events' sequence, so ids are unique
-- across both tables and grow in commit order like them: bill_run.status_changed and
-- bill_run.account_failed take the id of their bill-run event (the GraphQL `eventId`); the types
-- derived from a status change (completed, error, posted) and document events are events of their
-- own, with `bill_run_event_id` naming the change they come from.
CREATE TABLE "webhook_events" (
    "id" BIGINT NOT NULL,
    "type" TEXT NOT NULL,
    "bill_run_event_id" BIGINT,
    "document_id" UUID,
    -- The event as it was when it happened (amounts are formatted when the body is rendered).
    "data" JSONB NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "webhook_events_pkey" PRIMARY KEY ("id")
);
-- No index beyond the key, and no unique (document, type): a document moves DRAFT → POSTED once,
-- and posting 100,000 invoices writes as many rows here when an endpoint subscribes.

CREATE TABLE "webhook_deliveries" (
    "id" BIGSERIAL NOT NULL,
    "endpoint_id" UUID NOT NULL,
    "event_id" BIGINT NOT NULL,
    "status" "WebhookDeliveryStatus" NOT NULL DEFAULT 'PENDING',
    "attempt_count" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_attempt_at" TIMESTAMPTZ(3),
    "last_http_status" INTEGER,
    "last_error" TEXT,
    "delivered_at" TIMESTAMPTZ(3),
    -- Who asked for it when it was not an event's first delivery (redeliverWebhook, sendTestWebhook).
    "requested_by_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "webhook_deliveries_pkey" PRIMARY KEY ("id")
);
-- No foreign keys to the endpoint or the event: each would cost a row lock per delivery, and
-- posting writes one delivery per invoice per subscribed endpoint. Only the triggers below and
-- src/webhooks/endpoints.ts write deliveries, always of an existing endpoint and event; deleting
-- an endpoint deletes its deliveries in the same transaction, and events are never deleted.
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_requested_by_id_fkey"
  FOREIGN KEY ("requested_by_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;
-- What is due, per endpoint, in event order.
CREATE INDEX "webhook_deliveries_due_idx" ON "webhook_deliveries"("endpoint_id", "event_id") WHERE "status" = 'PENDING';
-- The delivery log of an endpoint, newest first (a status filter reads along it).
CREATE INDEX "webhook_deliveries_endpoint_id_id_idx" ON "webhook_deliveries"("endpoint_id", "id");

CREATE TABLE "webhook_delivery_attempts" (
    "id" BIGSERIAL NOT NULL,
    "delivery_id" BIGINT NOT NULL,
    "attempted_at" TIMESTAMPTZ(3) NOT NULL,
    "http_status" INTEGER,
    "duration_ms" INTEGER NOT NULL,
    "error" TEXT,
    -- The first 4 KiB of the response body, as text.
    "response_body" TEXT,
    CONSTRAINT "webhook_delivery_attempts_pkey" PRIMARY KEY ("id")
);
ALTER TABLE "webhook_delivery_attempts" ADD CONSTRAINT "webhook_delivery_attempts_delivery_id_fkey"
  FOREIGN KEY ("delivery_id") REFERENCES "webhook_deliveries"("id") ON DELETE CASCADE ON UPDATE CASCADE;
CREATE INDEX "webhook_delivery_attempts_delivery_id_id_idx" ON "webhook_delivery_attempts"("delivery_id", "id");

CREATE FUNCTION "webhook_iso"(ts TIMESTAMPTZ) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
  SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- A run as webhook payloads describe it, in the API's names (amounts as stored; the deliverer
-- formats them to the currency's minor units).
CREATE FUNCTION "webhook_bill_run_summary"(run_id UUID) RETURNS JSONB LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', r.id, 'billRunNumber', r.bill_run_number, 'status', r.status,
    'targetDate', to_char(r.target_date, 'YYYY-MM-DD'), 'invoiceDate', to_char(r.invoice_date, 'YYYY-MM-DD'),
    'accountsTotal', r.accounts_total, 'accountsProcessed', r.accounts_processed,
    'invoiceCount', r.invoice_count, 'creditMemoCount', r.credit_memo_count,
    'zeroAmountInvoiceCount', r.zero_amount_invoice_count, 'failedAccountCount', r.failed_account_count,
    'invoiceTotals', COALESCE((SELECT jsonb_agg(jsonb_build_object('currency', t.currency, 'amount', t.amount::text) ORDER BY t.currency)
                                 FROM bill_run_totals t WHERE t.bill_run_id = r.id), '[]'::jsonb),
    'errorMessage', r.error_message, 'scheduleId', r.schedule_id,
    'createdAt', webhook_iso(r.created_at), 'startedAt', webhook_iso(r.started_at),
    'completedAt', webhook_iso(r.completed_at), 'postedAt', webhook_iso(r.posted_at))
  FROM bill_runs r WHERE r.id = run_id
$$;

-- Bill-run events → webhook events and deliveries, once per statement (a chunk's alerts are one
-- INSERT). Costs one indexless probe of a small table when no endpoint is enabled.
CREATE FUNCTION "webhook_on_bill_run_events"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoints WHERE status = 'ENABLED') THEN RETURN NULL; END IF;
  WITH wanted AS (
    SELECT e.*, t.type, t.own_id
      FROM new_events e
     CROSS JOIN LATERAL (VALUES
        ('bill_run.status_changed', e.kind = 'STATUS', true),
        ('bill_run.completed', e.kind = 'STATUS' AND e.from_status = 'PROCESSING' AND e.to_status = 'COMPLETED', false),
        ('bill_run.error', e.kind = 'STATUS' AND e.to_status = 'ERROR', false),
        ('bill_run.posted', e.kind = 'STATUS' AND e.to_status = 'POSTED', false),
        ('bill_run.account_failed', e.kind = 'ALERT', true)) AS t(type, applies, own_id)
     WHERE t.applies
       AND EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.status = 'ENABLED' AND t.type = ANY (w.event_types))
  ), stored AS (
    INSERT INTO webhook_events (id, type, bill_run_event_id, data, created_at)
    SELECT CASE WHEN own_id THEN x.id ELSE nextval('bill_run_events_id_seq'::regclass) END,
           x.type, x.id,
           CASE WHEN x.kind = 'ALERT' THEN jsonb_build_object(
                  'eventId', x.id::text, 'billRunId', x.bill_run_id, 'billRunNumber', x.bill_run_number, 'at', webhook_iso(x.created_at),
                  'account', (SELECT jsonb_build_object('id', a.id, 'accountNumber', a.account_number, 'name', a.name) FROM accounts a WHERE a.id = x.account_id),
                  'subscription', (SELECT jsonb_build_object('id', s.id, 'subscriptionNumber', s.subscription_number) FROM subscriptions s WHERE s.id = x.subscription_id),
                  'code', x.code, 'message', x.message)
                ELSE jsonb_build_object(
                  'eventId', x.id::text, 'billRunId', x.bill_run_id, 'billRunNumber', x.bill_run_number, 'at', webhook_iso(x.created_at),
                  'previousStatus', x.from_status, 'status', x.to_status, 'actorId', x.actor_id, 'message', x.message,
                  'billRun', webhook_bill_run_summary(x.bill_run_id))
           END,
           x.created_at
      FROM wanted x
     ORDER BY x.id, x.own_id DESC, x.type
    RETURNING id, type
  )
  INSERT INTO webhook_deliveries (endpoint_id, event_id)
  SELECT w.id, s.id FROM stored s JOIN webhook_endpoints w ON w.status = 'ENABLED' AND s.type = ANY (w.event_types)
   ORDER BY s.id;
  RETURN NULL;
END $$;

CREATE TRIGGER "bill_run_events_webhooks" AFTER INSERT ON "bill_run_events"
  REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION "webhook_on_bill_run_events"();

-- Documents moved DRAFT → POSTED → invoice.posted / credit_memo.posted. Posting updates up to
-- 20,000 documents a statement and must stay fast, so the posting transaction only records which
-- documents it posted, one row per statement, and only when an enabled endpoint subscribes to
-- those types. Any deliverer then turns each such row into the events and deliveries, in one
-- statement of its own (src/webhooks/deliverer.ts): nothing is announced for a posting that rolled
-- back, nothing is lost when a process dies.
CREATE TABLE "webhook_posted_documents" (
    "id" BIGSERIAL NOT NULL,
    -- In number order.
    "document_ids" UUID[] NOT NULL,
    -- Their balances when posted (the one field a later change, a payment, may move).
    "balances" DECIMAL(24,4)[] NOT NULL,
    -- The endpoints subscribed when the documents were posted.
    "endpoint_ids" UUID[] NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "webhook_posted_documents_pkey" PRIMARY KEY ("id")
);

-- The transition tables have no statistics: without the setting below the planner may join them
-- with a nested loop, quadratic in the number of documents of the statement.
CREATE FUNCTION "webhook_on_documents_posted"() RETURNS trigger LANGUAGE plpgsql SET enable_nestloop = off AS $$
DECLARE
  subscribers UUID[];
BEGIN
  SELECT array_agg(id) INTO subscribers FROM webhook_endpoints
   WHERE status = 'ENABLED' AND event_types && ARRAY['invoice.posted', 'credit_memo.posted'];
  IF subscribers IS NULL THEN RETURN NULL; END IF;
  INSERT INTO webhook_posted_documents (document_ids, balances, endpoint_ids)
  SELECT array_agg(n.id ORDER BY n.number), array_agg(n.balance ORDER BY n.number), subscribers
    FROM new_documents n JOIN old_documents o ON o.id = n.id
   WHERE o.status = 'DRAFT' AND n.status = 'POSTED'
  HAVING count(*) > 0;
  RETURN NULL;
END $$;

CREATE TRIGGER "documents_webhooks" AFTER UPDATE ON "documents"
  REFERENCING OLD TABLE AS old_documents NEW TABLE AS new_documents
  FOR EACH STATEMENT EXECUTE FUNCTION "webhook_on_documents_posted"();
