import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { registerWorkers } from "../../src/billruns/executor.ts";
import { createBillRun, postBillRun } from "../../src/billruns/service.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { composeInvoiceEmail, composeRunStatusEmail } from "../../src/notifications/compose.ts";
import type { RunStatusPayload } from "../../src/notifications/outbox.ts";

// Amounts are stored with four decimals ("20.0000"): every text a person reads must show the
// currency's own minor units instead (USD 2, JPY 0, KWD 3).

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await registerWorkers(t.app, 1);
});
afterAll(() => t.close());

const CASES = [
  { currency: "USD", price: "20", balance: "USD 20.00", over: "20.01", overText: "USD 20.01", tooPrecise: "1.005" },
  { currency: "JPY", price: "2000", balance: "JPY 2000", over: "2001", overText: "JPY 2001", tooPrecise: "1.5" },
  { currency: "KWD", price: "20", balance: "KWD 20.000", over: "20.001", overText: "KWD 20.001", tooPrecise: "1.0005" },
] as const;

async function postedInvoice(currency: string, price: string) {
  const { account } = await seedAccount(t, { currency, charges: [{ type: "ONE_TIME", price }] });
  const runId = await createBillRun(t.app, { targetDate: "2026-02-01", accountIds: [account.id] }, { createdById: null });
  await waitForStatus(t, runId, ["COMPLETED"]);
  await postBillRun(t.app, runId, null);
  await waitForStatus(t, runId, ["POSTED"]);
  const invoice = await t.app.db.document.findFirstOrThrow({ where: { billRunId: runId } });
  return invoice;
}

async function pay(invoiceId: string, amount: string) {
  const result = await t.gql<any, unknown>(
    `mutation($input: ApplyPaymentInput!) { applyPayment(input: $input) {
       __typename ... on Payment { amount invoice { balance } } ... on Error { code message } ... on ValidationError { field } } }`,
    { input: { invoiceId, amount } },
  );
  expect(result.errors).toBeUndefined();
  return result.data.applyPayment;
}

describe("money in error messages", () => {
  it.each(CASES)("applyPayment in $currency names amounts with the currency's minor units", async (c) => {
    const invoice = await postedInvoice(c.currency, c.price);
    // The database holds the balance with its own scale.
    const stored = await t.app.pool.query<{ balance: string }>("SELECT balance::text AS balance FROM documents WHERE id = $1", [invoice.id]);
    expect(stored.rows[0]!.balance).toMatch(/\.0000$/);

    expect(await pay(invoice.id, c.over)).toEqual({
      __typename: "ValidationError",
      code: "VALIDATION",
      field: ["input", "amount"],
      message: `amount ${c.overText} exceeds the balance of invoice ${invoice.number} (${c.balance})`,
    });

    const precise = await pay(invoice.id, c.tooPrecise);
    expect(precise).toMatchObject({ __typename: "ValidationError", field: ["input", "amount"] });
    expect(precise.message).toBe(
      c.currency === "JPY"
        ? `amount ${c.tooPrecise} has decimals; JPY amounts are whole numbers`
        : `amount ${c.tooPrecise} has more than the ${c.currency === "USD" ? 2 : 3} decimals ${c.currency} allows`,
    );

    // After a part payment the message shows the balance left, still in minor units.
    const part = c.currency === "JPY" ? "500" : "5";
    expect(await pay(invoice.id, part)).toMatchObject({ __typename: "Payment" });
    const left = c.currency === "USD" ? "USD 15.00" : c.currency === "JPY" ? "JPY 1500" : "KWD 15.000";
    const again = await pay(invoice.id, c.over);
    expect(again.message).toBe(`amount ${c.overText} exceeds the balance of invoice ${invoice.number} (${left})`);
    // Nothing the server printed carries the stored scale (the caller's own input is echoed as sent).
    expect(again.message).not.toMatch(/\d\.\d{4}\b/);
  });
});

describe("money in emails", () => {
  const invoiceData = (currency: string, amount: string, unitPrice: string) => ({
    invoiceNumber: "INV-00000007",
    billRunNumber: "BR-00000003",
    accountNumber: "A-00000042",
    accountName: "Acme",
    currency,
    amount,
    invoiceDate: "2026-02-01",
    dueDate: "2026-03-03",
    lines: [{ chargeName: "Plan", serviceStart: "2026-02-01", serviceEnd: "2026-03-01", quantity: "2.0000", unitPrice, amount }],
  });

  it.each([
    ["USD", "20.0000", "10.00000000", "USD 20.00", "2 x 10.00 = 20.00"],
    ["JPY", "2000.0000", "1000.00000000", "JPY 2000", "2 x 1000 = 2000"],
    ["KWD", "20.0000", "10.00000000", "KWD 20.000", "2 x 10.000 = 20.000"],
    ["USD", "0.2500", "0.12500000", "USD 0.25", "2 x 0.125 = 0.25"],
  ])("an invoice email in %s shows %s", (currency, amount, unitPrice, total, line) => {
    const mail = composeInvoiceEmail(invoiceData(currency, amount, unitPrice));
    expect(mail.subject).toBe(`Invoice INV-00000007: ${total}, due 2026-03-03`);
    expect(mail.text).toContain(`Plan (2026-02-01 to 2026-02-28): ${line}`);
    expect(mail.text).toContain(`Total: ${total}`);
    expect(mail.html).toContain(`<th align="right">${total}</th>`);
    for (const body of [mail.subject, mail.text, mail.html]) expect(body).not.toMatch(/\d\.\d{4}\b/);
  });

  it("a run status email shows each currency's total with its minor units", () => {
    const payload: RunStatusPayload = {
      billRunId: "00000000-0000-4000-8000-000000000001",
      billRunNumber: "BR-00000003",
      status: "COMPLETED",
      targetDate: "2026-02-01",
      invoiceDate: "2026-02-01",
      scheduled: false,
      accountsTotal: 3,
      accountsProcessed: 3,
      invoiceCount: 3,
      zeroAmountInvoiceCount: 0,
      creditMemoCount: 0,
      failedAccountCount: 0,
      errorMessage: null,
      totals: [
        { currency: "JPY", amount: "2000.0000" },
        { currency: "KWD", amount: "20.5000" },
        { currency: "USD", amount: "20.0000" },
      ],
      failures: [],
    };
    const mail = composeRunStatusEmail(payload, {});
    expect(mail.text).toContain("Invoice totals:\n  JPY 2000\n  KWD 20.500\n  USD 20.00\n");
    for (const total of ["JPY 2000", "KWD 20.500", "USD 20.00"]) expect(mail.html).toContain(`<li>${total}</li>`);
    expect(mail.text + mail.html).not.toMatch(/\d\.\d{4}\b/);
  });
});
