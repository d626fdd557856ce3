import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "csv-parse/sync";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { startServer } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";
import { createRun, dataOf, type Json } from "../billruns/helpers.ts";
import { seedBulkAccounts } from "../support/seed.ts";
import { registerWorkers } from "../../src/billruns/executor.ts";
import type { HttpServer } from "../../src/http.ts";

let t: TestApp;
let server: HttpServer;
let base: string;
let run: Json;
let specials: Record<"formula" | "minus" | "at" | "tab" | "quoted" | "cyrillic" | "credit" | "failing", Json>;

const BULK = 1000;

beforeAll(async () => {
  t = await createTestApp();
  await registerWorkers(t.app, 2);
  server = await startServer(t);
  base = server.url.replace(/\/graphql$/, "");

  await seedBulkAccounts(t.app.pool, BULK);
  const named = async (
    name: string,
    charges: Parameters<typeof seedAccount>[1]["charges"] = [{ name: "=cmd|' /C calc'!A0", type: "ONE_TIME", price: "1.00" }],
  ) => {
    const { account } = await seedAccount(t, { charges });
    return t.app.db.account.update({ where: { id: account.id }, data: { name } });
  };
  specials = {
    formula: await named('=HYPERLINK("http://evil.example","click")'),
    minus: await named("-2+3"),
    at: await named("@SUM(A1:A2)"),
    tab: await named("\tTabbed"),
    quoted: await named('Smith, "Jr", Ltd'),
    cyrillic: await named("Ольга Иванова"),
    credit: await named("Credit customer", [{ name: "Goodwill", type: "ONE_TIME", price: "-15.00" }]),
    failing: await named("Failing customer", [{ name: "Wrong currency", type: "ONE_TIME", price: "1.00", currency: "EUR" }]),
  };
  run = await createRun(t, { targetDate: "2026-02-01" }, t.tokens.operator);
  await waitForStatus(t, run.id, ["COMPLETED"], 120_000);
}, 240_000);
afterAll(async () => {
  await server?.close();
  await t?.close();
});

async function download(path: string, token: string | null = t.tokens.viewer) {
  return fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
}

/** Parses a CSV export, checking what every export has: UTF-8 with a BOM, CRLF, a header row. */
async function csvOf(path: string): Promise<{ header: string[]; rows: Record<string, string>[] }> {
  const response = await download(path);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8");
  expect(response.headers.get("content-disposition")).toMatch(/^attachment; filename="BR-\d+-[a-z-]+\.csv"$/);
  const bytes = Buffer.from(await response.arrayBuffer());
  expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
  const body = bytes.toString("utf8");
  expect(body.slice(1, body.indexOf("\n") + 1)).toMatch(/\r\n$/);
  const header = (parse(body, { bom: true, to_line: 1 }) as string[][])[0]!;
  const rows = parse(body, { bom: true, columns: true }) as Record<string, string>[];
  return { header, rows };
}

/** Every page of a connection under the run. */
async function allNodes(field: string, selection: string): Promise<Json[]> {
  const out: Json[] = [];
  let after: string | null = null;
  do {
    const result = await t.gql<Json, unknown>(
      `query($id: ID!, $after: String) { billRun(id: $id) { ${field}(first: 100, after: $after) { pageInfo { hasNextPage endCursor } edges { node { ${selection} } } } } }`,
      { id: run.id, after },
    );
    const connection: Json = dataOf(result).billRun[field];
    out.push(...connection.edges.map((e: Json) => e.node));
    after = connection.pageInfo.hasNextPage ? connection.pageInfo.endCursor : null;
  } while (after);
  return out;
}

/** What a text cell of the export holds for an API value: formula starters neutralised with an apostrophe. */
const cell = (value: string | null | undefined) => (value == null ? "" : /^[=+\-@\t\r]/.test(value) ? `'${value}` : value);

const ITEM_SELECTION = `id chargeName chargeType kind subscription { subscriptionNumber } serviceStartDate serviceEndDate quantity unitPrice amount`;

