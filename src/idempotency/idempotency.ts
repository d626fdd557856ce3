import { createHash } from "node:crypto";
import type { App } from "../app.ts";
import { ConflictError, NotFoundError, ValidationError } from "../errors.ts";

/**
 * Idempotency keys for mutations that create or start something. A client that retries after a
 * timeout (it cannot know whether its first request got through) sends the same key: the first
 * request does the work, every replay gets the id of what it made.
 *
 * - Keys are scoped to (user, operation): two users, or two operations, never share one.
 * - A replay must carry the same input (compared as canonical JSON, nulls dropped); the same key
 *   with other input is a ConflictError.
 * - Only successes are remembered: a request that fails (validation, invalid state...) frees its
 *   key, so the client can fix the cause and retry with the same key.
 * - The primary key (user_id, operation, key) serialises concurrent replays: one claims the key,
 *   the others wait for its result (at most WAIT_MS, then a ConflictError asking to retry).
 * - A claim whose request died before finishing (process killed) can be taken over after
 *   LEASE_MS. Keys are kept for BILLRUN_IDEMPOTENCY_TTL_HOURS, then forgotten.
 */

export const MAX_KEY_LENGTH = 255;

/** The `idempotencyKey` argument's description, the same on every mutation that takes one. */
export const IDEMPOTENCY_KEY_DESCRIPTION =
  "Makes a retry safe: a request with the same key and the same arguments (from the same user) returns the first " +
  "request's result instead of doing the work again; the same key with other arguments is a ConflictError. " +
  "A failed request frees its key. Keys are remembered for BILLRUN_IDEMPOTENCY_TTL_HOURS (default 24).";
const WAIT_MS = 15_000;
const POLL_MS = 25;
const LEASE_MS = 60_000;
const PURGE_EVERY_MS = 60_000;

export interface IdempotentRequest {
  userId: string;
  /** The mutation's name. */
  operation: string;
  key: string | null | undefined;
  /** The mutation's arguments other than the key. */
  input: unknown;
}

/**
 * What a mutation returns is read again after `idempotent`: on a replay it may have changed, or
 * been deleted since (`what` names it, e.g. "bill run <id>").
 */
export function replayed<T>(row: T | null, what: string): T {
  if (!row) throw new NotFoundError(`${what} (the result of this idempotencyKey) no longer exists`);
  return row;
}

/**
 * Runs `perform` (which returns the id of what it created or changed) once per key: replays
 * return the first result's id. Without a key, simply runs `perform`.
 */
export async function idempotent(app: App, request: IdempotentRequest, perform: () => Promise<string>): Promise<string> {
  if (request.key === null || request.key === undefined) return perform();
  const key = checkKey(request.key);
  const hash = requestHash(request.operation, request.input);
  const ids = [request.userId, request.operation, key];
  purgeExpired(app);
  const deadline = Date.now() + WAIT_MS;
  while (true) {
    const claimed = await app.pool.query(
      `INSERT INTO idempotency_keys (user_id, operation, key, request_hash) VALUES ($1, $2, $3, $4)
       ON CONFLICT (user_id, operation, key) DO UPDATE
         SET request_hash = EXCLUDED.request_hash, result_id = NULL, created_at = now(), completed_at = NULL
         WHERE idempotency_keys.created_at < now() - make_interval(secs => $5)
            OR (idempotency_keys.completed_at IS NULL AND idempotency_keys.created_at < now() - make_interval(secs => $6))
       RETURNING 1`,
      [...ids, hash, app.config.security.idempotencyTtlMs / 1000, LEASE_MS / 1000],
    );
    if (claimed.rowCount === 1) return performClaimed(app, ids, perform);

    const existing = await app.pool.query<{ request_hash: string; result_id: string | null; completed_at: Date | null }>(
      `SELECT request_hash, result_id, completed_at FROM idempotency_keys WHERE user_id = $1 AND operation = $2 AND key = $3`,
      ids,
    );
    const row = existing.rows[0];
    // Freed by a first request that failed: claim it again.
    if (!row) continue;
    if (row.request_hash !== hash) {
      throw new ConflictError(`idempotencyKey "${key}" was already used for another ${request.operation} request with different input`);
    }
    if (row.completed_at && row.result_id) return row.result_id;
    if (Date.now() > deadline) {
      throw new ConflictError(`a ${request.operation} request with idempotencyKey "${key}" is still in progress; retry later`);
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function performClaimed(app: App, ids: string[], perform: () => Promise<string>): Promise<string> {
  let resultId: string;
  try {
    resultId = await perform();
  } catch (error) {
    await app.pool
      .query(`DELETE FROM idempotency_keys WHERE user_id = $1 AND operation = $2 AND key = $3 AND completed_at IS NULL`, ids)
      .catch((cleanup: unknown) => app.log.warn({ err: cleanup }, "could not free an idempotency key"));
    throw error;
  }
  await app.pool.query(`UPDATE idempotency_keys SET result_id = $4, completed_at = now() WHERE user_id = $1 AND operation = $2 AND key = $3`, [
    ...ids,
    resultId,
  ]);
  return resultId;
}

function checkKey(key: string): string {
  if (key.length < 1 || key.length > MAX_KEY_LENGTH) {
    throw new ValidationError(`idempotencyKey: 1 to ${MAX_KEY_LENGTH} characters`, ["idempotencyKey"]);
  }
  // Control characters and lone surrogates have no place in a key (and would not survive logs).
  if (/[\p{Cc}\p{Cs}]/u.test(key)) {
    throw new ValidationError("idempotencyKey: printable characters only", ["idempotencyKey"]);
  }
  return key;
}

/** SHA-256 of the operation and its input as canonical JSON: sorted keys, nulls and undefined dropped. */
export function requestHash(operation: string, input: unknown): string {
  return createHash("sha256")
    .update(`${operation}\u0000${JSON.stringify(canonical(input))}`)
    .digest("hex");
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value instanceof Date) return value.toISOString();
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== null && v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}

const lastPurge = new WeakMap<App, number>();

/** Forgets expired keys, at most once a minute per process, without holding up the request. */
function purgeExpired(app: App): void {
  const now = Date.now();
  if (now - (lastPurge.get(app) ?? 0) < PURGE_EVERY_MS) return;
  lastPurge.set(app, now);
  app.pool
    .query(`DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)`, [app.config.security.idempotencyTtlMs / 1000])
    .catch((error: unknown) => app.log.warn({ err: error }, "could not purge expired idempotency keys"));
}
