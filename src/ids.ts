import { randomFillSync, randomUUID } from "node:crypto";

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

/**
 * The same kind of id as timeOrderedId, written as its 16 bytes at `offset` of `target` (for
 * COPY's binary format, which takes a uuid as bytes): no text to build and then parse again.
 * The random bits come from a pool of node:crypto's random bytes, refilled when used up.
 * Throws RangeError when fewer than 16 bytes remain at `offset`.
 */
export function writeTimeOrderedId(target: Uint8Array, offset: number): void {
  if (offset < 0 || offset + 16 > target.length) throw new RangeError(`no room for an id at ${offset}`);
  if (entropy.at + 10 > entropy.pool.length) {
    randomFillSync(entropy.pool);
    entropy.at = 0;
  }
  const now = Date.now();
  // 48 bits of milliseconds: the high 16 and the low 32, as bitwise operators work on 32 bits.
  const high = Math.floor(now / 2 ** 32);
  const low = now >>> 0;
  target[offset] = high >>> 8;
  target[offset + 1] = high & 0xff;
  target[offset + 2] = low >>> 24;
  target[offset + 3] = (low >>> 16) & 0xff;
  target[offset + 4] = (low >>> 8) & 0xff;
  target[offset + 5] = low & 0xff;
  const pool = entropy.pool;
  let at = entropy.at;
  // Version 7 in the high nibble of byte 6, the RFC's variant (10) in the high bits of byte 8.
  target[offset + 6] = 0x70 | (pool[at++]! & 0x0f);
  target[offset + 7] = pool[at++]!;
  target[offset + 8] = 0x80 | (pool[at++]! & 0x3f);
  for (let i = 9; i < 16; i++) target[offset + i] = pool[at++]!;
  entropy.at = at;
}
const entropy = { pool: Buffer.alloc(4096), at: 4096 };
