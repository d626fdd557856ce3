import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { AccountsWithSubscriptionsDocument } from "../../src/generated/graphql/graphql.ts";
import { createAccount, createSubscription, dataOf } from "./helpers.ts";

const SUBSCRIPTIONS_PER_ACCOUNT = 2;
const CHARGES = ["Setup", "Platform", "Storage"] as const;

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

async function addAccounts(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const account = await createAccount(t, { name: `Nested ${i}` });
    for (let s = 0; s < SUBSCRIPTIONS_PER_ACCOUNT; s++) {
      await createSubscription(t, {
        accountId: account.id,
        startDate: "2026-01-01",
        charges: [
          { name: CHARGES[0], type: "ONE_TIME", price: "99" },
          { name: CHARGES[1], type: "RECURRING", price: "30", billingPeriod: "MONTH" },
          { name: CHARGES[2], type: "USAGE", price: "0.1", billingPeriod: "MONTH", unitOfMeasure: "GB" },
        ],
      });
    }
  }
}

/** Runs the nested list query and returns its data and the number of SQL statements it took. */
async function measure(first: number) {
  t.queries.length = 0;
  const result = await t.gql(AccountsWithSubscriptionsDocument, { first }, t.tokens.viewer);
  const statements = [...t.queries];
  return { data: dataOf(result), statements };
}

function checkShape(data: Awaited<ReturnType<typeof measure>>["data"], accounts: number) {
  expect(data.accounts.totalCount).toBe(accounts);
  expect(data.accounts.edges).toHaveLength(accounts);
  for (const { node: account } of data.accounts.edges) {
    expect(account.subscriptions.totalCount).toBe(SUBSCRIPTIONS_PER_ACCOUNT);
    expect(account.subscriptions.edges).toHaveLength(SUBSCRIPTIONS_PER_ACCOUNT);
    for (const { node: subscription } of account.subscriptions.edges) {
      expect(subscription.subscriptionNumber).toMatch(/^S-\d{8}$/);
      expect(subscription.account.accountNumber).toBe(account.accountNumber);
      expect(subscription.charges).toEqual([
        { name: "Setup", price: "99.00" },
        { name: "Platform", price: "30.00" },
        { name: "Storage", price: "0.10" },
      ]);
    }
  }
  const numbers = data.accounts.edges.flatMap((e) => e.node.subscriptions.edges.map((s) => s.node.subscriptionNumber));
  expect(new Set(numbers).size).toBe(accounts * SUBSCRIPTIONS_PER_ACCOUNT);
}

it("lists accounts with subscriptions, charges and their account in a bounded number of SQL statements", async () => {
  await addAccounts(5);
  const small = await measure(20);
  checkShape(small.data, 5);

  await addAccounts(15);
  const large = await measure(20);
  checkShape(large.data, 20);

  // Independent of the number of accounts (and so of subscriptions and charges): no N+1.
  expect(large.statements.length, large.statements.join("\n")).toBe(small.statements.length);
  expect(large.statements.length, large.statements.join("\n")).toBeLessThanOrEqual(10);
});
