import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "../../src/db/embedded.ts";
import { ensureDatabase } from "../../src/database.ts";
import { migrate } from "../../src/db/migrate.ts";
import { seedBulkAccounts } from "../support/seed.ts";
import { cpuSeconds, postgresCpuSeconds, probe, startProcess, waitFor, type Proc } from "../support/processes.ts";

// Two APIs and two workers as real processes on one PostgreSQL of their own, with every
// recovery setting (job expiry 300 s included) at the default a user gets. A run over
// ACCOUNTS accounts; a worker stopped with SIGTERM, one killed mid-run, one killed mid-post,
// an API killed under a subscriber: each fault costs seconds, and nothing is billed twice.
// scripts/scale-check.sh runs the same on Debian's PostgreSQL behind PgBouncer in transaction
// mode: SCALE_DATABASE_URL (through the pooler), SCALE_DIRECT_URL (LISTEN, migrations), SCALE_ACCOUNTS.
const external = process.env.SCALE_DATABASE_URL
  ? { url: process.env.SCALE_DATABASE_URL, direct: process.env.SCALE_DIRECT_URL ?? process.env.SCALE_DATABASE_URL }
  : null;
const ACCOUNTS = Number(process.env.SCALE_ACCOUNTS ?? 5000);
const EXTRA_SECONDS_ALLOWED = 15;
const TOKEN = "brt_scale_admin_token_0123456789";

let dir: string;
let database: EmbeddedDatabase;
let url: string;
/** A session connection to the same database: LISTEN, migrations, and this test's own queries. */
let direct: string;
let pool: pg.Pool;
let peakConnections = 0;
let sampler: NodeJS.Timeout | undefined;
const procs: Proc[] = [];

const commonEnv = () => ({
  DATABASE_URL: url,
  DATABASE_LISTEN_URL: direct,
  NODE_ENV: "production",
  BILLRUN_ADMIN_TOKEN: TOKEN,
  BILLRUN_DEMO_DATA: "false",
  BILLRUN_DATA_DIR: dir,
  // Small chunks, so that a worker killed "mid-run" is one holding chunks while others wait.
  BILLRUN_CHUNK_SIZE: "250",
  BILLRUN_DB_POOL_SIZE: "5",
  BILLRUN_JOBS_POOL_SIZE: "3",
});

async function start(name: string, kind: "api" | "worker", env: Record<string, string> = {}): Promise<Proc> {
  const proc = await startProcess(name, kind, { ...commonEnv(), ...env });
  procs.push(proc);
  await waitFor(`${name} ready`, async () => (await probe(proc.port, "/ready")) === 200, 90_000, 100);
  return proc;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "billrun-scale-"));
  if (external) {
    ({ url, direct } = external);
  } else {
    database = await startEmbeddedPostgres({ dataDir: path.join(dir, "pg"), ephemeral: true });
    await ensureDatabase(database.url(), "billrun");
    url = direct = database.url("billrun");
  }
  await migrate(direct);
  pool = new pg.Pool({ connectionString: direct, max: 4 });
  // The database stops right after pool.end(): a connection it ends then is no news.
  pool.on("error", () => {});
  await seedBulkAccounts(pool, ACCOUNTS);
  // Connections of every process together, sampled: what the connection formula promises.
  sampler = setInterval(() => {
    pool.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database()").then(
      (r) => (peakConnections = Math.max(peakConnections, r.rows[0]!.n)),
      () => {},
    );
  }, 250);
}, 120_000);

afterAll(async () => {
  clearInterval(sampler);
  for (const proc of procs) if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill("SIGKILL");
  await Promise.all(procs.map((p) => p.exited));
  await pool?.end();
  await database?.stop();
  await rm(dir, { recursive: true, force: true });
}, 60_000);

async function gql<T>(api: Proc, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${api.port}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown };
  if (body.errors || !body.data) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

