import { createHash, randomBytes } from "node:crypto";

export function newToken(): string {
  return `brt_${randomBytes(32).toString("base64url")}`;
}

/** Tokens are stored as SHA-256 digests: high-entropy secrets need no slow hash. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export function bearerToken(header: string | null | undefined): string | null {
  if (!header) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1]! : null;
}
