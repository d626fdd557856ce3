// The real entry points, started the way `npm start` starts them (node --import register.ts):
// pg, HTTP, GraphQL and job spans reach an OTLP/HTTP endpoint, and /metrics lives on its own port.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../support/db.ts";
import { seedBulkAccounts } from "../support/seed.ts";
import { startProcess } from "../support/processes.ts";
import { waitFor } from "../support/wait.ts";
import { freePort } from "../../src/db/embedded.ts";
import { parseMetrics, valueOf } from "./prometheus.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ADMIN_TOKEN = "brt_otel_test_admin_token_0123";

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: { key: string; value: Record<string, unknown> }[];
}

const received: OtlpSpan[] = [];
let collector: Server;
let database: { url: string; drop: () => Promise<void> };
let dataDir: string;
let api: ChildProcess;
let apiUrl: string;
let metricsPort: number;

const attribute = (span: OtlpSpan, key: string) => {
  const value = span.attributes?.find((a) => a.key === key)?.value;
  return value ? Object.values(value)[0] : undefined;
};

beforeAll(async () => {
  // An OTLP/HTTP (JSON) endpoint that keeps what it receives.
  collector = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
    req.on("end", () => {
      const payload = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const resource of payload.resourceSpans) for (const scope of resource.scopeSpans) received.push(...scope.spans);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
  const collectorPort = (collector.address() as { port: number }).port;

  database = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: database.url });
  await seedBulkAccounts(pool, 12, { prefix: "O" });
  await pool.end();
  dataDir = await mkdtemp(path.join(tmpdir(), "billrun-otel-"));
  metricsPort = await freePort();

  api = spawn(process.execPath, ["--import", "./src/observability/register.ts", "src/server.ts"], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: "test",
      DATABASE_URL: database.url,
      BILLRUN_DATA_DIR: dataDir,
      BILLRUN_DEMO_DATA: "false",
      BILLRUN_ADMIN_TOKEN: ADMIN_TOKEN,
      BILLRUN_CHUNK_SIZE: "5",
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "warn",
      BILLRUN_METRICS: "true",
      BILLRUN_METRICS_PORT: String(metricsPort),
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collectorPort}`,
      OTEL_BSP_SCHEDULE_DELAY: "100",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  apiUrl = await new Promise<string>((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`the API did not start within 60 s:\n${output}`)), 60_000);
    api.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
      const found = /Billrun is running: (http:\/\/\S+\/graphql)/.exec(output);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]!);
      }
    });
    api.once("exit", (code) => reject(new Error(`the API exited (${code}) before serving:\n${output}`)));
  });
});

afterAll(async () => {
  if (api && api.exitCode === null) {
    const exited = new Promise((resolve) => api.once("exit", resolve));
    api.kill("SIGTERM");
    await exited;
  }
  await new Promise((resolve) => collector?.close(resolve));
  await database?.drop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function gql(query: string, variables: Record<string, unknown> = {}) {
  const response = await fetch(apiUrl, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as { data?: any; errors?: unknown[] };
}

describe("npm start with OTEL_EXPORTER_OTLP_ENDPOINT and BILLRUN_METRICS_PORT", () => {
  it("exports HTTP, GraphQL, PostgreSQL and job spans of one trace, from the request to the chunks", async () => {
    const created = await gql(`mutation OtlpCreate($input: CreateBillRunInput!) { createBillRun(input: $input) { __typename ... on BillRun { id } } }`, {
      input: { targetDate: "2026-02-01" },
    });
    expect(created.errors).toBeUndefined();
    const billRunId: string = created.data.createBillRun.id;
    await waitFor("the run completed", async () => {
      const run = await gql(`query($id: ID!) { billRun(id: $id) { status } }`, { id: billRunId });
      return run.data?.billRun?.status === "COMPLETED";
    });
    const chunks = await waitFor("three chunk job spans exported", async () => {
      const found = received.filter((s) => s.name === "job billrun-chunk" && attribute(s, "billrun.run_id") === billRunId);
      return found.length === 3 ? found : undefined;
    });

    const operation = received.find((s) => s.name === "mutation.OtlpCreate");
    expect(operation).toBeDefined();
    // The incoming HTTP request is the trace's root; the GraphQL operation runs inside it.
    const request = received.find((s) => s.spanId === operation!.parentSpanId);
    expect(request?.kind).toBe(2); // SERVER
    expect(request?.traceId).toBe(operation!.traceId);
    const start = received.find((s) => s.name === "job billrun-start" && attribute(s, "billrun.run_id") === billRunId);
    expect(start?.parentSpanId).toBe(operation!.spanId);
    for (const chunk of chunks) {
      expect(chunk.traceId).toBe(operation!.traceId);
      expect(chunk.parentSpanId).toBe(start!.spanId);
      // Its queries are spans of their own under it (pg instrumented through the --import entry).
      const queries = received.filter((s) => s.parentSpanId === chunk.spanId && (attribute(s, "db.system") ?? attribute(s, "db.system.name")) === "postgresql");
      expect(queries.length).toBeGreaterThan(0);
    }
    expect(chunks.map((c) => Number(attribute(c, "billrun.accounts"))).sort()).toEqual([2, 5, 5]);
    // Bound values never reach a span.
    expect(JSON.stringify(received)).not.toContain(ADMIN_TOKEN);
  });

  it("serves /metrics on BILLRUN_METRICS_PORT only", async () => {
    const onApiPort = await fetch(apiUrl.replace(/\/graphql$/, "/metrics"));
    expect(onApiPort.status).toBe(404);
    const scraped = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(scraped.status).toBe(200);
    const samples = parseMetrics(await scraped.text());
    expect(valueOf(samples, "billrun_accounts_processed_total")).toBe(12);
    expect(valueOf(samples, "billrun_bill_runs", { status: "COMPLETED" })).toBe(1);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/graphql`)).status).toBe(404);
  });

  it("a worker serves its own /metrics on its health port, behind the token", async () => {
    const token = "worker-metrics-token-0123456789";
    const worker = await startProcess("worker", "worker", {
      NODE_ENV: "test",
      DATABASE_URL: database.url,
      BILLRUN_DATA_DIR: dataDir,
      BILLRUN_METRICS: "true",
      BILLRUN_METRICS_TOKEN: token,
      LOG_LEVEL: "warn",
    });
    try {
      const url = `http://127.0.0.1:${worker.port}/metrics`;
      await waitFor("the worker's health port", async () => (await fetch(`http://127.0.0.1:${worker.port}/health`).catch(() => null))?.status === 200);
      expect((await fetch(url)).status).toBe(401);
      const scraped = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      expect(scraped.status).toBe(200);
      const samples = parseMetrics(await scraped.text());
      // Its own counters (it billed nothing), the database's gauges (the same for every process).
      expect(valueOf(samples, "billrun_accounts_processed_total")).toBe(0);
      expect(valueOf(samples, "billrun_bill_runs", { status: "COMPLETED" })).toBe(1);
      expect(samples.some((s) => s.name === "billrun_process_cpu_seconds_total")).toBe(true);
    } finally {
      worker.child.kill("SIGTERM");
      expect((await worker.exited).code).toBe(0);
    }
  });
});
