// 1,000 graphql-ws clients (in separate processes) subscribed to a bill run's status changes
// while it bills 10,000 accounts in a separate worker process. Latency is measured from the
// moment PostgreSQL delivers the change's NOTIFY (i.e. its commit) to a LISTEN connection in
// this process, to the moment each client receives the event. Prints p50, p99 and max.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { startApp } from "../src/app.ts";
import { ensureAdmin } from "../src/auth/users.ts";
import { createBillRun } from "../src/billruns/service.ts";
import { loadConfig } from "../src/config.ts";
import { ensureDatabase } from "../src/database.ts";
import { startEmbeddedPostgres } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { EVENTS_CHANNEL } from "../src/events/channel.ts";
import { startHttpServer } from "../src/http.ts";
import { createLogger } from "../src/log.ts";
import { seedBulkAccounts } from "./seed.ts";

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 1000);
const ACCOUNTS = Number(process.env.BENCH_EVENT_ACCOUNTS ?? 10_000);
const TOKEN = "brt_bench_token_0123456789abcdef";

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "billrun-bench-events-"));
  const db = await startEmbeddedPostgres({ dataDir: path.join(dir, "pg"), temporary: true });
  const children: import("node:child_process").ChildProcess[] = [];
  try {
    await ensureDatabase(db.url(), "bench");
    const url = db.url("bench");
    await migrate(url);
    const config = loadConfig({ ...process.env, NODE_ENV: "production", LOG_LEVEL: "warn" });
    const app = await startApp(config, url, createLogger("warn"));
    await ensureAdmin(app.db, TOKEN);
    await seedBulkAccounts(app.pool, ACCOUNTS);
    const http = await startHttpServer(app, 0, "127.0.0.1");

    // The run is created before the clients subscribe; its worker starts only once they are ready.
    const billRunId = await createBillRun(app, { targetDate: "2026-02-01", autoPost: true }, { createdById: null });

    const commits = new Map<string, number>();
    const listener = new pg.Client({ connectionString: url });
    listener.on("error", () => {});
    await listener.connect();
    listener.on("notification", (note) => {
      const message = JSON.parse(note.payload!) as { kind: string; id?: string };
      if (message.kind === "STATUS") commits.set(message.id!, performance.timeOrigin + performance.now());
    });
    await listener.query(`LISTEN ${EVENTS_CHANNEL}`);

    // The clients are spread over a few processes, as real dashboards would be, so that one
    // process reading a thousand sockets in turn does not pass for server latency.
    const clientsScript = fileURLToPath(new URL("./ws-clients.ts", import.meta.url));
    const expected = 4; // PROCESSING, COMPLETED, POST_IN_PROGRESS, POSTED
    const processes = Number(process.env.BENCH_CLIENT_PROCESSES ?? 4);
    const outputs: string[] = [];
    const finished: Promise<void>[] = [];
    const ready: Promise<void>[] = [];
    for (let p = 0; p < processes; p++) {
      const clients = spawn(
        process.execPath,
        [clientsScript, http.url.replace(/^http/, "ws"), TOKEN, billRunId, String(Math.ceil(CLIENTS / processes)), String(expected)],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      children.push(clients);
      outputs[p] = "";
      clients.stdout.on("data", (chunk) => (outputs[p] += chunk));
      ready.push(
        new Promise<void>((resolve, reject) => {
          clients.stderr.on("data", (chunk: Buffer) => (chunk.toString().includes("ready") ? resolve() : process.stderr.write(chunk)));
          clients.once("exit", (code) => reject(new Error(`clients exited early (${code})`)));
        }),
      );
      finished.push(new Promise<void>((resolve) => clients.once("exit", () => resolve())));
    }
    await Promise.all(ready);
    console.log(`${CLIENTS} graphql-ws clients in ${processes} processes subscribed; starting a worker process for ${ACCOUNTS} accounts`);

    const worker = spawn(process.execPath, [fileURLToPath(new URL("../src/worker.ts", import.meta.url))], {
      env: { ...process.env, DATABASE_URL: url, LOG_LEVEL: "warn", NODE_ENV: "production" },
      stdio: ["ignore", "inherit", "inherit"],
    });
    children.push(worker);
    await Promise.all(finished);

    if (outputs.some((o) => !o)) throw new Error("a clients process reported nothing");
    const receipts = outputs.flatMap((o) => JSON.parse(o) as { eventId: string; at: number }[]);
    const latencies = receipts.filter((r) => commits.has(r.eventId)).map((r) => r.at - commits.get(r.eventId)!);
    latencies.sort((a, b) => a - b);
    console.log(
      `status change commit → client receipt over ${latencies.length} deliveries (${CLIENTS} clients × ${expected} changes): ` +
        `p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${latencies[latencies.length - 1]!.toFixed(1)} ms`,
    );
    await listener.end();
    await http.close();
    await app.close();
  } finally {
    for (const child of children) child.kill("SIGKILL");
    await db.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
