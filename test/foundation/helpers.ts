import type { ExecutionResult } from "graphql";
import { expect } from "vitest";
import type { TestApp } from "../support/app.ts";
import {
  CreateAccountDocument,
  CreateSubscriptionDocument,
  type CreateAccountInput,
  type CreateSubscriptionInput,
} from "../../src/generated/graphql/graphql.ts";

/** Narrows a result union member to `typename`, failing the test (with the whole value) otherwise. */
export function as<T extends { __typename: string }, N extends T["__typename"]>(value: T | null | undefined, typename: N): Extract<T, { __typename: N }> {
  expect(value, `expected a ${typename}`).toMatchObject({ __typename: typename });
  return value as Extract<T, { __typename: N }>;
}

/** The value without its `__typename`, to compare a mutation's result with a query's. */
export function plain<T extends { __typename?: string }>(value: T): Omit<T, "__typename"> {
  const { __typename: _typename, ...rest } = value;
  return rest;
}

/** The data of a result that must have no top-level errors. */
export function dataOf<R>(result: ExecutionResult<R>): R {
  expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
  expect(result.data).toBeTruthy();
  return result.data!;
}

/** The `extensions.code` of each top-level error. */
export function errorCodes(result: ExecutionResult<unknown>): unknown[] {
  return (result.errors ?? []).map((e) => e.extensions?.code);
}

/** A POST /graphql with exactly these headers (no helper-added Authorization). */
export async function rawPost(t: TestApp, headers: Record<string, string>, body: unknown): Promise<{ status: number; body: ExecutionResult }> {
  const response = await t.yoga.fetch("http://localhost/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as ExecutionResult };
}

export async function createAccount(t: TestApp, input: Partial<CreateAccountInput> = {}) {
  const result = await t.gql(CreateAccountDocument, {
    input: { name: "Acme Corp", currency: "USD", billCycleDay: 1, billToEmail: "billing@acme.example", ...input },
  });
  return plain(as(dataOf(result).createAccount, "Account"));
}

export async function createSubscription(t: TestApp, input: CreateSubscriptionInput) {
  const result = await t.gql(CreateSubscriptionDocument, { input });
  return plain(as(dataOf(result).createSubscription, "CustomerSubscription"));
}

/** Row counts of the tables a foundation mutation can write. */
export async function counts(t: TestApp) {
  const [accounts, subscriptions, charges, usage, users] = await Promise.all([
    t.app.db.account.count(),
    t.app.db.subscription.count(),
    t.app.db.charge.count(),
    t.app.db.usageRecord.count(),
    t.app.db.user.count(),
  ]);
  return { accounts, subscriptions, charges, usage, users };
}
