import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount } from "../support/billing.ts";
import {
  BillRunScheduleRunsDocument,
  BillRunSchedulesDocument,
  CancelBillRunScheduleDocument,
  CreateBillRunScheduleDocument,
  PauseBillRunScheduleDocument,
  ResumeBillRunScheduleDocument,
  type CreateBillRunScheduleInput,
} from "../../src/generated/graphql/graphql.ts";
import { runDueSchedules } from "../../src/schedules/scheduler.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t?.close());

const base: CreateBillRunScheduleInput = { repeatType: "DAILY", runTime: "09:00", timeZone: "Europe/London", repeatFrom: "2030-01-01" };

async function create(input: CreateBillRunScheduleInput, token: string | null = t.tokens.operator) {
  const result = await t.gql(CreateBillRunScheduleDocument, { input }, token);
  expect(result.errors).toBeUndefined();
  return result.data!.createBillRunSchedule;
}

type Created = Extract<Awaited<ReturnType<typeof create>>, { __typename: "BillRunSchedule" }>;

async function createOk(input: CreateBillRunScheduleInput): Promise<Created> {
  const created = await create(input);
  expect(created.__typename).toBe("BillRunSchedule");
  return created as Created;
}

describe("schedules through GraphQL", () => {
  it("creates a schedule owned by the caller, with its next run in its time zone", async () => {
    const account = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "1.00" }] });
    const created = await createOk({
      repeatType: "MONTHLY",
      dayOfMonth: 31,
      runTime: "07:15",
      timeZone: "America/New_York",
      repeatFrom: "2030-04-01",
      repeatTo: "2030-12-31",
      targetDateOffsetDays: -1,
      invoiceDateOffsetDays: 0,
      accountIds: [account.account.id],
      chargeTypesToExclude: ["USAGE"],
      autoPost: true,
      autoEmail: true,
    });
    expect(created).toMatchObject({
      status: "ACTIVE",
      owner: { email: "operator@example.com" },
      repeatType: "MONTHLY",
      weeklyOnDay: null,
      dayOfMonth: 31,
      monthlyOnEndOfMonth: false,
      runTime: "07:15",
      timeZone: "America/New_York",
      repeatFrom: "2030-04-01",
      repeatTo: "2030-12-31",
      targetDateOffsetDays: -1,
      invoiceDateOffsetDays: 0,
      batches: [],
      billCycleDay: null,
      accountIds: [account.account.id],
      subscriptionIds: [],
      chargeTypesToExclude: ["USAGE"],
      autoPost: true,
      autoEmail: true,
      noEmailForZeroAmountInvoice: false,
      // April has 30 days: the 30th, 07:15 EDT.
      nextRunAt: "2030-04-30T11:15:00.000Z",
      lastRunAt: null,
    });
  });

  it("names the offending field of invalid input", async () => {
    const cases: [Partial<CreateBillRunScheduleInput>, string][] = [
      [{ timeZone: "Mars/Olympus_Mons" }, "timeZone"],
      [{ timeZone: "+02:00" }, "timeZone"],
      [{ runTime: "24:00" }, "runTime"],
      [{ runTime: "9:00" }, "runTime"],
      [{ repeatType: "WEEKLY" }, "weeklyOnDay"],
      [{ weeklyOnDay: "MONDAY" }, "weeklyOnDay"],
      [{ repeatType: "MONTHLY" }, "dayOfMonth"],
      [{ repeatType: "MONTHLY", dayOfMonth: 32 }, "dayOfMonth"],
      [{ repeatType: "MONTHLY", dayOfMonth: 5, monthlyOnEndOfMonth: true }, "monthlyOnEndOfMonth"],
      [{ dayOfMonth: 5 }, "dayOfMonth"],
      [{ repeatTo: "2029-12-31" }, "repeatTo"],
      [{ repeatFrom: undefined, repeatTo: "2020-01-01" }, "repeatTo"],
      [{ targetDateOffsetDays: 400 }, "targetDateOffsetDays"],
      [{ batches: [51] }, "batches"],
      [{ billCycleDay: 0 }, "billCycleDay"],
      [{ chargeTypesToExclude: ["USAGE", "RECURRING", "ONE_TIME"] }, "chargeTypesToExclude"],
      [{ batches: [1], accountIds: ["00000000-0000-4000-8000-000000000001"] }, "accountIds"],
      [{ accountIds: ["00000000-0000-4000-8000-000000000001"] }, "accountIds"],
      [{ subscriptionIds: [] }, "subscriptionIds"],
    ];
    const before = (await t.gql(BillRunSchedulesDocument, {})).data!.billRunSchedules.totalCount;
    for (const [change, field] of cases) {
      const result = await create({ ...base, ...change });
      expect(result, JSON.stringify(change)).toMatchObject({ __typename: "ValidationError", code: "VALIDATION" });
      expect((result as { field: string[] }).field.slice(0, 2), JSON.stringify(change)).toEqual(["input", field]);
    }
    expect((await t.gql(BillRunSchedulesDocument, {})).data!.billRunSchedules.totalCount).toBe(before);
  });

  it("needs an operator to change schedules, a viewer to read them", async () => {
    const denied = await t.gql(CreateBillRunScheduleDocument, { input: base }, t.tokens.viewer);
    expect(denied.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    const anonymous = await t.gql(BillRunSchedulesDocument, {}, null);
    expect(anonymous.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    const read = await t.gql(BillRunSchedulesDocument, {}, t.tokens.viewer);
    expect(read.errors).toBeUndefined();
  });

  it("pauses, resumes and cancels, refusing what the state does not allow", async () => {
    const s = await createOk(base);
    expect(s.nextRunAt).toBe("2030-01-01T09:00:00.000Z");

    const paused = (await t.gql(PauseBillRunScheduleDocument, { id: s.id })).data!.pauseBillRunSchedule;
    expect(paused).toMatchObject({ __typename: "BillRunSchedule", status: "PAUSED", nextRunAt: null });
    const pausedAgain = (await t.gql(PauseBillRunScheduleDocument, { id: s.id })).data!.pauseBillRunSchedule;
    expect(pausedAgain).toMatchObject({ status: "PAUSED" });

    const resumed = (await t.gql(ResumeBillRunScheduleDocument, { id: s.id })).data!.resumeBillRunSchedule;
    expect(resumed).toMatchObject({ status: "ACTIVE", nextRunAt: "2030-01-01T09:00:00.000Z" });

    const canceled = (await t.gql(CancelBillRunScheduleDocument, { id: s.id })).data!.cancelBillRunSchedule;
    expect(canceled).toMatchObject({ status: "CANCELED", nextRunAt: null });
    const refusals = [
      (await t.gql(CancelBillRunScheduleDocument, { id: s.id })).data!.cancelBillRunSchedule,
      (await t.gql(ResumeBillRunScheduleDocument, { id: s.id })).data!.resumeBillRunSchedule,
      (await t.gql(PauseBillRunScheduleDocument, { id: s.id })).data!.pauseBillRunSchedule,
    ];
    for (const refused of refusals) expect(refused).toMatchObject({ __typename: "InvalidStateError", code: "INVALID_STATE" });
    const unknown = await t.gql(PauseBillRunScheduleDocument, { id: "00000000-0000-4000-8000-000000000009" });
    expect(unknown.data!.pauseBillRunSchedule).toMatchObject({ __typename: "NotFoundError" });
    const malformed = await t.gql(ResumeBillRunScheduleDocument, { id: "nope" });
    expect(malformed.data!.resumeBillRunSchedule).toMatchObject({ __typename: "NotFoundError" });
  });

  it("lists schedules newest first, paged, with a total and a status filter", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await createOk({ ...base, runTime: `1${i}:00` })).id);
    await t.gql(PauseBillRunScheduleDocument, { id: ids[0]! });

    const all = (await t.gql(BillRunSchedulesDocument, {})).data!.billRunSchedules;
    const first = (await t.gql(BillRunSchedulesDocument, { first: 2 })).data!.billRunSchedules;
    expect(first.totalCount).toBe(all.totalCount);
    expect(first.edges.map((e) => e.node.id)).toEqual([ids[2], ids[1]]);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const next = (await t.gql(BillRunSchedulesDocument, { first: 2, after: first.pageInfo.endCursor })).data!.billRunSchedules;
    expect(next.edges[0]!.node.id).toBe(ids[0]);
    const paused = (await t.gql(BillRunSchedulesDocument, { status: ["PAUSED"] })).data!.billRunSchedules;
    expect(paused.edges.map((e) => e.node.id)).toContain(ids[0]);
    expect(paused.edges.every((e) => e.node.status === "PAUSED" && e.node.nextRunAt === null)).toBe(true);
  });

  it("shows the runs a schedule created, and each run's schedule", async () => {
    const s = await createOk({ ...base, repeatFrom: "2030-02-01" });
    // (The other tests' schedules are due by then too.)
    const runIds = await runDueSchedules(t.app, new Date(s.nextRunAt!));
    const result = (await t.gql(BillRunScheduleRunsDocument, { id: s.id })).data!.billRunSchedule!;
    expect(result.runs.totalCount).toBe(1);
    expect(runIds).toContain(result.runs.edges[0]!.node.id);
    expect(result.runs.edges[0]!.node).toMatchObject({
      targetDate: "2030-02-01",
      createdBy: { email: "operator@example.com" },
      schedule: { id: s.id, owner: { email: "operator@example.com" } },
    });
    const after = (await t.gql(BillRunSchedulesDocument, {})).data!.billRunSchedules.edges.find((e) => e.node.id === s.id)!;
    expect(after.node.nextRunAt).toBe("2030-02-02T09:00:00.000Z");
  });
});
