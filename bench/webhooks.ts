// Webhooks: (1) delivery throughput to a fast local receiver in another process, which verifies
// every signature: N queued deliveries to one endpoint (sent one after another, in event order),
// then spread over four endpoints (served in parallel); (2) what queuing invoice.posted costs
// when 100,000 invoices are posted, with and without an endpoint subscribed. Prints figures and
// a final JSON line.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type App } from "../src/app.ts";
import { postRun } from "../src/billruns/posting.ts";
import { startBenchApp, withBenchDatabase } from "./support.ts";
import { expandPostedDocuments, startDeliverer } from "../src/webhooks/deliverer.ts";
import { createEndpoint } from "../src/webhooks/endpoints.ts";

const DELIVERIES = Number(process.env.BENCH_WEBHOOKS ?? 20_000);
const INVOICES = Number(process.env.BENCH_POSTED_INVOICES ?? 100_000);

const receiverEntry = fileURLToPath(new URL("./webhook-receiver.ts", import.meta.url));

interface Receiver {
  url: string;
  stats: () => Promise<{ received: number; distinct: number; badSignatures: number }>;
  stop: () => void;
}

async function startReceiver(secret: string): Promise<Receiver> {
  const child: ChildProcess = spawn(process.execPath, [receiverEntry, secret], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! });
  const next = () => new Promise<string>((resolve) => lines.once("line", resolve));
  const { port } = JSON.parse(await next()) as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    stats: async () => {
      const reply = next();
      child.stdin!.write("stats\n");
      return JSON.parse(await reply);
    },
    stop: () => child.stdin!.write("exit\n"),
  };
}

async function queue(app: App, endpointIds: string[], perEndpoint: number): Promise<void> {
  await app.pool.query(
    `WITH events AS (
       INSERT INTO webhook_events (id, type, data)
       SELECT nextval('bill_run_events_id_seq'::regclass), 'bill_run.completed',
              jsonb_build_object('billRunId', gen_random_uuid(), 'billRunNumber', 'BR-' || n, 'status', 'COMPLETED')
         FROM generate_series(1, $1::int) AS n RETURNING id)
     INSERT INTO webhook_deliveries (endpoint_id, event_id)
     SELECT e, events.id FROM events CROSS JOIN unnest($2::uuid[]) AS e`,
    [perEndpoint, endpointIds],
  );
}

