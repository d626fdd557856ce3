// What a reviewing operator asks of the API: the actions a run allows (from the transition
// table), runs for accounts named by number, account search, a run's invoices filtered and sorted,
// and an account's documents and failures across runs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { registerWorkers } from "../../src/billruns/executor.ts";
import { availableActions, type BillRunAction } from "../../src/billruns/transitions.ts";
import { createBillRun } from "../../src/billruns/service.ts";
import { createSchedule } from "../../src/schedules/service.ts";
import { seedBulkAccounts } from "../support/seed.ts";
import type { BillRunStatus } from "../../src/generated/prisma/enums.ts";

type Json = any;

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await registerWorkers(t.app, 1);
});
afterAll(() => t?.close());

const gql = async (query: string, variables: Record<string, unknown> = {}, token = t.tokens.operator): Promise<Json> => {
  const result = await t.gql<Json, unknown>(query, variables, token);
  expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
  return result.data;
};

describe("BillRun.availableActions", () => {
  const cases: [BillRunStatus, { scheduled: BillRunAction[]; adHoc: BillRunAction[]; withFailures?: BillRunAction[] }][] = [
    ["PENDING", { scheduled: ["PAUSE", "CANCEL"], adHoc: ["CANCEL"] }],
    ["PAUSED", { scheduled: ["RESUME", "CANCEL"], adHoc: ["CANCEL"] }],
    ["PROCESSING", { scheduled: [], adHoc: [] }],
    ["COMPLETED", { scheduled: ["POST", "CANCEL"], adHoc: ["POST", "CANCEL"], withFailures: ["POST", "RETRY", "CANCEL"] }],
    ["ERROR", { scheduled: ["DELETE"], adHoc: ["DELETE"] }],
    ["POST_IN_PROGRESS", { scheduled: [], adHoc: [], withFailures: ["RETRY"] }],
    ["POSTED", { scheduled: [], adHoc: [], withFailures: ["RETRY"] }],
    ["CANCEL_IN_PROGRESS", { scheduled: [], adHoc: [] }],
    ["CANCELED", { scheduled: ["DELETE"], adHoc: ["DELETE"] }],
    ["REMOVE_IN_PROGRESS", { scheduled: [], adHoc: [] }],
    ["REMOVED", { scheduled: [], adHoc: [] }],
  ];
  it.each(cases)("%s", (status, expected) => {
    expect(availableActions({ status, scheduleId: "s", failedAccountCount: 0 })).toEqual(expected.scheduled);
    expect(availableActions({ status, scheduleId: null, failedAccountCount: 0 })).toEqual(expected.adHoc);
    expect(availableActions({ status, scheduleId: null, failedAccountCount: 2 })).toEqual(expected.withFailures ?? expected.adHoc);
  });

  it("is served on real runs and follows them through their moves", async () => {
    const good = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "5.00" }] });
    const bad = await seedAccount(t, { billToEmail: "", charges: [{ type: "ONE_TIME", price: "5.00" }] });
    const id = await createBillRun(t.app, { targetDate: "2026-01-10", accountIds: [good.account.id, bad.account.id] }, { createdById: null });
    await waitForStatus(t, id, ["COMPLETED"]);
    const read = async () => (await gql(`query($id: ID!) { billRun(id: $id) { status availableActions } }`, { id })).billRun;
    expect(await read()).toEqual({ status: "COMPLETED", availableActions: ["POST", "RETRY", "CANCEL"] });
    await gql(`mutation($id: ID!) { postBillRun(id: $id) { __typename } }`, { id });
    await waitForStatus(t, id, ["POSTED"]);
    expect(await read()).toEqual({ status: "POSTED", availableActions: ["RETRY"] });

    // A scheduled run the workers have not started yet (its schedule's owner is the operator).
    const owner = (await t.app.db.user.findUniqueOrThrow({ where: { email: "operator@example.com" } })).id;
    const scheduleId = await createSchedule(t.app, { repeatType: "DAILY", runTime: "09:00", timeZone: "UTC", repeatFrom: "2040-01-01" }, owner);
    await t.app.pool.query("INSERT INTO bill_runs (id, target_date, invoice_date, schedule_id) VALUES (gen_random_uuid(), '2026-01-10', '2026-01-10', $1)", [
      scheduleId,
    ]);
    const scheduled = await t.app.pool.query<{ id: string }>("SELECT id FROM bill_runs WHERE schedule_id = $1", [scheduleId]);
    const run = (await gql(`query($id: ID!) { billRun(id: $id) { status availableActions } }`, { id: scheduled.rows[0]!.id })).billRun;
    expect(run).toEqual({ status: "PENDING", availableActions: ["PAUSE", "CANCEL"] });
  });
});

