// Prometheus metrics of one process (API or worker). Events are counted where they happen
// (after their transaction commits); state that lives in the database (runs by status, queues,
// the email outbox) is read at scrape time with a few cheap queries, so every process reports
// the same numbers for it and nothing has to be kept in step.
import client, { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { App } from "../app.ts";
import { QUEUES } from "../jobs.ts";
import { BillRunStatus } from "../generated/prisma/enums.ts";

/** The process's own metrics (counters, histograms, live gauges, prom-client's defaults). */
export const registry = new Registry();
client.collectDefaultMetrics({ register: registry, prefix: "billrun_" });

export const metrics = {
  wsConnections: new Gauge({
    name: "billrun_websocket_connections",
    help: "Open graphql-ws connections on this process.",
    registers: [registry],
  }),
  wsSubscriptions: new Gauge({
    name: "billrun_websocket_subscriptions",
    help: "Active GraphQL subscriptions over WebSockets on this process.",
    registers: [registry],
    // graphql-ws keeps each connection's running subscriptions: counted at scrape time, so the gauge cannot drift.
    collect() {
      let count = 0;
      for (const connection of wsContexts) count += Object.values(connection.subscriptions).filter((s) => s != null).length;
      this.set(count);
    },
  }),
  wsDropped: new Counter({
    name: "billrun_websocket_dropped_connections_total",
    help: "WebSocket connections dropped by the server: the client did not keep up with its events, or answered no ping.",
    labelNames: ["reason"] as const,
    registers: [registry],
  }),
  eventsDelivered: new Counter({
    name: "billrun_subscription_events_delivered_total",
    help: "Subscription results written to WebSocket connections.",
    registers: [registry],
  }),
  accountsProcessed: new Counter({
    name: "billrun_accounts_processed_total",
    help: "Accounts a bill run finished with (billed or failed), counted when their chunk commits.",
    registers: [registry],
  }),
  accountsFailed: new Counter({
    name: "billrun_accounts_failed_total",
    help: "Accounts a bill run could not bill, by failure code.",
    labelNames: ["code"] as const,
    registers: [registry],
  }),
  documentsGenerated: new Counter({
    name: "billrun_documents_generated_total",
    help: "Draft documents bill runs created, by type (INVOICE, CREDIT_MEMO).",
    labelNames: ["type"] as const,
    registers: [registry],
  }),
  documentsPosted: new Counter({
    name: "billrun_documents_posted_total",
    help: "Documents moved from DRAFT to POSTED by posting jobs.",
    registers: [registry],
  }),
  runDuration: new Histogram({
    name: "billrun_run_duration_seconds",
    help: "Time from a bill run's start (PROCESSING) to COMPLETED, observed by the process that completed it.",
    labelNames: ["status"] as const,
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400],
    registers: [registry],
  }),
  jobs: new Counter({
    name: "billrun_jobs_total",
    help: "Bill-run jobs handled by this process, by queue and outcome (completed, failed: retried by the queue).",
    labelNames: ["queue", "outcome"] as const,
    registers: [registry],
  }),
  jobDuration: new Histogram({
    name: "billrun_job_duration_seconds",
    help: "Time a bill-run job took, by queue.",
    labelNames: ["queue"] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  }),
  deadLetters: new Counter({
    name: "billrun_dead_letter_jobs_total",
    help: "Bill-run jobs that failed all their retries (their run goes to ERROR).",
    registers: [registry],
  }),
};

/** graphql-ws contexts of the open, acknowledged connections of this process. */
const wsContexts = new Set<{ subscriptions: Record<string, unknown> }>();

/** Counts `connection`'s subscriptions in billrun_websocket_subscriptions; call the result when it closes. */
export function watchSubscriptions(connection: { subscriptions: Record<string, unknown> }): () => void {
  wsContexts.add(connection);
  return () => void wsContexts.delete(connection);
}

// Every status a run can have, from the schema's enum: REMOVED only ever marks a deleted run's last event.
const BILL_RUN_STATUSES = Object.values(BillRunStatus).filter((status) => status !== BillRunStatus.REMOVED);

const perApp = new WeakMap<App, Registry>();

/**
 * The gauges read at scrape time from `app`'s database and pool: bill runs by status, pg-boss
 * queues, the email outbox, the connection pool. One registry per App (tests run several in
 * one process). A query that fails leaves its gauges empty for that scrape (and is logged):
 * the process's own metrics are still served.
 */
