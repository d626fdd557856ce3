import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { waitFor } from "../support/wait.ts";
import { createRun } from "../billruns/helpers.ts";
import { startApp } from "../../src/app.ts";
import { registerWorkers } from "../../src/billruns/executor.ts";
import { createLogger } from "../../src/log.ts";
import { claimDue, composeMessage, createTransport, startMailer } from "../../src/notifications/mailer.ts";
import type { RunStatusPayload } from "../../src/notifications/outbox.ts";
import { startTestSmtp, type TestSmtp } from "./smtp.ts";

let t: TestApp;
let smtp: TestSmtp;

beforeAll(async () => {
  smtp = await startTestSmtp();
  t = await createTestApp({
    SMTP_URL: smtp.url,
    BILLRUN_MAIL_POLL_SECONDS: "0.05",
    BILLRUN_MAIL_RETRY_BASE_SECONDS: "0.1",
    BILLRUN_MAIL_RETRY_MAX_SECONDS: "0.4",
  });
  await registerWorkers(t.app, 2);
});
afterAll(async () => {
  await t?.close();
  await smtp?.stop();
});

function payload(billRunNumber: string): RunStatusPayload {
  return {
    billRunId: "00000000-0000-4000-8000-000000000000",
    billRunNumber,
    status: "COMPLETED",
    targetDate: "2026-02-01",
    invoiceDate: "2026-02-01",
    scheduled: false,
    accountsTotal: 1,
    accountsProcessed: 1,
    invoiceCount: 1,
    creditMemoCount: 0,
    zeroAmountInvoiceCount: 0,
    failedAccountCount: 0,
    totals: [{ currency: "USD", amount: "10.0000" }],
    failures: [],
    errorMessage: null,
  };
}

/** Queues status emails straight into the outbox, as a committed status change would. */
async function queue(app: TestApp["app"], prefix: string, count: number): Promise<string[]> {
  const rows = await app.pool.query<{ id: string }>(
    `INSERT INTO email_outbox (id, dedupe_key, kind, to_address, payload)
     SELECT gen_random_uuid(), $1 || ':' || i, 'BILL_RUN_STATUS', 'ops' || i || '@example.com', jsonb_set($2::jsonb, '{billRunNumber}', to_jsonb($1 || '-' || i))
       FROM generate_series(1, $3) AS i RETURNING id`,
    [prefix, JSON.stringify(payload("x")), count],
  );
  return rows.rows.map((r) => r.id);
}

