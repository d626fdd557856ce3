// A worker process: takes bill-run jobs from the shared PostgreSQL, serves no HTTP.
// Run as many as the database can take (`npm run worker`); they share the work by chunks.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { startApp } from "./app.ts";
import { startMailer } from "./notifications/mailer.ts";
import { startDeliverer } from "./webhooks/deliverer.ts";
import { startScheduler } from "./schedules/scheduler.ts";
import { registerWorkers } from "./billruns/executor.ts";
import { loadConfig } from "./config.ts";
import { openDatabase } from "./database.ts";
import { createLogger } from "./log.ts";
import { guardStartup, StartupError } from "./startup.ts";
import { startHealthServer } from "./http.ts";
import { startSupervisor } from "./billruns/supervisor.ts";
import { onStopSignals } from "./shutdown.ts";
import { startMetricsServer } from "./observability/http.ts";
import { startImportRunner } from "./imports/runner.ts";

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
const supervisor = await startSupervisor(app, { worker: true, kind: "worker" });
const workers = await registerWorkers(app, config.workerConcurrency, supervisor.processId);
const mailer = config.mail.enabled ? startMailer(app) : null;
const webhooks = config.webhooks.enabled ? startDeliverer(app) : null;
const scheduler = config.scheduler.enabled ? startScheduler(app) : null;
const importer = startImportRunner(app);
const health = config.workerPort === undefined ? null : await startHealthServer(app, config.workerPort, config.host);
const metricsServer = config.metrics.enabled && config.metrics.port !== undefined ? await startMetricsServer(app, config.metrics.port, config.host) : null;
startup.done();
log.info({ concurrency: config.workerConcurrency, processId: supervisor.processId, health: health?.url, metrics: metricsServer?.url }, "worker started");

const { graceMs } = config.shutdown;
onStopSignals(log, graceMs + 15_000, async (signal) => {
  log.info({ signal, graceSeconds: graceMs / 1000 }, "stopping: no new jobs; jobs in hand finish");
  health?.drain();
  const schedulerDone = scheduler?.stop();
  const released = await workers.stop(graceMs);
  if (released === 0) log.info("bill-run jobs finished");
  await schedulerDone;
  await importer.stop();
  await mailer?.stop();
  await webhooks?.stop();
  await supervisor.stop();
  await health?.close();
  await metricsServer?.close();
  await app.close();
  log.info("database connections closed");
});
