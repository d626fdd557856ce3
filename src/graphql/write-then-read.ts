import { NotFoundError } from "../errors.ts";
import { idempotent } from "../idempotency/idempotency.ts";
import type { Context } from "./context.ts";

/** A mutation's idempotency: its name, the caller's key (if any) and its other arguments, as sent. */
export interface Idempotency {
  operation: string;
  key: string | null | undefined;
  input: unknown;
}

/**
 * The answer of a mutation that writes a row through a service: runs `write`, which returns the
 * row's id as text (once per key when `idempotency` carries one; a replay returns the first
 * run's id), then reads that row with `read`. `read` spreads the selection plugin-prisma planned
 * for the mutation's result (the `query` of a `t.prismaField`), so the result's nested fields
 * load in that one query, as a query's do. The row is read as it is now, also on a replay.
 *
 * Returns the row. Raises what `write` raises (the errors of the result union), ConflictError
 * for a key reused with other arguments, and NotFoundError when the row is gone (a replayed key
 * whose row was deleted since; `what` names the row, e.g. "bill run").
 */
export async function writeThenRead<T>(
  ctx: Context,
  idempotency: Idempotency | null,
  write: () => Promise<string>,
  read: (id: string) => Promise<T | null>,
  what: string,
): Promise<T> {
  const id = idempotency ? await idempotent(ctx.app, { userId: ctx.user!.id, ...idempotency }, write) : await write();
  const row = await read(id);
  if (row) return row;
  const replay = idempotency?.key !== null && idempotency?.key !== undefined;
  throw new NotFoundError(replay ? `${what} ${id} (the result of this idempotencyKey) no longer exists` : `${what} ${id} not found`);
}
