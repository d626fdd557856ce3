import type { ExecutionResult } from "graphql";
import { expect } from "vitest";
import type { TestApp } from "../support/app.ts";

/** Bill-run GraphQL helpers shared by the files of test/billruns (string documents through t.gql). */

export const RUN_FIELDS = `id billRunNumber status hasErrors targetDate invoiceDate accountIds subscriptionIds
  accountsTotal accountsProcessed invoiceCount creditMemoCount zeroAmountInvoiceCount failedAccountCount
  invoiceTotals { currency amount } errorMessage postedAt retriedFrom { id }
  statusHistory { from to by { email } }`;

const RESULT = (fields: string) => `__typename ... on BillRun { ${fields} } ... on Error { code message } ... on ValidationError { field }`;

// Results are loosely typed on purpose: the assertions say what each test expects.
export type Json = any;

/** The data of a result that must have no top-level errors. */
export function dataOf<R>(result: ExecutionResult<R>): R {
  expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
  expect(result.data).toBeTruthy();
  return result.data!;
}

/** Calls a mutation `name(...)` returning a bill-run result union; returns the union member. */
async function runMutation(t: TestApp, name: string, args: string, variables: Record<string, unknown>, token?: string | null): Promise<Json> {
  const varDecl = Object.keys(variables)
    .map((k) => `$${k}: ${k === "input" ? "CreateBillRunInput!" : "ID!"}`)
    .join(", ");
  const result = await t.gql<Record<string, Json>, unknown>(`mutation(${varDecl}) { ${name}(${args}) { ${RESULT(RUN_FIELDS)} } }`, variables, token);
  return dataOf(result)[name];
}

export const createRun = (t: TestApp, input: Record<string, unknown>, token?: string | null) =>
  runMutation(t, "createBillRun", "input: $input", { input }, token);
export const postRun = (t: TestApp, id: string, token?: string | null) => runMutation(t, "postBillRun", "id: $id", { id }, token);
export const cancelRun = (t: TestApp, id: string, token?: string | null) => runMutation(t, "cancelBillRun", "id: $id", { id }, token);
export const retryRun = (t: TestApp, billRunId: string, token?: string | null) =>
  runMutation(t, "retryFailedAccounts", "billRunId: $billRunId", { billRunId }, token);

export async function deleteRun(t: TestApp, id: string, token?: string | null): Promise<Json> {
  const result = await t.gql<Json, unknown>(
    `mutation($id: ID!) { deleteBillRun(id: $id) { __typename ... on DeleteBillRunPayload { id billRunNumber } ... on Error { code message } } }`,
    { id },
    token,
  );
  return dataOf(result).deleteBillRun;
}

const DOCUMENT_FIELDS = `id status amount balance postedAt account { id accountNumber }
  items { chargeName kind serviceStartDate serviceEndDate amount charge { id } }`;

/** A run with its documents and failures (first 50 of each). */
export async function getRun(t: TestApp, id: string): Promise<Json> {
  const result = await t.gql<Json, unknown>(
    `query($id: ID!) { billRun(id: $id) { ${RUN_FIELDS}
      invoices(first: 50) { totalCount edges { node { invoiceNumber ${DOCUMENT_FIELDS} } } }
      creditMemos(first: 50) { totalCount edges { node { creditMemoNumber ${DOCUMENT_FIELDS} } } }
      failedAccounts(first: 50) { totalCount edges { node { account { id accountNumber } code message
        subscriptions { subscription { id subscriptionNumber } code message } } } } } }`,
    { id },
  );
  return dataOf(result).billRun;
}

export const nodes = (connection: { edges: { node: Json }[] }): Json[] => connection.edges.map((e) => e.node);

/** Every charge's chargedThroughDate of a subscription, via GraphQL. */
export async function chargedThrough(t: TestApp, subscriptionId: string): Promise<(string | null)[]> {
  const result = await t.gql<Json, unknown>(`query($id: ID!) { subscription(id: $id) { charges { name chargedThroughDate } } }`, { id: subscriptionId });
  return dataOf(result).subscription.charges.map((c: Json) => c.chargedThroughDate);
}

export async function updateAccountStatus(t: TestApp, id: string, status: "ACTIVE" | "INACTIVE"): Promise<void> {
  const result = await t.gql<Json, unknown>(
    `mutation($input: UpdateAccountInput!) { updateAccount(input: $input) { __typename ... on Account { status } ... on Error { code message } } }`,
    { input: { id, status } },
  );
  expect(dataOf(result).updateAccount).toEqual({ __typename: "Account", status });
}

export async function countRows(t: TestApp, table: string): Promise<number> {
  const result = await t.app.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
  return result.rows[0]!.n;
}
