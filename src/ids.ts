import { randomUUID } from "node:crypto";

/**
 * A random id (UUID version 7, RFC 9562) that starts with the current time in milliseconds, as
 * text. Rows written together get ids side by side, so a primary key's index takes them at its
 * right edge instead of at a random page each: fewer pages touched, read and logged (a full-page
 * image per page after each checkpoint). The random part is node:crypto's randomUUID, which draws
 * from a cached pool of entropy (a v4 id's random bits, variant kept); the `uuid` package's v7
 * draws entropy per call and cost about ten times as much per id, more than billing an account.
 */
export function timeOrderedId(): string {
  const now = Date.now();
  if (now !== clock.ms) {
    const hex = now.toString(16).padStart(12, "0");
    clock.ms = now;
    clock.prefix = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7`;
  }
  return clock.prefix + randomUUID().slice(15);
}
const clock = { ms: -1, prefix: "" };
