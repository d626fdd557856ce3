import { getNamedType } from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { registerWorkers } from "../../src/billruns/executor.ts";
import { createSchedule } from "../../src/schedules/service.ts";
import { createEndpoint, sendTest } from "../../src/webhooks/endpoints.ts";
import { startImportRunner, type ImportRunner } from "../../src/imports/runner.ts";
import { schema } from "../../src/graphql/schema.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { cancelRun, createRun, dataOf, deleteRun, type Json } from "../billruns/helpers.ts";
import { reachableFields, type FieldSite } from "./schema-walk.ts";
import { csv, importAndWait } from "../imports/helpers.ts";

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
const b64url = (text: string) => Buffer.from(text, "utf8").toString("base64url");

/** Cursors that no list made: garbage, another library's format, our format with wrong contents. */
const MALFORMED = [
  "!!!notbase64",
  b64("GPC:S:not-a-uuid"),
  b64("GPC:N:12"),
  "",
  "a",
  b64url("[]"),
  b64url('["accounts",null]'),
  b64url('["accounts",null,"A-1","extra"]'),
  b64url('["accounts",null,{"gt":"A"}]'),
  b64url('["failedAccounts",null,"1"]'),
  b64url('["billRunSchedules",null,"2026-01-01T00:00:00.000Z","not-a-uuid"]'),
  b64url('["billRuns",null,"BR-1"]').replace(/=*$/, "") + "==",
  "x".repeat(5000),
];

/** Finds the value under `key` anywhere in a result. */
function find(value: unknown, key: string): Json | undefined {
  if (value === null || typeof value !== "object") return undefined;
  if (key in (value as object)) return (value as Record<string, unknown>)[key];
  for (const inner of Object.values(value as object)) {
    const found = find(inner, key);
    if (found !== undefined) return found;
  }
  return undefined;
}

const siteName = (site: FieldSite) => `${site.parentType.name}.${site.field.name}`;

