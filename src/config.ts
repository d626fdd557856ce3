import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { ConfigError, configProblem } from "./startup.ts";

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
  DATABASE_LISTEN_URL: z.string().url().optional(),
  BILLRUN_DB_POOL_SIZE: z.coerce.number().int().min(1).max(1_000).default(10),
  BILLRUN_JOBS_POOL_SIZE: z.coerce.number().int().min(1).max(1_000).default(4),
  BILLRUN_DATA_DIR: z.string().default(".data"),
  BILLRUN_DEMO_DATA: booleanFlag(true),
  BILLRUN_ADMIN_TOKEN: z.string().min(16, "BILLRUN_ADMIN_TOKEN must be at least 16 characters").optional(),
  BILLRUN_WORKER: booleanFlag(true),
  BILLRUN_CHUNK_SIZE: z.coerce.number().int().min(1).max(10_000).default(1000),
  BILLRUN_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).optional(),
  BILLRUN_JOB_EXPIRE_SECONDS: z.coerce.number().int().min(1).max(86_400).default(300),
  BILLRUN_JOB_MAINTENANCE_SECONDS: z.coerce.number().int().min(1).max(3_600).default(30),
  BILLRUN_SWEEP_SECONDS: z.coerce.number().min(0.1).max(3_600).default(2),
  BILLRUN_PROCESS_TIMEOUT_SECONDS: z.coerce.number().min(1).max(86_400).default(10),
  BILLRUN_STALL_WARN_SECONDS: z.coerce.number().min(1).max(86_400).default(60),
  BILLRUN_SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(0).max(3_600).default(25),
  BILLRUN_DRAIN_SECONDS: z.coerce.number().min(0).max(3_600).optional(),
  BILLRUN_WORKER_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  BILLRUN_WS_MAX_BUFFERED_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(4 * 1024 * 1024),
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
  BILLRUN_WEBHOOKS: booleanFlag(true),
  BILLRUN_WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  BILLRUN_WEBHOOK_POLL_SECONDS: z.coerce.number().min(0.01).max(3_600).default(1),
  BILLRUN_WEBHOOK_TIMEOUT_SECONDS: z.coerce.number().min(0.05).max(300).default(10),
  BILLRUN_WEBHOOK_RETRY_BASE_SECONDS: z.coerce.number().min(0.01).max(3_600).default(5),
  BILLRUN_WEBHOOK_RETRY_MAX_SECONDS: z.coerce.number().min(0.01).max(86_400).default(3_600),
  BILLRUN_WEBHOOK_RETRY_HOURS: z.coerce
    .number()
    .min(0.0001)
    .max(24 * 30)
    .default(72),
  BILLRUN_WEBHOOK_DISABLE_AFTER_HOURS: z.coerce
    .number()
    .min(0.0001)
    .max(24 * 365)
    .default(120),
  BILLRUN_WEBHOOK_LEASE_SECONDS: z.coerce.number().min(1).max(3_600).default(30),
  BILLRUN_WEBHOOK_ALLOW_HTTP: booleanFlag(false),
  BILLRUN_WEBHOOK_ALLOW_PRIVATE: booleanFlag(false),
  BILLRUN_WEBHOOK_SECRET_KEY: z
    .string()
    .regex(/^([0-9a-fA-F]{64}|[A-Za-z0-9+/]{43}=)$/, "BILLRUN_WEBHOOK_SECRET_KEY must be 32 bytes, as 64 hex digits or base64")
    .optional(),
  BILLRUN_IMPORT_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(2 ** 40)
    .default(2 * 1024 ** 3),
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
  BILLRUN_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(100 * 1024 * 1024)
    .default(1024 * 1024),
  BILLRUN_CORS_ORIGINS: z.string().optional(),
  BILLRUN_IDEMPOTENCY_TTL_HOURS: z.coerce
    .number()
    .min(0.001)
    .max(24 * 365)
    .default(24),
  BILLRUN_WS_REAUTH_SECONDS: z.coerce.number().min(0.05).max(3_600).default(10),
  BILLRUN_METRICS: booleanFlag(false),
  BILLRUN_METRICS_TOKEN: z.string().min(16, "BILLRUN_METRICS_TOKEN must be at least 16 characters").optional(),
  BILLRUN_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
});

