import path from "node:path";
import { z } from "zod";

/** A yes/no setting; undefined when left unset (or empty). */
const optionalFlag = z
  .enum(["true", "false", "1", "0", "yes", "no", ""])
  .optional()
  .transform((v) => (v === undefined || v === "" ? undefined : ["true", "1", "yes"].includes(v)));
const booleanFlag = (fallback: boolean) => optionalFlag.transform((v) => v ?? fallback);

const environment = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  HOST: z.string().default("0.0.0.0"),
  DATABASE_URL: z.string().url().optional(),
  BILLRUN_DATA_DIR: z.string().default(".data"),
  BILLRUN_DEMO_DATA: booleanFlag(true),
  BILLRUN_ADMIN_TOKEN: z.string().min(16, "BILLRUN_ADMIN_TOKEN must be at least 16 characters").optional(),
  BILLRUN_WORKER: booleanFlag(true),
  BILLRUN_CHUNK_SIZE: z.coerce.number().int().min(1).max(10_000).default(1000),
  BILLRUN_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
  BILLRUN_JOB_EXPIRE_SECONDS: z.coerce.number().int().min(1).max(86_400).default(300),
  BILLRUN_JOB_MAINTENANCE_SECONDS: z.coerce.number().int().min(1).max(3_600).default(30),
  BILLRUN_WS_MAX_BUFFERED_BYTES: z.coerce.number().int().min(1024).default(4 * 1024 * 1024),
  BILLRUN_WS_KEEPALIVE_SECONDS: z.coerce.number().min(1).max(3_600).default(12),
  SMTP_URL: z.string().optional(),
  EMAIL_FROM: z.string().default("Billrun <billrun@localhost>"),
  PUBLIC_URL: z.string().url().optional(),
  BILLRUN_MAILER: booleanFlag(true),
  BILLRUN_MAIL_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  BILLRUN_MAIL_POLL_SECONDS: z.coerce.number().min(0.05).max(3_600).default(2),
  BILLRUN_MAIL_RETRY_BASE_SECONDS: z.coerce.number().min(0.01).max(3_600).default(10),
  BILLRUN_MAIL_RETRY_MAX_SECONDS: z.coerce.number().min(0.01).max(86_400).default(3_600),
  BILLRUN_MAIL_LEASE_SECONDS: z.coerce.number().min(1).max(86_400).default(600),
  BILLRUN_SCHEDULER: booleanFlag(true),
  BILLRUN_SCHEDULER_INTERVAL_SECONDS: z.coerce.number().min(0.05).max(3_600).default(15),
  BILLRUN_IMPORT_MAX_BYTES: z.coerce.number().int().min(1024).max(2 ** 40).default(2 * 1024 ** 3),
  BILLRUN_IMPORT_BATCH_ROWS: z.coerce.number().int().min(1).max(50_000).default(5_000),
  BILLRUN_IMPORT_CONCURRENCY: z.coerce.number().int().min(0).max(16).default(1),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  // Unset: on outside production (GraphiQL needs it), off in production.
  BILLRUN_INTROSPECTION: optionalFlag,
  BILLRUN_MAX_DEPTH: z.coerce.number().int().min(2).max(100).default(12),
  BILLRUN_MAX_ALIASES: z.coerce.number().int().min(0).max(1_000).default(15),
  BILLRUN_MAX_TOKENS: z.coerce.number().int().min(100).max(100_000).default(2000),
  BILLRUN_MAX_DIRECTIVES: z.coerce.number().int().min(0).max(1_000).default(10),
  BILLRUN_MAX_COST: z.coerce.number().int().min(100).max(10_000_000).default(50_000),
  BILLRUN_MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(100 * 1024 * 1024).default(1024 * 1024),
  BILLRUN_CORS_ORIGINS: z.string().optional(),
  BILLRUN_IDEMPOTENCY_TTL_HOURS: z.coerce.number().min(0.001).max(24 * 365).default(24),
  BILLRUN_WS_REAUTH_SECONDS: z.coerce.number().min(0.05).max(3_600).default(10),
});

export type Config = ReturnType<typeof loadConfig>;