describe("createBillRun with accountNumbers", () => {
  const create = (input: Record<string, unknown>) =>
    gql(
      `mutation($input: CreateBillRunInput!) { createBillRun(input: $input) {
        __typename ... on BillRun { id accountIds } ... on Error { code message } ... on ValidationError { field } } }`,
      { input },
    );

  it("targets the accounts it names, with accountIds too, once each", async () => {
    const a = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "1.00" }] });
    const b = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "1.00" }] });
    const { createBillRun: run } = await create({
      targetDate: "2026-01-05",
      accountNumbers: [a.account.accountNumber, ` ${b.account.accountNumber} `, a.account.accountNumber],
      accountIds: [a.account.id],
    });
    expect(run.__typename).toBe("BillRun");
    expect([...run.accountIds].sort()).toEqual([a.account.id, b.account.id].sort());
    await waitForStatus(t, run.id, ["COMPLETED"]);
  });

  it("names an unknown number in words, on the field accountNumbers, and creates nothing", async () => {
    const a = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "1.00" }] });
    const before = await t.app.db.billRun.count();
    const { createBillRun: one } = await create({ targetDate: "2026-01-05", accountNumbers: [a.account.accountNumber, "A-123"] });
    expect(one).toEqual({
      __typename: "ValidationError",
      code: "VALIDATION",
      message: "account number A-123 does not exist",
      field: ["input", "accountNumbers"],
    });
    const { createBillRun: many } = await create({ targetDate: "2026-01-05", accountNumbers: ["X-1", "X-2"] });
    expect(many.message).toBe("account numbers X-1, X-2 do not exist");
    const { createBillRun: mixed } = await create({ targetDate: "2026-01-05", accountNumbers: [a.account.accountNumber], batches: [1] });
    expect(mixed).toMatchObject({ __typename: "ValidationError", field: ["input", "accountNumbers"] });
    const { createBillRun: empty } = await create({ targetDate: "2026-01-05", accountNumbers: [] });
    expect(empty).toMatchObject({ __typename: "ValidationError", field: ["input", "accountNumbers"] });
    expect(await t.app.db.billRun.count()).toBe(before);
  });

  it("is accepted by schedules, which keep the accounts", async () => {
    const a = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "1.00" }] });
    const { createBillRunSchedule: schedule } = await gql(
      `mutation { createBillRunSchedule(input: { repeatType: DAILY, runTime: "03:00", timeZone: "UTC", repeatFrom: "2041-01-01", accountNumbers: ["${a.account.accountNumber}"] }) {
        __typename ... on BillRunSchedule { accountIds } ... on Error { message } } }`,
    );
    expect(schedule).toEqual({ __typename: "BillRunSchedule", accountIds: [a.account.id] });
    const { createBillRunSchedule: refused } = await gql(
      `mutation { createBillRunSchedule(input: { repeatType: DAILY, runTime: "03:00", timeZone: "UTC", accountNumbers: ["NOPE-1"] }) {
        __typename ... on Error { message } ... on ValidationError { field } } }`,
    );
    expect(refused).toEqual({ __typename: "ValidationError", message: "account number NOPE-1 does not exist", field: ["input", "accountNumbers"] });
  });
});

