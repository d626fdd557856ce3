import { z } from "zod";
import type { Db } from "../db/client.ts";
import type { ApiToken, User } from "../generated/prisma/client.ts";
import { Role } from "../generated/prisma/enums.ts";
import { ConflictError, InvalidStateError, NotFoundError, ValidationError, conflictOnDuplicate } from "../errors.ts";
import { isUuid } from "../util.ts";
import { email, parseInput, trimmedName, type InputOf } from "../validation.ts";
import { bearerToken, hashToken, newToken } from "./tokens.ts";
import { announceSecurityChange } from "./access.ts";

export const ROLE_RANK: Record<Role, number> = { VIEWER: 1, OPERATOR: 2, ADMIN: 3 };

/** Whether `user` has `role` or a higher one (VIEWER < OPERATOR < ADMIN); false without a user. */
export function hasRole(user: Pick<User, "role"> | null | undefined, role: Role): boolean {
  return !!user && ROLE_RANK[user.role] >= ROLE_RANK[role];
}

/** The user behind an `Authorization` header value, or null for a missing, unknown or revoked token or a disabled user. */
export async function authenticate(db: Db, authorization: string | null | undefined): Promise<User | null> {
  return (await authenticateToken(db, authorization))?.user ?? null;
}

/** Like `authenticate`, with the id of the token used (open subscriptions are watched by it). */
export async function authenticateToken(db: Db, authorization: string | null | undefined): Promise<{ user: User; tokenId: string } | null> {
  const token = bearerToken(authorization);
  if (!token || token.length > 200) return null;
  const row = await db.apiToken.findUnique({ where: { tokenHash: hashToken(token) }, include: { user: true } });
  if (!row || row.revokedAt || row.user.disabledAt) return null;
  return { user: row.user, tokenId: row.id };
}

const createUserInput = z.object({
  email,
  name: trimmedName(200),
  role: z.enum(Role),
});

/** createUser's input: email, name and role. */
export type CreateUserInput = InputOf<typeof createUserInput>;

/**
 * Creates a user with a first API token; returns both (the token in clear, this once). Raises
 * ValidationError, ConflictError (the email is taken, in any case).
 */
export async function createUser(db: Db, input: CreateUserInput): Promise<{ user: User; token: string }> {
  const data = parseInput(createUserInput, input);
  const existing = await db.user.findUnique({ where: { email: data.email.toLowerCase() } });
  if (existing) throw new ConflictError(`a user with email ${data.email} already exists`);
  const token = newToken();
  const user = await conflictOnDuplicate(
    db.user.create({
      data: { email: data.email.toLowerCase(), name: data.name, role: data.role, tokens: { create: { tokenHash: hashToken(token), label: "initial" } } },
    }),
    `a user with email ${data.email} already exists`,
  );
  return { user, token };
}

/**
 * Makes sure `admin@localhost` exists with `token` (BILLRUN_ADMIN_TOKEN). Idempotent, so every
 * process can call it at start-up.
 */
export async function ensureAdmin(db: Db, token: string): Promise<User> {
  const user = await db.user.upsert({
    where: { email: "admin@localhost" },
    create: { email: "admin@localhost", name: "Administrator", role: "ADMIN" },
    update: { role: "ADMIN", disabledAt: null },
  });
  await db.apiToken.upsert({
    where: { tokenHash: hashToken(token) },
    create: { userId: user.id, tokenHash: hashToken(token), label: "BILLRUN_ADMIN_TOKEN" },
    update: { userId: user.id, revokedAt: null },
  });
  return user;
}

/** At first start with no users and no configured token: an admin with a fresh token, printed once. */
export async function bootstrapAdmin(db: Db): Promise<string | null> {
  if ((await db.user.count()) > 0) return null;
  const token = newToken();
  await ensureAdmin(db, token);
  return token;
}

/** Who may manage whose tokens: an ADMIN anyone's, an OPERATOR their own, a VIEWER nobody's (read-only). */
function canManageTokensOf(actor: User, userId: string): boolean {
  return hasRole(actor, "ADMIN") || (actor.id === userId && hasRole(actor, "OPERATOR"));
}

const createApiTokenInput = z.object({
  label: trimmedName(100),
  userId: z.string().optional(),
});

