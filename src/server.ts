import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { startApp } from "./app.ts";
import { startMailer } from "./notifications/mailer.ts";
import { startScheduler } from "./schedules/scheduler.ts";
import { registerWorkers } from "./billruns/executor.ts";
import { loadConfig } from "./config.ts";
import { openDatabase } from "./database.ts";
import { bootstrapAdmin, ensureAdmin } from "./auth/users.ts";
import { loadDemoData } from "./demo/seed.ts";
import { startHttpServer } from "./http.ts";
import { startImportRunner } from "./imports/runner.ts";
import { createLogger } from "./log.ts";

const config = loadConfig();
const log = createLogger(config.logLevel);

const database = await openDatabase(config, log);
const app = await startApp(config, database.url, log);

if (config.adminToken) {
  await ensureAdmin(app.db, config.adminToken);
} else {
  const token = await bootstrapAdmin(app.db);
  if (token) {
    // Kept beside the data so a scrolled-away console does not lock anyone out.
    await mkdir(config.dataDir, { recursive: true });
    const tokenFile = path.join(config.dataDir, "admin-token");
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    log.info({ tokenFile }, "created user admin@localhost");
    console.log(`\n  Admin token (admin@localhost): ${token}\n  (also saved in ${tokenFile})\n`);
  }
}

if (config.demoData && (await app.db.account.count()) === 0) {
  const summary = await loadDemoData(app.db);
  log.info(summary, "demo data loaded");
}

if (config.runWorker) await registerWorkers(app, config.workerConcurrency);
// Every process may send mail and run the scheduler: outbox leases and occurrence claims keep
// them from doing the same work twice.
const mailer = config.mail.enabled ? startMailer(app) : null;
const scheduler = config.scheduler.enabled ? startScheduler(app) : null;
const importer = config.runWorker ? startImportRunner(app) : null;

const http = await startHttpServer(app, config.port, config.host);
console.log(`\n  Billrun is running: ${http.url}  (GraphiQL in a browser, graphql-ws on the same URL)\n`);

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, "shutting down");
  await http.close().catch((error) => log.error({ err: error }, "closing HTTP failed"));
  await scheduler?.stop();
  await importer?.stop();
  await mailer?.stop();
  await app.close().catch((error) => log.error({ err: error }, "closing database connections failed"));
  await database.embedded?.stop();
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