describe("CSV exports of a bill run", () => {
  it("invoices.csv has the API's values for every invoice of a 1,000-account run", async () => {
    const api = await allNodes("invoices", "id invoiceNumber account { accountNumber name } currency amount balance status invoiceDate dueDate postedAt");
    expect(api.length).toBeGreaterThanOrEqual(BULK);
    const { header, rows } = await csvOf(`/exports/bill-runs/${run.id}/invoices.csv`);
    expect(header).toEqual([
      "id",
      "invoiceNumber",
      "account.accountNumber",
      "account.name",
      "currency",
      "amount",
      "balance",
      "status",
      "invoiceDate",
      "dueDate",
      "postedAt",
    ]);
    const expected = api
      .map((i) => ({
        id: i.id,
        invoiceNumber: cell(i.invoiceNumber),
        "account.accountNumber": cell(i.account.accountNumber),
        "account.name": cell(i.account.name),
        currency: i.currency,
        amount: i.amount,
        balance: i.balance,
        status: i.status,
        invoiceDate: i.invoiceDate,
        dueDate: i.dueDate,
        postedAt: i.postedAt ?? "",
      }))
      .sort((a, b) => a.invoiceNumber.localeCompare(b.invoiceNumber));
    expect(rows).toEqual(expected);
    // The run has JPY invoices: no decimals there, two for USD.
    expect(rows.find((r) => r.currency === "JPY")!.amount).toMatch(/^\d+$/);
    expect(rows.find((r) => r.currency === "USD")!.amount).toMatch(/^\d+\.\d{2}$/);
  });

  it("neutralises names a spreadsheet would run as formulas, and keeps other text as it is", async () => {
    const { rows } = await csvOf(`/exports/bill-runs/${run.id}/invoices.csv`);
    const nameOf = (account: Json) => rows.find((r) => r["account.accountNumber"] === account.accountNumber)!["account.name"];
    expect(nameOf(specials.formula)).toBe(`'=HYPERLINK("http://evil.example","click")`);
    expect(nameOf(specials.minus)).toBe("'-2+3");
    expect(nameOf(specials.at)).toBe("'@SUM(A1:A2)");
    expect(nameOf(specials.tab)).toBe("'\tTabbed");
    expect(nameOf(specials.quoted)).toBe('Smith, "Jr", Ltd');
    expect(nameOf(specials.cyrillic)).toBe("Ольга Иванова");
  });

  it("items.csv has one row per item with the API's values; negative amounts stay numbers", async () => {
    const invoices = await allNodes("invoices", `invoiceNumber account { accountNumber } currency items { ${ITEM_SELECTION} }`);
    const memos = await allNodes("creditMemos", `creditMemoNumber account { accountNumber } currency items { ${ITEM_SELECTION} }`);
    const row = (doc: Json, item: Json) => ({
      invoiceNumber: doc.invoiceNumber ?? "",
      creditMemoNumber: doc.creditMemoNumber ?? "",
      "account.accountNumber": doc.account.accountNumber,
      currency: doc.currency,
      id: item.id,
      chargeName: cell(item.chargeName),
      chargeType: item.chargeType,
      kind: item.kind,
      "subscription.subscriptionNumber": item.subscription.subscriptionNumber,
      serviceStartDate: item.serviceStartDate,
      serviceEndDate: item.serviceEndDate,
      quantity: item.quantity,
      unitPrice: item.unitPrice,
      amount: item.amount,
    });
    const byNumber = (a: Json, b: Json) => (a.invoiceNumber || a.creditMemoNumber).localeCompare(b.invoiceNumber || b.creditMemoNumber);
    const expected = [
      ...invoices.sort(byNumber).flatMap((d) => d.items.map((i: Json) => row(d, i))),
      ...memos.sort(byNumber).flatMap((d) => d.items.map((i: Json) => row(d, i))),
    ];
    const { rows } = await csvOf(`/exports/bill-runs/${run.id}/items.csv`);
    expect(rows.length).toBeGreaterThan(BULK * 2);
    expect(rows).toEqual(expected);
    const credit = rows.find((r) => r["account.accountNumber"] === specials.credit.accountNumber)!;
    expect(credit).toMatchObject({ invoiceNumber: "", chargeName: "Goodwill", unitPrice: "-15.00", amount: "-15.00" });
    expect(credit.creditMemoNumber).toMatch(/^CM-/);
    // A formula in a charge name is neutralised too.
    expect(rows.find((r) => r["account.accountNumber"] === specials.formula.accountNumber)!.chargeName).toBe("'=cmd|' /C calc'!A0");
  });

  it("credit-memos.csv and failed-accounts.csv", async () => {
    const memos = await csvOf(`/exports/bill-runs/${run.id}/credit-memos.csv`);
    expect(memos.header[1]).toBe("creditMemoNumber");
    expect(memos.rows).toEqual([
      expect.objectContaining({ "account.accountNumber": specials.credit.accountNumber, "account.name": "Credit customer", amount: "15.00", status: "DRAFT" }),
    ]);

    const api = await allNodes(
      "failedAccounts",
      "account { accountNumber name } code message subscriptions { subscription { subscriptionNumber } code message }",
    );
    expect(api).toHaveLength(1);
    const failed = await csvOf(`/exports/bill-runs/${run.id}/failed-accounts.csv`);
    expect(failed.header).toEqual([
      "account.accountNumber",
      "account.name",
      "code",
      "message",
      "subscriptions.subscription.subscriptionNumber",
      "subscriptions.code",
      "subscriptions.message",
    ]);
    const [f] = api;
    expect(failed.rows).toEqual(
      f.subscriptions.map((s: Json) => ({
        "account.accountNumber": f.account.accountNumber,
        "account.name": "Failing customer",
        code: f.code,
        message: cell(f.message),
        "subscriptions.subscription.subscriptionNumber": s.subscription.subscriptionNumber,
        "subscriptions.code": s.code,
        "subscriptions.message": cell(s.message),
      })),
    );
    expect(failed.rows[0]!["subscriptions.code"]).toBe("CURRENCY_MISMATCH");
  });

  it("needs a token; an unknown run or export is a 404", async () => {
    const path = `/exports/bill-runs/${run.id}/invoices.csv`;
    expect((await download(path, null)).status).toBe(401);
    expect((await download(path, "brt_nope")).status).toBe(401);
    expect((await download(`/exports/bill-runs/00000000-0000-4000-8000-000000000000/invoices.csv`)).status).toBe(404);
    expect((await download(`/exports/bill-runs/${run.id}/payments.csv`)).status).toBe(404);
    expect((await download(`/exports/bill-runs/x/invoices.csv`)).status).toBe(404);
    // Hostile paths are 404s, never errors.
    for (const path of [
      "/exports/bill-runs/..%2F..%2Fpackage.json/invoices.csv",
      "/exports/bill-runs/%00/invoices.csv",
      "/exports/bill-runs/%E0%A4%A/items.csv",
      `/exports/bill-runs/${run.id}/invoices.csv/extra`,
      "/exports/",
      "/documents/invoices/..%2F..%2Fpackage.json.pdf",
      "/documents/invoices/.pdf",
    ]) {
      expect((await download(path)).status, path).toBe(404);
    }
  });

  it("stops reading when the client goes away mid-export, and keeps serving", async () => {
    const controller = new AbortController();
    const response = await fetch(`${base}/exports/bill-runs/${run.id}/items.csv`, {
      headers: { authorization: `Bearer ${t.tokens.viewer}` },
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await reader.read().catch(() => undefined);
    // The pool is not left holding connections, and the next exports are whole.
    for (let i = 0; i < 3; i++) {
      const { rows } = await csvOf(`/exports/bill-runs/${run.id}/invoices.csv`);
      expect(rows.length).toBeGreaterThanOrEqual(BULK);
    }
    await waitFor("every connection back in the pool", () => t.app.pool.totalCount - t.app.pool.idleCount === 0, 10_000);
  });
});
