import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { AccountsPageDocument, type AccountsPageQuery } from "../../src/generated/graphql/graphql.ts";
import { createAccount, dataOf } from "./helpers.ts";

const TOTAL = 25;

let t: TestApp;
let created: { id: string; accountNumber: string }[];
beforeAll(async () => {
  t = await createTestApp();
  // Created in an order that differs from the account-number order, so that a list ordered by
  // creation (or by id) would not pass by accident.
  created = [];
  for (let i = 0; i < TOTAL; i++) {
    const number = `P-${String((i * 7) % TOTAL).padStart(3, "0")}`;
    const account = await createAccount(t, { accountNumber: number, name: `Paged ${number}` });
    created.push({ id: account.id, accountNumber: account.accountNumber });
  }
});
afterAll(() => t.close());

it("pages through all accounts in account-number order with first/after", async () => {
  const seen: { id: string; accountNumber: string }[] = [];
  const pageSizes: number[] = [];
  let after: string | null = null;
  for (let page = 0; page < 10; page++) {
    const accounts: AccountsPageQuery["accounts"] = dataOf(await t.gql(AccountsPageDocument, { first: 10, after }, t.tokens.viewer)).accounts;
    expect(accounts.totalCount).toBe(TOTAL);
    pageSizes.push(accounts.edges.length);
    seen.push(...accounts.edges.map((e) => e.node));
    // Each edge's cursor is usable, and the page's cursors match its first and last edges.
    expect(accounts.pageInfo.startCursor).toBe(accounts.edges[0]?.cursor ?? null);
    expect(accounts.pageInfo.endCursor).toBe(accounts.edges.at(-1)?.cursor ?? null);
    if (!accounts.pageInfo.hasNextPage) break;
    after = accounts.pageInfo.endCursor;
    expect(after).toBeTruthy();
  }
  expect(pageSizes).toEqual([10, 10, 5]);
  expect(seen).toHaveLength(TOTAL);
  expect(new Set(seen.map((n) => n.id)).size).toBe(TOTAL);
  const expectedOrder = created.map((c) => c.accountNumber).sort();
  expect(seen.map((n) => n.accountNumber)).toEqual(expectedOrder);
  expect(seen.map((n) => n.accountNumber)[0]).toBe("P-000");
  expect(seen.map((n) => n.accountNumber).at(-1)).toBe("P-024");
  // Same nodes as created (ids match their numbers).
  const byNumber = new Map(created.map((c) => [c.accountNumber, c.id]));
  for (const node of seen) expect(node.id).toBe(byNumber.get(node.accountNumber));
});

it("reports hasNextPage exactly at the boundary", async () => {
  const first = dataOf(await t.gql(AccountsPageDocument, { first: 24 })).accounts;
  expect(first.edges).toHaveLength(24);
  expect(first.pageInfo.hasNextPage).toBe(true);
  const rest = dataOf(await t.gql(AccountsPageDocument, { first: 10, after: first.pageInfo.endCursor })).accounts;
  expect(rest.edges.map((e) => e.node.accountNumber)).toEqual(["P-024"]);
  expect(rest.pageInfo.hasNextPage).toBe(false);
  expect(rest.pageInfo.hasPreviousPage).toBe(true);

  const all = dataOf(await t.gql(AccountsPageDocument, { first: TOTAL })).accounts;
  expect(all.edges).toHaveLength(TOTAL);
  expect(all.pageInfo.hasNextPage).toBe(false);
  expect(all.pageInfo.hasPreviousPage).toBe(false);

  // After the last cursor: an empty page, not an error.
  const beyond = dataOf(await t.gql(AccountsPageDocument, { first: 10, after: all.pageInfo.endCursor })).accounts;
  expect(beyond.edges).toEqual([]);
  expect(beyond.pageInfo.hasNextPage).toBe(false);
  expect(beyond.totalCount).toBe(TOTAL);
});

it("a cursor points at a position in the order, so a page after it starts with the next account", async () => {
  const firstPage = dataOf(await t.gql(AccountsPageDocument, { first: 10 })).accounts;
  const fifth = firstPage.edges[4]!;
  const next = dataOf(await t.gql(AccountsPageDocument, { first: 3, after: fifth.cursor })).accounts;
  expect(next.edges.map((e) => e.node.accountNumber)).toEqual(["P-005", "P-006", "P-007"]);
});

it("first: 0 returns no edges, null cursors, the full totalCount and hasNextPage true", async () => {
  const zero = dataOf(await t.gql(AccountsPageDocument, { first: 0 })).accounts;
  expect(zero).toEqual({
    totalCount: TOTAL,
    pageInfo: { hasNextPage: true, hasPreviousPage: false, startCursor: null, endCursor: null },
    edges: [],
  });
});

it("refuses a negative first and a malformed cursor with a top-level error", async () => {
  const negative = await t.gql(AccountsPageDocument, { first: -1 });
  expect(negative.data ?? null).toBeNull();
  expect(negative.errors?.[0]?.message).toMatch(/first/);

  const garbage = await t.gql(AccountsPageDocument, { first: 5, after: "not-a-cursor" });
  expect(garbage.data ?? null).toBeNull();
  expect(garbage.errors?.[0]?.message).toMatch(/cursor/i);
});

it("without first returns the default page of 20", async () => {
  const page = dataOf(await t.gql(AccountsPageDocument, {})).accounts;
  expect(page.edges.map((e) => e.node.accountNumber)).toEqual(
    created
      .map((c) => c.accountNumber)
      .sort()
      .slice(0, 20),
  );
  expect(page.pageInfo.hasNextPage).toBe(true);
  expect(page.totalCount).toBe(TOTAL);
});
