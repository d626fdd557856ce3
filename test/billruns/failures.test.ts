import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { accountLockKey, registerWorkers } from "../../src/billruns/executor.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { chargedThrough, createRun, dataOf, getRun, nodes, postRun, retryRun, type Json } from "./helpers.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ BILLRUN_CHUNK_SIZE: "2" });
  await registerWorkers(t.app, 2);
});
afterAll(() => t.close());

// The executor's advisory lock for "this account is being billed".
const ACCOUNT_LOCK_KEY = accountLockKey("$1::uuid");
const MONTHLY_30 = { type: "RECURRING", price: "30.00", billingPeriod: "MONTH" } as const;

/** Runs `body` while another session holds the "being billed" lock of account `accountId`. */
async function whileBilledElsewhere<T>(accountId: string, body: () => Promise<T>): Promise<T> {
  const holder = new pg.Client({ connectionString: t.databaseUrl });
  await holder.connect();
  try {
    await holder.query("BEGIN");
    await holder.query(`SELECT pg_advisory_xact_lock(${ACCOUNT_LOCK_KEY})`, [accountId]);
    return await body();
  } finally {
    await holder.query("COMMIT").catch(() => undefined);
    await holder.end();
  }
}

async function runToCompletion(input: Record<string, unknown>) {
  const created = await createRun(t, input);
  expect(created.__typename).toBe("BillRun");
  await waitForStatus(t, created.id, ["COMPLETED"]);
  return getRun(t, created.id);
}

describe("CONCURRENT_BILL_RUN", () => {
  it("fails an account another transaction is billing, bills the others, and a retry bills it", async () => {
    const a = await seedAccount(t, { startDate: "2026-01-10", charges: [MONTHLY_30] });
    const b = await seedAccount(t, { startDate: "2026-01-10", charges: [MONTHLY_30] });
    const c = await seedAccount(t, { startDate: "2026-01-10", charges: [MONTHLY_30] });

    // Someone else holds b's "being billed" lock for the whole run.
    const run = await whileBilledElsewhere(b.account.id, () =>
      runToCompletion({ targetDate: "2026-02-01", invoiceDate: "2026-02-03", accountIds: [a.account.id, b.account.id, c.account.id] }),
    );

    expect(run).toMatchObject({
      status: "COMPLETED",
      hasErrors: true,
      accountsTotal: 3,
      accountsProcessed: 3,
      invoiceCount: 2,
      failedAccountCount: 1,
      invoiceTotals: [{ currency: "USD", amount: "102.58" }],
    });
    expect(
      nodes(run.invoices)
        .map((i: Json) => i.account.id)
        .sort(),
    ).toEqual([a.account.id, c.account.id].sort());
    expect(nodes(run.failedAccounts)).toEqual([
      {
        account: { id: b.account.id, accountNumber: b.account.accountNumber },
        code: "CONCURRENT_BILL_RUN",
        message: "another bill run is billing this account; retry when it has finished",
        subscriptions: [],
      },
    ]);
    // Nothing of b's was billed.
    expect(await chargedThrough(t, b.subscription.id)).toEqual([null]);
    expect(await chargedThrough(t, a.subscription.id)).toEqual(["2026-03-01"]);

    const retried = await retryRun(t, run.id, t.tokens.operator);
    expect(retried).toMatchObject({
      __typename: "BillRun",
      status: "PENDING",
      retriedFrom: { id: run.id },
      accountIds: [b.account.id],
      subscriptionIds: [],
      targetDate: "2026-02-01",
      invoiceDate: "2026-02-03",
    });
    expect(retried.id).not.toBe(run.id);
    await waitForStatus(t, retried.id, ["COMPLETED"]);
    const retry = await getRun(t, retried.id);
    expect(retry).toMatchObject({ accountsTotal: 1, invoiceCount: 1, failedAccountCount: 0, hasErrors: false });
    const invoice = nodes(retry.invoices)[0];
    expect(invoice.account.id).toBe(b.account.id);
    expect(invoice.amount).toBe("51.29");
    const dates = await t.gql<Json, unknown>(`query($id: ID!) { invoice(id: $id) { invoiceDate dueDate } }`, { id: invoice.id });
    expect(dataOf(dates).invoice).toEqual({ invoiceDate: "2026-02-03", dueDate: "2026-03-05" });
    expect(await chargedThrough(t, b.subscription.id)).toEqual(["2026-03-01"]);
    // The original run keeps its failure record.
    expect((await getRun(t, run.id)).failedAccountCount).toBe(1);
  });
  it("bills an account whose id shares its first 64 bits with the one being billed elsewhere (created in the same millisecond)", async () => {
    const b = await seedAccount(t, { startDate: "2026-01-10", charges: [MONTHLY_30] });
    // Time-ordered ids of two accounts created in the same millisecond: the same first 64 bits.
    const { createAccount, createSubscription } = await import("../../src/accounts/service.ts");
    const d = await createAccount(t.app.db, { name: "Twin", currency: "USD", billCycleDay: 1, batch: 1, billToEmail: "twin@example.com" });
    const twinId = b.account.id.slice(0, 19) + d.id.slice(19);
    await t.app.pool.query("UPDATE accounts SET id = $2 WHERE id = $1", [d.id, twinId]);
    await createSubscription(t.app.db, {
      accountId: twinId,
      startDate: "2026-01-10",
      invoiceSeparately: false,
      charges: [{ name: "Charge 1", ...MONTHLY_30 }],
    });

    const run = await whileBilledElsewhere(b.account.id, () =>
      runToCompletion({ targetDate: "2026-02-01", invoiceDate: "2026-02-03", accountIds: [b.account.id, twinId] }),
    );
    expect(run).toMatchObject({ status: "COMPLETED", accountsTotal: 2, invoiceCount: 1, failedAccountCount: 1 });
    expect(nodes(run.invoices).map((i: Json) => i.account.id)).toEqual([twinId]);
    expect(nodes(run.failedAccounts).map((f: Json) => [f.account.id, f.code])).toEqual([[b.account.id, "CONCURRENT_BILL_RUN"]]);
  });
});

