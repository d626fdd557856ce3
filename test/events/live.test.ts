import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import net from "node:net";
import { randomBytes } from "node:crypto";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { collect, spawnWorker, startServer, wsClient } from "../support/server.ts";
import { createBillRun } from "../../src/billruns/service.ts";
import { recordAlerts } from "../../src/billruns/persist.ts";
import { transaction } from "../../src/db/sql.ts";
import { EVENTS_CONNECTION_NAME } from "../../src/events/bus.ts";
import { waitFor } from "../support/wait.ts";

let t: TestApp;
let server: Awaited<ReturnType<typeof startServer>>;
let worker: ChildProcess;

beforeAll(async () => {
  // A client that stops reading is dropped by the keep-alive: 2 s here.
  t = await createTestApp({ BILLRUN_WS_MAX_BUFFERED_BYTES: "262144", BILLRUN_WS_KEEPALIVE_SECONDS: "2" });
  server = await startServer(t);
  // Bill runs execute in another process: its events must reach this process's subscribers.
  worker = spawnWorker(t.databaseUrl, { BILLRUN_CHUNK_SIZE: "2" });
});
afterAll(async () => {
  worker.kill("SIGKILL");
  await server.close();
  await t.close();
});

const STATUS = `subscription($id: ID, $after: String) {
  billRunStatusChanged(billRunId: $id, after: $after) { eventId previousStatus status at billRun { id billRunNumber } }
}`;
const ALERTS = `subscription($id: ID, $after: String) {
  billRunAlert(billRunId: $id, after: $after) { eventId code message account { accountNumber } subscription { subscriptionNumber } billRun { id } }
}`;

type StatusEvent = { billRunStatusChanged: { eventId: string; previousStatus: string | null; status: string; billRun: { id: string } } };
type AlertEvent = {
  billRunAlert: {
    eventId: string;
    code: string;
    message: string;
    account: { accountNumber: string } | null;
    subscription: { subscriptionNumber: string } | null;
    billRun: { id: string };
  };
};