describe("every connection checks its cursors", () => {
  let t: TestApp;
  let runner: ImportRunner | undefined;
  let sites: FieldSite[];
  beforeAll(async () => {
    // The webhook endpoint's URL is on this machine; no deliverer runs here, so nothing is sent.
    t = await createTestApp({ BILLRUN_CHUNK_SIZE: "10", BILLRUN_WEBHOOK_ALLOW_PRIVATE: "true" });
    await registerWorkers(t.app, 1);
    // Something in every list: an invoice, a credit memo, a failed account, a schedule, tokens,
    // a webhook endpoint and its deliveries (the runs' events and a test event), an import job
    // and its rejected rows.
    const admin = await t.app.db.user.findFirstOrThrow({ where: { role: "ADMIN" } });
    const endpoint = await createEndpoint(
      t.app,
      { url: "https://127.0.0.1/billrun-events", eventTypes: ["bill_run.status_changed", "invoice.posted"], description: "ERP" },
      admin.id,
    );
    const billed = await seedAccount(t, {
      charges: [
        { type: "ONE_TIME", price: "10" },
        { type: "ONE_TIME", price: "20" },
      ],
    });
    const credited = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "-5" }] });
    const failing = await seedAccount(t, { billToEmail: "", charges: [{ type: "ONE_TIME", price: "7" }] });
    const run = await createRun(t, { targetDate: "2026-02-01", accountIds: [billed.account.id, credited.account.id, failing.account.id] });
    await waitForStatus(t, run.id, ["COMPLETED"]);
    // The billed account's own lists across runs: a credit memo in a second run, a failure in a third.
    const { createSubscription, updateAccount } = await import("../../src/accounts/service.ts");
    await createSubscription(t.app.db, { accountId: billed.account.id, startDate: "2026-02-15", charges: [{ name: "Refund", type: "ONE_TIME", price: "-3" }] });
    const second = await createRun(t, { targetDate: "2026-03-01", accountIds: [billed.account.id] });
    await waitForStatus(t, second.id, ["COMPLETED"]);
    await updateAccount(t.app.db, { id: billed.account.id, billToEmail: "" });
    await createSubscription(t.app.db, { accountId: billed.account.id, startDate: "2026-03-15", charges: [{ name: "Extra", type: "ONE_TIME", price: "4" }] });
    const third = await createRun(t, { targetDate: "2026-04-01", accountIds: [billed.account.id] });
    await waitForStatus(t, third.id, ["COMPLETED"]);
    await sendTest(t.app, endpoint.id, admin.id);
    const scheduleId = await createSchedule(t.app, { repeatType: "DAILY", runTime: "23:59", timeZone: "UTC" }, admin.id);
    runner = startImportRunner(t.app, { pollMs: 100 });
    // Two rows refused (no name, an unknown currency), one imported.
    const importJob = await importAndWait(
      t,
      "ACCOUNTS",
      "CSV",
      csv(
        "accountNumber,name,currency,billCycleDay,batch,billToEmail,paymentTermDays,status",
        "CURSOR-IMP-1,Imported,USD,1,,,,",
        "CURSOR-IMP-2,,USD,1,,,,",
        "CURSOR-IMP-3,Refused,XXX,1,,,,",
      ),
    );
    expect(importJob).toMatchObject({ status: "COMPLETED", rowsImported: 1, rowsRejected: 2 });
    // Reach nested lists through rows that exist.
    sites = reachableFields(schema, {
      "Query.account.id": `"${billed.account.id}"`,
      "Query.subscription.id": `"${billed.subscription.id}"`,
      "Query.billRun.id": `"${run.id}"`,
      "Query.failedAccounts.billRunId": `"${run.id}"`,
      "Query.billRunSchedule.id": `"${scheduleId}"`,
      "Query.billingPreview.accountId": `"${billed.account.id}"`,
      "Query.webhookEndpoint.id": `"${endpoint.id}"`,
      "Query.importJob.id": `"${importJob.id}"`,
    }).filter((site) => site.operation === "query" && getNamedType(site.field.type).name.endsWith("Connection"));
  });
  afterAll(async () => {
    await runner?.stop();
    await t?.close();
  });

  const query = (site: FieldSite, extra: Record<string, string>) =>
    t.gql<Json, unknown>(site.wrap(`target: ${site.field.name}${site.argsText(extra)} { totalCount edges { cursor } pageInfo { endCursor } }`));

  it("finds every connection of the schema, each with rows to page", async () => {
    expect(sites.map(siteName).sort()).toEqual(
      expect.arrayContaining([
        "Account.subscriptions",
        "Account.invoices",
        "Account.creditMemos",
        "Account.billRunFailures",
        "BillRun.creditMemos",
        "BillRun.failedAccounts",
        "BillRun.invoices",
        "BillRunSchedule.runs",
        "ImportJob.errors",
        "Query.accounts",
        "Query.apiTokens",
        "Query.billRunSchedules",
        "Query.billRuns",
        "Query.failedAccounts",
        "Query.importJobs",
        "Query.webhookEndpoints",
        "WebhookEndpoint.deliveries",
      ]),
    );
    for (const site of sites) {
      const result = await query(site, { first: "1" });
      expect(result.errors, siteName(site)).toBeUndefined();
      expect(find(result.data, "target"), `${siteName(site)} was not reached`).toBeTruthy();
    }
  });

  it("refuses malformed cursors in after and before with VALIDATION naming the argument", async () => {
    for (const site of sites) {
      for (const argument of ["after", "before"] as const) {
        for (const cursor of MALFORMED) {
          const result = await query(site, { [argument === "after" ? "first" : "last"]: "2", [argument]: JSON.stringify(cursor) });
          const where = `${siteName(site)}(${argument}: ${cursor.slice(0, 40)})`;
          expect(result.errors, where).toHaveLength(1);
          expect(result.errors![0]!.extensions, where).toMatchObject({ code: "VALIDATION", field: [argument] });
          expect(result.errors![0]!.message, where).toMatch(new RegExp(`^${argument}: `));
        }
      }
    }
  });

  it("refuses a cursor of any other list, and of the same list under another parent", async () => {
    const cursors = new Map<string, string>();
    for (const site of sites) {
      const cursor = find((await query(site, { first: "1" })).data, "target")?.pageInfo?.endCursor;
      if (cursor) cursors.set(siteName(site), cursor);
    }
    expect(cursors.size).toBeGreaterThanOrEqual(sites.length - 1);
    for (const site of sites) {
      for (const [from, cursor] of cursors) {
        const result = await query(site, { first: "1", after: JSON.stringify(cursor) });
        // The run's failed accounts are one list, whether reached from the run or from the root.
        const sameList = from === siteName(site) || (from.endsWith(".failedAccounts") && siteName(site).endsWith(".failedAccounts"));
        if (sameList) {
          expect(result.errors, `${from} on ${siteName(site)}`).toBeUndefined();
        } else {
          expect(result.errors?.[0]?.extensions, `${from} on ${siteName(site)}`).toMatchObject({ code: "VALIDATION", field: ["after"] });
          expect(result.errors![0]!.message).toContain("another list");
        }
      }
    }
    // An account's subscriptions: a cursor of one account's list is not a position in another's.
    const [a, b] = await Promise.all([
      seedAccount(t, { charges: [{ type: "ONE_TIME", price: "1" }] }),
      seedAccount(t, { charges: [{ type: "ONE_TIME", price: "1" }] }),
    ]);
    const page = (accountId: string, after: string | null) =>
      t.gql<Json, unknown>(`query($id: ID!, $after: String) { account(id: $id) { subscriptions(first: 1, after: $after) { edges { cursor } } } }`, {
        id: accountId,
        after,
      });
    const cursor = dataOf(await page(a.account.id, null)).account.subscriptions.edges[0].cursor;
    expect((await page(a.account.id, cursor)).errors).toBeUndefined();
    const foreign = await page(b.account.id, cursor);
    expect(foreign.errors?.[0]).toMatchObject({ path: ["account", "subscriptions"], extensions: { code: "VALIDATION", field: ["after"] } });
  });

  it("refuses first and last together (VALIDATION on last)", async () => {
    for (const site of sites) {
      const result = await query(site, { first: "2", last: "1" });
      expect(result.errors?.[0]?.extensions, siteName(site)).toMatchObject({ code: "VALIDATION", field: ["last"] });
    }
  });

  it("pages backwards with last/before, and between two cursors with after and before", async () => {
    for (let i = 0; i < 3; i++) await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "1" }] });
    const all = dataOf(await t.gql<Json, unknown>(`{ accounts(first: 100) { edges { cursor node { accountNumber } } } }`)).accounts.edges;
    expect(all.length).toBeGreaterThanOrEqual(5);
    const numbers = all.map((e: Json) => e.node.accountNumber);
    const last2 = dataOf(
      await t.gql<Json, unknown>(
        `query($b: String) { accounts(last: 2, before: $b) { edges { node { accountNumber } } pageInfo { hasPreviousPage hasNextPage } } }`,
        { b: all[4].cursor },
      ),
    ).accounts;
    expect(last2.edges.map((e: Json) => e.node.accountNumber)).toEqual(numbers.slice(2, 4));
    expect(last2.pageInfo).toEqual({ hasPreviousPage: true, hasNextPage: true });
    const between = dataOf(
      await t.gql<Json, unknown>(`query($a: String, $b: String) { accounts(after: $a, before: $b) { edges { node { accountNumber } } } }`, {
        a: all[0].cursor,
        b: all[4].cursor,
      }),
    ).accounts;
    expect(between.edges.map((e: Json) => e.node.accountNumber)).toEqual(numbers.slice(1, 4));
  });
});

