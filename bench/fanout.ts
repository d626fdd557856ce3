// What one live-event delivery costs the API process: 1,000 graphql-ws clients (in 4 other
// processes) subscribed to every run's status changes, 200 status notices announced one at a
// time (15 ms apart, so that each is fanned out on its own). CPU time is counted rather than
// wall time so that the figure means something on a busy machine too; it covers the fan-out,
// the WebSocket writes and the clients' disconnection at the end.
// Run: ./node_modules/.bin/node bench/fanout.ts
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { ensureAdmin } from "../src/auth/users.ts";
import { EVENTS_CHANNEL, type EventNotice } from "../src/events/notices.ts";
import { startHttpServer } from "../src/http.ts";
import { startBenchApp, withBenchDatabase } from "./support.ts";

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 1000);
const EVENTS = Number(process.env.BENCH_FANOUT_EVENTS ?? 200);
const PROCESSES = 4;
const TOKEN = "brt_bench_token_0123456789abcdef";

export async function main(): Promise<void> {
  const children: ChildProcess[] = [];
  let result: Record<string, unknown> | undefined;
  await withBenchDatabase("billrun-bench-fanout-", async ({ url }) => {
    try {
      const { app } = await startBenchApp(url);
      await ensureAdmin(app.db, TOKEN);
      const http = await startHttpServer(app, 0, "127.0.0.1");
      const listenersBefore = app.events.subscriberCount;
      const connected: Promise<void>[] = [];
      const finished: Promise<void>[] = [];
      for (let p = 0; p < PROCESSES; p++) {
        const script = fileURLToPath(new URL("./ws-clients.ts", import.meta.url));
        const child = spawn(process.execPath, [script, http.url.replace(/^http/, "ws"), TOKEN, String(CLIENTS / PROCESSES), "1"], {
          stdio: ["ignore", "ignore", "pipe"],
        });
        children.push(child);
        connected.push(
          new Promise((resolve, reject) => {
            child.stderr!.on("data", (chunk: Buffer) => String(chunk).includes("ready") && resolve());
            child.once("exit", (code) => reject(new Error(`a clients process exited early (${code})`)));
          }),
        );
        finished.push(new Promise((resolve) => child.once("close", () => resolve())));
      }
      await Promise.all(connected);
      // Connected is not yet subscribed: the subscriptions follow the acknowledgement.
      const deadline = Date.now() + 30_000;
      while (app.events.subscriberCount < listenersBefore + CLIENTS) {
        if (Date.now() > deadline) throw new Error(`${app.events.subscriberCount - listenersBefore} of ${CLIENTS} clients subscribed`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }

      // Notices as announceEvents makes them, carrying their row: the live path reads nothing.
      const billRunId = randomUUID();
      const notice = (id: number, last: boolean): EventNotice => ({
        kind: "STATUS",
        id: String(id),
        billRunId,
        billRunNumber: "BR-00000001",
        from: "PROCESSING",
        to: last ? "POSTED" : "PROCESSING",
        row: { actorId: null, accountId: null, subscriptionId: null, code: null, message: null, at: new Date().toISOString() },
      });
      const before = process.cpuUsage();
      for (let i = 1; i <= EVENTS; i++) {
        await app.pool.query("SELECT pg_notify($1, $2)", [EVENTS_CHANNEL, JSON.stringify(notice(i, i === EVENTS))]);
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
      // Each client leaves once it has the last one: every delivery is made.
      await Promise.all(finished);
      const cpu = process.cpuUsage(before);
      const cpuMs = (cpu.user + cpu.system) / 1000;
      const usPerDelivery = (cpuMs * 1000) / (EVENTS * CLIENTS);
      console.log(
        `${EVENTS} live events to ${CLIENTS} graphql-ws clients: API process CPU ${cpuMs.toFixed(0)} ms, ${usPerDelivery.toFixed(1)} µs per delivery`,
      );
      result = { bench: "fanout", clients: CLIENTS, events: EVENTS, cpuMs: Math.round(cpuMs), usPerDelivery: Number(usPerDelivery.toFixed(2)) };
      await http.close();
      await app.close();
    } finally {
      for (const child of children) child.kill("SIGKILL");
    }
  });
  console.log(JSON.stringify({ ...result, cpus: os.availableParallelism(), loadAverage: Number(os.loadavg()[0]!.toFixed(2)) }));
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
