import { randomBytes } from "node:crypto";
import { once } from "node:events";
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { spawnWorker } from "../support/server.ts";
import { startReceiver, type TestReceiver } from "./receiver.ts";
import { waitFor } from "../support/wait.ts";
import { createEndpoint } from "./helpers.ts";
import { startDeliverer } from "../../src/webhooks/deliverer.ts";

const env = {
  BILLRUN_WEBHOOK_ALLOW_HTTP: "true",
  BILLRUN_WEBHOOK_ALLOW_PRIVATE: "true",
  BILLRUN_WEBHOOK_POLL_SECONDS: "0.05",
  BILLRUN_WEBHOOK_SECRET_KEY: randomBytes(32).toString("hex"),
  BILLRUN_MAILER: "false",
  BILLRUN_SCHEDULER: "false",
};

let t: TestApp;
const receivers: TestReceiver[] = [];
const workers: ChildProcess[] = [];

beforeAll(async () => {
  t = await createTestApp(env);
});
afterAll(async () => {
  for (const worker of workers) if (worker.exitCode === null) worker.kill("SIGKILL");
  for (const r of receivers) await r.close();
  await t?.close();
});

describe("webhook delivery from several processes", () => {
  it("two delivering processes send each delivery once, each endpoint's in event order", async () => {
    const endpointIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const receiver = await startReceiver();
      const created = await createEndpoint(t, { url: receiver.url, eventTypes: ["bill_run.completed"] });
      receiver.secrets.push(created.secret);
      receivers.push(receiver);
      endpointIds.push(created.webhookEndpoint.id);
    }
    const perEndpoint = 400;
    await t.app.pool.query(
      `WITH events AS (
         INSERT INTO webhook_events (id, type, data)
         SELECT nextval('bill_run_events_id_seq'::regclass), 'webhook.test', jsonb_build_object('n', n)
           FROM generate_series(1, $1::int) AS n RETURNING id)
       INSERT INTO webhook_deliveries (endpoint_id, event_id)
       SELECT e, events.id FROM events CROSS JOIN unnest($2::uuid[]) AS e`,
      [perEndpoint, endpointIds],
    );

    for (let i = 0; i < 2; i++) workers.push(spawnWorker(t.databaseUrl, env));
    await waitFor(
      "every delivery",
      async () => (await t.app.pool.query("SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'SUCCEEDED'")).rows[0].n === perEndpoint * 3,
      90_000,
    );
    // Both stop on SIGTERM (their exit status belongs to the worker's shutdown, tested with it).
    for (const worker of workers) worker.kill("SIGTERM");
    await Promise.all(workers.map((w) => (w.exitCode === null && w.signalCode === null ? once(w, "exit") : null)));

    for (const receiver of receivers) {
      expect(receiver.unverified).toHaveLength(0);
      expect(receiver.requests).toHaveLength(perEndpoint);
      const ids = receiver.requests.map((r) => BigInt(r.webhookId));
      expect(new Set(ids).size).toBe(perEndpoint);
      expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    const attempts = (await t.app.pool.query("SELECT count(*)::int AS n FROM webhook_delivery_attempts")).rows[0].n;
    expect(attempts).toBe(perEndpoint * 3);
  });

  it("loses nothing when a delivering process is killed: another takes over its endpoint when the lease (default 30 s) runs out", async () => {
    const receiver = await startReceiver();
    receivers.push(receiver);
    // Slow enough to kill the process mid-batch.
    receiver.answer = async () => {
      await new Promise((r) => setTimeout(r, 20));
      return { status: 200 };
    };
    const created = await createEndpoint(t, { url: receiver.url, eventTypes: ["bill_run.completed"] });
    receiver.secrets.push(created.secret);
    const total = 200;
    const events = await t.app.pool.query<{ id: string }>(
      `WITH events AS (
         INSERT INTO webhook_events (id, type, data)
         SELECT nextval('bill_run_events_id_seq'::regclass), 'webhook.test', jsonb_build_object('n', n) FROM generate_series(1, $1::int) AS n RETURNING id)
       INSERT INTO webhook_deliveries (endpoint_id, event_id) SELECT $2, id FROM events RETURNING event_id::text AS id`,
      [total, created.webhookEndpoint.id],
    );
    const worker = spawnWorker(t.databaseUrl, env);
    workers.push(worker);
    await receiver.waitFor(() => receiver.requests.length >= 30, 60_000);
    worker.kill("SIGKILL");
    await once(worker, "exit");
    const sentBeforeTheKill = receiver.requests.length;
    expect(sentBeforeTheKill).toBeLessThan(total);

    const deliverer = startDeliverer(t.app);
    try {
      await waitFor(
        "every delivery after the kill",
        async () =>
          (
            await t.app.pool.query("SELECT count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'SUCCEEDED'", [
              created.webhookEndpoint.id,
            ])
          ).rows[0].n === total,
        90_000,
      );
    } finally {
      await deliverer.stop();
    }
    const ids = receiver.requests.map((r) => r.webhookId);
    expect(new Set(ids)).toEqual(new Set(events.rows.map((e) => e.id)));
    // Only what the killed process sent after its last record goes out twice.
    expect(ids.length - total).toBeLessThanOrEqual(20);
    expect(receiver.unverified).toHaveLength(0);
  }, 150_000);
});
