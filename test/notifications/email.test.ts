import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { createRun, postRun, retryRun, updateAccountStatus } from "../billruns/helpers.ts";
import { failRun, registerWorkers } from "../../src/billruns/executor.ts";
import { createBillRun } from "../../src/billruns/service.ts";
import { startMailer, type Mailer } from "../../src/notifications/mailer.ts";
import { createSchedule } from "../../src/schedules/service.ts";
import { runDueSchedules } from "../../src/schedules/scheduler.ts";
import { startTestSmtp, type ReceivedMail, type TestSmtp } from "./smtp.ts";

let t: TestApp;
let smtp: TestSmtp;
let mailer: Mailer;
let operatorId: string;

beforeAll(async () => {
  smtp = await startTestSmtp();
  t = await createTestApp({
    SMTP_URL: smtp.url,
    PUBLIC_URL: "https://billing.example.com/app/",
    EMAIL_FROM: "Billrun <billrun@example.com>",
    BILLRUN_MAIL_POLL_SECONDS: "0.05",
    BILLRUN_MAIL_RETRY_BASE_SECONDS: "0.1",
    BILLRUN_MAIL_RETRY_MAX_SECONDS: "0.5",
  });
  await registerWorkers(t.app, 2);
  mailer = startMailer(t.app);
  operatorId = (await t.app.db.user.findUniqueOrThrow({ where: { email: "operator@example.com" } })).id;
});
afterAll(async () => {
  await mailer?.stop();
  await t?.close();
  await smtp?.stop();
});

const about = (billRunNumber: string) => (m: ReceivedMail) => m.subject.startsWith(`Bill run ${billRunNumber} `);

async function emailsAbout(billRunNumber: string, count: number): Promise<ReceivedMail[]> {
  await smtp.waitFor((received) => received.filter(about(billRunNumber)).length >= count);
  return smtp.received.filter(about(billRunNumber));
}

async function outboxRows(billRunId: string) {
  const rows = await t.app.pool.query<{ dedupe_key: string; status: string }>(
    "SELECT dedupe_key, status FROM email_outbox WHERE bill_run_id = $1 ORDER BY dedupe_key",
    [billRunId],
  );
  return rows.rows;
}

