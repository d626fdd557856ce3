import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { startApp } from "./app.ts";
import { startMailer } from "./notifications/mailer.ts";
import { startDeliverer } from "./webhooks/deliverer.ts";
import { startScheduler } from "./schedules/scheduler.ts";
import { registerWorkers } from "./billruns/executor.ts";
import { loadConfig } from "./config.ts";
import { openDatabase } from "./database.ts";
import { bootstrapAdmin, ensureAdmin } from "./auth/users.ts";
import { loadDemoData } from "./demo/seed.ts";
import { startHttpServer } from "./http.ts";
import { startImportRunner } from "./imports/runner.ts";
import { createLogger } from "./log.ts";
import { assertPortFree, guardStartup } from "./startup.ts";
import { startSupervisor } from "./billruns/supervisor.ts";
import { onStopSignals } from "./shutdown.ts";
import { startMetricsServer } from "./observability/http.ts";

// Until it serves, any failure ends the process with one message naming cause and fix.
const startup = guardStartup();
const config = loadConfig();
const log = createLogger(config.logLevel);
startup.setLogger(log);
await assertPortFree(config.port, config.host, "PORT");

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

// Every process sweeps for work whose holder died; a process with a worker also says it lives.
const supervisor = await startSupervisor(app, { worker: config.runWorker, kind: "server" });
const workers = config.runWorker ? await registerWorkers(app, config.workerConcurrency, supervisor.processId) : null;
// Every process may send mail and run the scheduler: outbox leases and occurrence claims keep
// them from doing the same work twice.
const mailer = config.mail.enabled ? startMailer(app) : null;
const webhooks = config.webhooks.enabled ? startDeliverer(app) : null;
const scheduler = config.scheduler.enabled ? startScheduler(app) : null;
const importer = config.runWorker ? startImportRunner(app) : null;

const http = await startHttpServer(app, config.port, config.host);
const metricsServer = config.metrics.enabled && config.metrics.port !== undefined ? await startMetricsServer(app, config.metrics.port, config.host) : null;
startup.done();
console.log(`\n  Billrun is running: ${http.url}  (GraphiQL in a browser, graphql-ws on the same URL)\n`);

const { drainMs, graceMs } = config.shutdown;
onStopSignals(log, drainMs + graceMs + 15_000, async (signal) => {
  // Load balancers see /ready fail and stop sending; meanwhile everything is still served.
  log.info({ signal, drainSeconds: drainMs / 1000 }, "stopping: /ready answers 503, still serving while the load balancer drains");
  http.drain();
  const jobsDone = workers?.stop(graceMs);
  const schedulerDone = scheduler?.stop();
  await new Promise((resolve) => setTimeout(resolve, drainMs));
  log.info({ graceSeconds: graceMs / 1000 }, "stopping: no new connections; requests in flight finish");
  await http.close(graceMs);
  await metricsServer?.close();
  log.info("HTTP and WebSockets closed");
  if (jobsDone) {
    await jobsDone;
    log.info("bill-run jobs finished");
  }
  try {
    await schedulerDone;
    await importer?.stop();
    await mailer?.stop();
    await webhooks?.stop();
    await supervisor.stop();
    await app.close();
    log.info("database connections closed");
  } finally {
    // Whatever failed above, a PostgreSQL this process started is stopped cleanly.
    if (database.embedded) {
      await database.embedded.stop();
      log.info("embedded PostgreSQL stopped");
    }
  }
});
