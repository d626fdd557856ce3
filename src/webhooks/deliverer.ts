// Delivers queued webhooks. Any number of processes may run a deliverer on one database: a
// process takes an endpoint with a lease (FOR UPDATE SKIP LOCKED, then `lease_until`), sends that
// endpoint's due deliveries one after another in event-id order, records the attempts (one
// statement per 20), and lets the endpoint go. One process per endpoint at a time is what keeps each
// endpoint's order; different endpoints are served in parallel (BILLRUN_WEBHOOK_CONCURRENCY per
// process). A process that dies mid-batch leaves its lease to expire; deliveries it sent but had not
// recorded (at most the last 20: attempts are recorded, and the lease renewed, as the batch goes)
// are sent again with the same `webhook-id` (at-least-once; receivers drop duplicates).
//
// Failures: a timeout, a connection error, 408, 409, 429 or 5xx is the endpoint's trouble: the
// delivery is retried with exponential backoff and jitter (at least `Retry-After`), and the
// endpoint waits until then, its later deliveries behind it, so a receiver that comes back gets
// them in order. Any other 4xx, or a redirect (never followed), fails that delivery at once and
// the next is sent. A delivery not made within BILLRUN_WEBHOOK_RETRY_HOURS fails for good; an
// endpoint whose attempts have all failed for BILLRUN_WEBHOOK_DISABLE_AFTER_HOURS is disabled and
// its creator emailed.
import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { setTimeout as delay } from "node:timers/promises";
import { Webhook } from "standardwebhooks";
import type { App } from "../app.ts";
import { AddressRefusedError, guardedLookup, hostOf, isForbiddenAddress, urlProblem, type AddressPolicy } from "./address.ts";
import { renderBody } from "./events.ts";
import { decryptSecret, secretKey } from "./secrets.ts";

export interface DelivererOptions {
  concurrency: number;
  pollIntervalMs: number;
  timeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  retryForMs: number;
  disableAfterMs: number;
  leaseMs: number;
  allowHttp: boolean;
  allowPrivate: boolean;
  /** Deliveries taken per lease. */
  batchSize: number;
}

export interface Deliverer {
  /** Delivers everything due now; resolves when nothing due is left (failures wait for their retry). */
  flush: () => Promise<void>;
  /** Stops taking endpoints, lets the batches being sent finish (each request is bounded by the timeout), records them. */
  stop: () => Promise<void>;
}

/** Attempts are recorded (and the lease renewed) at least this often within a batch. */
const CHECKPOINT_EVERY = 20;

interface AttemptRecord {
  delivery: DueDelivery;
  attemptedAt: Date;
  result: AttemptOutcome;
  retryMs: number | null;
}

interface EndpointState {
  ok: boolean;
  failingFrom: Date | null;
  pauseMs: number | null;
}

/** Bytes of a response body kept in the delivery log; the rest is not read. */
export const RESPONSE_BYTES_KEPT = 4096;

const USER_AGENT = "Billrun-Webhooks/1";

interface LeasedEndpoint {
  id: string;
  url: string;
  secret_ciphertext: string;
  previous_secret_ciphertext: string | null;
  previous_secret_expires_at: Date | null;
  lease_until: Date;
}

interface DueDelivery {
  id: string;
  event_id: string;
  attempt_count: number;
  type: string;
  data: unknown;
  event_created_at: Date;
}

/** What one HTTP attempt came to. */
export interface AttemptOutcome {
  /** SUCCEEDED (2xx), RETRY (the endpoint's trouble, retried later), FAILED (this message refused; not retried). */
  outcome: "SUCCEEDED" | "RETRY" | "FAILED";
  httpStatus: number | null;
  error: string | null;
  responseBody: string | null;
  durationMs: number;
  /** From a Retry-After header, in milliseconds. */
  retryAfterMs: number | null;
}

/** How a status code is treated: 2xx succeed; 408, 409, 429 and 5xx are retried; the rest fail at once. */
export function classifyStatus(status: number): AttemptOutcome["outcome"] {
  if (status >= 200 && status < 300) return "SUCCEEDED";
  if (status === 408 || status === 409 || status === 429 || status >= 500) return "RETRY";
  return "FAILED";
}