describe("bill-run status emails", () => {
  it("sends the initiator one completion email with counts, totals, failed accounts and a link", async () => {
    const good = await seedAccount(t, { startDate: "2026-01-10", charges: [{ type: "RECURRING", price: "30.00", billingPeriod: "MONTH" }] });
    const missing = await seedAccount(t, { billToEmail: "", charges: [{ type: "ONE_TIME", price: "10.00" }] });
    await t.app.db.account.update({ where: { id: missing.account.id }, data: { name: `Tom & <Jerry's> "Shop"` } });
    const mismatch = await seedAccount(t, { charges: [{ type: "RECURRING", price: "10.00", billingPeriod: "MONTH", currency: "EUR" }] });

    const run = await createRun(t, { targetDate: "2026-02-01", accountIds: [good.account.id, missing.account.id, mismatch.account.id] }, t.tokens.operator);
    await waitForStatus(t, run.id, ["COMPLETED"]);
    const [mail] = await emailsAbout(run.billRunNumber, 1);

    expect(mail!.rcptTo).toEqual(["operator@example.com"]);
    expect(mail!.headers.get("from")).toBe("Billrun <billrun@example.com>");
    expect(mail!.messageId).toMatch(/^<[0-9a-f-]{36}@billrun>$/);
    expect(mail!.subject).toBe(`Bill run ${run.billRunNumber} COMPLETED: 1 invoice, 0 credit memos, 2 failed accounts`);
    expect(mail!.text).toContain(`Bill run ${run.billRunNumber} is COMPLETED, with 2 failed accounts.`);
    expect(mail!.text).toMatch(/Accounts targeted: +3/);
    expect(mail!.text).toMatch(/Invoices: +1/);
    expect(mail!.text).toMatch(/Zero-amount invoices: +0/);
    expect(mail!.text).toMatch(/Failed accounts: +2/);
    // How long processing took, from the run's own timestamps.
    const timed = await t.app.db.billRun.findUniqueOrThrow({ where: { id: run.id } });
    const seconds = Math.round((timed.completedAt!.getTime() - timed.startedAt!.getTime()) / 1000);
    expect(mail!.text).toMatch(new RegExp(`Duration: +${seconds} s\n`));
    expect(mail!.text).toContain("  USD 51.29");
    expect(mail!.text).toContain(`  ${missing.account.accountNumber} Tom & <Jerry's> "Shop": MISSING_BILL_TO_CONTACT - `);
    expect(mail!.text).toContain(`  ${mismatch.account.accountNumber} ${mismatch.account.name}: CURRENCY_MISMATCH - `);
    expect(mail!.text).toMatch(new RegExp(`    subscription ${mismatch.subscription.subscriptionNumber}: CURRENCY_MISMATCH - .*EUR`));
    expect(mail!.text).toContain(`Open the bill run: https://billing.example.com/app/bill-runs/${run.id}`);
    expect(mail!.text).not.toContain("more");
    // The HTML part says the same, escaped.
    expect(mail!.html).toContain("Tom &amp; &lt;Jerry&#39;s&gt; &quot;Shop&quot;");
    expect(mail!.html).not.toContain("<Jerry");
    expect(mail!.html).toContain(`<a href="https://billing.example.com/app/bill-runs/${run.id}">`);
    expect(mail!.html).toContain("USD 51.29");

    // Posting that stops half-way brings the run back to COMPLETED: no second COMPLETED email.
    await updateAccountStatus(t, good.account.id, "INACTIVE");
    await postRun(t, run.id, t.tokens.operator);
    await waitForStatus(t, run.id, ["COMPLETED"]);
    const history = await t.app.db.billRunEvent.findMany({ where: { billRunId: run.id, kind: "STATUS" }, orderBy: { id: "asc" } });
    expect(history.map((e) => e.toStatus)).toEqual(["PENDING", "PROCESSING", "COMPLETED", "POST_IN_PROGRESS", "COMPLETED"]);
    await mailer.flush();
    expect(await outboxRows(run.id)).toEqual([{ dedupe_key: `billrun:${run.id}:COMPLETED`, status: "SENT" }]);
    expect(smtp.received.filter(about(run.billRunNumber))).toHaveLength(1);
  });

  it("lists the first 50 failed accounts and counts the rest", async () => {
    const accounts = [];
    for (let i = 0; i < 53; i++) accounts.push(await seedAccount(t, { billToEmail: "", charges: [{ type: "ONE_TIME", price: "5.00" }] }));
    const run = await createRun(t, { targetDate: "2026-02-01", accountIds: accounts.map((a) => a.account.id) }, t.tokens.operator);
    await waitForStatus(t, run.id, ["COMPLETED"]);
    const [mail] = await emailsAbout(run.billRunNumber, 1);

    expect(mail!.subject).toBe(`Bill run ${run.billRunNumber} COMPLETED: 0 invoices, 0 credit memos, 53 failed accounts`);
    const listed = mail!.text.split("\n").filter((line) => line.includes(": MISSING_BILL_TO_CONTACT - "));
    const numbers = accounts.map((a) => a.account.accountNumber).sort();
    expect(listed.map((line) => line.trim().split(" ")[0])).toEqual(numbers.slice(0, 50));
    expect(mail!.text).toContain("Failed accounts (53):");
    expect(mail!.text).toContain("  and 3 more");
    expect(mail!.html).toContain("<p>and 3 more</p>");
    expect(mail!.text).toContain("Invoice totals:\n  none");
  });

  it("sends a scheduled run's emails to the schedule's owner only, also for a retry made by someone else", async () => {
    const good = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "12.00" }] });
    const missing = await seedAccount(t, { billToEmail: "", charges: [{ type: "ONE_TIME", price: "7.00" }] });
    const scheduleId = await createSchedule(
      t.app,
      { repeatType: "DAILY", runTime: "09:00", timeZone: "UTC", repeatFrom: "2026-03-01", accountIds: [good.account.id, missing.account.id] },
      operatorId,
      new Date("2026-03-01T08:00:00Z"),
    );
    const [runId] = await runDueSchedules(t.app, new Date("2026-03-01T09:00:00Z"));
    const run = await t.app.db.billRun.findUniqueOrThrow({ where: { id: runId! } });
    expect(run.scheduleId).toBe(scheduleId);
    await waitForStatus(t, run.id, ["COMPLETED"]);

    // The admin retries the failed account: the new run belongs to the schedule too.
    const retry = await retryRun(t, run.id, t.tokens.admin);
    expect(retry.__typename).toBe("BillRun");
    await waitForStatus(t, retry.id, ["COMPLETED"]);
    const retryRow = await t.app.db.billRun.findUniqueOrThrow({ where: { id: retry.id }, include: { createdBy: true } });
    expect(retryRow.scheduleId).toBe(scheduleId);
    expect(retryRow.createdBy?.email).toBe("admin@localhost");

    const first = await emailsAbout(run.billRunNumber, 1);
    const second = await emailsAbout(retry.billRunNumber, 1);
    for (const mail of [...first, ...second]) expect(mail.rcptTo).toEqual(["operator@example.com"]);
    expect(first[0]!.text).toContain(`${missing.account.accountNumber} ${missing.account.name}: MISSING_BILL_TO_CONTACT`);
    await mailer.flush();
    expect(smtp.received.filter((m) => m.rcptTo.includes("admin@localhost"))).toEqual([]);
    expect(smtp.received.filter(about(run.billRunNumber))).toHaveLength(1);
    expect(smtp.received.filter(about(retry.billRunNumber))).toHaveLength(1);
  });

  it("emails the initiator when a run ends in ERROR, with the reason", async () => {
    const inserted = await t.app.pool.query<{ id: string; bill_run_number: string }>(
      `INSERT INTO bill_runs (id, target_date, invoice_date, status, created_by_id, started_at)
       VALUES (gen_random_uuid(), '2026-02-01', '2026-02-01', 'PROCESSING', $1, now()) RETURNING id, bill_run_number`,
      [operatorId],
    );
    const run = inserted.rows[0]!;
    await failRun(t.app, run.id, "storage <failure> after retries");
    const [mail] = await emailsAbout(run.bill_run_number, 1);
    expect(mail!.rcptTo).toEqual(["operator@example.com"]);
    expect(mail!.subject).toBe(`Bill run ${run.bill_run_number} ERROR: 0 invoices, 0 credit memos, 0 failed accounts`);
    expect(mail!.text).toContain(`Bill run ${run.bill_run_number} could not be executed and is in ERROR.`);
    expect(mail!.text).toContain("Reason: storage <failure> after retries");
    expect(mail!.html).toContain("storage &lt;failure&gt; after retries");
    // The SMTP server has the message before the mailer records it as sent.
    await mailer.flush();
    expect(await outboxRows(run.id)).toEqual([{ dedupe_key: `billrun:${run.id}:ERROR`, status: "SENT" }]);
  });

  it("sends nothing for a run nobody initiated and no schedule created", async () => {
    const account = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "3.00" }] });
    const runId = await createBillRun(t.app, { targetDate: "2026-02-01", accountIds: [account.account.id] }, { createdById: null });
    await waitForStatus(t, runId, ["COMPLETED"]);
    expect(await outboxRows(runId)).toEqual([]);
  });

  it("queues the email with the status change: not when it rolls back, once when it commits or is repeated", async () => {
    const { tryTransition } = await import("../../src/billruns/transitions.ts");
    const { onStatusChanged } = await import("../../src/notifications/outbox.ts");
    const inserted = await t.app.pool.query<{ id: string }>(
      `INSERT INTO bill_runs (id, target_date, invoice_date, status, created_by_id, started_at)
       VALUES (gen_random_uuid(), '2026-02-01', '2026-02-01', 'PROCESSING', $1, now()) RETURNING id`,
      [operatorId],
    );
    const id = inserted.rows[0]!.id;
    const client = await t.app.pool.connect();
    try {
      await client.query("BEGIN");
      expect(await tryTransition(client, id, "complete")).toBeTruthy();
      expect(await outboxRows(id)).toEqual([]); // not visible outside the transaction
      await client.query("ROLLBACK");
      expect(await outboxRows(id)).toEqual([]);

      await client.query("BEGIN");
      await tryTransition(client, id, "complete");
      // The hook running again for the same status (a retried transaction) queues nothing more.
      await onStatusChanged(client, { id, from: "PROCESSING", to: "COMPLETED" });
      await client.query("COMMIT");
    } finally {
      client.release();
    }
    await mailer.flush();
    expect(await outboxRows(id)).toEqual([{ dedupe_key: `billrun:${id}:COMPLETED`, status: "SENT" }]);
  });
});
