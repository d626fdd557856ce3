// 1,000 graphql-ws clients (in separate processes) subscribed to bill runs' status changes while
// a run bills 10,000 accounts in a separate worker process. Latency is measured from the moment
// PostgreSQL delivers the change's NOTIFY (i.e. its commit) to a LISTEN connection in a separate
// idle process, to the moment each client receives the event. Prints p50, p99 and max, and the
// spread of each status change.
//
// As in production, the worker and the API have been running for a while when the run starts:
// the worker process is started (and has finished booting) before the clients subscribe, and a
// 100-account run goes through every status first, with the same clients, and is not counted
// (BENCH_WARM_UP=0 leaves it out, to see a freshly started API process).
import { spawn, type ChildProcess } from "node:child_process";
import os from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { ensureAdmin } from "../src/auth/users.ts";
import { createBillRun } from "../src/billruns/service.ts";
import { startHttpServer } from "../src/http.ts";
import { startBenchApp, waitForStatus, withBenchDatabase } from "./support.ts";
import { seedBulkAccounts } from "../test/support/seed.ts";

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 1000);
const ACCOUNTS = Number(process.env.BENCH_EVENT_ACCOUNTS ?? 10_000);
const WARM_UP_ACCOUNTS = 100;
const WARM_UP = process.env.BENCH_WARM_UP !== "0";
const TOKEN = "brt_bench_token_0123456789abcdef";

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

interface Change {
  id: string;
  billRunId: string;
  to: string;
  at: number;
}