async function createRun(api: Proc, targetDate: string): Promise<string> {
  const data = await gql<{ createBillRun: { id?: string; message?: string } }>(
    api,
    `mutation($d: Date!) { createBillRun(input: { targetDate: $d }) { ... on BillRun { id } ... on Error { message } } }`,
    { d: targetDate },
  );
  if (!data.createBillRun.id) throw new Error(data.createBillRun.message);
  return data.createBillRun.id;
}

async function run(id: string) {
  const row = await pool.query<{ status: string; accounts_processed: number; accounts_total: number }>(
    "SELECT status, accounts_processed, accounts_total FROM bill_runs WHERE id = $1",
    [id],
  );
  return row.rows[0]!;
}

const waitStatus = (id: string, status: string, timeoutMs = 120_000) =>
  waitFor(`run ${id} ${status}`, async () => (await run(id)).status === status, timeoutMs, 50);

/** The worker_processes id of a worker process (it logs it at start). */
async function processIdOf(worker: Proc): Promise<number> {
  const line = await worker.waitForLog((l) => l.msg === "worker started");
  return line.processId as number;
}

async function holds(worker: Proc, queue: string): Promise<boolean> {
  const held = await pool.query("SELECT 1 FROM job_holders WHERE process_id = $1 AND queue = $2", [await processIdOf(worker), queue]);
  return (held.rowCount ?? 0) > 0;
}

/**
 * Catches `worker` holding a chunk of run `id` part-way through, and keeps it so until released:
 * once the run has billed its first accounts, the test locks the run's row, which no chunk can
 * then commit past (its documents' check and its counters need the row), so a worker that has
 * taken a chunk keeps it. Waiting for the moment instead missed it when a run went by in one
 * poll. The caller signals the worker, then releases.
 */
async function holdMidRun(worker: Proc, id: string): Promise<() => Promise<void>> {
  await waitFor(`run ${id} under way`, async () => {
    const r = await run(id);
    return r.status === "PROCESSING" && r.accounts_processed > 0;
  });
  const holder = await pool.connect();
  const release = async () => {
    await holder.query("ROLLBACK").catch(() => {});
    holder.release();
  };
  try {
    await holder.query("BEGIN");
    await holder.query("SELECT 1 FROM bill_runs WHERE id = $1 FOR UPDATE", [id]);
    await waitFor(`${worker.name} holding a chunk mid-run`, async () => {
      const r = await run(id);
      return r.status === "PROCESSING" && r.accounts_processed < ACCOUNTS && (await holds(worker, "billrun-chunk"));
    });
    return release;
  } catch (error) {
    await release();
    throw error;
  }
}

// --- subscribers ---------------------------------------------------------------------------

interface StatusEvent {
  eventId: string;
  previousStatus: string | null;
  status: string;
  billRun: { id: string };
}

const STATUS = `subscription($after: String) { billRunStatusChanged(after: $after) { eventId previousStatus status billRun { id } } }`;

/** A dashboard-like subscriber to every status change, from the first event on; `moveTo` resumes it elsewhere with `after`. */
function subscriber(api: Proc) {
  const events: StatusEvent[] = [];
  let client: Client;
  let closeCode: number | null = null;
  let ended: () => void = () => {};
  const subscribe = (port: number) => {
    closeCode = null;
    client = createClient({
      url: `ws://127.0.0.1:${port}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${TOKEN}` },
      on: { closed: (event) => (closeCode = (event as { code: number }).code) },
    });
    const after = events.length > 0 ? events[events.length - 1]!.eventId : "0";
    const stopped = new Promise<void>((resolve) => (ended = resolve));
    client.subscribe<{ billRunStatusChanged: StatusEvent }>(
      { query: STATUS, variables: { after } },
      { next: (result) => result.data && events.push(result.data.billRunStatusChanged), error: () => ended(), complete: () => ended() },
    );
    return stopped;
  };
  let stopped = subscribe(api.port);
  return {
    events,
    get closeCode() {
      return closeCode;
    },
    ended: () => stopped,
    moveTo: (other: Proc) => {
      stopped = subscribe(other.port);
    },
    dispose: () => client.dispose(),
  };
}

