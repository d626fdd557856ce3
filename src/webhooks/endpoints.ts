// Webhook endpoints: what an ADMIN manages through the API. Every function validates first and
// changes nothing on a refusal (typed errors of src/errors.ts).
import type { App } from "../app.ts";
import { transaction } from "../db/sql.ts";
import { InvalidStateError, NotFoundError, ValidationError } from "../errors.ts";
import { isUuid } from "../util.ts";
import { AddressRefusedError, hostOf, resolveAllowed, urlProblem } from "./address.ts";
import { isWebhookEventType, TEST_EVENT_TYPE, WEBHOOK_EVENT_TYPES } from "./events.ts";
import { encryptSecret, generateSecret, secretKey } from "./secrets.ts";

/** How long a rotated-out secret still signs (a second signature on every message). */
export const PREVIOUS_SECRET_TTL_MS = 24 * 3_600_000;

const MAX_DESCRIPTION = 500;

/** What the endpoint services use: the webhook policy and secret key (config), and the pool. */
export type WebhookServices = Pick<App, "config" | "pool">;

export interface EndpointInput {
  url?: string | null;
  eventTypes?: readonly string[] | null;
  description?: string | null;
}

async function checkUrl(services: WebhookServices, url: string, field: string[]): Promise<string> {
  const policy = services.config.webhooks;
  const trimmed = url.trim();
  const problem = urlProblem(trimmed, policy);
  if (problem) throw new ValidationError(problem, field);
  try {
    await resolveAllowed(hostOf(new URL(trimmed)), policy);
  } catch (error) {
    if (error instanceof AddressRefusedError) throw new ValidationError(error.message, field);
    throw new ValidationError(`the URL's host cannot be resolved (${(error as NodeJS.ErrnoException).code ?? "lookup failed"})`, field);
  }
  return trimmed;
}

function checkEventTypes(types: readonly string[], field: string[]): string[] {
  if (types.length === 0) throw new ValidationError("subscribe to at least one event type", field);
  types.forEach((type, index) => {
    if (!isWebhookEventType(type)) {
      throw new ValidationError(`unknown event type "${type}"; one of ${WEBHOOK_EVENT_TYPES.join(", ")}`, [...field, String(index)]);
    }
  });
  return WEBHOOK_EVENT_TYPES.filter((t) => types.includes(t));
}

function checkDescription(description: string, field: string[]): string {
  if (description.length > MAX_DESCRIPTION) throw new ValidationError(`at most ${MAX_DESCRIPTION} characters`, field);
  return description;
}

function checkId(id: string, what = "webhook endpoint"): void {
  if (!isUuid(id)) throw new NotFoundError(`${what} ${id} not found`);
}

/**
 * Creates an ENABLED endpoint. Returns its id and its signing secret (`whsec_...`), which the API
 * shows this once. Errors: VALIDATION (url form or address, unknown event type, description).
 */
export async function createEndpoint(services: WebhookServices, input: Required<EndpointInput>, userId: string): Promise<{ id: string; secret: string }> {
  const eventTypes = checkEventTypes(input.eventTypes ?? [], ["input", "eventTypes"]);
  const description = checkDescription(input.description ?? "", ["input", "description"]);
  const url = await checkUrl(services, input.url ?? "", ["input", "url"]);
  const secret = generateSecret();
  const key = await secretKey(services.config);
  const created = await services.pool.query<{ id: string }>(
    `INSERT INTO webhook_endpoints (url, description, event_types, secret_ciphertext, created_by_id)
     VALUES ($1, $2, $3, $4, $5) RETURNING id`,
    [url, description, eventTypes, encryptSecret(key, secret), userId],
  );
  return { id: created.rows[0]!.id, secret };
}

/** Changes the fields given (others stay). Errors: NOT_FOUND, VALIDATION. */
export async function updateEndpoint(services: WebhookServices, id: string, input: EndpointInput): Promise<void> {
  checkId(id);
  const sets: string[] = [];
  const params: unknown[] = [id];
  if (input.eventTypes != null) {
    params.push(checkEventTypes(input.eventTypes, ["input", "eventTypes"]));
    sets.push(`event_types = $${params.length}`);
  }
  if (input.description != null) {
    params.push(checkDescription(input.description, ["input", "description"]));
    sets.push(`description = $${params.length}`);
  }
  if (input.url != null) {
    params.push(await checkUrl(services, input.url, ["input", "url"]));
    sets.push(`url = $${params.length}`);
  }
  sets.push("updated_at = now()");
  const updated = await services.pool.query(`UPDATE webhook_endpoints SET ${sets.join(", ")} WHERE id = $1`, params);
  if (!updated.rowCount) throw new NotFoundError(`webhook endpoint ${id} not found`);
}

/**
 * A new secret, returned once. The current one keeps signing beside it for 24 hours (receivers
 * switch without losing a message); a secret rotated out earlier stops at once. Errors: NOT_FOUND.
 */