describe("accounts(search:)", () => {
  beforeAll(async () => {
    await seedBulkAccounts(t.app.pool, 10_000, { prefix: "SRCH" });
    await t.app.pool.query(`UPDATE accounts SET name = 'Zyxwv Holdings', bill_to_email = 'ap@zyxwv.example' WHERE account_number = 'SRCH-00004242'`);
    await t.app.pool.query("ANALYZE accounts");
  });

  const search = async (term: string, first = 5) =>
    (
      await gql(`query($s: String, $first: Int) { accounts(search: $s, first: $first) { totalCount edges { node { accountNumber name billToEmail } } } }`, {
        s: term,
        first,
      })
    ).accounts;

  it("matches any part of the name, number or email, in any case", async () => {
    expect(await search("xWv hOld")).toEqual({
      totalCount: 1,
      edges: [{ node: { accountNumber: "SRCH-00004242", name: "Zyxwv Holdings", billToEmail: "ap@zyxwv.example" } }],
    });
    expect((await search("srch-0000424")).totalCount).toBe(10);
    expect((await search("srch-0000424")).edges[0].node.accountNumber).toBe("SRCH-00004240");
    expect((await search("AP@ZYX")).edges.map((e: Json) => e.node.accountNumber)).toEqual(["SRCH-00004242"]);
    expect((await search("customer 9999")).edges.map((e: Json) => e.node.name)).toEqual(["Bulk customer 9999"]);
    // LIKE's wildcards are plain characters here.
    expect((await search("%")).totalCount).toBe(0);
    expect((await search("_")).totalCount).toBe(0);
    // Blank: every account.
    expect((await search("  ")).totalCount).toBe(await t.app.db.account.count());
  });

  it("pages by account number within the matches", async () => {
    const first = (await gql(`{ accounts(search: "customer 12", first: 3) { edges { node { accountNumber } } pageInfo { endCursor } } }`)).accounts;
    const next = (
      await gql(`query($after: String) { accounts(search: "customer 12", first: 3, after: $after) { edges { node { accountNumber } } } }`, {
        after: first.pageInfo.endCursor,
      })
    ).accounts;
    expect([...first.edges, ...next.edges].map((e: Json) => e.node.accountNumber)).toEqual([
      "SRCH-00000012",
      "SRCH-00000120",
      "SRCH-00000121",
      "SRCH-00000122",
      "SRCH-00000123",
      "SRCH-00000124",
    ]);
  });

  it("is answered from the trigram indexes", async () => {
    // 10,000 rows are few enough for a sequential scan to be cheaper: forbid it to see that the indexes serve the filter.
    const client = await t.app.pool.connect();
    let plan;
    try {
      await client.query("BEGIN");
      await client.query("SET LOCAL enable_seqscan = off");
      plan = await client.query<{ "QUERY PLAN": string }>(
        `EXPLAIN SELECT id FROM accounts WHERE account_number ILIKE '%zyxwv%' OR name ILIKE '%zyxwv%' OR bill_to_email ILIKE '%zyxwv%'`,
      );
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }
    const text = plan.rows.map((r) => r["QUERY PLAN"]).join("\n");
    expect(text).toContain("accounts_name_trgm_idx");
    expect(text).toContain("accounts_bill_to_email_trgm_idx");
  });

  it("refuses a search past 200 characters, naming the argument", async () => {
    const result = await t.gql<Json, unknown>(`query($s: String) { accounts(search: $s) { totalCount } }`, { s: "x".repeat(201) }, t.tokens.viewer);
    expect(result.errors?.[0]?.message).toContain("search: at most 200 characters");
  });
});

