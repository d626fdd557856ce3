import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { cancelBillRun, deleteBillRun } from "../../src/billruns/service.ts";
import { createAccount, createSubscription, dataOf } from "./helpers.ts";

// A mutation's result is loaded like a query's: its nested selection is planned into the one read
// of the row the mutation wrote (see src/graphql/write-then-read.ts), so the statements a mutation
// takes do not grow with what hangs off that row.

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const UPDATE_ACCOUNT = `mutation($input: UpdateAccountInput!) {
  updateAccount(input: $input) {
    __typename
    ... on Account {
      name
      subscriptions(first: 100) { totalCount edges { node { subscriptionNumber account { accountNumber } charges { name price } } } }
    }
    ... on Error { code message }
  }
}`;

interface UpdateResult {
  updateAccount: {
    __typename: string;
    name: string;
    subscriptions: { totalCount: number; edges: { node: { subscriptionNumber: string; account: { accountNumber: string }; charges: { name: string }[] } }[] };
  };
}

/** Renames the account through GraphQL and returns the result and the SQL statements the request took. */
async function rename(id: string, name: string) {
  t.queries.length = 0;
  const result = dataOf(await t.gql<UpdateResult, unknown>(UPDATE_ACCOUNT, { input: { id, name } }, t.tokens.operator));
  return { result: result.updateAccount, statements: [...t.queries] };
}

async function addSubscriptions(accountId: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await createSubscription(t, {
      accountId,
      startDate: "2026-01-01",
      charges: [
        { name: "Setup", type: "ONE_TIME", price: "10" },
        { name: "Platform", type: "RECURRING", price: "30", billingPeriod: "MONTH" },
      ],
    });
  }
}

it("loads a mutation result's nested relations in a number of statements independent of their size", async () => {
  const account = await createAccount(t, { name: "Nested Ltd" });
  await addSubscriptions(account.id, 2);
  const small = await rename(account.id, "Nested Two");
  expect(small.result).toMatchObject({ __typename: "Account", name: "Nested Two", subscriptions: { totalCount: 2 } });
  expect(small.result.subscriptions.edges.every((e) => e.node.account.accountNumber === account.accountNumber && e.node.charges.length === 2)).toBe(true);

  await addSubscriptions(account.id, 18);
  const large = await rename(account.id, "Nested Twenty");
  expect(large.result).toMatchObject({ __typename: "Account", name: "Nested Twenty", subscriptions: { totalCount: 20 } });
  expect(large.result.subscriptions.edges).toHaveLength(20);
  expect(large.result.subscriptions.edges.every((e) => e.node.account.accountNumber === account.accountNumber && e.node.charges.length === 2)).toBe(true);

  // Per-row loading would take at least one statement per subscription (20 here).
  expect(large.statements.length, large.statements.join("\n")).toBe(small.statements.length);
  expect(large.statements.length, large.statements.join("\n")).toBeLessThanOrEqual(10);
});

it("answers a mutation refused by its service with the error and reads nothing else", async () => {
  const refused = await t.gql<{ updateAccount: { __typename: string; code: string } }, unknown>(
    UPDATE_ACCOUNT,
    { input: { id: "00000000-0000-4000-8000-000000000000", name: "Nobody" } },
    t.tokens.operator,
  );
  expect(dataOf(refused).updateAccount).toMatchObject({ __typename: "NotFoundError", code: "NOT_FOUND" });
});

describe("a replayed idempotencyKey", () => {
  const CREATE_RUN = `mutation($input: CreateBillRunInput!, $key: String) {
    createBillRun(input: $input, idempotencyKey: $key) { __typename ... on BillRun { id status } ... on Error { code message } }
  }`;
  type CreateRunResult = { createBillRun: { __typename: string; id?: string; status?: string; code?: string; message?: string } };
  const createRun = async (key: string) =>
    dataOf(await t.gql<CreateRunResult, unknown>(CREATE_RUN, { input: { targetDate: "2026-03-01", batches: [44] }, key }, t.tokens.operator)).createBillRun;

  it("answers the row as it is now, and a NotFoundError once the row is deleted", async () => {
    const first = await createRun("replay-after-delete");
    expect(first).toMatchObject({ __typename: "BillRun", status: "PENDING" });
    await cancelBillRun(t.app, first.id!, null);
    expect(await createRun("replay-after-delete")).toEqual({ __typename: "BillRun", id: first.id, status: "CANCELED" });

    await deleteBillRun(t.app, first.id!, null);
    expect(await createRun("replay-after-delete")).toEqual({
      __typename: "NotFoundError",
      code: "NOT_FOUND",
      message: `bill run ${first.id} (the result of this idempotencyKey) no longer exists`,
    });
  });
});
