import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { createAccount, createSubscription } from "../../src/accounts/service.ts";
import { stageImport } from "../../src/imports/staging.ts";
import { until } from "./helpers.ts";

const workerEntry = fileURLToPath(new URL("../../src/worker.ts", import.meta.url));
const ROWS = 400_000;

let t: TestApp;
const workers: ChildProcess[] = [];

beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  for (const worker of workers) if (worker.exitCode === null) worker.kill("SIGKILL");
  await t?.close();
});

/** `npm run worker` as a user starts it: its defaults, on the test database. */
function startWorker(): ChildProcess {
  const worker = spawn(process.execPath, [workerEntry], {
    env: { ...process.env, NODE_ENV: "test", DATABASE_URL: t.databaseUrl, LOG_LEVEL: "error", BILLRUN_MAILER: "false", BILLRUN_SCHEDULER: "false" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  workers.push(worker);
  return worker;
}

async function* usageFile(): AsyncGenerator<Uint8Array> {
  yield Buffer.from("subscriptionNumber,chargeName,quantity,unitOfMeasure,usageDate\n");
  for (let i = 0; i < ROWS; i += 5000) {
    let piece = "";
    // No usageId: only the resume point keeps a record from being written twice.
    for (let n = i; n < i + 5000; n++) piece += `KILL-S,Calls,${(n % 50) + 1},call,2026-01-${String((n % 28) + 1).padStart(2, "0")}\n`;
    yield Buffer.from(piece);
  }
}

it("an import whose process is killed with SIGKILL resumes in the next one, with no row lost, halved or doubled", async () => {
  const account = await createAccount(t.app.db, { accountNumber: "KILL-A", name: "Killed", currency: "USD", billCycleDay: 1 });
  await createSubscription(t.app.db, {
    accountId: account.id,
    subscriptionNumber: "KILL-S",
    startDate: "2026-01-01",
    charges: [{ name: "Calls", type: "USAGE", price: "0.01", billingPeriod: "MONTH", unitOfMeasure: "call" }],
  });
  const operator = await t.app.db.user.findUniqueOrThrow({ where: { email: "operator@example.com" } });
  const id = await stageImport(
    t.app,
    { kind: "USAGE", format: "CSV", mode: "CREATE", atomic: false, fileName: "big.csv", createdById: operator.id },
    usageFile(),
    1024 ** 3,
  );

  const first = startWorker();
  const job = () => t.app.db.importJob.findUniqueOrThrow({ where: { id } });
  const partway = await until("first batches", job, (j) => j.status === "RUNNING" && j.rowsImported >= 10_000, 120_000);
  expect(partway.rowsImported).toBeLessThan(ROWS);
  first.kill("SIGKILL");
  await once(first, "exit");

  // What the dead process committed: whole batches, counted with their rows.
  const atKill = await job();
  expect(atKill.status).toBe("RUNNING");
  expect(atKill.rowsImported).toBeLessThan(ROWS);
  expect(await t.app.db.usageRecord.count({ where: { subscription: { subscriptionNumber: "KILL-S" } } })).toBe(atKill.rowsImported);
  expect(atKill.committedLine).toBe(atKill.rowsImported + 1);

  const second = startWorker();
  const done = await until("completion", job, (j) => j.status === "COMPLETED" || j.status === "FAILED", 120_000);
  expect(done).toMatchObject({ status: "COMPLETED", rowsTotal: ROWS, rowsImported: ROWS, rowsRejected: 0 });
  expect(await t.app.db.usageRecord.count({ where: { subscription: { subscriptionNumber: "KILL-S" } } })).toBe(ROWS);
  const sum = await t.app.pool.query<{ total: string }>(`SELECT sum(quantity)::text AS total FROM usage_records WHERE unit_of_measure = 'call'`);
  let expected = 0;
  for (let n = 0; n < ROWS; n++) expected += (n % 50) + 1;
  expect(Number(sum.rows[0]!.total)).toBe(expected);
  second.kill("SIGKILL");
});