async function storedStatusHistory(): Promise<StatusEvent[]> {
  const rows = await pool.query<{ id: string; from_status: string | null; to_status: string; bill_run_id: string }>(
    "SELECT id::text AS id, from_status, to_status, bill_run_id FROM bill_run_events e WHERE kind = 'STATUS' ORDER BY e.id",
  );
  return rows.rows.map((r) => ({ eventId: r.id, previousStatus: r.from_status, status: r.to_status, billRun: { id: r.bill_run_id } }));
}

const warnings = (proc: Proc) => proc.lines.filter((l) => l.level >= 40);

it(`${ACCOUNTS} accounts, 2 APIs, 2 workers: SIGTERM, kill -9 mid-run and mid-post, an API killed under its subscriber`, async () => {
  const started = Date.now();
  const [api1, api2, w1, w2] = await Promise.all([
    start("api1", "api"),
    start("api2", "api", { BILLRUN_DRAIN_SECONDS: "2" }),
    start("w1", "worker"),
    start("w2", "worker"),
  ]);
  const s1 = subscriber(api1);
  const s2 = subscriber(api2);

  // Baseline: no fault. Also what it cost PostgreSQL and the workers in CPU, for sizing.
  const cpu = async () => ({ db: await postgresCpuSeconds(pool), w1: await cpuSeconds(w1.child.pid!), w2: await cpuSeconds(w2.child.pid!) });
  const wal = async () => (await pool.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn")).rows[0]!.lsn;
  const walBefore = await wal();
  const cpuBefore = await cpu();
  let t0 = Date.now();
  const r1 = await createRun(api1, "2026-02-01");
  await waitStatus(r1, "COMPLETED");
  const baseline = (Date.now() - t0) / 1000;
  const cpuAfter = await cpu();
  const walBytes = (await pool.query<{ n: string }>("SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::text AS n", [await wal(), walBefore])).rows[0]!.n;
  const spent = (k: "db" | "w1" | "w2") => (cpuBefore[k] === null || cpuAfter[k] === null ? NaN : cpuAfter[k]! - cpuBefore[k]!);

  // SIGTERM a worker holding chunks: it finishes them (or hands them back), exits 0, says so at info.
  t0 = Date.now();
  const r2 = await createRun(api2, "2026-03-01");
  const releaseR2 = await holdMidRun(w1, r2);
  w1.child.kill("SIGTERM");
  await releaseR2();
  const w1Exit = await w1.exited;
  await waitStatus(r2, "COMPLETED");
  const afterSigterm = (Date.now() - t0) / 1000;
  expect(w1Exit).toEqual({ code: 0, signal: null });
  expect(warnings(w1)).toEqual([]);
  expect(w1.lines.map((l) => l.msg)).toEqual(expect.arrayContaining(["stopping: no new jobs; jobs in hand finish", "database connections closed", "stopped"]));
  const w3 = await start("w3", "worker");

  // kill -9 a worker mid-run, and an API under a subscriber while the run goes on.
  t0 = Date.now();
  const r3 = await createRun(api2, "2026-04-01");
  const releaseR3 = await holdMidRun(w2, r3);
  w2.child.kill("SIGKILL");
  api1.child.kill("SIGKILL");
  await releaseR3();
  await Promise.all([w2.exited, api1.exited, s1.ended()]);
  s1.moveTo(api2);
  await waitStatus(r3, "COMPLETED");
  const afterKill = (Date.now() - t0) / 1000;
  // The killed worker's chunks were sent again because their holder was gone, not by expiry.
  const resent = (queue: string, id: string) =>
    [api2, w3].some((p) =>
      p.lines.some((l) => l.msg === "the worker holding a bill-run job is gone; job sent again" && l.queue === queue && l.billRunId === id),
    );
  expect(resent("billrun-chunk", r3)).toBe(true);
  const w4 = await start("w4", "worker");

  // kill -9 the worker posting, once every invoice is POSTED and before the run says so (the
  // test holds the documents, then the run's row, to stop the posting at exactly that point).
  const documentsHeld = await pool.connect();
  const runHeld = await pool.connect();
  let posted: number;
  let survivor: Proc;
  try {
    await documentsHeld.query("BEGIN");
    await documentsHeld.query("LOCK TABLE documents IN SHARE MODE");
    await gql(api2, `mutation($id: ID!) { postBillRun(id: $id) { ... on BillRun { id } ... on Error { message } } }`, { id: r3 });
    const poster = await waitFor("a worker holding the post job", async () => {
      for (const w of [w3, w4]) if (await holds(w, "billrun-post")) return w;
      return undefined;
    });
    await runHeld.query("BEGIN");
    await runHeld.query("SELECT 1 FROM bill_runs WHERE id = $1 FOR UPDATE", [r3]);
    await documentsHeld.query("COMMIT");
    await waitFor("every invoice posted", async () => {
      const drafts = await pool.query("SELECT 1 FROM documents WHERE bill_run_id = $1 AND status = 'DRAFT' LIMIT 1", [r3]);
      return drafts.rowCount === 0;
    });
    expect((await run(r3)).status).toBe("POST_IN_PROGRESS");
    survivor = poster === w3 ? w4 : w3;
    poster.child.kill("SIGKILL");
    await poster.exited;
    const killedAt = Date.now();
    await runHeld.query("ROLLBACK");
    await waitStatus(r3, "POSTED", 60_000);
    posted = (Date.now() - killedAt) / 1000;
    expect(
      [api2, survivor].some((p) => p.lines.some((l) => l.msg === "the worker holding a bill-run job is gone; job sent again" && l.queue === "billrun-post")),
    ).toBe(true);
  } finally {
    await documentsHeld.query("ROLLBACK").catch(() => {});
    await runHeld.query("ROLLBACK").catch(() => {});
    documentsHeld.release();
    runHeld.release();
  }

  console.log(
    `scale: ${ACCOUNTS} accounts; baseline run ${baseline.toFixed(1)} s; with a worker stopped (SIGTERM) ${afterSigterm.toFixed(1)} s; ` +
      `with a worker killed (-9) ${afterKill.toFixed(1)} s; POSTED ${posted.toFixed(1)} s after the poster was killed; ` +
      `peak connections on the database ${peakConnections}; baseline run's CPU: PostgreSQL ${spent("db").toFixed(1)} s, ` +
      `workers ${(spent("w1") + spent("w2")).toFixed(1)} s (${Math.round(ACCOUNTS / spent("db"))} accounts per PostgreSQL CPU-second)`,
  );
  expect(afterSigterm - baseline).toBeLessThanOrEqual(EXTRA_SECONDS_ALLOWED);
  expect(afterKill - baseline).toBeLessThanOrEqual(EXTRA_SECONDS_ALLOWED);
  expect(posted).toBeLessThanOrEqual(EXTRA_SECONDS_ALLOWED);

  // One document per account per run, and no period of any charge billed twice.
  for (const id of [r1, r2, r3]) {
    const documents = await pool.query<{ documents: string; accounts: string }>(
      "SELECT count(*)::text AS documents, count(DISTINCT account_id)::text AS accounts FROM documents WHERE bill_run_id = $1",
      [id],
    );
    expect(documents.rows[0]).toEqual({ documents: String(ACCOUNTS), accounts: String(ACCOUNTS) });
  }
  // Storage per row (indexes included) and WAL per account, for sizing the database.
  await pool.query("ANALYZE documents, document_items, bill_run_accounts, bill_run_charge_moves");
  const sizes = await pool.query<{ name: string; per_row: string }>(
    `SELECT t.name, round(pg_total_relation_size(t.name::regclass)::numeric / greatest(c.reltuples, 1))::text AS per_row
       FROM (VALUES ('documents'), ('document_items'), ('bill_run_accounts'), ('bill_run_charge_moves')) AS t(name)
       JOIN pg_class c ON c.oid = t.name::regclass`,
  );
  console.log(
    `scale: baseline run's WAL ${Math.round(Number(walBytes) / ACCOUNTS)} bytes per account; bytes per row, indexes included: ` +
      sizes.rows.map((r) => `${r.name} ${r.per_row}`).join(", "),
  );
  const duplicates = await pool.query(
    "SELECT charge_id, service_start, kind FROM document_items WHERE NOT voided GROUP BY 1, 2, 3 HAVING count(*) > 1 LIMIT 5",
  );
  expect(duplicates.rows).toEqual([]);
  const items = await pool.query<{ n: string }>("SELECT count(*)::text AS n FROM document_items");
  // Per subscription: February bills January and February in advance and January in arrears
  // (3 items); March and April one month each way (2).
  expect(items.rows[0]!.n).toBe(String(ACCOUNTS * 2 * (3 + 2 + 2)));

  // Every subscriber saw exactly the stored history: the one moved to the other API too.
  const history = await storedStatusHistory();
  const last = history[history.length - 1]!.eventId;
  for (const s of [s1, s2]) {
    await waitFor("a subscriber to catch up", async () => s.events.at(-1)?.eventId === last, 15_000).catch((error: Error) => {
      throw new Error(`${error.message}: ${s.events.length} of ${history.length} events, closed ${s.closeCode}, last ${JSON.stringify(s.events.at(-1))}`);
    });
    expect(s.events).toEqual(history);
  }

  // The surviving API drains: /ready fails while queries are still served, then it stops,
  // closing WebSockets with 1001; it and the workers exit 0 with nothing at warn or above.
  s1.dispose();
  // A request in flight across the whole stop: its body is still coming when SIGTERM arrives.
  const body = JSON.stringify({ query: `query($id: ID!) { billRun(id: $id) { status } }`, variables: { id: r3 } });
  const slow = request(`http://127.0.0.1:${api2.port}/graphql`, {
    method: "POST",
    // 100-continue: the server answers it once the request is in its hands, so the test knows.
    headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), authorization: `Bearer ${TOKEN}`, expect: "100-continue" },
  });
  const arrived = new Promise<void>((resolve) => slow.once("continue", () => resolve()));
  const slowAnswer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    slow.on("response", (response) => {
      let text = "";
      response.on("data", (part: Buffer) => (text += part.toString()));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, text }));
    });
    slow.on("error", reject);
  });
  slow.flushHeaders();
  await arrived;
  slow.write(body.slice(0, 10));
  api2.child.kill("SIGTERM");
  await waitFor("api2 /ready to answer 503", async () => (await probe(api2.port, "/ready")) === 503, 5_000, 20);
  expect(await gql<{ billRun: { status: string } }>(api2, `query($id: ID!) { billRun(id: $id) { status } }`, { id: r3 })).toEqual({
    billRun: { status: "POSTED" },
  });
  await api2.waitForLog((l) => l.msg === "waiting for HTTP requests in flight", 10_000);
  slow.end(body.slice(10));
  expect(await slowAnswer).toEqual({ status: 200, text: JSON.stringify({ data: { billRun: { status: "POSTED" } } }) });
  await s2.ended();
  expect(s2.closeCode).toBe(1001);
  survivor.child.kill("SIGTERM");
  for (const proc of [api2, survivor]) {
    expect(await proc.exited).toEqual({ code: 0, signal: null });
    expect(warnings(proc)).toEqual([]);
  }
  expect(Date.now() - started).toBeLessThan(170_000);
}, 175_000);
