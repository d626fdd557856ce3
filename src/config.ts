import path from "node:path";
import { z } from "zod";

const booleanFlag = (fallback: boolean) =>
  z
    .enum(["true", "false", "1", "0", "yes", "no", ""])
    .optional()
    .transform((v) => (v === undefined || v === "" ? fallback : ["true", "1", "yes"].includes(v)));

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
  SMTP_URL: z.string().optional(),
  EMAIL_FROM: z.string().default("Billrun <billrun@localhost>"),
  PUBLIC_URL: z.string().url().optional(),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
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
    smtpUrl: c.SMTP_URL,
    emailFrom: c.EMAIL_FROM,
    publicUrl: c.PUBLIC_URL,
    mailDir: path.join(dataDir, "mail"),
    logLevel: c.LOG_LEVEL,
  };
}
