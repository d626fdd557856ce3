// A worker process: takes bill-run jobs from the shared PostgreSQL, serves no HTTP.
// Run as many as the database can take (`npm run worker`); they share the work by chunks.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { startApp } from "./app.ts";
import { startMailer } from "./notifications/mailer.ts";
import { startScheduler } from "./schedules/scheduler.ts";
import { registerWorkers } from "./billruns/executor.ts";
import { loadConfig } from "./config.ts";
import { openDatabase } from "./database.ts";
import { createLogger } from "./log.ts";
import { guardStartup, StartupError } from "./startup.ts";

// Until it works, any failure ends the process with one message naming cause and fix.
const startup = guardStartup();
const config = loadConfig();
const log = createLogger(config.logLevel, "billrun-worker");
startup.setLogger(log);
const source = config.databaseUrl ? "DATABASE_URL" : "announced";
if (!config.databaseUrl) {
  // Beside `npm start` with its embedded PostgreSQL: use the database it announced.
  const announced = await readFile(path.join(config.dataDir, "database-url"), "utf8").catch(() => null);
  if (!announced) {
    throw new StartupError(
      "npm run worker needs a database, and no `npm start` with its embedded PostgreSQL runs in this data directory",
      "set DATABASE_URL, or start `npm start` in the same directory (same BILLRUN_DATA_DIR) first",
    );
  }
  config.databaseUrl = announced.trim();
}
const database = await openDatabase(config, log, source);
const app = await startApp(config, database.url, log);
await registerWorkers(app, config.workerConcurrency);
const mailer = config.mail.enabled ? startMailer(app) : null;
const scheduler = config.scheduler.enabled ? startScheduler(app) : null;
startup.done();
log.info({ concurrency: config.workerConcurrency }, "worker started");

async function shutdown() {
  await scheduler?.stop();
  await mailer?.stop();
  await app.close();
  process.exit(0);
}
process.on("SIGINT", () => void shutdown());
process.on("SIGTERM", () => void shutdown());