export type Config = ReturnType<typeof loadConfig>;

/** What a bad value should be, in words ("must be a whole number", "must be one of ..."). */
function humanIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return issue.expected === "int" ? "must be a whole number" : `must be a ${issue.expected}`;
    case "too_small":
      return issue.origin === "string" ? `must be at least ${issue.minimum} characters long` : `must be at least ${issue.minimum}`;
    case "too_big":
      return issue.origin === "string" ? `must be at most ${issue.maximum} characters long` : `must be at most ${issue.maximum}`;
    case "invalid_value":
      return `must be one of ${issue.values
        .filter((v) => v !== "")
        .map(String)
        .join(", ")}`;
    case "invalid_format":
      return issue.format === "url" ? "must be a full URL (scheme://host...)" : `must be a valid ${issue.format}`;
    default:
      return issue.message;
  }
}

/**
 * Parses the environment once. A bad value raises ConfigError: one line per variable, with its
 * name, its value (never for secrets) and what is expected.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  const parsed = environment.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = issue.path.join(".");
        return configProblem(name, env[name], humanIssue(issue));
      }),
    );
  }
  const c = parsed.data;
  if (c.BILLRUN_METRICS && c.BILLRUN_METRICS_TOKEN === undefined && c.BILLRUN_METRICS_PORT === undefined) {
    // Metrics name runs, queues and failure codes: not for whoever can reach the API port.
    throw new ConfigError([
      configProblem(
        "BILLRUN_METRICS",
        env.BILLRUN_METRICS,
        "needs BILLRUN_METRICS_TOKEN (a bearer token for /metrics) or BILLRUN_METRICS_PORT (a port of its own)",
      ),
    ]);
  }
  const dataDir = path.resolve(c.BILLRUN_DATA_DIR);
  return {
    env: c.NODE_ENV,
    isDevelopment: c.NODE_ENV !== "production",
    port: c.PORT,
    host: c.HOST,
    databaseUrl: c.DATABASE_URL,
    /** The LISTEN (and process presence) connection: a session, so never through a transaction-mode pooler. */
    databaseListenUrl: c.DATABASE_LISTEN_URL,
    /** Connections of the one pg pool that Prisma and our SQL share. */
    dbPoolSize: c.BILLRUN_DB_POOL_SIZE,
    dataDir,
    demoData: c.BILLRUN_DEMO_DATA,
    adminToken: c.BILLRUN_ADMIN_TOKEN,
    runWorker: c.BILLRUN_WORKER,
    chunkSize: c.BILLRUN_CHUNK_SIZE,
    /**
     * Unset: one chunk more than the cores, leaving 3 of the pool's connections to the rest of the
     * process. While a chunk waits (on its commit, or its turn at the run's row), the others keep
     * the cores busy: on 2 cores, 3 chunks billed 100,000 accounts in 10.2–10.5 s where 2 took
     * 11.0–12.9 s (docs/performance.md).
     */
    workerConcurrency: c.BILLRUN_WORKER_CONCURRENCY ?? Math.max(1, Math.min(os.availableParallelism() + 1, c.BILLRUN_DB_POOL_SIZE - 3)),
    jobs: {
      expireInSeconds: c.BILLRUN_JOB_EXPIRE_SECONDS,
      maintenanceIntervalSeconds: c.BILLRUN_JOB_MAINTENANCE_SECONDS,
      pollingIntervalSeconds: c.NODE_ENV === "test" ? 0.5 : 1,
      /** Connections of pg-boss's own pool. */
      poolSize: c.BILLRUN_JOBS_POOL_SIZE,
    },
    recovery: {
      /** How often every process looks for work whose holder is gone (and a worker says it lives). */
      sweepIntervalMs: c.BILLRUN_SWEEP_SECONDS * 1000,
      /** A worker process silent this long is presumed dead, even if its database session lingers. */
      processTimeoutMs: c.BILLRUN_PROCESS_TIMEOUT_SECONDS * 1000,
      /** An active run without progress this long is logged as stalled. */
      stallWarnMs: c.BILLRUN_STALL_WARN_SECONDS * 1000,
    },
    shutdown: {
      /** After SIGTERM/SIGINT: how long in-flight requests and jobs may take before they are cut off (jobs are released to the queue). */
      graceMs: c.BILLRUN_SHUTDOWN_GRACE_SECONDS * 1000,
      /** After SIGTERM/SIGINT, /ready answers 503 this long while everything is still served, so a load balancer stops routing here first. */
      drainMs: (c.BILLRUN_DRAIN_SECONDS ?? (c.NODE_ENV === "development" ? 0 : 5)) * 1000,
    },
    /** `npm run worker`'s /health and /ready port; undefined: none. */
    workerPort: c.BILLRUN_WORKER_PORT,
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
    webhooks: {
      /** Deliver queued webhooks from this process (any number of processes may). */
      enabled: c.BILLRUN_WEBHOOKS,
      /** Endpoints a process delivers to at once (each endpoint's deliveries go one after another, in event order). */
      concurrency: c.BILLRUN_WEBHOOK_CONCURRENCY,
      pollIntervalMs: c.BILLRUN_WEBHOOK_POLL_SECONDS * 1000,
      timeoutMs: c.BILLRUN_WEBHOOK_TIMEOUT_SECONDS * 1000,
      retryBaseMs: c.BILLRUN_WEBHOOK_RETRY_BASE_SECONDS * 1000,
      retryMaxMs: c.BILLRUN_WEBHOOK_RETRY_MAX_SECONDS * 1000,
      /** A delivery not made within this time of its creation fails for good. */
      retryForMs: c.BILLRUN_WEBHOOK_RETRY_HOURS * 3_600_000,
      /** An endpoint whose attempts all failed for this long is disabled and its creator emailed. */
      disableAfterMs: c.BILLRUN_WEBHOOK_DISABLE_AFTER_HOURS * 3_600_000,
      /** A process holds an endpoint this long, renewed as it sends; a dead process's lease expires and another takes over. Keep it above the timeout + 5 s. */
      leaseMs: c.BILLRUN_WEBHOOK_LEASE_SECONDS * 1000,
      allowHttp: c.BILLRUN_WEBHOOK_ALLOW_HTTP,
      allowPrivate: c.BILLRUN_WEBHOOK_ALLOW_PRIVATE,
      /** Encrypts signing secrets at rest; unset: a key file in the data directory, made at first use. */
      secretKey: c.BILLRUN_WEBHOOK_SECRET_KEY,
      secretKeyFile: path.join(dataDir, "webhook-secret-key"),
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
    metrics: {
      /** Serve `GET /metrics` (Prometheus text). */
      enabled: c.BILLRUN_METRICS,
      /** When set, /metrics answers 401 without `authorization: Bearer <token>`. */
      token: c.BILLRUN_METRICS_TOKEN,
      /** When set, /metrics is served on this port only (not on PORT nor BILLRUN_WORKER_PORT). */
      port: c.BILLRUN_METRICS_PORT,
    },
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
      corsOrigins: c.BILLRUN_CORS_ORIGINS?.split(",")
        .map((o) => o.trim())
        .filter((o) => o.length > 0),
      idempotencyTtlMs: c.BILLRUN_IDEMPOTENCY_TTL_HOURS * 3_600_000,
      /** Safety net: how often open subscriptions are checked against the database (changes are announced and applied at once). */
      wsReauthMs: c.BILLRUN_WS_REAUTH_SECONDS * 1000,
    },
  };
}
