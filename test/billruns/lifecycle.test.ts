import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { registerWorkers } from "../../src/billruns/executor.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ BILLRUN_CHUNK_SIZE: "2" });
  await registerWorkers(t.app, 2);
});
afterAll(() => t.close());

const RUN_FIELDS = `id billRunNumber status hasErrors accountsTotal accountsProcessed invoiceCount creditMemoCount
  zeroAmountInvoiceCount failedAccountCount invoiceTotals { currency amount } errorMessage
  statusHistory { from to by { email } }`;

async function createRun(input: Record<string, unknown>, token?: string) {
  const result = await t.gql<{ createBillRun: Record<string, unknown> }, unknown>(
    `mutation($input: CreateBillRunInput!) { createBillRun(input: $input) { __typename ... on BillRun { ${RUN_FIELDS} } ... on Error { code message } ... on ValidationError { field } } }`,
    { input },
    token,
  );
  return result.data!.createBillRun as Record<string, unknown> & { id: string };
}

async function getRun(id: string) {
  const result = await t.gql<{ billRun: Record<string, unknown> }, unknown>(
    `query($id: ID!) { billRun(id: $id) { ${RUN_FIELDS}
    invoices(first: 50) { totalCount edges { node { invoiceNumber status amount balance account { accountNumber } items { chargeName serviceStartDate serviceEndDate amount } } } }
    creditMemos(first: 50) { totalCount edges { node { creditMemoNumber status amount } } }
    failedAccounts(first: 50) { totalCount edges { node { account { accountNumber } code message subscriptions { subscription { subscriptionNumber } code message } } } } } }`,
    { id },
  );
  return result.data!.billRun as any;
}

describe("a bill run end to end", () => {
  it("bills, reports failures, posts, takes payments", async () => {
    const good = await seedAccount(t, { startDate: "2026-01-10", charges: [{ type: "RECURRING", price: "30.00", billingPeriod: "MONTH" }] });
    await seedAccount(t, { billToEmail: "", charges: [{ type: "ONE_TIME", price: "10.00" }] });
    const mismatch = await seedAccount(t, { charges: [{ type: "RECURRING", price: "10.00", billingPeriod: "MONTH", currency: "EUR" }] });

    const created = await createRun({ targetDate: "2026-02-01" }, t.tokens.operator);
    expect(created.status).toBe("PENDING");
    expect(created.billRunNumber).toMatch(/^BR-\d{8}$/);
    await waitForStatus(t, created.id, ["COMPLETED"]);

    const run = await getRun(created.id);
    expect(run).toMatchObject({ accountsTotal: 3, accountsProcessed: 3, invoiceCount: 1, failedAccountCount: 2, hasErrors: true });
    expect(run.invoiceTotals).toEqual([{ currency: "USD", amount: "51.29" }]);
    expect(run.statusHistory.map((h: any) => h.to)).toEqual(["PENDING", "PROCESSING", "COMPLETED"]);
    expect(run.statusHistory[0].by.email).toBe("operator@example.com");
    const invoice = run.invoices.edges[0].node;
    expect(invoice.account.accountNumber).toBe(good.account.accountNumber);
    expect(invoice.items).toEqual([
      { chargeName: "Charge 1", serviceStartDate: "2026-01-10", serviceEndDate: "2026-02-01", amount: "21.29" },
      { chargeName: "Charge 1", serviceStartDate: "2026-02-01", serviceEndDate: "2026-03-01", amount: "30.00" },
    ]);
    const failures = run.failedAccounts.edges.map((e: any) => e.node);
    expect(failures.map((f: any) => f.code).sort()).toEqual(["CURRENCY_MISMATCH", "MISSING_BILL_TO_CONTACT"]);
    const currency = failures.find((f: any) => f.code === "CURRENCY_MISMATCH");
    expect(currency.subscriptions).toEqual([
      { subscription: { subscriptionNumber: mismatch.subscription.subscriptionNumber }, code: "CURRENCY_MISMATCH", message: expect.stringContaining("EUR") },
    ]);

    // Payments are refused on drafts.
    const invoiceRow = await t.app.db.document.findFirstOrThrow({ where: { billRunId: created.id } });
    const refused = await t.gql<any, unknown>(
      `mutation($input: ApplyPaymentInput!) { applyPayment(input: $input) { __typename ... on Error { code message } } }`,
      { input: { invoiceId: invoiceRow.id, amount: "10.00" } },
    );
    expect(refused.data.applyPayment).toMatchObject({ __typename: "InvalidStateError", code: "INVALID_STATE" });

    const posted = await t.gql<any, unknown>(`mutation($id: ID!) { postBillRun(id: $id) { __typename ... on BillRun { status } } }`, { id: created.id });
    expect(["POST_IN_PROGRESS", "POSTED"]).toContain(posted.data.postBillRun.status);
    await waitForStatus(t, created.id, ["POSTED"]);

    const paid = await t.gql<any, unknown>(
      `mutation($input: ApplyPaymentInput!) { applyPayment(input: $input) { __typename ... on Payment { amount invoice { balance status } } ... on Error { code message } } }`,
      { input: { invoiceId: invoiceRow.id, amount: "50.00" } },
    );
    expect(paid.data.applyPayment).toEqual({ __typename: "Payment", amount: "50.00", invoice: { balance: "1.29", status: "POSTED" } });
    const over = await t.gql<any, unknown>(
      `mutation($input: ApplyPaymentInput!) { applyPayment(input: $input) { __typename ... on Error { code message } } }`,
      { input: { invoiceId: invoiceRow.id, amount: "1.30" } },
    );
    expect(over.data.applyPayment.code).toBe("VALIDATION");

    // Running again with the same target date bills nothing new.
    const again = await createRun({ targetDate: "2026-02-01", accountIds: [good.account.id] });
    await waitForStatus(t, again.id, ["COMPLETED"]);
    expect(await getRun(again.id)).toMatchObject({ invoiceCount: 0, failedAccountCount: 0, hasErrors: false });
  });
});