describe("email delivery", () => {
  it("keeps the email while SMTP is down, retries with backoff, and delivers it exactly once when SMTP is back", async () => {
    const mailer = startMailer(t.app);
    try {
      const account = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "10.00" }] });
      await smtp.stop();
      const run = await createRun(t, { targetDate: "2026-02-01", accountIds: [account.account.id] }, t.tokens.operator);
      await waitForStatus(t, run.id, ["COMPLETED"]);

      // Attempts fail while the server is down; the row stays queued with the reason.
      const row = await waitFor(
        "three failed attempts",
        async () => {
          const outbox = await t.app.pool.query<{ status: string; attempts: number; last_error: string | null }>(
            "SELECT status, attempts, last_error FROM email_outbox WHERE bill_run_id = $1",
            [run.id],
          );
          return outbox.rows[0] && outbox.rows[0].attempts >= 3 ? outbox.rows[0] : undefined;
        },
        20_000,
      );
      expect(row.attempts).toBeGreaterThanOrEqual(3);
      expect(["PENDING", "SENDING"]).toContain(row.status);
      expect(row.last_error).toBeTruthy();
      expect(smtp.received.filter((m) => m.subject.includes(run.billRunNumber))).toEqual([]);

      await smtp.start();
      await smtp.waitFor((r) => r.some((m) => m.subject.includes(run.billRunNumber)));
      // A duplicate would be sent by now: flush returns once nothing is due and nothing is in flight.
      await mailer.flush();
      const mails = smtp.received.filter((m) => m.subject.includes(run.billRunNumber));
      expect(mails).toHaveLength(1);
      expect(mails[0]!.rcptTo).toEqual(["operator@example.com"]);
      const sent = (await t.app.pool.query("SELECT status, sent_at FROM email_outbox WHERE bill_run_id = $1", [run.id])).rows;
      expect(sent).toEqual([{ status: "SENT", sent_at: expect.any(Date) }]);
    } finally {
      await smtp.start().catch(() => {});
      await mailer.stop();
    }
  });

  it("sends again, with the same Message-ID, what a sender that died before recording it had sent", async () => {
    const [id] = await queue(t.app, "crash", 1);
    // A sender claims the message and sends it, then dies before recording that it did.
    const [claimed] = await claimDue(t.app, 10, 60_000);
    expect(claimed!.id).toBe(id);
    const transport = createTransport(t.app, 1);
    await transport.send((await composeMessage(t.app, claimed!))!, claimed!.id);
    transport.close();
    expect(smtp.received.filter((m) => m.subject.includes("crash-1"))).toHaveLength(1);

    const mailer = startMailer(t.app, { concurrency: 1 });
    try {
      // While its lease runs, nobody else touches it.
      // flush claims whatever is due, as a lane would: the leased message is not.
      await mailer.flush();
      expect(smtp.received.filter((m) => m.subject.includes("crash-1"))).toHaveLength(1);
      // The lease expires (time passes): the message is sent again.
      await t.app.pool.query("UPDATE email_outbox SET next_attempt_at = now() - interval '1 second' WHERE id = $1", [id]);
      await mailer.flush();
    } finally {
      await mailer.stop();
    }
    const copies = smtp.received.filter((m) => m.subject.includes("crash-1"));
    expect(copies).toHaveLength(2);
    expect(copies[0]!.messageId).toBe(`<${id}@billrun>`);
    expect(copies[1]!.messageId).toBe(copies[0]!.messageId);
    const row = (await t.app.pool.query("SELECT status, attempts FROM email_outbox WHERE id = $1", [id])).rows[0];
    expect(row).toEqual({ status: "SENT", attempts: 2 });
  });

  it("delivers each message once with senders in two processes working the same outbox", async () => {
    const ids = await queue(t.app, "race", 40);
    const other = await startApp(t.app.config, t.databaseUrl, createLogger("silent"));
    const mailers = [startMailer(t.app, { concurrency: 4 }), startMailer(other, { concurrency: 4 })];
    try {
      await smtp.waitFor((r) => r.filter((m) => m.subject.includes(" race-")).length >= 40);
      // Nothing due and nothing in flight in either process: a duplicate would have been sent.
      await Promise.all(mailers.map((m) => m.flush()));
    } finally {
      await Promise.all(mailers.map((m) => m.stop()));
      await other.close();
    }
    const delivered = smtp.received.filter((m) => m.subject.includes(" race-"));
    expect(delivered).toHaveLength(40);
    expect(new Set(delivered.map((m) => m.messageId)).size).toBe(40);
    expect(new Set(delivered.map((m) => m.messageId))).toEqual(new Set(ids.map((id) => `<${id}@billrun>`)));
    const rows = await t.app.pool.query("SELECT DISTINCT status, attempts FROM email_outbox WHERE dedupe_key LIKE 'race:%'");
    expect(rows.rows).toEqual([{ status: "SENT", attempts: 1 }]);
  });

  it("records a message the server rejects for good as FAILED instead of retrying it forever", async () => {
    const rejecting = await startTestSmtp({ rejectRecipient: (address) => address.startsWith("nobody") });
    const app = await startApp({ ...t.app.config, smtpUrl: rejecting.url }, t.databaseUrl, createLogger("silent"));
    const inserted = await app.pool.query<{ id: string }>(
      `INSERT INTO email_outbox (id, dedupe_key, kind, to_address, payload)
       VALUES (gen_random_uuid(), 'reject:1', 'BILL_RUN_STATUS', 'nobody@example.com', $1) RETURNING id`,
      [JSON.stringify(payload("reject-1"))],
    );
    const mailer = startMailer(app, { concurrency: 1 });
    try {
      await mailer.flush();
    } finally {
      await mailer.stop();
      await app.close();
      await rejecting.stop();
    }
    const row = (await t.app.pool.query("SELECT status, attempts, last_error FROM email_outbox WHERE id = $1", [inserted.rows[0]!.id])).rows[0];
    expect(row).toMatchObject({ status: "FAILED", attempts: 1, last_error: expect.stringContaining("550") });
  });
});

describe("without SMTP_URL", () => {
  let dataDir: string;
  let files: TestApp;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "billrun-mail-"));
    files = await createTestApp({ BILLRUN_DATA_DIR: dataDir });
  });
  afterAll(async () => {
    await files?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it("writes each email as an .eml file under the mail directory, named after its outbox row", async () => {
    const [id] = await queue(files.app, "file", 1);
    const mailer = startMailer(files.app, { concurrency: 1 });
    await mailer.flush();
    await mailer.stop();
    expect(files.app.config.mailDir).toBe(path.join(dataDir, "mail"));
    expect(await readdir(files.app.config.mailDir)).toEqual([`${id}.eml`]);
    // Header lines unfolded.
    const eml = (await readFile(path.join(files.app.config.mailDir, `${id}.eml`), "utf8")).replace(/\r\n[ \t]+/g, " ");
    expect(eml).toContain(`Message-ID: <${id}@billrun>`);
    expect(eml).toContain("Subject: Bill run file-1 COMPLETED: 1 invoice, 0 credit memos, 0 failed accounts");
    expect(eml).toContain("To: ops1@example.com");
    const row = (await files.app.pool.query("SELECT status FROM email_outbox WHERE id = $1", [id])).rows[0];
    expect(row).toEqual({ status: "SENT" });
  });
});