function databaseRegistry(app: App): Registry {
  const existing = perApp.get(app);
  if (existing) return existing;
  const r = new Registry();
  const guarded = async (what: string, work: () => Promise<void>) => {
    try {
      await work();
    } catch (error) {
      app.log.warn({ err: error, what }, "a metric could not be read from the database");
    }
  };
  new Gauge({
    name: "billrun_bill_runs",
    help: "Bill runs by status (all processes see the same number: read from the database).",
    labelNames: ["status"] as const,
    registers: [r],
    async collect() {
      this.reset();
      await guarded("bill runs by status", async () => {
        const rows = await app.pool.query<{ status: string; count: number }>("SELECT status, count(*)::int AS count FROM bill_runs GROUP BY status");
        const counts = new Map(rows.rows.map((row) => [row.status, row.count]));
        for (const status of BILL_RUN_STATUSES) this.set({ status }, counts.get(status) ?? 0);
      });
    },
  });
  // Each gauge reads what it shows in its own collect: prom-client serialises a gauge right
  // after collecting it, so one gauge cannot fill in another.
  new Gauge({
    name: "billrun_queue_jobs",
    help: "pg-boss jobs by queue and state (created, retry, active).",
    labelNames: ["queue", "state"] as const,
    registers: [r],
    async collect() {
      this.reset();
      await guarded("job queues", async () => {
        const rows = await app.pool.query<{ name: string; state: string; count: number }>(
          `SELECT name, state::text AS state, count(*)::int AS count
             FROM pgboss.job WHERE name = ANY($1::text[]) AND state IN ('created', 'retry', 'active') GROUP BY name, state`,
          [Object.values(QUEUES)],
        );
        for (const queue of Object.values(QUEUES)) {
          for (const state of ["created", "retry", "active"]) {
            this.set({ queue, state }, rows.rows.find((row) => row.name === queue && row.state === state)?.count ?? 0);
          }
        }
      });
    },
  });
  new Gauge({
    name: "billrun_queue_oldest_job_age_seconds",
    help: "Age of the oldest job waiting (created or retry) in each pg-boss queue; 0 when none waits.",
    labelNames: ["queue"] as const,
    registers: [r],
    async collect() {
      this.reset();
      await guarded("job queue ages", async () => {
        const rows = await app.pool.query<{ name: string; age: number }>(
          `SELECT name, extract(epoch FROM now() - min(created_on))::float8 AS age
             FROM pgboss.job WHERE name = ANY($1::text[]) AND state IN ('created', 'retry') GROUP BY name`,
          [Object.values(QUEUES)],
        );
        for (const queue of Object.values(QUEUES)) this.set({ queue }, Math.max(0, rows.rows.find((row) => row.name === queue)?.age ?? 0));
      });
    },
  });
  new Gauge({
    name: "billrun_email_outbox_messages",
    help: "Emails in the outbox by status: PENDING (waiting, or retrying), SENDING, FAILED (given up).",
    labelNames: ["status"] as const,
    registers: [r],
    async collect() {
      this.reset();
      await guarded("email outbox", async () => {
        // PENDING and SENDING through the outbox's partial index; FAILED rows are few.
        const rows = await app.pool.query<{ status: string; count: number }>(
          `SELECT status::text AS status, count(*)::int AS count FROM email_outbox WHERE status IN ('PENDING', 'SENDING', 'FAILED') GROUP BY status`,
        );
        for (const status of ["PENDING", "SENDING", "FAILED"]) this.set({ status }, rows.rows.find((row) => row.status === status)?.count ?? 0);
      });
    },
  });
  new Gauge({
    name: "billrun_email_outbox_oldest_pending_age_seconds",
    help: "Age of the oldest email not yet sent (PENDING or SENDING); 0 when none.",
    registers: [r],
    async collect() {
      this.reset();
      await guarded("email outbox age", async () => {
        const rows = await app.pool.query<{ age: number | null }>(
          "SELECT extract(epoch FROM now() - min(created_at))::float8 AS age FROM email_outbox WHERE status IN ('PENDING', 'SENDING')",
        );
        this.set(Math.max(0, rows.rows[0]?.age ?? 0));
      });
    },
  });
  new Gauge({
    name: "billrun_db_pool_connections",
    help: "Connections of this process's database pool, by state (in_use, idle).",
    labelNames: ["state"] as const,
    registers: [r],
    collect() {
      this.set({ state: "in_use" }, app.pool.totalCount - app.pool.idleCount);
      this.set({ state: "idle" }, app.pool.idleCount);
    },
  });
  new Gauge({
    name: "billrun_db_pool_waiting_requests",
    help: "Queries of this process waiting for a free pool connection.",
    registers: [r],
    collect() {
      this.set(app.pool.waitingCount);
    },
  });
  new Gauge({
    name: "billrun_db_pool_max_connections",
    help: "Size of this process's database pool (BILLRUN_DB_POOL_SIZE).",
    registers: [r],
    collect() {
      this.set(app.config.dbPoolSize);
    },
  });
  perApp.set(app, r);
  return r;
}

/** The Prometheus text exposition of everything above, for `GET /metrics`. */
export async function renderMetrics(app: App): Promise<{ contentType: string; body: string }> {
  const [own, database] = await Promise.all([registry.metrics(), databaseRegistry(app).metrics()]);
  return { contentType: registry.contentType, body: `${own}\n${database}` };
}

/** Counts what a committed chunk (or single-account retry) did. */
export function recordChunkCommitted(counts: { accounts: number; invoices: number; creditMemos: number; failureCodes: readonly string[] }): void {
  if (counts.accounts > 0) metrics.accountsProcessed.inc(counts.accounts);
  for (const code of counts.failureCodes) metrics.accountsFailed.inc({ code });
  if (counts.invoices > 0) metrics.documentsGenerated.inc({ type: "INVOICE" }, counts.invoices);
  if (counts.creditMemos > 0) metrics.documentsGenerated.inc({ type: "CREDIT_MEMO" }, counts.creditMemos);
}