/** Parses the environment once; a bad value stops start-up with the variable's name. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  const parsed = environment.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`).join("\n");
    throw new Error(`invalid configuration:\n${problems}`);
  }
  const c = parsed.data;
  const dataDir = path.resolve(c.BILLRUN_DATA_DIR);
  return {
    env: c.NODE_ENV,
    isDevelopment: c.NODE_ENV !== "production",
    port: c.PORT,
    host: c.HOST,
    databaseUrl: c.DATABASE_URL,
    dataDir,
    demoData: c.BILLRUN_DEMO_DATA,
    adminToken: c.BILLRUN_ADMIN_TOKEN,
    runWorker: c.BILLRUN_WORKER,
    chunkSize: c.BILLRUN_CHUNK_SIZE,
    workerConcurrency: c.BILLRUN_WORKER_CONCURRENCY,
    jobs: {
      expireInSeconds: c.BILLRUN_JOB_EXPIRE_SECONDS,
      maintenanceIntervalSeconds: c.BILLRUN_JOB_MAINTENANCE_SECONDS,
      pollingIntervalSeconds: c.NODE_ENV === "test" ? 0.5 : 1,
    },
    wsMaxBufferedBytes: c.BILLRUN_WS_MAX_BUFFERED_BYTES,
    wsKeepAliveMs: c.BILLRUN_WS_KEEPALIVE_SECONDS * 1000,
    smtpUrl: c.SMTP_URL,
    emailFrom: c.EMAIL_FROM,
    publicUrl: c.PUBLIC_URL,
    mailDir: path.join(dataDir, "mail"),
    mail: {
      /** Run the outbox sender in this process. */
      enabled: c.BILLRUN_MAILER,
      /** Messages a process sends at once. */
      concurrency: c.BILLRUN_MAIL_CONCURRENCY,
      pollIntervalMs: c.BILLRUN_MAIL_POLL_SECONDS * 1000,
      /** First retry delay after a failed attempt; doubles each attempt up to retryMaxMs. */
      retryBaseMs: c.BILLRUN_MAIL_RETRY_BASE_SECONDS * 1000,
      retryMaxMs: c.BILLRUN_MAIL_RETRY_MAX_SECONDS * 1000,
      /** A message claimed this long ago and not recorded as sent is presumed abandoned (its sender died) and sent again. */
      leaseMs: c.BILLRUN_MAIL_LEASE_SECONDS * 1000,
    },
    scheduler: {
      /** Run the schedule poller in this process (any number of processes may). */
      enabled: c.BILLRUN_SCHEDULER,
      intervalMs: c.BILLRUN_SCHEDULER_INTERVAL_SECONDS * 1000,
    },
    imports: {
      /** Largest file `POST /imports/{kind}` takes (GraphQL uploads stay under maxBodyBytes). */
      maxBytes: c.BILLRUN_IMPORT_MAX_BYTES,
      /** Rows written per transaction. */
      batchRows: c.BILLRUN_IMPORT_BATCH_ROWS,
      /** Imports this process runs at once; 0: none (it still receives files). */
      concurrency: c.BILLRUN_IMPORT_CONCURRENCY,
    },
    logLevel: c.LOG_LEVEL,
    security: {
      introspection: c.BILLRUN_INTROSPECTION ?? c.NODE_ENV !== "production",
      /** "Did you mean ...?" in error messages: a schema map for whoever probes the API. */
      fieldSuggestions: c.NODE_ENV !== "production",
      maxDepth: c.BILLRUN_MAX_DEPTH,
      maxAliases: c.BILLRUN_MAX_ALIASES,
      maxTokens: c.BILLRUN_MAX_TOKENS,
      maxDirectives: c.BILLRUN_MAX_DIRECTIVES,
      /** Connection-aware cost: every field 1, times `first`/`last` (or 20) under a connection, times 10 under another list. */
      maxCost: c.BILLRUN_MAX_COST,
      /** `first`/`last` above this is refused (VALIDATION), not silently cut. */
      maxPageSize: 100,
      maxBodyBytes: c.BILLRUN_MAX_BODY_BYTES,
      /** Unset: any origin may call the API from a browser (it takes bearer tokens only, never cookies). */
      corsOrigins: c.BILLRUN_CORS_ORIGINS?.split(",").map((o) => o.trim()).filter((o) => o.length > 0),
      idempotencyTtlMs: c.BILLRUN_IDEMPOTENCY_TTL_HOURS * 3_600_000,
      /** How often open WebSockets are checked against revoked tokens. */
      wsReauthMs: c.BILLRUN_WS_REAUTH_SECONDS * 1000,
    },
  };
}
