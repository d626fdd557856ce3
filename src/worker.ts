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
import { startImportRunner } from "./imports/runner.ts";

const config = loadConfig();
const log = createLogger(config.logLevel, "billrun-worker");
if (!config.databaseUrl) {
  // Beside `npm start` with its embedded PostgreSQL: use the database it announced.
  const announced = await readFile(path.join(config.dataDir, "database-url"), "utf8").catch(() => null);
  if (!announced) {
    console.error("npm run worker needs DATABASE_URL, or a running `npm start` with its embedded PostgreSQL in the same data directory");
    process.exit(2);
  }
  config.databaseUrl = announced.trim();
}
const database = await openDatabase(config, log);
const app = await startApp(config, database.url, log);
await registerWorkers(app, config.workerConcurrency);
const mailer = config.mail.enabled ? startMailer(app) : null;
const scheduler = config.scheduler.enabled ? startScheduler(app) : null;
const importer = startImportRunner(app);
log.info({ concurrency: config.workerConcurrency }, "worker started");

async function shutdown() {
  await scheduler?.stop();
  await importer.stop();
  await mailer?.stop();
  await app.close();
  process.exit(0);
}
process.on("SIGINT", () => void shutdown());
process.on("SIGTERM", () => void shutdown());