describe("an endpoint's deliveries page by their position, with the status filter", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ BILLRUN_WEBHOOK_ALLOW_PRIVATE: "true" });
  });
  afterAll(() => t.close());

  it("walks forwards and backwards one at a time, newest first, and filters by status", async () => {
    const admin = await t.app.db.user.findFirstOrThrow({ where: { role: "ADMIN" } });
    const endpoint = await createEndpoint(t.app, { url: "https://127.0.0.1/events", eventTypes: ["invoice.posted"], description: "" }, admin.id);
    // No deliverer runs here: every delivery stays PENDING.
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push(String(await sendTest(t.app, endpoint.id, admin.id)));
    const page = (args: string, vars: Record<string, unknown> = {}) =>
      t.gql<Json, unknown>(
        `query($id: ID!, $after: String, $before: String) { webhookEndpoint(id: $id) { deliveries(${args}, after: $after, before: $before) {
           totalCount edges { cursor node { id status } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }`,
        { id: endpoint.id, ...vars },
      );
    const forwards: string[] = [];
    let after: string | null = null;
    for (;;) {
      const d: Json = dataOf(await page("first: 1", { after })).webhookEndpoint.deliveries;
      expect(d.totalCount).toBe(4);
      forwards.push(...d.edges.map((e: Json) => e.node.id));
      if (!d.pageInfo.hasNextPage) break;
      after = d.pageInfo.endCursor;
    }
    expect(forwards).toEqual([...ids].reverse());
    const backwards: string[] = [];
    let before: string | null = null;
    for (;;) {
      const d: Json = dataOf(await page("last: 1", { before })).webhookEndpoint.deliveries;
      backwards.unshift(...d.edges.map((e: Json) => e.node.id));
      if (!d.pageInfo.hasPreviousPage) break;
      before = d.pageInfo.startCursor;
    }
    expect(backwards).toEqual(forwards);
    const pending = dataOf(await page("first: 10, status: PENDING")).webhookEndpoint.deliveries;
    expect(pending.totalCount).toBe(4);
    expect(pending.edges.map((e: Json) => e.node.id)).toEqual(forwards);
    const failed = dataOf(await page("first: 10, status: FAILED")).webhookEndpoint.deliveries;
    expect(failed).toMatchObject({ totalCount: 0, edges: [] });
  });
});

