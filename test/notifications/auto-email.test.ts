import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { createRun, getRun, nodes, postRun, updateAccountStatus } from "../billruns/helpers.ts";
import { registerWorkers } from "../../src/billruns/executor.ts";
import { startMailer, type Mailer } from "../../src/notifications/mailer.ts";
import { startTestSmtp, type ReceivedMail, type TestSmtp } from "./smtp.ts";
import { pdfText } from "../support/pdf.ts";

let t: TestApp;
let smtp: TestSmtp;
let mailer: Mailer;

beforeAll(async () => {
  smtp = await startTestSmtp();
  t = await createTestApp({ SMTP_URL: smtp.url, BILLRUN_MAIL_POLL_SECONDS: "0.05" });
  await registerWorkers(t.app, 2);
  mailer = startMailer(t.app);
});
afterAll(async () => {
  await mailer?.stop();
  await t?.close();
  await smtp?.stop();
});

const invoiceMails = (to: string) => smtp.received.filter((m: ReceivedMail) => m.subject.startsWith("Invoice ") && m.rcptTo.includes(to));

async function invoiceOutbox(billRunId: string): Promise<string[]> {
  const rows = await t.app.pool.query<{ to_address: string }>(
    "SELECT to_address FROM email_outbox WHERE bill_run_id = $1 AND kind = 'INVOICE' ORDER BY to_address",
    [billRunId],
  );
  return rows.rows.map((r) => r.to_address);
}

