import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { createAccount, createSubscription } from "../../src/accounts/service.ts";
import { startImportRunner } from "../../src/imports/runner.ts";
import { stageImport } from "../../src/imports/staging.ts";
import { until } from "./helpers.ts";

let t: TestApp;
let operatorId: string;

beforeAll(async () => {
  t = await createTestApp();
  operatorId = (await t.app.db.user.findUniqueOrThrow({ where: { email: "operator@example.com" } })).id;
  const account = await createAccount(t.app.db, { accountNumber: "REC-A", name: "Recovery", currency: "USD", billCycleDay: 1 });
  await createSubscription(t.app.db, {
    accountId: account.id,
    subscriptionNumber: "REC-S",
    startDate: "2026-01-01",
    charges: [{ name: "Calls", type: "USAGE", price: "0.01", billingPeriod: "MONTH", unitOfMeasure: "call" }],
  });
});
afterAll(async () => {
  await t?.close();
});

async function* usage(rows: number, failAfter?: number): AsyncGenerator<Uint8Array> {
  yield Buffer.from("subscriptionNumber,chargeName,quantity,unitOfMeasure,usageDate\n");
  for (let i = 0; i < rows; i += 1000) {
    if (failAfter !== undefined && i >= failAfter) throw new Error("connection reset by peer");
    let piece = "";
    for (let n = i; n < i + 1000; n++) piece += `REC-S,Calls,1,call,2026-01-${String((n % 28) + 1).padStart(2, "0")}\n`;
    yield Buffer.from(piece);
  }
}

const countUsage = () => t.app.db.usageRecord.count({ where: { subscription: { subscriptionNumber: "REC-S" } } });

it("a runner stopped mid-import (graceful shutdown) leaves the job RUNNING with whole batches; the next runner finishes it", async () => {
  const rows = 120_000;
  const before = await countUsage();
  const id = await stageImport(
    t.app,
    { kind: "USAGE", format: "CSV", mode: "CREATE", atomic: false, fileName: null, createdById: operatorId },
    usage(rows),
    1024 ** 3,
  );
  const job = () => t.app.db.importJob.findUniqueOrThrow({ where: { id } });

  const first = startImportRunner(t.app, { pollMs: 50 });
  await until("a first batch", job, (j) => j.rowsImported > 0);
  await first.stop();
  const stopped = await job();
  expect(stopped.status).toBe("RUNNING");
  expect(stopped.rowsImported).toBeLessThan(rows);
  expect((await countUsage()) - before).toBe(stopped.rowsImported);

  const second = startImportRunner(t.app, { pollMs: 50 });
  const done = await until("completion", job, (j) => j.status === "COMPLETED");
  await second.stop();
  expect(done).toMatchObject({ rowsTotal: rows, rowsImported: rows, rowsRejected: 0 });
  expect((await countUsage()) - before).toBe(rows);
});

it("an upload cut off midway leaves a FAILED job and no staged data", async () => {
  await expect(
    stageImport(
      t.app,
      { kind: "USAGE", format: "CSV", mode: "CREATE", atomic: false, fileName: "cut.csv", createdById: operatorId },
      usage(50_000, 20_000),
      1024 ** 3,
    ),
  ).rejects.toThrow("connection reset by peer");
  const job = await t.app.db.importJob.findFirstOrThrow({ where: { fileName: "cut.csv" } });
  expect(job).toMatchObject({ status: "FAILED", errorMessage: "the upload was interrupted; send the file again" });
  expect(await t.app.db.importJobChunk.count({ where: { jobId: job.id } })).toBe(0);
});

it("a job left RECEIVING by a process that died is marked FAILED by the next runner", async () => {
  const orphan = await t.app.db.importJob.create({
    data: { kind: "USAGE", format: "CSV", status: "RECEIVING", fileName: "orphan.csv", createdById: operatorId },
  });
  await t.app.db.importJobChunk.create({ data: { jobId: orphan.id, seq: 0, data: Buffer.from("subscriptionNumber,chargeName\n") } });
  const runner = startImportRunner(t.app, { pollMs: 50 });
  const job = await until(
    "failure",
    () => t.app.db.importJob.findUniqueOrThrow({ where: { id: orphan.id } }),
    (j) => j.status === "FAILED",
  );
  await runner.stop();
  expect(job.errorMessage).toMatch(/upload was interrupted/);
  expect(await t.app.db.importJobChunk.count({ where: { jobId: orphan.id } })).toBe(0);
});