export async function main(): Promise<void> {
  const children: ChildProcess[] = [];
  let result: Record<string, unknown> | undefined;
  const started = (script: string, args: string[], env?: NodeJS.ProcessEnv) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL(script, import.meta.url)), ...args], { stdio: ["ignore", "pipe", "pipe"], env });
    children.push(child);
    return child;
  };
  await withBenchDatabase("billrun-bench-events-", async ({ url }) => {
    try {
      const { app } = await startBenchApp(url);
      await ensureAdmin(app.db, TOKEN);
      await seedBulkAccounts(app.pool, ACCOUNTS);
      const http = await startHttpServer(app, 0, "127.0.0.1");

      const changes = new Map<string, Change>();
      const listener = started("./commit-listener.ts", [url]);
      createInterface({ input: listener.stdout! }).on("line", (line) => {
        const change = JSON.parse(line) as Change;
        changes.set(change.id, change);
      });
      await ready(listener, (text) => text.includes("ready"));

      const worker = started("../src/worker.ts", [], { ...process.env, DATABASE_URL: url, LOG_LEVEL: "info", NODE_ENV: "production" });
      await ready(worker, (text) => text.includes('"msg":"worker started"'));

      // The clients are spread over a few processes, as real dashboards would be, so that one
      // process reading a thousand sockets in turn does not pass for server latency. They watch
      // every run's status changes, as the dashboard's list of runs does.
      const processes = Number(process.env.BENCH_CLIENT_PROCESSES ?? 4);
      const listenersBefore = app.events.subscriberCount;
      const outputs: string[] = [];
      const finished: Promise<void>[] = [];
      const subscribed: Promise<void>[] = [];
      for (let p = 0; p < processes; p++) {
        const clients = started("./ws-clients.ts", [http.url.replace(/^http/, "ws"), TOKEN, String(Math.ceil(CLIENTS / processes)), WARM_UP ? "2" : "1"]);
        outputs[p] = "";
        clients.stdout!.on("data", (chunk) => (outputs[p] += chunk));
        subscribed.push(ready(clients, (text) => text.includes("ready")));
        // "close", not "exit": the output pipe may still hold data when the process has exited.
        finished.push(new Promise<void>((resolve) => clients.once("close", () => resolve())));
      }
      await Promise.all(subscribed);
      // "connected" is the connection's acknowledgement; the subscriptions themselves follow it.
      const deadline = Date.now() + 30_000;
      while (app.events.subscriberCount < listenersBefore + Math.ceil(CLIENTS / processes) * processes) {
        if (Date.now() > deadline) throw new Error(`only ${app.events.subscriberCount - listenersBefore} clients subscribed`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }

      if (WARM_UP) {
        const warmUpAccounts = await app.db.account.findMany({ select: { id: true }, orderBy: { accountNumber: "asc" }, take: WARM_UP_ACCOUNTS });
        const warmUp = await createBillRun(
          app,
          { targetDate: "2026-01-15", accountIds: warmUpAccounts.map((a) => a.id), autoPost: true },
          { createdById: null },
        );
        await waitForStatus(app, warmUp, "POSTED");
      }
      console.log(
        `${CLIENTS} graphql-ws clients in ${processes} processes subscribed (${WARM_UP ? "warmed up" : "cold"}); a worker process bills ${ACCOUNTS} accounts`,
      );
      // CPU time of this process (the API: LISTEN, fan-out, WebSocket writes) while the measured run
      // goes through: what the live path costs, whatever else the machine is doing.
      const cpuBefore = process.cpuUsage();
      const measured = await createBillRun(app, { targetDate: "2026-02-01", autoPost: true }, { createdById: null });
      await Promise.all(finished);
      const cpu = process.cpuUsage(cpuBefore);
      const apiCpuMs = Math.round((cpu.user + cpu.system) / 1000);

      if (outputs.some((o) => !o)) throw new Error("a clients process reported nothing");
      const receipts = outputs.flatMap((o) => JSON.parse(o) as { eventId: string; at: number }[]);
      const measuredChanges = [...changes.values()].filter((c) => c.billRunId === measured);
      const latencies: number[] = [];
      for (const change of measuredChanges) {
        const forChange = receipts.filter((r) => r.eventId === change.id).map((r) => r.at - change.at);
        if (forChange.length !== CLIENTS) throw new Error(`${change.to} reached ${forChange.length} of ${CLIENTS} clients`);
        forChange.sort((a, b) => a - b);
        latencies.push(...forChange);
        console.log(
          `  ${change.to.padEnd(16)} first ${forChange[0]!.toFixed(1)} ms, p50 ${percentile(forChange, 50).toFixed(1)} ms, last ${forChange[forChange.length - 1]!.toFixed(1)} ms`,
        );
      }
      latencies.sort((a, b) => a - b);
      result = {
        bench: "events",
        clients: CLIENTS,
        accounts: ACCOUNTS,
        deliveries: latencies.length,
        p50Ms: Number(percentile(latencies, 50).toFixed(1)),
        p99Ms: Number(percentile(latencies, 99).toFixed(1)),
        maxMs: Number(latencies[latencies.length - 1]!.toFixed(1)),
        apiCpuMs,
      };
      console.log(
        `status change commit → client receipt over ${latencies.length} deliveries (${CLIENTS} clients × ${measuredChanges.length} changes): ` +
          `p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${latencies[latencies.length - 1]!.toFixed(1)} ms; ` +
          `API process CPU ${apiCpuMs} ms during the run`,
      );
      await http.close();
      await app.close();
    } finally {
      for (const child of children) child.kill("SIGKILL");
    }
  });
  // Last, after the children and the database have stopped: the line for machines.
  console.log(JSON.stringify({ ...result, cpus: os.availableParallelism(), loadAverage: Number(os.loadavg()[0]!.toFixed(2)) }));
}

/** Resolves once the child says it is ready (on stdout or stderr); its other output is passed on or dropped. */
function ready(child: ChildProcess, isReady: (text: string) => boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let done = false;
    const watch = (chunk: Buffer, echo: boolean) => {
      const text = chunk.toString();
      if (!done && isReady(text)) {
        done = true;
        resolve();
      } else if (echo && !text.includes('"level":30')) {
        process.stderr.write(chunk);
      }
    };
    child.stdout!.on("data", (chunk: Buffer) => !done && watch(chunk, false));
    child.stderr!.on("data", (chunk: Buffer) => watch(chunk, true));
    child.once("exit", (code) => done || reject(new Error(`a benchmark process exited early (${code})`)));
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