describe("a cursor is a position, not a row", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it("deleting the last run seen does not end the paging: the next page starts after its place", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const run = await createRun(t, { targetDate: "2026-02-01", batches: [50] });
      ids.push(run.id);
    }
    const page = (after: string | null) =>
      t.gql<Json, unknown>(`query($after: String) { billRuns(first: 3, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`, {
        after,
      });
    const first = dataOf(await page(null)).billRuns;
    expect(first.edges).toHaveLength(3);
    const lastSeen = first.edges[2].node.id;
    expect((await cancelRun(t, lastSeen)).status).toBe("CANCELED");
    expect((await deleteRun(t, lastSeen)).__typename).toBe("DeleteBillRunPayload");

    const seen = first.edges.map((e: Json) => e.node.id);
    let after = first.pageInfo.endCursor;
    for (;;) {
      const next = dataOf(await page(after)).billRuns;
      seen.push(...next.edges.map((e: Json) => e.node.id));
      if (!next.pageInfo.hasNextPage) break;
      after = next.pageInfo.endCursor;
    }
    // Every run (newest first), the deleted one only where it was seen before its deletion.
    expect(seen).toEqual([...ids].reverse());
  });

  it("deleting the account a cursor came from does not either", async () => {
    for (let i = 0; i < 5; i++) await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "1" }] });
    const all = dataOf(await t.gql<Json, unknown>(`{ accounts(first: 100) { edges { cursor node { id accountNumber } } } }`)).accounts.edges;
    const victim = all[1];
    await t.app.db.charge.deleteMany({ where: { subscription: { accountId: victim.node.id } } });
    await t.app.db.subscription.deleteMany({ where: { accountId: victim.node.id } });
    await t.app.db.account.delete({ where: { id: victim.node.id } });
    const rest = dataOf(
      await t.gql<Json, unknown>(`query($a: String) { accounts(first: 100, after: $a) { edges { node { accountNumber } } } }`, { a: victim.cursor }),
    ).accounts;
    expect(rest.edges.map((e: Json) => e.node.accountNumber)).toEqual(all.slice(2).map((e: Json) => e.node.accountNumber));
  });
});