describe("live bill-run events over graphql-ws", () => {
  it("streams a full run's status changes in order, from a worker in another process", async () => {
    await seedAccount(t, { charges: [{ type: "RECURRING", price: "10.00", billingPeriod: "MONTH" }] });
    const client = wsClient(server.wsUrl, t.tokens.viewer);
    const subscribersBefore = t.app.events.subscriberCount;
    const all = collect<StatusEvent>(client, STATUS, {}, 100, 30_000);
    // Subscribed before the run exists: its feed listens on this process's bus.
    await until(() => t.app.events.subscriberCount > subscribersBefore);
    const id = await createBillRun(t.app, { targetDate: "2026-02-01", autoPost: true }, { createdById: null });
    await waitForStatus(t, id, ["POSTED"]);
    await until(() => all.results.some((r) => r.billRunStatusChanged.billRun.id === id && r.billRunStatusChanged.status === "POSTED"));
    await client.dispose();
    const mine = all.results.filter((r) => r.billRunStatusChanged.billRun.id === id).map((r) => r.billRunStatusChanged);
    expect(mine.map((e) => [e.previousStatus, e.status])).toEqual([
      [null, "PENDING"],
      ["PENDING", "PROCESSING"],
      ["PROCESSING", "COMPLETED"],
      ["COMPLETED", "POST_IN_PROGRESS"],
      ["POST_IN_PROGRESS", "POSTED"],
    ]);
    const ids = mine.map((e) => BigInt(e.eventId));
    expect([...ids].sort((a, b) => (a < b ? -1 : 1))).toEqual(ids);

    // Live events come from the notice itself; replayed ones from the table: they are the same.
    const again = wsClient(server.wsUrl, t.tokens.viewer);
    const replayed = await collect<StatusEvent>(again, STATUS, { id, after: "0" }, 5).done;
    await again.dispose();
    expect(replayed.map((r) => r.billRunStatusChanged)).toEqual(mine);
  });

  it("alerts for each failing account, with the failing subscription, and filters by run", async () => {
    const missing = await seedAccount(t, { billToEmail: "", charges: [{ type: "ONE_TIME", price: "5.00" }] });
    const mismatch = await seedAccount(t, { charges: [{ type: "RECURRING", price: "10.00", billingPeriod: "MONTH", currency: "GBP" }] });
    const usage = await seedAccount(t, { charges: [{ name: "API", type: "USAGE", price: "0.10", billingPeriod: "MONTH", unitOfMeasure: "call" }] });
    const { recordUsage } = await import("../../src/accounts/service.ts");
    await recordUsage(t.app.db, { subscriptionId: usage.subscription.id, chargeName: "API", quantity: "10", unitOfMeasure: "GB", usageDate: "2026-01-15" });

    const ids = [missing, mismatch, usage].map((s) => s.account.id);
    const other = await createBillRun(t.app, { targetDate: "2026-02-01", accountIds: [missing.account.id] }, { createdById: null });
    await waitForStatus(t, other, ["COMPLETED"]);

    const client = wsClient(server.wsUrl, t.tokens.viewer);
    const id = await createBillRun(t.app, { targetDate: "2026-02-01", accountIds: ids }, { createdById: null });
    const alerts = collect<AlertEvent>(client, ALERTS, { id, after: "0" }, 3);
    const received = (await alerts.done).map((a) => a.billRunAlert);
    await client.dispose();
    const byAccount = Object.fromEntries(received.map((a) => [a.account!.accountNumber, a]));
    expect(byAccount[missing.account.accountNumber]).toMatchObject({ code: "MISSING_BILL_TO_CONTACT", subscription: null });
    expect(byAccount[mismatch.account.accountNumber]).toMatchObject({
      code: "CURRENCY_MISMATCH",
      subscription: { subscriptionNumber: mismatch.subscription.subscriptionNumber },
    });
    expect(byAccount[usage.account.accountNumber]).toMatchObject({
      code: "USAGE_RATING_ERROR",
      subscription: { subscriptionNumber: usage.subscription.subscriptionNumber },
    });
    // Filtered by run: the alert of the other run (same failing account) is not in this stream.
    expect(received.map((a) => a.billRun.id)).toEqual([id, id, id]);
    expect(await t.app.db.billRunEvent.count({ where: { billRunId: other, kind: "ALERT" } })).toBe(1);
  });

  it("resumes after a disconnect with nothing lost and nothing repeated", async () => {
    for (let i = 0; i < 6; i++) await seedAccount(t, { batch: 7, charges: [{ type: "RECURRING", price: "1.00", billingPeriod: "MONTH" }] });
    const id = await createBillRun(t.app, { targetDate: "2026-02-01", batches: [7], autoPost: true }, { createdById: null });

    const first = wsClient(server.wsUrl, t.tokens.viewer);
    const head = await collect<StatusEvent>(first, STATUS, { id, after: "0" }, 2).done;
    await first.dispose();

    await waitForStatus(t, id, ["POSTED"]);
    const second = wsClient(server.wsUrl, t.tokens.viewer);
    const lastSeen = head[1]!.billRunStatusChanged.eventId;
    const tail = await collect<StatusEvent>(second, STATUS, { id, after: lastSeen }, 3).done;
    await second.dispose();

    const statuses = [...head, ...tail].map((e) => e.billRunStatusChanged.status);
    expect(statuses).toEqual(["PENDING", "PROCESSING", "COMPLETED", "POST_IN_PROGRESS", "POSTED"]);
    const stored = await t.app.db.billRunEvent.findMany({ where: { billRunId: id, kind: "STATUS" }, orderBy: { id: "asc" } });
    expect([...head, ...tail].map((e) => e.billRunStatusChanged.eventId)).toEqual(stored.map((e) => e.id.toString()));
  });

  it("reports progress, throttled, ending with the final count", async () => {
    for (let i = 0; i < 20; i++) await seedAccount(t, { batch: 8, charges: [{ type: "ONE_TIME", price: "2.00" }] });
    const id = await createBillRun(t.app, { targetDate: "2026-02-01", batches: [8] }, { createdById: null });
    const client = wsClient(server.wsUrl, t.tokens.viewer);
    const progress = collect<{ billRunProgress: { accountsProcessed: number; accountsTotal: number; billRun: { status: string } } }>(
      client,
      `subscription($id: ID!) { billRunProgress(billRunId: $id) { accountsProcessed accountsTotal billRun { status } } }`,
      { id },
      1000,
    );
    const updates = (await progress.done).map((p) => p.billRunProgress);
    await client.dispose();
    const last = updates[updates.length - 1]!;
    expect(last.accountsTotal).toBe(20);
    expect(last.accountsProcessed).toBe(20);
    const counts = updates.map((u) => u.accountsProcessed);
    expect([...counts].sort((a, b) => a - b)).toEqual(counts);
    // 10 chunks of 2 accounts: throttling keeps the updates well under one per chunk plus the ends.
    expect(updates.length).toBeLessThanOrEqual(12);
  });

  it("refuses a connection without a valid token", async () => {
    for (const token of [null, "brt_not_a_real_token"]) {
      const client = wsClient(server.wsUrl, token);
      const attempt = collect(client, STATUS, {}, 1, 5_000).done;
      await expect(attempt).rejects.toMatchObject({ code: 4403 });
      await client.dispose();
    }
  });

  it("holds little for a client that stops reading, drops it, and the client resumes with after", async () => {
    const target = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "1.00" }] });
    const id = await createBillRun(t.app, { targetDate: "2026-02-01", accountIds: [target.account.id] }, { createdById: null });
    await waitForStatus(t, id, ["COMPLETED"]);
    const listenersBefore = t.app.events.subscriberCount;
    const droppedBefore = await droppedConnections();

    // A raw TCP client speaking just enough WebSocket to subscribe, and then not reading at all.
    const { port } = new URL(server.wsUrl);
    const raw = net.connect(Number(port), "127.0.0.1");
    await new Promise((resolve) => raw.once("connect", resolve));
    raw.write(
      "GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n` +
        "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n",
    );
    const stream = new ServerFrames();
    await new Promise<void>((resolve) => {
      const onData = (chunk: Buffer) => {
        if (stream.push(chunk).some((m) => m.type === "connection_ack")) {
          raw.off("data", onData);
          raw.pause();
          resolve();
        }
      };
      raw.on("data", onData);
      raw.write(clientFrame({ type: "connection_init", payload: { authorization: `Bearer ${t.tokens.viewer}` } }));
    });
    raw.write(
      clientFrame({
        id: "1",
        type: "subscribe",
        payload: { query: `subscription($id: ID) { billRunAlert(billRunId: $id) { eventId message } }`, variables: { id } },
      }),
    );
    await until(() => t.app.events.subscriberCount > listenersBefore);

    // Frames held for the client are Buffers: they show in this process's arrayBuffers.
    const baseline = process.memoryUsage().arrayBuffers;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 10);

    // 1,500 alerts of 64 kB (96 MB: more than the kernel's socket buffers hold) commit at once,
    // made by the database itself so that this process holds none of them. Too large for a
    // NOTIFY, their notices carry only ids, as announceEvents makes them.
    await t.app.pool.query(
      `WITH inserted AS (
         INSERT INTO bill_run_events (bill_run_id, kind, account_id, code, message)
         SELECT $1, 'ALERT', $2, 'INTERNAL_ERROR', repeat('x', 65536) FROM generate_series(1, 1500) RETURNING id, bill_run_id, kind)
       SELECT count(pg_notify('billrun_events', json_build_object('kind', kind, 'id', id::text, 'billRunId', bill_run_id, 'from', null, 'to', null)::text))
         FROM (SELECT * FROM inserted ORDER BY id) ordered`,
      [id, target.account.id],
    );

    // The keep-alive gives up on the client (its subscription ends) while it still reads nothing.
    await until(() => t.app.events.subscriberCount === listenersBefore, 60_000);
    clearInterval(sampler);
    // Counted in billrun_websocket_dropped_connections_total (slow_consumer or keepalive_timeout).
    expect((await droppedConnections()) - droppedBefore).toBe(1);
    // Meanwhile the server held about BILLRUN_WS_MAX_BUFFERED_BYTES (256 kB) for it and a page of
    // events read from the table, not the 96 MB.
    expect(peak - baseline).toBeLessThan(48 * 1024 * 1024);
    let received = 0;
    const closed = new Promise<void>((resolve) => raw.once("close", () => resolve()));
    raw.on("data", (chunk: Buffer) => {
      received += chunk.length;
      stream.push(chunk);
    });
    raw.resume();
    await closed;
    expect(received).toBeLessThan(64 * 1024 * 1024);
    const nexts = stream.messages.filter((m) => m.type === "next").map((m) => (m.payload as AlertEvent).billRunAlert);
    expect(nexts[0]!.message).toBe("x".repeat(65_536));
    const got = nexts.map((a) => a.eventId);
    expect(got.length).toBeGreaterThan(0);
    expect(got.length).toBeLessThan(1500);

    // It resumes after the last event it got, and receives exactly the rest.
    const stored = await t.app.db.billRunEvent.findMany({ where: { billRunId: id, kind: "ALERT" }, select: { id: true }, orderBy: { id: "asc" } });
    const client = wsClient(server.wsUrl, t.tokens.viewer);
    const rest = await collect<{ billRunAlert: { eventId: string } }>(
      client,
      `subscription($id: ID, $after: String) { billRunAlert(billRunId: $id, after: $after) { eventId } }`,
      { id, after: got[got.length - 1] },
      1500 - got.length,
    ).done;
    await client.dispose();
    expect([...got, ...rest.map((r) => r.billRunAlert.eventId)]).toEqual(stored.map((e) => e.id.toString()));
  }, 120_000);

  it("gives a burst larger than the buffer cap to a reading client whole and in order, notices with rows or without", async () => {
    const target = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "1.00" }] });
    const id = await createBillRun(t.app, { targetDate: "2026-02-01", accountIds: [target.account.id] }, { createdById: null });
    await waitForStatus(t, id, ["COMPLETED"]);
    const query = `subscription($id: ID, $after: String) { billRunAlert(billRunId: $id, after: $after) { eventId message account { accountNumber } } }`;
    const clients = [wsClient(server.wsUrl, t.tokens.viewer), wsClient(server.wsUrl, t.tokens.viewer)];
    const listenersBefore = t.app.events.subscriberCount;
    // 1,500 alerts, 3 MB in all (the cap is 256 kB), in one transaction; every tenth too large for its NOTIFY.
    const streams = clients.map((client) => collect<AlertEvent>(client, query, { id }, 1500, 60_000));
    await until(() => t.app.events.subscriberCount === listenersBefore + 2);
    const alerts = Array.from({ length: 1500 }, (_, i) => ({
      accountId: target.account.id,
      subscriptionId: null,
      code: "INTERNAL_ERROR",
      message: `${i}:`.padEnd(i % 10 === 0 ? 9_000 : 1_000, "x"),
    }));
    await transaction(t.app.pool, (sql) => recordAlerts(sql, id, alerts));
    const received = await Promise.all(streams.map((s) => s.done));
    for (const client of clients) await client.dispose();

    const stored = await t.app.db.billRunEvent.findMany({ where: { billRunId: id, kind: "ALERT" }, orderBy: { id: "asc" } });
    for (const events of received) {
      expect(events.map((e) => e.billRunAlert.eventId)).toEqual(stored.map((e) => e.id.toString()));
      expect(events.map((e) => e.billRunAlert.message)).toEqual(alerts.map((a) => a.message));
      expect(new Set(events.map((e) => e.billRunAlert.account!.accountNumber))).toEqual(new Set([target.account.accountNumber]));
    }

    // The same history replayed from the table, larger than the cap, reaches a reading client whole.
    const late = wsClient(server.wsUrl, t.tokens.viewer);
    const replayed = await collect<AlertEvent>(late, query, { id, after: "0" }, 1500, 60_000).done;
    await late.dispose();
    expect(replayed.map((e) => e.billRunAlert)).toEqual(received[0]!.map((e) => e.billRunAlert));
  }, 120_000);

  it("catches up from the table what committed while its LISTEN connection was down", async () => {
    const target = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "1.00" }] });
    const id = await createBillRun(t.app, { targetDate: "2026-02-01", accountIds: [target.account.id] }, { createdById: null });
    await waitForStatus(t, id, ["COMPLETED"]);
    const client = wsClient(server.wsUrl, t.tokens.viewer);
    const listenersBefore = t.app.events.subscriberCount;
    const stream = collect<AlertEvent>(client, ALERTS, { id }, 6, 30_000);
    await until(() => t.app.events.subscriberCount === listenersBefore + 1);
    const alert = (message: string) => ({ accountId: target.account.id, subscriptionId: null, code: "INTERNAL_ERROR", message });

    await transaction(t.app.pool, (sql) => recordAlerts(sql, id, [alert("before 1"), alert("before 2")]));
    // PostgreSQL ends this process's LISTEN connection; alerts commit while it reconnects.
    const ended = await t.app.pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [EVENTS_CONNECTION_NAME]);
    expect(ended.rowCount).toBeGreaterThan(0);
    await transaction(t.app.pool, (sql) => recordAlerts(sql, id, [alert("during 1"), alert("during 2")]));
    await t.app.events.listening();
    await transaction(t.app.pool, (sql) => recordAlerts(sql, id, [alert("after 1"), alert("after 2")]));

    const received = (await stream.done).map((e) => e.billRunAlert.message);
    await client.dispose();
    expect(received).toEqual(["before 1", "before 2", "during 1", "during 2", "after 1", "after 2"]);
  }, 60_000);
});