/** createApiToken's input: a label, and whose token it is (default: the actor's). */
export type CreateApiTokenInput = InputOf<typeof createApiTokenInput>;

/**
 * A new token for `input.userId` (default: the actor). The token itself is returned once; only its
 * hash is stored. Raises ValidationError, NotFoundError (a user the actor may not manage tokens of
 * is not found to them).
 */
export async function createApiToken(db: Db, actor: User, input: CreateApiTokenInput): Promise<{ apiToken: ApiToken; token: string }> {
  const data = parseInput(createApiTokenInput, input);
  const userId = data.userId ?? actor.id;
  // Another user's id is "not found" to whoever may not manage that user's tokens.
  if (!isUuid(userId) || !canManageTokensOf(actor, userId) || !(await db.user.findUnique({ where: { id: userId } }))) {
    throw new NotFoundError(`user ${userId} not found`);
  }
  const token = newToken();
  const apiToken = await db.apiToken.create({ data: { userId, tokenHash: hashToken(token), label: data.label } });
  return { apiToken, token };
}

/**
 * Revokes a token at once: once this returns, no request with it is served (HTTP, SSE or a
 * WebSocket operation), and every process has been told to end the subscriptions opened with
 * it (WebSockets closed with 4403). Revoking a revoked token returns it unchanged. Returns the
 * token; raises NotFoundError (also for a token the actor may not manage).
 */
export async function revokeApiToken(db: Db, actor: User, id: string): Promise<ApiToken> {
  const row = isUuid(id) ? await db.apiToken.findUnique({ where: { id } }) : null;
  if (!row || !canManageTokensOf(actor, row.userId)) throw new NotFoundError(`API token ${id} not found`);
  if (row.revokedAt) return row;
  await db.$transaction(async (tx) => {
    const revoked = await tx.apiToken.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: new Date() } });
    if (revoked.count > 0) await announceSecurityChange(tx, { kind: "TOKEN_REVOKED", tokenId: id });
  });
  return db.apiToken.findUniqueOrThrow({ where: { id } });
}

const updateUserInput = z.object({
  id: z.string(),
  name: trimmedName(200).optional(),
  role: z.enum(Role).optional(),
  disabled: z.boolean().optional(),
});

/** updateUser's input: the user's id and the fields to change. */
export type UpdateUserInput = InputOf<typeof updateUserInput>;

/**
 * Changes a user's name, role or status (`disabled`: none of their tokens authenticates while
 * set). A change of role or status takes effect at once on every process: their open
 * subscriptions are ended (WebSockets closed with 4403) and they reconnect with the new role.
 * The last enabled ADMIN can be neither demoted nor disabled (InvalidStateError): someone must
 * be able to undo it. Returns the user. Errors: NotFoundError, ValidationError (nothing to change).
 */
export async function updateUser(db: Db, input: UpdateUserInput): Promise<User> {
  const data = parseInput(updateUserInput, input);
  if (data.name === undefined && data.role === undefined && data.disabled === undefined) {
    throw new ValidationError("input: nothing to update", ["input"]);
  }
  if (!isUuid(data.id)) throw new NotFoundError(`user ${data.id} not found`);
  return db.$transaction(async (tx) => {
    // One change of roles at a time: two ADMINs demoting each other must not both succeed.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('billrun.users.roles'))`;
    const user = await tx.user.findUnique({ where: { id: data.id } });
    if (!user) throw new NotFoundError(`user ${data.id} not found`);
    const role = data.role ?? user.role;
    const disabled = data.disabled ?? user.disabledAt !== null;
    const wasAdmin = user.role === "ADMIN" && user.disabledAt === null;
    if (wasAdmin && (role !== "ADMIN" || disabled) && (await tx.user.count({ where: { role: "ADMIN", disabledAt: null } })) === 1) {
      throw new InvalidStateError(`${user.email} is the last enabled ADMIN: make another user ADMIN first`);
    }
    const updated = await tx.user.update({
      where: { id: user.id },
      data: {
        name: data.name,
        role,
        disabledAt: disabled ? (user.disabledAt ?? new Date()) : null,
      },
    });
    if (role !== user.role || disabled !== (user.disabledAt !== null)) {
      await announceSecurityChange(tx, { kind: "USER_CHANGED", userId: user.id, role, disabled });
    }
    return updated;
  });
}