describe("a run's invoices and an account's history", () => {
  it("filters a run's invoices by account and amount, sorts and pages by amount; the account lists its documents and failures", async () => {
    const accounts = [];
    for (const price of ["30.00", "10.00", "20.00", "40.00"]) accounts.push(await seedAccount(t, { charges: [{ type: "ONE_TIME", price }] }));
    const bad = await seedAccount(t, { billToEmail: "", charges: [{ type: "ONE_TIME", price: "1.00" }] });
    const id = await createBillRun(
      t.app,
      { targetDate: "2026-01-05", accountIds: [...accounts.map((a) => a.account.id), bad.account.id] },
      { createdById: null },
    );
    await waitForStatus(t, id, ["COMPLETED"]);
    const invoices = async (args: string, variables: Record<string, unknown> = {}) =>
      (
        await gql(
          `query($id: ID!${args.includes("$after") ? ", $after: String" : ""}${args.includes("$accountId") ? ", $accountId: ID" : ""}) { billRun(id: $id) { invoices(${args}) { totalCount pageInfo { endCursor hasNextPage } edges { node { amount account { accountNumber } } } } } }`,
          { id, ...variables },
        )
      ).billRun.invoices;
    const amounts = (c: Json) => c.edges.map((e: Json) => e.node.amount);

    expect(amounts(await invoices("orderBy: AMOUNT_DESC"))).toEqual(["40.00", "30.00", "20.00", "10.00"]);
    expect(amounts(await invoices(`minAmount: "15", maxAmount: "30.00", orderBy: AMOUNT_ASC`))).toEqual(["20.00", "30.00"]);
    expect((await invoices(`minAmount: "15", maxAmount: "30.00"`)).totalCount).toBe(2);
    const page1 = await invoices("orderBy: AMOUNT_ASC, first: 3");
    expect(amounts(page1)).toEqual(["10.00", "20.00", "30.00"]);
    const page2 = await invoices("orderBy: AMOUNT_ASC, first: 3, after: $after", { after: page1.pageInfo.endCursor });
    expect(amounts(page2)).toEqual(["40.00"]);
    // A cursor of one order is refused by another.
    const mixed = await t.gql<Json, unknown>(`query($id: ID!, $after: String) { billRun(id: $id) { invoices(after: $after) { totalCount } } }`, {
      id,
      after: page1.pageInfo.endCursor,
    });
    expect(mixed.errors?.[0]?.message).toContain("a cursor of another list");
    const mine = await invoices("accountId: $accountId", { accountId: accounts[2]!.account.id });
    expect(mine.edges).toEqual([{ node: { amount: "20.00", account: { accountNumber: accounts[2]!.account.accountNumber } } }]);

    const account = (
      await gql(
        `query($id: ID!) { account(id: $id) {
          invoices(first: 10) { totalCount edges { node { amount billRun { id } } } }
          creditMemos(first: 10) { totalCount }
          billRunFailures(first: 10) { totalCount edges { node { code message } } }
          subscriptions(first: 5) { edges { node { charges { chargedThroughDate } } } } } }`,
        { id: bad.account.id },
      )
    ).account;
    expect(account.invoices.totalCount).toBe(0);
    expect(account.billRunFailures.edges).toEqual([{ node: { code: "MISSING_BILL_TO_CONTACT", message: expect.any(String) } }]);
    const good = (
      await gql(`query($id: ID!) { account(id: $id) { invoices(first: 10) { edges { node { amount billRun { id } } } } } }`, { id: accounts[0]!.account.id })
    ).account;
    expect(good.invoices.edges).toEqual([{ node: { amount: "30.00", billRun: { id } } }]);
  });

  it("filters runs by target date range", async () => {
    const runs = async (from: string | null, to: string | null) =>
      (
        await gql(`query($from: Date, $to: Date) { billRuns(first: 100, targetDateFrom: $from, targetDateTo: $to) { edges { node { targetDate } } } }`, {
          from,
          to,
        })
      ).billRuns.edges.map((e: Json) => e.node.targetDate);
    const all: string[] = await runs(null, null);
    expect(all.length).toBeGreaterThan(1);
    const only = await runs("2026-01-10", "2026-01-10");
    expect(only.length).toBeGreaterThan(0);
    expect(only.every((d: string) => d === "2026-01-10")).toBe(true);
    expect((await runs("2026-01-06", null)).every((d: string) => d >= "2026-01-06")).toBe(true);
  });
});