describe("autoEmail", () => {
  it("emails each posted invoice with its lines and total to the account's bill-to address, skipping zero-amount ones when asked", async () => {
    const a = await seedAccount(t, {
      billToEmail: "ap@alpha.example.com",
      startDate: "2026-01-10",
      charges: [
        { name: "Platform <Pro>", type: "RECURRING", price: "30.00", billingPeriod: "MONTH" },
        { name: "Setup", type: "ONE_TIME", price: "12.50", quantity: "2", startDate: "2026-01-10" },
      ],
    });
    const zero = await seedAccount(t, { billToEmail: "ap@zero.example.com", charges: [{ type: "ONE_TIME", price: "0.00" }] });
    const b = await seedAccount(t, { billToEmail: "ap@beta.example.com", currency: "JPY", charges: [{ type: "ONE_TIME", price: "1200" }] });

    const run = await createRun(
      t,
      {
        targetDate: "2026-02-01",
        accountIds: [a.account.id, zero.account.id, b.account.id],
        autoPost: true,
        autoEmail: true,
        noEmailForZeroAmountInvoice: true,
      },
      t.tokens.operator,
    );
    await waitForStatus(t, run.id, ["POSTED"]);
    const posted = await getRun(t, run.id);
    expect(posted).toMatchObject({ invoiceCount: 3, zeroAmountInvoiceCount: 1 });
    const invoices = nodes(posted.invoices);
    const invoiceOf = (accountId: string) => invoices.find((i: any) => i.account.id === accountId);

    await smtp.waitFor(() => invoiceMails("ap@alpha.example.com").length >= 1 && invoiceMails("ap@beta.example.com").length >= 1);
    await mailer.flush();
    expect(await invoiceOutbox(run.id)).toEqual(["ap@alpha.example.com", "ap@beta.example.com"]);
    expect(invoiceMails("ap@zero.example.com")).toEqual([]);

    const [alpha] = invoiceMails("ap@alpha.example.com");
    expect(alpha!.rcptTo).toEqual(["ap@alpha.example.com"]);
    const alphaInvoice = invoiceOf(a.account.id);
    expect(alpha!.subject).toBe(`Invoice ${alphaInvoice.invoiceNumber}: USD 76.29, due 2026-03-03`);
    expect(alpha!.text).toContain(`Dear ${a.account.name},`);
    expect(alpha!.text).toContain(`Please find your invoice ${alphaInvoice.invoiceNumber} for account ${a.account.accountNumber}.`);
    expect(alpha!.text).toContain("  Platform <Pro> (2026-01-10 to 2026-01-31): 1 x 30.00 = 21.29");
    expect(alpha!.text).toContain("  Platform <Pro> (2026-02-01 to 2026-02-28): 1 x 30.00 = 30.00");
    expect(alpha!.text).toContain("  Setup (2026-01-10): 2 x 12.50 = 25.00");
    expect(alpha!.text).toContain("Total: USD 76.29");
    expect(alpha!.html).toContain("<td>Platform &lt;Pro&gt;</td>");
    expect(alpha!.html).toContain("USD 76.29");
    // The invoice itself, as a PDF: what the customer keeps. The email stays small.
    expect(alpha!.attachments.map((a) => [a.filename, a.contentType])).toEqual([[`${alphaInvoice.invoiceNumber}.pdf`, "application/pdf"]]);
    const pdf = await pdfText(alpha!.attachments[0]!.content);
    expect(pdf).toContain(`Invoice number: ${alphaInvoice.invoiceNumber}`);
    expect(pdf).toContain(`Account ${a.account.accountNumber}`);
    expect(pdf).toContain("Platform <Pro> 2026-01-10 – 2026-01-31 1 30.00 21.29");
    expect(pdf).toContain("Total USD 76.29");
    expect(pdf).toContain("Status: Posted");
    expect(pdf).not.toContain("DRAFT");
    expect(alpha!.raw.length).toBeLessThan(100_000);

    const [beta] = invoiceMails("ap@beta.example.com");
    expect(beta!.subject).toBe(`Invoice ${invoiceOf(b.account.id).invoiceNumber}: JPY 1200, due 2026-03-03`);

    // The operator hears about the run too, once.
    const statusMails = smtp.received.filter((m) => m.subject.startsWith(`Bill run ${run.billRunNumber} `));
    expect(statusMails.map((m) => m.rcptTo)).toEqual([["operator@example.com"]]);
  });

  it("emails zero-amount invoices too without noEmailForZeroAmountInvoice, once posted by hand", async () => {
    const zero = await seedAccount(t, { billToEmail: "ap@zero2.example.com", charges: [{ type: "ONE_TIME", price: "0.00" }] });
    const paid = await seedAccount(t, { billToEmail: "ap@gamma.example.com", charges: [{ type: "ONE_TIME", price: "9.99" }] });
    const run = await createRun(t, { targetDate: "2026-02-01", accountIds: [zero.account.id, paid.account.id], autoEmail: true }, t.tokens.operator);
    await waitForStatus(t, run.id, ["COMPLETED"]);
    await mailer.flush();
    // Completed is not posted: no invoice goes out yet.
    expect(await invoiceOutbox(run.id)).toEqual([]);

    await postRun(t, run.id, t.tokens.operator);
    await waitForStatus(t, run.id, ["POSTED"]);
    await smtp.waitFor(() => invoiceMails("ap@zero2.example.com").length >= 1 && invoiceMails("ap@gamma.example.com").length >= 1);
    const [zeroMail] = invoiceMails("ap@zero2.example.com");
    expect(zeroMail!.subject).toMatch(/^Invoice INV-\d{8}: USD 0\.00, due 2026-03-03$/);
    expect(await invoiceOutbox(run.id)).toEqual(["ap@gamma.example.com", "ap@zero2.example.com"]);

    // Posting again changes nothing and queues nothing more.
    const again = await postRun(t, run.id, t.tokens.operator);
    expect(again.status).toBe("POSTED");
    await mailer.flush();
    expect(invoiceMails("ap@zero2.example.com")).toHaveLength(1);
    expect(invoiceMails("ap@gamma.example.com")).toHaveLength(1);
  });

  it("sends no invoice without autoEmail", async () => {
    const account = await seedAccount(t, { billToEmail: "ap@quiet.example.com", charges: [{ type: "ONE_TIME", price: "5.00" }] });
    const run = await createRun(t, { targetDate: "2026-02-01", accountIds: [account.account.id], autoPost: true }, t.tokens.operator);
    await waitForStatus(t, run.id, ["POSTED"]);
    await mailer.flush();
    expect(await invoiceOutbox(run.id)).toEqual([]);
    expect(invoiceMails("ap@quiet.example.com")).toEqual([]);
  });

  it("emails the invoices a posting did post when it stops half-way, and the rest once posted", async () => {
    const first = await seedAccount(t, { billToEmail: "ap@first.example.com", charges: [{ type: "ONE_TIME", price: "4.00" }] });
    const later = await seedAccount(t, { billToEmail: "ap@later.example.com", charges: [{ type: "ONE_TIME", price: "6.00" }] });
    const run = await createRun(t, { targetDate: "2026-02-01", accountIds: [first.account.id, later.account.id], autoEmail: true }, t.tokens.operator);
    await waitForStatus(t, run.id, ["COMPLETED"]);
    await updateAccountStatus(t, later.account.id, "INACTIVE");
    await postRun(t, run.id, t.tokens.operator);
    await waitForStatus(t, run.id, ["COMPLETED"]);
    await smtp.waitFor(() => invoiceMails("ap@first.example.com").length >= 1);
    expect(await invoiceOutbox(run.id)).toEqual(["ap@first.example.com"]);

    await updateAccountStatus(t, later.account.id, "ACTIVE");
    await postRun(t, run.id, t.tokens.operator);
    await waitForStatus(t, run.id, ["POSTED"]);
    await smtp.waitFor(() => invoiceMails("ap@later.example.com").length >= 1);
    await mailer.flush();
    expect(await invoiceOutbox(run.id)).toEqual(["ap@first.example.com", "ap@later.example.com"]);
    expect(invoiceMails("ap@first.example.com")).toHaveLength(1);
  });
});