const until = (condition: () => boolean, timeoutMs = 10_000) => waitFor("the condition", condition, timeoutMs, 20);

/** Reads the unmasked frames a server sends (after the HTTP upgrade response) into messages. */
class ServerFrames {
  readonly messages: { type: string; payload?: unknown }[] = [];
  private buffer = Buffer.alloc(0);
  private upgraded = false;

  push(chunk: Buffer): { type: string }[] {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    if (!this.upgraded) {
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end < 0) return [];
      this.buffer = this.buffer.subarray(end + 4);
      this.upgraded = true;
    }
    const parsed: { type: string }[] = [];
    for (;;) {
      if (this.buffer.length < 2) break;
      const short = this.buffer[1]! & 0x7f;
      const headerLength = short === 126 ? 4 : short === 127 ? 10 : 2;
      if (this.buffer.length < headerLength) break;
      const length = short === 126 ? this.buffer.readUInt16BE(2) : short === 127 ? Number(this.buffer.readBigUInt64BE(2)) : short;
      if (this.buffer.length < headerLength + length) break;
      const opcode = this.buffer[0]! & 0x0f;
      const body = this.buffer.subarray(headerLength, headerLength + length);
      this.buffer = this.buffer.subarray(headerLength + length);
      if (opcode !== 1) continue;
      const message = JSON.parse(body.toString("utf8")) as { type: string; payload?: { data?: unknown } };
      const entry = { type: message.type, payload: message.payload?.data };
      this.messages.push(entry);
      parsed.push(entry);
    }
    return parsed;
  }
}

/** A masked text frame, as a WebSocket client must send. */
function clientFrame(message: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(message));
  const mask = randomBytes(4);
  const header =
    payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
  return Buffer.concat([header, mask, masked]);
}

/** billrun_websocket_dropped_connections_total of this process, all reasons. */
async function droppedConnections(): Promise<number> {
  const { metrics } = await import("../../src/observability/metrics.ts");
  return (await metrics.wsDropped.get()).values.reduce((sum, v) => sum + v.value, 0);
}
