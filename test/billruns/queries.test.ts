import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { registerWorkers } from "../../src/billruns/executor.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { createRun, dataOf, type Json } from "./helpers.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ BILLRUN_CHUNK_SIZE: "2" });
  await registerWorkers(t.app, 2);
});
afterAll(() => t.close());

const LIST = `query { billRuns(first: 50) { totalCount edges { node { billRunNumber status hasErrors accountsTotal invoiceCount
  failedAccountCount invoiceTotals { currency amount } createdBy { email } } } } }`;

/** `n` more completed runs, each billing an account of its own (one in EUR, one failing), by alternating users. */
async function addRuns(n: number, offset: number) {
  const created = [];
  for (let i = 0; i < n; i++) {
    const k = offset + i;
    const { account } = await seedAccount(t, {
      currency: k % 3 === 1 ? "EUR" : "USD",
      billToEmail: k % 4 === 3 ? "" : undefined,
      charges: [{ type: "ONE_TIME", price: `${10 + k}.00` }],
    });
    created.push(await createRun(t, { targetDate: "2026-01-15", accountIds: [account.id] }, k % 2 === 0 ? t.tokens.operator : t.tokens.admin));
  }
  for (const run of created) await waitForStatus(t, run.id, ["COMPLETED"]);
}

async function listAndCount() {
  t.queries.length = 0;
  const result = dataOf(await t.gql<Json, unknown>(LIST)).billRuns;
  return { result, statements: t.queries.length, sql: [...t.queries] };
}

describe("billRuns list", () => {
  it("makes the same bounded number of SQL statements for 3 runs as for 12", async () => {
    await addRuns(3, 0);
    const small = await listAndCount();
    expect(small.result.totalCount).toBe(3);
    expect(small.result.edges).toHaveLength(3);

    await addRuns(9, 3);
    const large = await listAndCount();
    expect(large.result.totalCount).toBe(12);
    expect(large.result.edges).toHaveLength(12);

    expect(small.statements).toBeGreaterThanOrEqual(2); // the count and the page, at least: the counter is live
    expect(large.statements, large.sql.join("\n")).toBe(small.statements);
    expect(large.statements, large.sql.join("\n")).toBeLessThanOrEqual(8);

    // The nested fields are really there (newest first).
    const runs = large.result.edges.map((e: Json) => e.node);
    expect(runs.map((r: Json) => r.billRunNumber)).toEqual([...runs.map((r: Json) => r.billRunNumber)].sort().reverse());
    const oldest = runs.at(-1);
    expect(oldest).toMatchObject({
      status: "COMPLETED",
      hasErrors: false,
      accountsTotal: 1,
      invoiceCount: 1,
      failedAccountCount: 0,
      invoiceTotals: [{ currency: "USD", amount: "10.00" }],
      createdBy: { email: "operator@example.com" },
    });
    expect(runs.at(-2)).toMatchObject({ invoiceTotals: [{ currency: "EUR", amount: "11.00" }], createdBy: { email: "admin@localhost" } });
    expect(runs.at(-4)).toMatchObject({ hasErrors: true, failedAccountCount: 1, invoiceCount: 0, invoiceTotals: [] });
  });
});

describe("a run's invoices", () => {
  it("are listed in invoice-number order, page after page", async () => {
    const accountIds = [];
    for (let i = 0; i < 7; i++) accountIds.push((await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "5.00" }] })).account.id);
    const run = await createRun(t, { targetDate: "2026-01-15", accountIds });
    await waitForStatus(t, run.id, ["COMPLETED"]);
    const numbers: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const invoices: Json = dataOf(
        await t.gql<Json, unknown>(
          `query($id: ID!, $after: String) { billRun(id: $id) { invoices(first: 3, after: $after) { totalCount
            pageInfo { hasNextPage endCursor } edges { node { invoiceNumber } } } } }`,
          { id: run.id, after },
        ),
      ).billRun.invoices;
      expect(invoices.totalCount).toBe(7);
      numbers.push(...invoices.edges.map((e: Json) => e.node.invoiceNumber));
      if (!invoices.pageInfo.hasNextPage) break;
      after = invoices.pageInfo.endCursor;
    }
    // Every invoice once, sorted, though chunks of two accounts commit in any order.
    expect(new Set(numbers).size).toBe(7);
    expect(numbers).toEqual([...numbers].sort());
  });
});