async function deliverAll(app: App, total: number): Promise<number> {
  const started = performance.now();
  const deliverer = startDeliverer(app);
  for (;;) {
    const done = await app.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM webhook_deliveries WHERE status <> 'PENDING'");
    if (done.rows[0]!.n >= total) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const ms = performance.now() - started;
  await deliverer.stop();
  return ms;
}

/** Posts INVOICES draft invoices of one run with the real posting code; returns milliseconds. */
async function timePosting(app: App, runId: string): Promise<number> {
  await app.pool.query("UPDATE documents SET status = 'DRAFT', posted_at = NULL WHERE bill_run_id = $1", [runId]);
  await app.pool.query("UPDATE bill_runs SET status = 'POST_IN_PROGRESS' WHERE id = $1", [runId]);
  await app.pool.query("VACUUM ANALYZE documents");
  const started = performance.now();
  await postRun(app, runId);
  return performance.now() - started;
}

export async function main(): Promise<void> {
  await withBenchDatabase("billrun-bench-", async ({ dir, url }) => {
    const { app, config } = await startBenchApp(url, {
      BILLRUN_DATA_DIR: dir,
      BILLRUN_WEBHOOK_ALLOW_HTTP: "true",
      BILLRUN_WEBHOOK_ALLOW_PRIVATE: "true",
      BILLRUN_WEBHOOK_POLL_SECONDS: "0.01",
    });
    const admin = await app.pool.query<{ id: string }>(
      "INSERT INTO users (id, email, name, role) VALUES (gen_random_uuid(), 'bench@localhost', 'Bench', 'ADMIN') RETURNING id",
    );
    const adminId = admin.rows[0]!.id;

    // (1) Throughput.
    const receivers: Receiver[] = [];
    const endpointIds: string[] = [];
    for (let i = 0; i < 4; i++) {
      // One receiver process per secret; the endpoint's URL is checked like any other.
      const placeholder = await createEndpoint(app, { url: "http://127.0.0.1:9/x", eventTypes: ["bill_run.completed"], description: "bench" }, adminId);
      const receiver = await startReceiver(placeholder.secret);
      await app.pool.query("UPDATE webhook_endpoints SET url = $2, status = 'DISABLED' WHERE id = $1", [placeholder.id, receiver.url]);
      receivers.push(receiver);
      endpointIds.push(placeholder.id);
    }
    await app.pool.query("UPDATE webhook_endpoints SET status = 'ENABLED' WHERE id = $1", [endpointIds[0]]);
    await queue(app, [endpointIds[0]!], DELIVERIES);
    const oneMs = await deliverAll(app, DELIVERIES);
    const oneStats = await receivers[0]!.stats();
    const onePerSecond = Math.round(DELIVERIES / (oneMs / 1000));
    console.log(
      `webhooks: ${DELIVERIES} deliveries to one endpoint (in event order): ${(oneMs / 1000).toFixed(2)} s, ${onePerSecond}/s ` +
        `(receiver verified ${oneStats.received}, ${oneStats.distinct} distinct webhook-ids, ${oneStats.badSignatures} bad signatures)`,
    );

    await app.pool.query("DELETE FROM webhook_deliveries");
    await app.pool.query("UPDATE webhook_endpoints SET status = 'ENABLED'");
    await queue(app, endpointIds, DELIVERIES / 4);
    const fourMs = await deliverAll(app, DELIVERIES);
    const fourPerSecond = Math.round(DELIVERIES / (fourMs / 1000));
    let verified = 0;
    for (const r of receivers) verified += (await r.stats()).received;
    console.log(
      `webhooks: ${DELIVERIES} deliveries over four endpoints (${config.webhooks.concurrency} lanes): ${(fourMs / 1000).toFixed(2)} s, ${fourPerSecond}/s ` +
        `(verified in all since start: ${verified})`,
    );
    for (const r of receivers) r.stop();
    await app.pool.query("DELETE FROM webhook_endpoints");

    // (2) Posting 100,000 invoices, without and with an endpoint subscribed to invoice.posted.
    await app.pool.query(
      `INSERT INTO accounts (id, account_number, name, currency, bill_cycle_day, updated_at)
       SELECT gen_random_uuid(), 'W-' || lpad(n::text, 8, '0'), 'Webhook customer ' || n, 'USD', 1, now() FROM generate_series(1, $1::int) AS n`,
      [INVOICES],
    );
    const run = await app.pool.query<{ id: string }>(
      `INSERT INTO bill_runs (id, target_date, invoice_date, status) VALUES (gen_random_uuid(), '2026-02-01', '2026-02-01', 'COMPLETED') RETURNING id`,
    );
    const runId = run.rows[0]!.id;
    await app.pool.query(
      `INSERT INTO documents (id, number, type, status, bill_run_id, account_id, currency, amount, balance, invoice_date, due_date)
       SELECT gen_random_uuid(), 'WINV-' || a.account_number, 'INVOICE', 'DRAFT', $1, a.id, 'USD', 12.5, 12.5, '2026-02-01', '2026-03-03'
         FROM accounts a WHERE a.account_number LIKE 'W-%'`,
      [runId],
    );
    if (process.env.BENCH_NO_TRIGGER) {
      await app.pool.query("ALTER TABLE documents DISABLE TRIGGER documents_webhooks");
      console.log(`posting without the trigger: ${((await timePosting(app, runId)) / 1000).toFixed(2)} s`);
      await app.pool.query("ALTER TABLE documents ENABLE TRIGGER documents_webhooks");
    }
    const withoutMs = await timePosting(app, runId);
    const endpoint = await createEndpoint(app, { url: "http://127.0.0.1:9/x", eventTypes: ["invoice.posted"], description: "bench" }, adminId);
    await app.pool.query("UPDATE webhook_endpoints SET url = 'http://127.0.0.1:9/unused' WHERE id = $1", [endpoint.id]);
    const withMs = await timePosting(app, runId);
    // What the deliverers do afterwards, outside the posting: the events and deliveries themselves.
    const expandStarted = performance.now();
    while ((await expandPostedDocuments(app)) > 0);
    const expandMs = performance.now() - expandStarted;
    const queued = await app.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1", [endpoint.id]);
    console.log(
      `posting ${INVOICES} invoices: ${(withoutMs / 1000).toFixed(2)} s with no endpoint; ${(withMs / 1000).toFixed(2)} s with one subscribed to invoice.posted ` +
        `(it records which documents were posted); then ${queued.rows[0]!.n} invoice.posted events and deliveries stored by the deliverer in ${(expandMs / 1000).toFixed(2)} s`,
    );
    console.log(
      JSON.stringify({
        bench: "webhooks",
        deliveries: DELIVERIES,
        oneEndpointPerSecond: onePerSecond,
        fourEndpointsPerSecond: fourPerSecond,
        badSignatures: oneStats.badSignatures,
        postingInvoices: INVOICES,
        postingWithoutEndpointMs: Math.round(withoutMs),
        postingWithEndpointMs: Math.round(withMs),
        documentEventsStoredMs: Math.round(expandMs),
        queuedDocumentEvents: queued.rows[0]!.n,
      }),
    );
    await app.close();
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
