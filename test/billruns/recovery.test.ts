import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { registerWorkers } from "../../src/billruns/executor.ts";
import { recoverRuns } from "../../src/billruns/recovery.ts";
import { createBillRun } from "../../src/billruns/service.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await registerWorkers(t.app, 1);
});
afterAll(() => t.close());

const age = (id: string) => t.app.pool.query("UPDATE bill_runs SET updated_at = now() - interval '5 minutes' WHERE id = $1", [id]);

it("finishes a cancel that a crash interrupted between its two transactions", async () => {
  const { subscription } = await seedAccount(t, { charges: [{ type: "RECURRING", price: "10.00", billingPeriod: "MONTH" }] });
  const id = await createBillRun(t.app, { targetDate: "2026-02-01", subscriptionIds: [subscription.id] }, { createdById: null });
  await waitForStatus(t, id, ["COMPLETED"]);
  // The first transaction of a cancel committed; the process died before the second.
  await t.app.pool.query("UPDATE bill_runs SET status = 'CANCEL_IN_PROGRESS' WHERE id = $1", [id]);
  await age(id);
  await recoverRuns(t.app);
  expect((await t.app.db.billRun.findUniqueOrThrow({ where: { id } })).status).toBe("CANCELED");
  const documents = await t.app.db.document.findMany({ where: { billRunId: id } });
  expect(documents.map((d) => d.status)).toEqual(["CANCELED"]);
  const charge = await t.app.db.charge.findFirstOrThrow({ where: { subscriptionId: subscription.id } });
  expect(charge.chargedThroughDate).toBeNull();
});

it("starts a PENDING run whose start job was lost", async () => {
  const { account } = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "3.00" }] });
  await t.app.jobs.boss.offWork("billrun-start");
  const id = await createBillRun(t.app, { targetDate: "2026-02-01", accountIds: [account.id] }, { createdById: null });
  await t.app.pool.query("DELETE FROM pgboss.job WHERE name = 'billrun-start' AND data->>'billRunId' = $1", [id]);
  await age(id);
  await registerWorkers(t.app, 1); // a worker coming back runs the recovery first
  await waitForStatus(t, id, ["COMPLETED"]);
  expect((await t.app.db.billRun.findUniqueOrThrow({ where: { id } })).invoiceCount).toBe(1);
});
