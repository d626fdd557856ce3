import { AsyncLocalStorage } from "node:async_hooks";
import pino from "pino";
import { hideUrlPasswords } from "./startup.ts";

export type Logger = pino.Logger;

/** Keys whose values are secrets or live connection objects: never written to a log. */
const SECRET_KEYS = ["password", "token", "authorization", "connectionString", "databaseUrl", "smtpUrl", "adminToken", "secretKey", "cancelKey"];
/** Keys of objects that hold a connection (pg's client, its socket): they carry credentials and cancel keys. */
const CONNECTION_KEYS = new Set(["client", "connection", "connectionParameters", "socket", "stream", "_client", "_connection", "pool", "_pool"]);

/**
 * `err` as pino's standard serializer gives it, minus connection objects (pg errors and pool
 * events may carry the client: its password and cancel key), with passwords in URLs hidden.
 */
function serializeError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  return scrub(pino.stdSerializers.err(error), 0);
}

function scrub(value: unknown, depth: number): unknown {
  if (typeof value === "string") return hideUrlPasswords(value);
  if (value === null || typeof value !== "object" || depth > 6) return value;
  if (Array.isArray(value)) return value.map((item) => scrub(item, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (CONNECTION_KEYS.has(key)) continue;
    out[key] = SECRET_KEYS.includes(key) ? "[Redacted]" : scrub(item, depth + 1);
  }
  return out;
}

const scopeFields = new AsyncLocalStorage<Record<string, unknown>>();

/**
 * Runs `work` with `fields` (a job's `billRunId`, say) added to every log line written while it
 * runs, by whatever code and logger: no logger has to be handed down to get them.
 */
export function withLogFields<T>(fields: Record<string, unknown>, work: () => T): T {
  return scopeFields.run({ ...scopeFields.getStore(), ...fields }, work);
}

/** A pino logger (JSON lines on stdout unless `destination` is given) that redacts secrets. */
export function createLogger(level: string, name = "billrun", destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    name,
    level,
    base: { pid: process.pid },
    // The fields of the job in progress (withLogFields); those the call passes win.
    mixin: () => ({ ...scopeFields.getStore() }),
    serializers: { err: serializeError, error: serializeError },
    redact: {
      paths: [...SECRET_KEYS, ...SECRET_KEYS.map((key) => `*.${key}`), "req.headers.authorization", "headers.authorization", "headers.cookie"],
      censor: "[Redacted]",
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