describe("USAGE_RATING_ERROR", () => {
  it("fails the account, listing only the subscription whose usage has another unit", async () => {
    const { account, subscription } = await seedAccount(t, {
      startDate: "2026-01-01",
      charges: [{ name: "Data", type: "USAGE", price: "0.10", billingPeriod: "MONTH", unitOfMeasure: "GB" }],
    });
    const other = await t.gql<Json, unknown>(
      `mutation($input: CreateSubscriptionInput!) { createSubscription(input: $input) { __typename ... on CustomerSubscription { id subscriptionNumber } } }`,
      { input: { accountId: account.id, startDate: "2026-01-01", charges: [{ name: "Setup", type: "ONE_TIME", price: "10.00" }] } },
    );
    const healthy = dataOf(other).createSubscription;
    expect(healthy.__typename).toBe("CustomerSubscription");

    for (const [quantity, unitOfMeasure, usageDate] of [
      ["1000", "GB", "2026-01-10"],
      ["250", "MB", "2026-01-15"],
    ]) {
      const usage = await t.gql<Json, unknown>(
        `mutation($input: RecordUsageInput!) { recordUsage(input: $input) { __typename ... on Error { code message } } }`,
        { input: { subscriptionId: subscription.id, chargeName: "Data", quantity, unitOfMeasure, usageDate } },
      );
      expect(dataOf(usage).recordUsage.__typename).toBe("UsageRecord");
    }

    const run = await runToCompletion({ targetDate: "2026-02-01", accountIds: [account.id] });
    expect(run).toMatchObject({ hasErrors: true, invoiceCount: 0, failedAccountCount: 1, invoiceTotals: [] });
    const [failure] = nodes(run.failedAccounts);
    expect(failure.code).toBe("USAGE_RATING_ERROR");
    expect(failure.account.id).toBe(account.id);
    expect(failure.subscriptions).toHaveLength(1);
    expect(failure.subscriptions[0]).toMatchObject({
      subscription: { id: subscription.id, subscriptionNumber: subscription.subscriptionNumber },
      code: "USAGE_RATING_ERROR",
    });
    expect(failure.subscriptions[0].message).toMatch(
      new RegExp(
        `^Usage of 250(\\.0+)? MB on 2026-01-15 for charge "Data" of subscription ${subscription.subscriptionNumber} cannot be rated: the charge is rated per GB$`,
      ),
    );
    expect(failure.message).toBe(failure.subscriptions[0].message);
    // Atomic per account: the healthy subscription was not billed either.
    expect(await chargedThrough(t, subscription.id)).toEqual([null]);
    expect(await chargedThrough(t, healthy.id)).toEqual([null]);
  });
});