/** Retry-After as seconds or an HTTP date → milliseconds from now (null when absent or unreadable). */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** base × 2^(attempt−1), at most max, with ±25% jitter so that endpoints recovering together are not retried in lockstep. */
export function retryDelayMs(attempt: number, options: Pick<DelivererOptions, "retryBaseMs" | "retryMaxMs">): number {
  const exact = Math.min(options.retryMaxMs, options.retryBaseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 40));
  return Math.round(exact * (0.75 + Math.random() * 0.5));
}

const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 64 }), https: new https.Agent({ keepAlive: true, maxSockets: 64 }) };

/**
 * One POST of `body` to `url`: no redirects followed, at most `timeoutMs` in all, the first 4 KiB
 * of the response kept. The address is checked again (policy) on the connection's own lookup.
 * Never throws: every failure is an outcome.
 */
export async function postWebhook(
  url: string,
  headers: Record<string, string>,
  body: string,
  options: { timeoutMs: number } & AddressPolicy,
): Promise<AttemptOutcome> {
  const started = performance.now();
  const done = (o: Omit<AttemptOutcome, "durationMs">): AttemptOutcome => ({ ...o, durationMs: Math.round(performance.now() - started) });
  const problem = urlProblem(url, options);
  if (problem) return done({ outcome: "FAILED", httpStatus: null, error: `refused: ${problem}`, responseBody: null, retryAfterMs: null });
  const target = new URL(url);
  const host = hostOf(target);
  // An IP literal is connected to without a lookup: check it here.
  if (isIP(host) && !options.allowPrivate && isForbiddenAddress(host)) {
    return done({
      outcome: "FAILED",
      httpStatus: null,
      error: `refused: ${host} is a loopback, private, link-local or reserved address (allowed only when BILLRUN_WEBHOOK_ALLOW_PRIVATE=true)`,
      responseBody: null,
      retryAfterMs: null,
    });
  }
  const secure = target.protocol === "https:";
  return new Promise<AttemptOutcome>((resolve) => {
    let settled = false;
    const finish = (o: Omit<AttemptOutcome, "durationMs">) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(done(o));
    };
    const request = (secure ? https : http).request(target, {
      method: "POST",
      agent: secure ? agents.https : agents.http,
      lookup: guardedLookup(options),
      headers: { ...headers, "content-type": "application/json", "content-length": String(Buffer.byteLength(body)), "user-agent": USER_AGENT },
    });
    const timer = setTimeout(() => {
      request.destroy(new Error(`timed out after ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    request.on("error", (error: NodeJS.ErrnoException) => {
      const refused = error instanceof AddressRefusedError || error.name === "AddressRefusedError";
      finish({
        outcome: refused ? "FAILED" : "RETRY",
        httpStatus: null,
        error: refused ? `refused: ${error.message}` : `${error.code ? `${error.code}: ` : ""}${error.message}`.slice(0, 1000),
        responseBody: null,
        retryAfterMs: null,
      });
    });
    request.on("response", (response) => {
      const status = response.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let kept = 0;
      const complete = () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const outcome = status >= 300 && status < 400 ? "FAILED" : classifyStatus(status);
        finish({
          outcome,
          httpStatus: status,
          error:
            outcome === "SUCCEEDED"
              ? null
              : status >= 300 && status < 400
                ? `redirect not followed (HTTP ${status}${response.headers.location ? ` to ${String(response.headers.location).slice(0, 500)}` : ""})`
                : `HTTP ${status}`,
          responseBody: text,
          retryAfterMs: parseRetryAfter(response.headers["retry-after"]),
        });
      };
      response.on("data", (chunk: Buffer) => {
        if (kept >= RESPONSE_BYTES_KEPT) return;
        const part = chunk.subarray(0, RESPONSE_BYTES_KEPT - kept);
        chunks.push(part);
        kept += part.length;
        if (kept >= RESPONSE_BYTES_KEPT) {
          // Enough: the rest is not read (the connection is dropped rather than drained).
          complete();
          response.destroy();
        }
      });
      response.on("end", () => complete());
      response.on("error", () => complete());
      response.on("close", () => complete());
    });
    request.end(body);
  });
}

/** Signs the body with the current secret and, within 24 h of a rotation, the previous one: `v1,<a> v1,<b>`. */
export function signatureHeaders(webhookId: string, at: Date, body: string, secrets: readonly string[]): Record<string, string> {
  return {
    "webhook-id": webhookId,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": secrets.map((s) => new Webhook(s).sign(webhookId, at, body)).join(" "),
  };
}

export function delivererOptions(app: App, overrides: Partial<DelivererOptions> = {}): DelivererOptions {
  return { ...app.config.webhooks, batchSize: 100, ...overrides };
}

/**
 * Starts `concurrency` lanes that turn posted documents into events, then lease endpoints with
 * due deliveries and send them; idle lanes look again every `pollIntervalMs`. Options default to
 * the configuration (BILLRUN_WEBHOOK_*; times in milliseconds). Never throws: failures of the
 * database are logged and retried at the next poll.
 */
export function startDeliverer(app: App, overrides: Partial<DelivererOptions> = {}): Deliverer {
  const options = delivererOptions(app, overrides);
  const log = app.log.child({ component: "webhooks" });
  let stopping = false;
  const stopped = new AbortController();
  const sleep = (ms: number) => delay(ms, undefined, { signal: stopped.signal }).catch(() => {});

  /** Takes the endpoint that has waited longest among those with something due; null when none. */
  async function leaseEndpoint(): Promise<LeasedEndpoint | null> {
    const leased = await app.pool.query<LeasedEndpoint>(
      `UPDATE webhook_endpoints e SET lease_until = now() + $1 * interval '1 millisecond'
        WHERE e.id = (SELECT c.id FROM webhook_endpoints c
                       WHERE c.status = 'ENABLED' AND (c.lease_until IS NULL OR c.lease_until < now())
                         AND (c.paused_until IS NULL OR c.paused_until <= now())
                         AND EXISTS (SELECT 1 FROM webhook_deliveries d
                                      WHERE d.endpoint_id = c.id AND d.status = 'PENDING' AND d.next_attempt_at <= now())
                       ORDER BY c.lease_until NULLS FIRST
                       LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING e.id, e.url, e.secret_ciphertext, e.previous_secret_ciphertext, e.previous_secret_expires_at, e.lease_until`,
      [options.leaseMs],
    );
    return leased.rows[0] ?? null;
  }

  /** Sends one batch of an endpoint's due deliveries; true when it sent something. */
  async function serve(endpoint: LeasedEndpoint): Promise<boolean> {
    let results: AttemptRecord[] = [];
    let endpointState: EndpointState | null = null;
    let hadSuccess = false;
    let leaseHeld = true;
    /** Records what was sent so far and renews the lease: a process that dies loses at most the last few records. */
    const checkpoint = async (): Promise<void> => {
      const recorded = results;
      results = [];
      await recordAttempts(recorded);
      leaseHeld = await renewLease(endpoint);
    };
    try {
      await app.pool.query(
        `UPDATE webhook_deliveries SET status = 'FAILED', last_error = $3
          WHERE endpoint_id = $1 AND status = 'PENDING' AND created_at < now() - $2 * interval '1 millisecond'`,
        [endpoint.id, options.retryForMs, `not delivered within ${Math.round(options.retryForMs / 3_600_000)} hours`],
      );
      const due = await app.pool.query<DueDelivery>(
        `SELECT d.id::text, d.event_id::text, d.attempt_count, e.type, e.data, e.created_at AS event_created_at
           FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id
          WHERE d.endpoint_id = $1 AND d.status = 'PENDING' AND d.next_attempt_at <= now()
          ORDER BY d.event_id, d.id LIMIT $2`,
        [endpoint.id, options.batchSize],
      );
      if (due.rows.length === 0) return false;
      let secrets: string[];
      try {
        const key = await secretKey(app.config);
        secrets = [decryptSecret(key, endpoint.secret_ciphertext)];
        if (endpoint.previous_secret_ciphertext && endpoint.previous_secret_expires_at && endpoint.previous_secret_expires_at.getTime() > Date.now()) {
          secrets.push(decryptSecret(key, endpoint.previous_secret_ciphertext));
        }
      } catch (error) {
        // This process cannot sign for the endpoint (another key): leave it a minute, to a process that can or to an operator.
        log.error({ endpointId: endpoint.id, reason: (error as Error).message }, "webhook secret unreadable; endpoint skipped for a minute");
        endpointState = { ok: false, failingFrom: null, pauseMs: 60_000 };
        return false;
      }
      let failingFrom: Date | null = null;
      let ok = false;
      for (const delivery of due.rows) {
        if (stopping) break;
        // A request may take the whole timeout: never start one the lease might not cover.
        if (results.length >= CHECKPOINT_EVERY || endpoint.lease_until.getTime() - Date.now() < options.timeoutMs + 5_000) await checkpoint();
        if (!leaseHeld) break;
        const body = renderBody({ type: delivery.type, data: delivery.data, createdAt: delivery.event_created_at });
        const attemptedAt = new Date();
        const result = await postWebhook(endpoint.url, signatureHeaders(delivery.event_id, attemptedAt, body, secrets), body, options);
        let retryMs: number | null = null;
        if (result.outcome === "RETRY") retryMs = Math.min(Math.max(retryDelayMs(delivery.attempt_count + 1, options), result.retryAfterMs ?? 0), 86_400_000);
        results.push({ delivery, attemptedAt, result, retryMs });
        if (result.outcome === "SUCCEEDED") {
          ok = true;
          hadSuccess = true;
          failingFrom = null;
        } else {
          ok = false;
          failingFrom ??= attemptedAt;
          if (result.outcome === "RETRY") {
            log.warn(
              { endpointId: endpoint.id, deliveryId: delivery.id, webhookId: delivery.event_id, error: result.error, retryInMs: retryMs },
              "webhook not delivered; will retry",
            );
            endpointState = { ok, failingFrom, pauseMs: retryMs };
            break;
          }
          log.warn({ endpointId: endpoint.id, deliveryId: delivery.id, webhookId: delivery.event_id, error: result.error }, "webhook refused; not retried");
        }
        endpointState = { ok, failingFrom, pauseMs: null };
      }
      return true;
    } finally {
      const recorded = results;
      results = [];
      try {
        await recordAttempts(recorded);
        if (leaseHeld) await release(endpoint, recorded, endpointState, hadSuccess);
      } catch (error) {
        log.error({ err: error, endpointId: endpoint.id }, "recording webhook deliveries failed");
      }
    }
  }

  /** Extends this process's lease on the endpoint; false when another process holds it now. */
  async function renewLease(endpoint: LeasedEndpoint): Promise<boolean> {
    const renewed = await app.pool.query<{ lease_until: Date }>(
      `UPDATE webhook_endpoints SET lease_until = now() + $3 * interval '1 millisecond'
        WHERE id = $1 AND lease_until = $2 RETURNING lease_until`,
      [endpoint.id, endpoint.lease_until, options.leaseMs],
    );
    const row = renewed.rows[0];
    if (!row) return false;
    endpoint.lease_until = row.lease_until;
    return true;
  }

  async function recordAttempts(results: AttemptRecord[]): Promise<void> {
    if (results.length === 0) return;
    await app.pool.query(
      `WITH r AS (
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::int[], $5::text[], $6::text[], $7::timestamptz[], $8::float8[])
           AS r(id, outcome, http_status, duration_ms, error, body, attempted_at, retry_ms)
       ), attempts AS (
         INSERT INTO webhook_delivery_attempts (delivery_id, attempted_at, http_status, duration_ms, error, response_body)
         SELECT id, attempted_at, http_status, duration_ms, error, body FROM r
       )
       UPDATE webhook_deliveries d
          SET attempt_count = d.attempt_count + 1, last_attempt_at = r.attempted_at, last_http_status = r.http_status,
              last_error = CASE WHEN r.outcome = 'RETRY' AND d.created_at + $9 * interval '1 millisecond' < now() + r.retry_ms * interval '1 millisecond'
                                THEN r.error || ' (no retry left within ' || round($9 / 3600000.0) || ' hours)' ELSE r.error END,
              status = (CASE WHEN r.outcome = 'SUCCEEDED' THEN 'SUCCEEDED'
                             WHEN r.outcome = 'FAILED' THEN 'FAILED'
                             WHEN d.created_at + $9 * interval '1 millisecond' < now() + r.retry_ms * interval '1 millisecond' THEN 'FAILED'
                             ELSE 'PENDING' END)::"WebhookDeliveryStatus",
              delivered_at = CASE WHEN r.outcome = 'SUCCEEDED' THEN r.attempted_at END,
              next_attempt_at = CASE WHEN r.outcome = 'RETRY' THEN now() + r.retry_ms * interval '1 millisecond' ELSE d.next_attempt_at END
         FROM r WHERE d.id = r.id AND d.status = 'PENDING'`,
      [
        results.map((r) => r.delivery.id),
        results.map((r) => r.result.outcome),
        results.map((r) => r.result.httpStatus),
        results.map((r) => r.result.durationMs),
        results.map((r) => r.result.error),
        results.map((r) => r.result.responseBody),
        results.map((r) => r.attemptedAt),
        results.map((r) => r.retryMs),
        options.retryForMs,
      ],
    );
  }

  /** Lets the endpoint go, with what the batch says about it (failing since when, paused until when); disables it after too long. */
  async function release(endpoint: LeasedEndpoint, lastResults: AttemptRecord[], state: EndpointState | null, hadSuccess: boolean): Promise<void> {
    const released = await app.pool.query<{ failing_since: Date | null }>(
      `UPDATE webhook_endpoints
          SET lease_until = now(),
              failing_since = CASE WHEN $2::boolean IS NULL THEN failing_since
                                   WHEN $2 THEN NULL
                                   ELSE COALESCE(CASE WHEN $4::boolean THEN NULL ELSE failing_since END, $3::timestamptz) END,
              paused_until = CASE WHEN $5::float8 IS NULL THEN NULL ELSE now() + $5 * interval '1 millisecond' END
        WHERE id = $1 AND lease_until = $6
        RETURNING failing_since`,
      [endpoint.id, state ? state.ok : null, state?.failingFrom ?? null, hadSuccess, state?.pauseMs ?? null, endpoint.lease_until],
    );
    const failingSince = released.rows[0]?.failing_since;
    if (failingSince && Date.now() - failingSince.getTime() >= options.disableAfterMs) {
      await disableFailingEndpoint(app, endpoint.id, failingSince, lastResults.at(-1)?.result.error ?? null, options.disableAfterMs);
      log.warn({ endpointId: endpoint.id, failingSince }, "webhook endpoint disabled: every delivery failed for too long");
    }
  }

  /** Serves one endpoint (after turning posted documents into events); false when nothing was due anywhere. */
  async function step(): Promise<boolean> {
    if (await expandPostedDocuments(app)) return true;
    const endpoint = await leaseEndpoint();
    if (!endpoint) return false;
    await serve(endpoint);
    return true;
  }

  const inFlight = new Set<Promise<boolean>>();
  function tracked(): Promise<boolean> {
    const work = step();
    inFlight.add(work);
    return work.finally(() => inFlight.delete(work));
  }

  async function lane(): Promise<void> {
    while (!stopping) {
      try {
        if (!(await tracked())) await sleep(options.pollIntervalMs);
      } catch (error) {
        if (stopping) break;
        log.error({ err: error }, "webhook deliverer failed; retrying");
        await sleep(options.pollIntervalMs);
      }
    }
  }

  const lanes = Array.from({ length: options.concurrency }, () => lane());
  log.debug({ concurrency: options.concurrency }, "webhook deliverer started");

  return {
    flush: async () => {
      while (!stopping && (await tracked()));
      await Promise.allSettled([...inFlight]);
    },
    stop: async () => {
      stopping = true;
      stopped.abort();
      await Promise.all(lanes);
      await Promise.allSettled([...inFlight]);
    },
  };
}

/**
 * Disables an endpoint that has failed for too long and queues one email to its creator (through
 * the email outbox, in the same transaction).
 */
async function disableFailingEndpoint(app: App, endpointId: string, failingSince: Date, lastError: string | null, disableAfterMs: number): Promise<void> {
  const reason = `every delivery failed for ${Math.round(disableAfterMs / 3_600_000)} hours${lastError ? ` (last: ${lastError.slice(0, 300)})` : ""}`;
  await app.pool.query(
    `WITH disabled AS (
       UPDATE webhook_endpoints SET status = 'DISABLED', disabled_at = now(), disabled_reason = $2, updated_at = now()
        WHERE id = $1 AND status = 'ENABLED'
        RETURNING id, url, description, created_by_id, disabled_at
     )
     INSERT INTO email_outbox (id, dedupe_key, kind, priority, to_address, payload)
     SELECT gen_random_uuid(), 'webhook-disabled:' || d.id || ':' || webhook_iso(d.disabled_at), 'WEBHOOK_ENDPOINT_DISABLED', 0, u.email,
            jsonb_build_object('endpointId', d.id, 'url', d.url, 'description', d.description, 'failingSince', webhook_iso($3::timestamptz),
                               'disabledAt', webhook_iso(d.disabled_at), 'reason', $2::text)
       FROM disabled d JOIN users u ON u.id = d.created_by_id
     ON CONFLICT (dedupe_key) DO NOTHING`,
    [endpointId, reason, failingSince],
  );
}

/**
 * Takes one row of documents a posting statement posted and, in one statement, stores an
 * invoice.posted or credit_memo.posted event per document (a snapshot, in number order) and a
 * delivery per endpoint that subscribed then and still does. Returns the number of documents
 * taken (0: none waiting). Any number of processes may call it (SKIP LOCKED).
 */
export async function expandPostedDocuments(app: Pick<App, "pool">): Promise<number> {
  const expanded = await app.pool.query<{ documents: number }>(
    `WITH batch AS (
       DELETE FROM webhook_posted_documents
        WHERE id = (SELECT id FROM webhook_posted_documents ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING document_ids, balances, endpoint_ids
     ), subscribers AS (
       SELECT w.id, w.event_types FROM webhook_endpoints w, batch WHERE w.id = ANY (batch.endpoint_ids) AND w.status = 'ENABLED'
     ), docs AS (
       SELECT d.*, u.position, u.posted_balance, CASE WHEN d.type = 'INVOICE' THEN 'invoice.posted' ELSE 'credit_memo.posted' END AS event_type
         FROM batch, unnest(batch.document_ids, batch.balances) WITH ORDINALITY AS u(id, posted_balance, position)
         JOIN documents d ON d.id = u.id
     ), stored AS (
       INSERT INTO webhook_events (id, type, document_id, data, created_at)
       SELECT nextval('bill_run_events_id_seq'::regclass), d.event_type, d.id,
              jsonb_build_object(
                CASE WHEN d.type = 'INVOICE' THEN 'invoice' ELSE 'creditMemo' END,
                jsonb_build_object(
                  'id', d.id, CASE WHEN d.type = 'INVOICE' THEN 'invoiceNumber' ELSE 'creditMemoNumber' END, d.number,
                  'status', 'POSTED', 'currency', d.currency, 'amount', d.amount::text, 'balance', d.posted_balance::text,
                  'invoiceDate', to_char(d.invoice_date, 'YYYY-MM-DD'), 'dueDate', to_char(d.due_date, 'YYYY-MM-DD'),
                  'postedAt', webhook_iso(d.posted_at),
                  'account', jsonb_build_object('id', a.id, 'accountNumber', a.account_number, 'name', a.name),
                  'billRun', CASE WHEN r.id IS NULL THEN NULL ELSE jsonb_build_object('id', r.id, 'billRunNumber', r.bill_run_number) END)),
              COALESCE(d.posted_at, now())
         FROM docs d
         JOIN accounts a ON a.id = d.account_id
         LEFT JOIN bill_runs r ON r.id = d.bill_run_id
        WHERE EXISTS (SELECT 1 FROM subscribers s WHERE d.event_type = ANY (s.event_types))
        ORDER BY d.position
       RETURNING id, type
     ), queued AS (
       INSERT INTO webhook_deliveries (endpoint_id, event_id)
       SELECT s.id, e.id FROM stored e JOIN subscribers s ON e.type = ANY (s.event_types)
        ORDER BY e.id
     )
     SELECT coalesce(array_length(document_ids, 1), 0) AS documents FROM batch`,
  );
  return expanded.rows[0]?.documents ?? 0;
}
