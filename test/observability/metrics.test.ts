import { readFileSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { collect, startServer, wsClient } from "../support/server.ts";
import { seedBulkAccounts } from "../support/seed.ts";
import { waitFor } from "../support/wait.ts";
import { registerWorkers, type Workers } from "../../src/billruns/executor.ts";
import { loadConfig } from "../../src/config.ts";
import { ConfigError } from "../../src/startup.ts";
import type { HttpServer } from "../../src/http.ts";
import { parseMetrics, valueOf, type Sample } from "./prometheus.ts";

const METRICS_TOKEN = "metrics-token-0123456789abcdef";
const ACCOUNTS = 300;
const CHUNK_SIZE = 50;

let t: TestApp;
let http: HttpServer;
let workers: Workers;
let metricsUrl: string;

beforeAll(async () => {
  t = await createTestApp({ BILLRUN_METRICS: "true", BILLRUN_METRICS_TOKEN: METRICS_TOKEN, BILLRUN_CHUNK_SIZE: String(CHUNK_SIZE) });
  workers = await registerWorkers(t.app, 2);
  http = await startServer(t);
  metricsUrl = http.url.replace(/\/graphql$/, "/metrics");
});
afterAll(async () => {
  await workers?.stop(0);
  await http?.close();
  await t?.close();
});

async function scrape(): Promise<Sample[]> {
  const response = await fetch(metricsUrl, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(await response.text());
}

/** What the run's rows in the database say failed, by code. */
async function failuresInDatabase(billRunId: string): Promise<Record<string, number>> {
  const rows = await t.app.pool.query<{ code: string; count: number }>(
    "SELECT failure_code AS code, count(*)::int AS count FROM bill_run_accounts WHERE bill_run_id = $1 AND status = 'FAILED' GROUP BY failure_code",
    [billRunId],
  );
  return Object.fromEntries(rows.rows.map((r) => [r.code, r.count]));
}

describe("GET /metrics", () => {
  it("refuses a scrape without the token, or with another one (401)", async () => {
    const none = await fetch(metricsUrl);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(await none.text()).not.toContain("billrun_");
    const wrong = await fetch(metricsUrl, { headers: { authorization: "Bearer metrics-token-0123456789abcdeX" } });
    expect(wrong.status).toBe(401);
    const basic = await fetch(metricsUrl, { headers: { authorization: `Basic ${Buffer.from(`x:${METRICS_TOKEN}`).toString("base64")}` } });
    expect(basic.status).toBe(401);
  });

  it("is refused at start-up when on without a token or a port of its own", () => {
    let refused: unknown;
    try {
      loadConfig({ BILLRUN_METRICS: "true" });
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as ConfigError).details.join("\n")).toMatch(/BILLRUN_METRICS=.*needs BILLRUN_METRICS_TOKEN .* or BILLRUN_METRICS_PORT/);
    expect(loadConfig({ BILLRUN_METRICS: "true", BILLRUN_METRICS_PORT: "0" }).metrics).toMatchObject({ enabled: true, port: 0 });
    expect(loadConfig({}).metrics.enabled).toBe(false);
  });

  it("serves process, pool, queue and outbox metrics with prom-client's defaults", async () => {
    const samples = await scrape();
    const names = new Set(samples.map((s) => s.name));
    for (const name of [
      "billrun_process_cpu_seconds_total",
      "billrun_process_resident_memory_bytes",
      "billrun_db_pool_connections",
      "billrun_db_pool_waiting_requests",
      "billrun_queue_jobs",
      "billrun_queue_oldest_job_age_seconds",
      "billrun_email_outbox_messages",
      "billrun_email_outbox_oldest_pending_age_seconds",
      "billrun_bill_runs",
      "billrun_websocket_connections",
      "billrun_websocket_subscriptions",
    ]) {
      expect(names, name).toContain(name);
    }
    expect(valueOf(samples, "billrun_queue_jobs", { queue: "billrun-chunk", state: "created" })).toBe(0);
    expect(valueOf(samples, "billrun_db_pool_max_connections")).toBe(t.app.config.dbPoolSize);
  });
});

describe("a bill run over a few hundred accounts", () => {
  it("moves the counters by what the run did, during the run and after it", async () => {
    await seedBulkAccounts(t.app.pool, ACCOUNTS, { prefix: "M" });
    // Failures made on purpose: 10 accounts without a bill-to email, 10 with a charge in a foreign currency.
    await t.app.pool.query("UPDATE accounts SET bill_to_email = '' WHERE account_number LIKE 'M-%' AND substr(account_number, 3)::int % 30 = 5");
    await t.app.pool.query(
      `UPDATE charges c SET currency = CASE WHEN a.currency = 'USD' THEN 'EUR' ELSE 'USD' END
         FROM subscriptions s JOIN accounts a ON a.id = s.account_id
        WHERE c.subscription_id = s.id AND a.account_number LIKE 'M-%' AND substr(a.account_number, 3)::int % 30 = 20`,
    );
    const before = await scrape();
    const counter = (samples: Sample[], name: string, labels: Record<string, string> = {}) => valueOf(samples, name, labels) - valueOf(before, name, labels);

    // The last chunk (accounts 251-300) is held back: a charge of its last account is locked, so
    // its transaction waits at the charge update while the other chunks commit.
    const holder = new pg.Client({ connectionString: t.databaseUrl });
    await holder.connect();
    let billRunId!: string;
    try {
      await holder.query("BEGIN");
      await holder.query(
        `SELECT c.id FROM charges c JOIN subscriptions s ON s.id = c.subscription_id JOIN accounts a ON a.id = s.account_id
          WHERE a.account_number = 'M-00000300' FOR UPDATE OF c`,
      );
      const created = await t.gql<any, unknown>(
        `mutation MetricsTestCreate($input: CreateBillRunInput!) { createBillRun(input: $input) { __typename ... on BillRun { id } } }`,
        { input: { targetDate: "2026-02-01", invoiceDate: "2026-02-03" } },
      );
      expect(created.errors).toBeUndefined();
      billRunId = created.data.createBillRun.id;

      // During: five chunks committed, the sixth waits.
      const during = await waitFor("five of six chunks counted, one job left", async () => {
        const samples = await scrape();
        const settled =
          counter(samples, "billrun_accounts_processed_total") === ACCOUNTS - CHUNK_SIZE &&
          valueOf(samples, "billrun_queue_jobs", { queue: "billrun-chunk", state: "active" }) === 1;
        return settled ? samples : undefined;
      });
      const run = await t.app.db.billRun.findUniqueOrThrow({ where: { id: billRunId } });
      expect(run.status).toBe("PROCESSING");
      expect(run.accountsProcessed).toBe(ACCOUNTS - CHUNK_SIZE);
      expect(valueOf(during, "billrun_bill_runs", { status: "PROCESSING" })).toBe(1);
      expect(valueOf(during, "billrun_queue_jobs", { queue: "billrun-chunk", state: "active" })).toBe(1);
      expect(valueOf(during, "billrun_db_pool_connections", { state: "in_use" })).toBeGreaterThanOrEqual(1);
      const failedSoFar = await failuresInDatabase(billRunId);
      for (const code of ["MISSING_BILL_TO_CONTACT", "CURRENCY_MISMATCH"]) {
        expect(counter(during, "billrun_accounts_failed_total", { code }), code).toBe(failedSoFar[code] ?? 0);
      }
      expect(counter(during, "billrun_documents_generated_total", { type: "INVOICE" })).toBe(run.invoiceCount);
      expect(counter(during, "billrun_run_duration_seconds_count", { status: "COMPLETED" })).toBe(0);
    } finally {
      await holder.query("COMMIT").catch(() => undefined);
      await holder.end();
    }

    // After: every targeted account counted once, the failures by their code.
    const after = await waitFor("the run's duration observed", async () => {
      const samples = await scrape();
      return counter(samples, "billrun_run_duration_seconds_count", { status: "COMPLETED" }) === 1 ? samples : undefined;
    });
    const run = await t.app.db.billRun.findUniqueOrThrow({ where: { id: billRunId } });
    expect(run).toMatchObject({
      status: "COMPLETED",
      accountsTotal: ACCOUNTS,
      accountsProcessed: ACCOUNTS,
      failedAccountCount: 20,
      invoiceCount: ACCOUNTS - 20,
    });
    expect(counter(after, "billrun_accounts_processed_total")).toBe(ACCOUNTS);
    expect(counter(after, "billrun_accounts_failed_total", { code: "MISSING_BILL_TO_CONTACT" })).toBe(10);
    expect(counter(after, "billrun_accounts_failed_total", { code: "CURRENCY_MISMATCH" })).toBe(10);
    expect(await failuresInDatabase(billRunId)).toEqual({ MISSING_BILL_TO_CONTACT: 10, CURRENCY_MISMATCH: 10 });
    expect(counter(after, "billrun_documents_generated_total", { type: "INVOICE" })).toBe(ACCOUNTS - 20);
    expect(valueOf(after, "billrun_bill_runs", { status: "PROCESSING" })).toBe(0);
    expect(valueOf(after, "billrun_bill_runs", { status: "COMPLETED" })).toBe(1);
    expect(counter(after, "billrun_jobs_total", { queue: "billrun-chunk", outcome: "completed" })).toBe(ACCOUNTS / CHUNK_SIZE);
    const seconds = (run.completedAt!.getTime() - run.startedAt!.getTime()) / 1000;
    expect(counter(after, "billrun_run_duration_seconds_sum", { status: "COMPLETED" })).toBeCloseTo(seconds, 2);
    // The GraphQL operation that created the run, by name and type.
    expect(counter(after, "billrun_graphql_operations_total", { operationName: "MetricsTestCreate", operationType: "mutation" })).toBe(1);
    expect(counter(after, "billrun_graphql_operation_duration_seconds_count", { operationName: "MetricsTestCreate", operationType: "mutation" })).toBe(1);

    // Posting: every invoice posted is counted.
    const posted = await t.gql<any, unknown>(`mutation MetricsTestPost($id: ID!) { postBillRun(id: $id) { __typename } }`, { id: billRunId });
    expect(posted.errors).toBeUndefined();
    const final = await waitFor("the run posted", async () => {
      const samples = await scrape();
      return valueOf(samples, "billrun_bill_runs", { status: "POSTED" }) === 1 ? samples : undefined;
    });
    expect(counter(final, "billrun_documents_posted_total")).toBe(ACCOUNTS - 20);

    // The run's own figures, in the API.
    const timed = await t.gql<any, unknown>(
      `query($id: ID!) { billRun(id: $id) { startedAt completedAt metrics { wallSeconds waitingSeconds processingSeconds postingSeconds accountsPerSecond documentsPerSecond } } }`,
      { id: billRunId },
    );
    const { startedAt, completedAt, metrics } = timed.data.billRun;
    const processing = (Date.parse(completedAt) - Date.parse(startedAt)) / 1000;
    expect(metrics.processingSeconds).toBeCloseTo(processing, 3);
    expect(metrics.accountsPerSecond).toBeCloseTo(ACCOUNTS / processing, 1);
    expect(metrics.documentsPerSecond).toBeCloseTo((ACCOUNTS - 20) / processing, 1);
    expect(metrics.postingSeconds).toBeGreaterThan(0);
    expect(metrics.wallSeconds).toBeGreaterThanOrEqual(metrics.waitingSeconds + metrics.processingSeconds + metrics.postingSeconds - 0.01);
  });

  it("counts GraphQL errors by operation", async () => {
    const before = await scrape();
    const result = await t.gql<any, unknown>(`query MetricsTestBroken { billRun(id: "x") { nope } }`);
    expect(result.errors).toBeDefined();
    const after = await scrape();
    const labels = { operationName: "MetricsTestBroken", phase: "validate" };
    expect(valueOf(after, "billrun_graphql_errors_total", labels) - valueOf(before, "billrun_graphql_errors_total", labels)).toBe(1);
  });
});

describe("WebSockets", () => {
  it("counts open connections, running subscriptions and the events delivered to them", async () => {
    const before = await scrape();
    const client = wsClient(http.url.replace(/^http/, "ws"), t.tokens.admin);
    try {
      // PENDING, PROCESSING, COMPLETED of the run created below.
      const changes = collect<any>(client, "subscription { billRunStatusChanged { eventId status } }", {}, 3);
      const open = await waitFor("the subscription counted", async () => {
        const samples = await scrape();
        return valueOf(samples, "billrun_websocket_subscriptions") === 1 ? samples : undefined;
      });
      expect(valueOf(open, "billrun_websocket_connections")).toBe(1);
      const created = await t.gql<any, unknown>(`mutation { createBillRun(input: { targetDate: "2026-01-15" }) { __typename } }`);
      expect(created.data.createBillRun.__typename).toBe("BillRun");
      expect((await changes.done).map((c) => c.billRunStatusChanged.status)).toEqual(["PENDING", "PROCESSING", "COMPLETED"]);
      const after = await scrape();
      const delivered = valueOf(after, "billrun_subscription_events_delivered_total") - valueOf(before, "billrun_subscription_events_delivered_total");
      expect(delivered).toBe(3);
    } finally {
      await client.dispose();
    }
    await waitFor("the connection gone", async () => valueOf(await scrape(), "billrun_websocket_connections") === 0);
    expect(valueOf(await scrape(), "billrun_websocket_subscriptions")).toBe(0);
  });
});

describe("docs/operations.md and the Grafana dashboard", () => {
  it("document every metric served, and the dashboard queries no other", async () => {
    const response = await fetch(metricsUrl, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    const served = new Set([...(await response.text()).matchAll(/^# HELP (billrun_\w+)/gm)].map((m) => m[1]!));
    const ours = [...served].filter((name) => !/^billrun_(process|nodejs)_/.test(name));
    expect(ours.length).toBeGreaterThan(20);
    const guide = readFileSync(new URL("../../docs/operations.md", import.meta.url), "utf8");
    for (const name of ours) expect(guide, name).toContain(`\`${name}\``);

    const dashboard = JSON.parse(readFileSync(new URL("../../docs/grafana-dashboard.json", import.meta.url), "utf8")) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const queried = dashboard.panels.flatMap((p) => p.targets.flatMap((target) => [...target.expr.matchAll(/\bbillrun_\w+/g)].map((m) => m[0])));
    expect(queried.length).toBeGreaterThan(20);
    for (const name of queried) expect(served, name).toContain(name.replace(/_(bucket|sum|count)$/, ""));
  });
});