export async function rotateSecret(services: WebhookServices, id: string): Promise<string> {
  checkId(id);
  const secret = generateSecret();
  const key = await secretKey(services.config);
  const updated = await services.pool.query(
    `UPDATE webhook_endpoints SET previous_secret_ciphertext = secret_ciphertext, secret_ciphertext = $2,
            previous_secret_expires_at = now() + $3 * interval '1 millisecond', updated_at = now()
      WHERE id = $1`,
    [id, encryptSecret(key, secret), PREVIOUS_SECRET_TTL_MS],
  );
  if (!updated.rowCount) throw new NotFoundError(`webhook endpoint ${id} not found`);
  return secret;
}

/** Stops deliveries (queued ones wait; events meanwhile are not queued for it). Errors: NOT_FOUND. */
export async function disableEndpoint(services: WebhookServices, id: string, reason: string): Promise<void> {
  checkId(id);
  const updated = await services.pool.query(
    `UPDATE webhook_endpoints SET status = 'DISABLED', disabled_at = CASE WHEN status = 'ENABLED' THEN now() ELSE disabled_at END,
            disabled_reason = CASE WHEN status = 'ENABLED' THEN $2 ELSE disabled_reason END, updated_at = now()
      WHERE id = $1`,
    [id, reason],
  );
  if (!updated.rowCount) throw new NotFoundError(`webhook endpoint ${id} not found`);
}

/** Delivers again, starting with what was queued before (deliveries older than the retry window fail). Errors: NOT_FOUND. */
export async function enableEndpoint(services: WebhookServices, id: string): Promise<void> {
  checkId(id);
  const updated = await services.pool.query(
    `UPDATE webhook_endpoints SET status = 'ENABLED', disabled_at = NULL, disabled_reason = NULL, failing_since = NULL,
            paused_until = NULL, updated_at = now()
      WHERE id = $1`,
    [id],
  );
  if (!updated.rowCount) throw new NotFoundError(`webhook endpoint ${id} not found`);
}

/** Deletes the endpoint with its delivery log. Errors: NOT_FOUND. */
export async function deleteEndpoint(services: WebhookServices, id: string): Promise<void> {
  checkId(id);
  const deleted = await transaction(services.pool, async (sql) => {
    const endpoint = await sql.query("DELETE FROM webhook_endpoints WHERE id = $1", [id]);
    // Attempts go with their deliveries (foreign key); deliveries have none to the endpoint.
    if (endpoint.rowCount) await sql.query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1", [id]);
    return endpoint.rowCount;
  });
  if (!deleted) throw new NotFoundError(`webhook endpoint ${id} not found`);
}

async function requireEnabled(services: WebhookServices, endpointId: string): Promise<void> {
  const found = await services.pool.query<{ status: string }>("SELECT status FROM webhook_endpoints WHERE id = $1", [endpointId]);
  const status = found.rows[0]?.status;
  if (!status) throw new NotFoundError(`webhook endpoint ${endpointId} not found`);
  if (status !== "ENABLED") throw new InvalidStateError(`webhook endpoint ${endpointId} is DISABLED; enable it first`);
}

/**
 * Queues the event of a delivery again for the same endpoint, as a new delivery with the same
 * `webhook-id` and body, sent now (an endpoint waiting for a retry is tried at once). Returns the
 * new delivery's id. Errors: NOT_FOUND, INVALID_STATE (endpoint disabled).
 */
export async function redeliver(services: WebhookServices, deliveryId: string, userId: string): Promise<bigint> {
  if (!/^[0-9]{1,18}$/.test(deliveryId)) throw new NotFoundError(`webhook delivery ${deliveryId} not found`);
  const found = await services.pool.query<{ endpoint_id: string; event_id: string }>(
    "SELECT endpoint_id, event_id::text FROM webhook_deliveries WHERE id = $1",
    [deliveryId],
  );
  const delivery = found.rows[0];
  if (!delivery) throw new NotFoundError(`webhook delivery ${deliveryId} not found`);
  await requireEnabled(services, delivery.endpoint_id);
  return queueManual(services, delivery.endpoint_id, delivery.event_id, userId);
}

/**
 * Sends a `webhook.test` event to the endpoint now. Returns the delivery's id. Errors: NOT_FOUND,
 * INVALID_STATE (endpoint disabled).
 */
export async function sendTest(services: WebhookServices, endpointId: string, userId: string): Promise<bigint> {
  checkId(endpointId);
  await requireEnabled(services, endpointId);
  const event = await services.pool.query<{ id: string }>(
    `INSERT INTO webhook_events (id, type, data)
     VALUES (nextval('bill_run_events_id_seq'::regclass), $1,
             jsonb_build_object('endpointId', $2::uuid, 'message', 'This is a test event from Billrun.'))
     RETURNING id::text`,
    [TEST_EVENT_TYPE, endpointId],
  );
  return queueManual(services, endpointId, event.rows[0]!.id, userId);
}

async function queueManual(services: WebhookServices, endpointId: string, eventId: string, userId: string): Promise<bigint> {
  const inserted = await services.pool.query<{ id: string }>(
    `WITH wake AS (UPDATE webhook_endpoints SET paused_until = NULL WHERE id = $1)
     INSERT INTO webhook_deliveries (endpoint_id, event_id, requested_by_id) VALUES ($1, $2, $3) RETURNING id::text`,
    [endpointId, eventId, userId],
  );
  return BigInt(inserted.rows[0]!.id);
}
