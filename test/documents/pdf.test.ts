import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pdfText } from "../support/pdf.ts";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { startServer } from "../support/server.ts";
import { createRun, dataOf, postRun, type Json } from "../billruns/helpers.ts";
import { registerWorkers } from "../../src/billruns/executor.ts";
import type { HttpServer } from "../../src/http.ts";
import { signedDocumentUrl } from "../../src/documents/links.ts";

let t: TestApp;
let server: HttpServer;
let base: string;

beforeAll(async () => {
  t = await createTestApp();
  await registerWorkers(t.app, 2);
  server = await startServer(t);
  base = server.url.replace(/\/graphql$/, "");
});
afterAll(async () => {
  await server?.close();
  await t?.close();
});

async function download(path: string, token: string | null, headers: Record<string, string> = {}) {
  return fetch(`${base}${path}`, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
}

const INVOICE_FIELDS = `id invoiceNumber status currency amount balance invoiceDate dueDate
  account { accountNumber name } items { chargeName serviceStartDate serviceEndDate quantity unitPrice amount }`;

async function invoicesOf(billRunId: string): Promise<Json[]> {
  const result = await t.gql<Json, unknown>(`query($id: ID!) { billRun(id: $id) { invoices(first: 50) { edges { node { ${INVOICE_FIELDS} } } } } }`, {
    id: billRunId,
  });
  return dataOf(result).billRun.invoices.edges.map((e: Json) => e.node);
}

async function rename(accountId: string, name: string): Promise<void> {
  await t.app.db.account.update({ where: { id: accountId }, data: { name } });
}

describe("invoice PDFs", () => {
  let runId: string;
  let accounts: { usd: Json; jpy: Json; kwd: Json; script: Json; credit: Json };

  beforeAll(async () => {
    const usd = await seedAccount(t, {
      startDate: "2026-01-10",
      charges: [
        { name: "Platform fee", type: "RECURRING", price: "30.00", billingPeriod: "MONTH" },
        { name: "Setup Ω €", type: "ONE_TIME", price: "12.50", quantity: "2", startDate: "2026-01-10" },
      ],
    });
    await rename(usd.account.id, "Ольга Иванова");
    const jpy = await seedAccount(t, { currency: "JPY", charges: [{ name: "Licence", type: "ONE_TIME", price: "1200", quantity: "3" }] });
    const kwd = await seedAccount(t, { currency: "KWD", charges: [{ name: "Hosting", type: "ONE_TIME", price: "12.345" }] });
    const script = await seedAccount(t, { charges: [{ name: "<b>Bold</b> plan", type: "ONE_TIME", price: "5.00" }] });
    await rename(script.account.id, "<script>alert(1)</script> Ltd");
    const credit = await seedAccount(t, { charges: [{ name: "Goodwill credit", type: "ONE_TIME", price: "-15.00" }] });
    accounts = { usd: usd.account, jpy: jpy.account, kwd: kwd.account, script: script.account, credit: credit.account };
    const settings = await t.gql<Json, unknown>(
      `mutation($input: UpdateSettingsInput!) { updateSettings(input: $input) { __typename ... on Settings { companyName } ... on Error { message } } }`,
      { input: { companyName: "Billrun Demo GmbH", companyAddress: "Hauptstraße 1\n10115 Berlin", companyTaxId: "DE123456789" } },
    );
    expect(dataOf(settings).updateSettings).toEqual({ __typename: "Settings", companyName: "Billrun Demo GmbH" });
    const run = await createRun(t, { targetDate: "2026-02-01", accountIds: Object.values(accounts).map((a) => a.id) }, t.tokens.operator);
    runId = run.id;
    await waitForStatus(t, runId, ["COMPLETED"]);
  });

  const invoiceOf = (invoices: Json[], account: Json) => invoices.find((i) => i.account.accountNumber === account.accountNumber)!;

  it("shows the number, seller, account, every line and the total exactly, with a DRAFT watermark until posted", async () => {
    const invoice = invoiceOf(await invoicesOf(runId), accounts.usd);
    expect(invoice.status).toBe("DRAFT");

    const response = await download(`/documents/invoices/${invoice.id}.pdf`, t.tokens.viewer);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/pdf");
    expect(response.headers.get("content-disposition")).toBe(`attachment; filename="${invoice.invoiceNumber}.pdf"`);
    const draft = await pdfText(new Uint8Array(await response.arrayBuffer()));

    expect(draft).toContain(`Invoice number: ${invoice.invoiceNumber}`);
    expect(draft).toContain("Billrun Demo GmbH");
    expect(draft).toContain("Hauptstraße 1");
    expect(draft).toContain("Tax ID: DE123456789");
    expect(draft).toContain("Ольга Иванова");
    expect(draft).toContain(`Account ${invoice.account.accountNumber}`);
    expect(draft).toContain(`Invoice date: ${invoice.invoiceDate}`);
    expect(draft).toContain(`Due date: ${invoice.dueDate}`);
    // One line per item: charge, service period (last day inclusive), quantity, unit price, amount.
    expect(invoice.items).toHaveLength(3);
    expect(draft).toContain("Platform fee 2026-01-10 – 2026-01-31 1 30.00 21.29");
    expect(draft).toContain("Platform fee 2026-02-01 – 2026-02-28 1 30.00 30.00");
    expect(draft).toContain("Setup Ω € 2026-01-10 2 12.50 25.00");
    for (const item of invoice.items) expect(draft).toContain(`${item.chargeName} `);
    expect(invoice.amount).toBe("76.29");
    expect(draft).toContain("Total USD 76.29");
    expect(draft).toContain("Balance due USD 76.29");
    expect(draft).toMatch(/^DRAFT$/m);
    expect(draft).toContain("Status: Draft, not posted");

    await postRun(t, runId, t.tokens.operator);
    await waitForStatus(t, runId, ["POSTED"]);
    const posted = await pdfText(new Uint8Array(await (await download(`/documents/invoices/${invoice.id}.pdf`, t.tokens.viewer)).arrayBuffer()));
    expect(posted).not.toContain("DRAFT");
    expect(posted).toContain("Status: Posted");
    expect(posted).toContain("Total USD 76.29");
  });

  it("prints JPY without and KWD with three decimals", async () => {
    const invoices = await invoicesOf(runId);
    const jpy = invoiceOf(invoices, accounts.jpy);
    const kwd = invoiceOf(invoices, accounts.kwd);
    const jpyText = await pdfText(new Uint8Array(await (await download(`/documents/invoices/${jpy.id}.pdf`, t.tokens.viewer)).arrayBuffer()));
    expect(jpyText).toContain("Licence 2026-01-01 3 1200 3600");
    expect(jpyText).toContain("Total JPY 3600");
    const kwdText = await pdfText(new Uint8Array(await (await download(`/documents/invoices/${kwd.id}.pdf`, t.tokens.viewer)).arrayBuffer()));
    expect(kwdText).toContain("Hosting 2026-01-01 1 12.345 12.345");
    expect(kwdText).toContain("Total KWD 12.345");
  });

  it("prints markup in names as text", async () => {
    const invoice = invoiceOf(await invoicesOf(runId), accounts.script);
    const text = await pdfText(new Uint8Array(await (await download(`/documents/invoices/${invoice.id}.pdf`, t.tokens.viewer)).arrayBuffer()));
    expect(text).toContain("<script>alert(1)</script> Ltd");
    expect(text).toContain("<b>Bold</b> plan 2026-01-01 1 5.00 5.00");
  });

  it("renders credit memos at their own path", async () => {
    const result = await t.gql<Json, unknown>(
      `query($id: ID!) { billRun(id: $id) { creditMemos(first: 5) { edges { node { id creditMemoNumber amount } } } } }`,
      { id: runId },
    );
    const [memo] = dataOf(result).billRun.creditMemos.edges.map((e: Json) => e.node);
    expect(memo.amount).toBe("15.00");
    const response = await download(`/documents/credit-memos/${memo.id}.pdf`, t.tokens.viewer);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-disposition")).toBe(`attachment; filename="${memo.creditMemoNumber}.pdf"`);
    const text = await pdfText(new Uint8Array(await response.arrayBuffer()));
    expect(text).toContain(`Credit memo number: ${memo.creditMemoNumber}`);
    expect(text).toContain("Goodwill credit 2026-01-01 1 -15.00 -15.00");
    expect(text).toContain("Total USD 15.00");
    // An invoice id is not a credit memo, and the other way round.
    expect((await download(`/documents/invoices/${memo.id}.pdf`, t.tokens.viewer)).status).toBe(404);
  });

  it("needs a valid token (any role), and answers 404 for an unknown document", async () => {
    const invoice = invoiceOf(await invoicesOf(runId), accounts.usd);
    const path = `/documents/invoices/${invoice.id}.pdf`;
    const anonymous = await download(path, null);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect((await anonymous.json()).errors[0].extensions.code).toBe("UNAUTHENTICATED");
    expect((await download(path, "brt_not_a_token")).status).toBe(401);
    for (const token of [t.tokens.viewer, t.tokens.operator, t.tokens.admin]) expect((await download(path, token)).status).toBe(200);
    expect((await download("/documents/invoices/00000000-0000-4000-8000-000000000000.pdf", t.tokens.viewer)).status).toBe(404);
    expect((await download("/documents/invoices/not-a-uuid.pdf", t.tokens.viewer)).status).toBe(404);
    expect((await download("/documents/invoices/%E0%A4%A.pdf", t.tokens.viewer)).status).toBe(404);
    expect((await fetch(`${base}${path}`, { method: "POST", headers: { authorization: `Bearer ${t.tokens.viewer}` } })).status).toBe(405);
  });

  it("is cached by content: the same ETag while nothing changes, a new one when the document does", async () => {
    if ((await t.app.db.billRun.findUniqueOrThrow({ where: { id: runId } })).status !== "POSTED") {
      await postRun(t, runId, t.tokens.operator);
      await waitForStatus(t, runId, ["POSTED"]);
    }
    const invoice = invoiceOf(await invoicesOf(runId), accounts.kwd);
    const path = `/documents/invoices/${invoice.id}.pdf`;
    const first = await download(path, t.tokens.viewer);
    const etag = first.headers.get("etag")!;
    const firstBytes = Buffer.from(await first.arrayBuffer());
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/);
    const again = await download(path, t.tokens.viewer);
    expect(again.headers.get("etag")).toBe(etag);
    expect(Buffer.from(await again.arrayBuffer()).equals(firstBytes)).toBe(true);
    expect((await download(path, t.tokens.viewer, { "if-none-match": etag })).status).toBe(304);

    // A payment changes what the (posted) invoice shows: a new rendering.
    const paid = await t.gql<Json, unknown>(
      `mutation($input: ApplyPaymentInput!) { applyPayment(input: $input) { __typename ... on Error { message } } }`,
      { input: { invoiceId: invoice.id, amount: "2.345" } },
      t.tokens.operator,
    );
    expect(dataOf(paid).applyPayment.__typename).toBe("Payment");
    const changed = await download(path, t.tokens.viewer, { "if-none-match": etag });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).not.toBe(etag);
    const text = await pdfText(new Uint8Array(await changed.arrayBuffer()));
    expect(text).toMatch(/Payment \d{4}-\d{2}-\d{2} -2\.345/);
    expect(text).toContain("Balance due KWD 10.000");
  });

  it("refuses a seller block it could not print, changing nothing", async () => {
    const update = (input: Record<string, unknown>) =>
      t.gql<Json, unknown>(`mutation($input: UpdateSettingsInput!) { updateSettings(input: $input) { __typename ... on ValidationError { field message } } }`, {
        input,
      });
    expect(dataOf(await update({ companyName: "Bad\u0007Bell" })).updateSettings).toMatchObject({
      __typename: "ValidationError",
      field: ["input", "companyName"],
    });
    expect(dataOf(await update({ companyTaxId: "x".repeat(101) })).updateSettings).toMatchObject({
      __typename: "ValidationError",
      field: ["input", "companyTaxId"],
    });
    expect(dataOf(await update({ companyAddress: Array.from({ length: 11 }, (_, i) => `line ${i}`).join("\n") })).updateSettings).toMatchObject({
      __typename: "ValidationError",
      field: ["input", "companyAddress"],
    });
    expect(dataOf(await update({})).updateSettings).toMatchObject({ __typename: "ValidationError", field: ["input"] });
    expect(dataOf(await update({ companyLogo: "data:image/png;base64,iVBORw0KGgoAAAA" })).updateSettings).toMatchObject({
      __typename: "ValidationError",
      field: ["input", "companyLogo"],
      message: "input.companyLogo: is a damaged PNG image",
    });
    expect(dataOf(await update({ companyLogo: "file:///etc/passwd" })).updateSettings).toMatchObject({
      __typename: "ValidationError",
      field: ["input", "companyLogo"],
    });
    const forbidden = await t.gql<Json, unknown>(
      `mutation { updateSettings(input: { companyName: "Viewer Inc" }) { __typename } }`,
      undefined,
      t.tokens.viewer,
    );
    expect(forbidden.errors?.[0]?.extensions?.code ?? dataOf(forbidden).updateSettings.__typename).toMatch(/FORBIDDEN|ForbiddenError/);
    const settings = await t.gql<Json, unknown>(`{ settings { companyName companyAddress companyTaxId } }`, undefined, t.tokens.viewer);
    expect(dataOf(settings).settings).toEqual({ companyName: "Billrun Demo GmbH", companyAddress: "Hauptstraße 1\n10115 Berlin", companyTaxId: "DE123456789" });
  });

  it("gives a short-lived signed pdfUrl that works without the token, for that document only", async () => {
    const invoices = await invoicesOf(runId);
    const invoice = invoiceOf(invoices, accounts.usd);
    const other = invoiceOf(invoices, accounts.jpy);
    const result = await t.gql<Json, unknown>(`query($id: ID!) { invoice(id: $id) { pdfUrl } }`, { id: invoice.id }, t.tokens.viewer);
    const pdfUrl: string = dataOf(result).invoice.pdfUrl;
    expect(pdfUrl).toMatch(new RegExp(`^/documents/invoices/${invoice.id}\\.pdf\\?expires=\\d+&signature=[\\w-]+$`));
    const expires = Number(new URL(pdfUrl, base).searchParams.get("expires"));
    expect(expires * 1000 - Date.now()).toBeGreaterThan(200_000);
    expect(expires * 1000 - Date.now()).toBeLessThanOrEqual(300_000);

    const opened = await download(pdfUrl, null);
    expect(opened.status).toBe(200);
    expect(await pdfText(new Uint8Array(await opened.arrayBuffer()))).toContain(`Invoice number: ${invoice.invoiceNumber}`);

    // Another document, a changed signature, or an expired link: refused.
    expect((await download(pdfUrl.replace(invoice.id, other.id), null)).status).toBe(401);
    expect(
      (
        await download(
          pdfUrl.replace(/signature=./, (m) => (m.endsWith("A") ? "signature=B" : "signature=A")),
          null,
        )
      ).status,
    ).toBe(401);
    expect((await download(pdfUrl.replace("/invoices/", "/credit-memos/"), null)).status).toBe(401);
    const expired = await signedDocumentUrl(t.app, "INVOICE", invoice.id, Date.now() - 301_000);
    expect((await download(expired, null)).status).toBe(401);
    // It opens no CSV export either.
    expect((await download(`/exports/bill-runs/${runId}/invoices.csv?${new URL(pdfUrl, base).searchParams}`, null)).status).toBe(401);
  });
});
