import { z } from "zod";
import type { Db } from "../db/client.ts";
import type { Role, User } from "../generated/prisma/client.ts";
import { ConflictError, conflictOnDuplicate } from "../errors.ts";
import { email, parseInput, trimmedName } from "../validation.ts";
import { bearerToken, hashToken, newToken } from "./tokens.ts";

export const ROLE_RANK: Record<Role, number> = { VIEWER: 1, OPERATOR: 2, ADMIN: 3 };

export function hasRole(user: Pick<User, "role"> | null | undefined, role: Role): boolean {
  return !!user && ROLE_RANK[user.role] >= ROLE_RANK[role];
}

/** The user behind an `Authorization` header value, or null for a missing, unknown or revoked token. */
export async function authenticate(db: Db, authorization: string | null | undefined): Promise<User | null> {
  const token = bearerToken(authorization);
  if (!token || token.length > 200) return null;
  const row = await db.apiToken.findUnique({ where: { tokenHash: hashToken(token) }, include: { user: true } });
  if (!row || row.revokedAt) return null;
  return row.user;
}

const createUserInput = z.object({
  email,
  name: trimmedName(200),
  role: z.enum(["ADMIN", "OPERATOR", "VIEWER"]),
});

export async function createUser(db: Db, input: unknown): Promise<{ user: User; token: string }> {
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
    update: { role: "ADMIN" },
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