describe("failed accounts and run filters", () => {
  it("paginates failedAccounts(billRunId, first: 2) over five failures, in account-number order", async () => {
    const failing = [];
    for (let i = 0; i < 5; i++) failing.push(await seedAccount(t, { billToEmail: "", charges: [{ type: "ONE_TIME", price: "10.00" }] }));
    const good = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "10.00" }] });
    const run = await runToCompletion({ targetDate: "2026-01-15", accountIds: [...failing, good].map((s) => s.account.id) });
    expect(run).toMatchObject({ failedAccountCount: 5, invoiceCount: 1, hasErrors: true });

    const page = async (after: string | null) =>
      dataOf(
        await t.gql<Json, unknown>(
          `query($id: ID!, $after: String) { failedAccounts(billRunId: $id, first: 2, after: $after) {
             totalCount pageInfo { hasNextPage endCursor } edges { cursor node { account { id accountNumber } code message } } } }`,
          { id: run.id, after },
        ),
      ).failedAccounts;
    const pages = [await page(null)];
    while (pages.at(-1).pageInfo.hasNextPage) pages.push(await page(pages.at(-1).pageInfo.endCursor));
    expect(pages.map((p: Json) => p.edges.length)).toEqual([2, 2, 1]);
    for (const p of pages) expect(p.totalCount).toBe(5);

    // In account-number order across pages, as the run's own connection lists them.
    const seen = pages.flatMap((p: Json) => p.edges).map((e: Json) => e.node);
    expect(seen.map((n: Json) => n.account.accountNumber)).toEqual(failing.map((f) => f.account.accountNumber).sort());
    const nested = dataOf(
      await t.gql<Json, unknown>(`query($id: ID!) { billRun(id: $id) { failedAccounts(first: 10) { edges { node { account { accountNumber } } } } } }`, {
        id: run.id,
      }),
    ).billRun.failedAccounts;
    expect(nested.edges.map((e: Json) => e.node.account.accountNumber)).toEqual(seen.map((n: Json) => n.account.accountNumber));
    for (const node of seen) {
      expect(node.code).toBe("MISSING_BILL_TO_CONTACT");
      expect(node.message).toBe(`Account ${node.account.accountNumber} has no bill-to email address`);
    }

    // Unknown and malformed run ids: an empty connection.
    for (const id of ["00000000-0000-4000-8000-000000000000", "nope"]) {
      const empty = dataOf(await t.gql<Json, unknown>(`query($id: ID!) { failedAccounts(billRunId: $id, first: 2) { totalCount edges { cursor } } }`, { id }));
      expect(empty.failedAccounts).toEqual({ totalCount: 0, edges: [] });
    }
  });

  it("filters billRuns by hasErrors and by status", async () => {
    const ok = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "10.00" }] });
    const bad = await seedAccount(t, { billToEmail: "", charges: [{ type: "ONE_TIME", price: "10.00" }] });
    const clean = await runToCompletion({ targetDate: "2026-01-15", accountIds: [ok.account.id] });
    const withErrors = await runToCompletion({ targetDate: "2026-01-15", accountIds: [bad.account.id] });
    const okToo = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "10.00" }] });
    const posted = await runToCompletion({ targetDate: "2026-01-15", accountIds: [okToo.account.id] });
    await postRun(t, posted.id);
    await waitForStatus(t, posted.id, ["POSTED"]);

    const list = async (args: string) => {
      const connection = dataOf(
        await t.gql<Json, unknown>(`query { billRuns(first: 100${args}) { totalCount edges { node { id status hasErrors failedAccountCount } } } }`),
      ).billRuns;
      expect(connection.totalCount).toBe(connection.edges.length);
      return nodes(connection);
    };
    const ids = (list: Json[]) => list.map((n) => n.id);

    const errors = await list(", hasErrors: true");
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((n) => n.hasErrors && n.failedAccountCount > 0)).toBe(true);
    expect(ids(errors)).toContain(withErrors.id);
    expect(ids(errors)).not.toContain(clean.id);
    expect(ids(errors)).not.toContain(posted.id);

    const noErrors = await list(", hasErrors: false");
    expect(noErrors.every((n) => !n.hasErrors)).toBe(true);
    expect(ids(noErrors)).toEqual(expect.arrayContaining([clean.id, posted.id]));
    expect(ids(noErrors)).not.toContain(withErrors.id);

    const all = await list("");
    expect(errors.length + noErrors.length).toBe(all.length);

    const completed = await list(", status: [COMPLETED]");
    expect(completed.every((n) => n.status === "COMPLETED")).toBe(true);
    expect(ids(completed)).toEqual(expect.arrayContaining([clean.id, withErrors.id]));
    expect(ids(completed)).not.toContain(posted.id);

    const postedOnly = await list(", status: [POSTED]");
    expect(postedOnly.every((n) => n.status === "POSTED")).toBe(true);
    expect(ids(postedOnly)).toContain(posted.id);

    const both = await list(", status: [COMPLETED], hasErrors: false");
    expect(both.every((n) => n.status === "COMPLETED" && !n.hasErrors)).toBe(true);
    expect(ids(both)).toContain(clean.id);
    expect(ids(both)).not.toContain(withErrors.id);
  });
});
