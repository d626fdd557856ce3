// Signing secrets. A Standard Webhooks secret signs with HMAC, so the secret itself must be
// recoverable: it cannot be stored as a hash. It is stored encrypted (AES-256-GCM) under a key
// that is not in the database (BILLRUN_WEBHOOK_SECRET_KEY, or a key file in the data directory),
// so a copy of the database alone does not reveal any secret. Secrets are never logged.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Config } from "../config.ts";

const VERSION = "v1";
const keys = new Map<string, Promise<Buffer>>();

function parseKey(text: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, "hex") : Buffer.from(trimmed, "base64");
  if (key.length !== 32) throw new Error("the webhook secret key must be 32 bytes (64 hex digits or base64)");
  return key;
}

/** The key of this process: the configured one, else the data directory's key file, created (mode 0600) by the first process that needs it. */
export function secretKey(config: Pick<Config, "webhooks">): Promise<Buffer> {
  const { secretKey: configured, secretKeyFile } = config.webhooks;
  const cacheKey = configured ? `env:${configured}` : `file:${secretKeyFile}`;
  let key = keys.get(cacheKey);
  if (!key) {
    key = configured ? Promise.resolve(parseKey(configured)) : keyFromFile(secretKeyFile);
    key.catch(() => keys.delete(cacheKey));
    keys.set(cacheKey, key);
  }
  return key;
}

async function keyFromFile(file: string): Promise<Buffer> {
  try {
    return parseKey(await readFile(file, "utf8"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(path.dirname(file), { recursive: true });
  try {
    await writeFile(file, `${randomBytes(32).toString("hex")}\n`, { mode: 0o600, flag: "wx" });
  } catch (error) {
    // Another process made it first: use theirs.
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  return parseKey(await readFile(file, "utf8"));
}

/** A new signing secret: `whsec_` and 32 random bytes in base64, as Standard Webhooks defines it. */
export function generateSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

/** "v1:" + base64(iv | tag | ciphertext). */
export function encryptSecret(key: Buffer, secret: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const ciphertext = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()]);
  return `${VERSION}:${Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString("base64")}`;
}

/** The secret; throws when the text was not encrypted under this key (the processes were given different keys). */
export function decryptSecret(key: Buffer, stored: string): string {
  const [version, packed] = stored.split(":");
  if (version !== VERSION || !packed) throw new Error("unknown webhook secret format");
  const bytes = Buffer.from(packed, "base64");
  const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, 12));
  decipher.setAuthTag(bytes.subarray(12, 28));
  try {
    return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString("utf8");
  } catch {
    throw new Error("a webhook secret cannot be decrypted with this process's key: every process needs the same BILLRUN_WEBHOOK_SECRET_KEY");
  }
}
