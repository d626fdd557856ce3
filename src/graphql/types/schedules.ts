import { queryFromInfo } from "@pothos/plugin-prisma";
import { builder } from "../builder.ts";
import { BillRunScheduleStatus, DayOfWeek, RepeatType } from "../../generated/prisma/enums.ts";
import { describedValues } from "../enums.ts";
import { IDEMPOTENCY_KEY_DESCRIPTION } from "../../idempotency/idempotency.ts";
import { writeThenRead } from "../write-then-read.ts";
import type { Context } from "../context.ts";
import { connectionOf, pageOf, plannedPage, totalCountOf, withSortKeys, type KeysetOrder } from "../connections.ts";
import { isUuid } from "../../util.ts";
import * as schedules from "../../schedules/service.ts";
import type { Prisma } from "../../generated/prisma/client.ts";
import { ChargeTypeEnum } from "./accounts.ts";
import { BILL_RUNS, BillRunType, runOptionInputFields } from "./billruns.ts";
import { UserType } from "./users.ts";

const ScheduleStatusEnum = builder.enumType("BillRunScheduleStatus", {
  values: describedValues(BillRunScheduleStatus, {
    ACTIVE: "Creates a run at each occurrence.",
    PAUSED: "Creates nothing; resuming starts again from the next occurrence (missed ones are not made up).",
    CANCELED: "Ended for good.",
  }),
});
const RepeatTypeEnum = builder.enumType(RepeatType, { name: "RepeatType" });
const DayOfWeekEnum = builder.enumType(DayOfWeek, { name: "DayOfWeek" });

const BillRunScheduleType = builder.prismaObject("BillRunSchedule", {
  description: "Creates bill runs at runTime (wall clock in timeZone) on the days its rule names.",
  fields: (t) => ({
    id: t.exposeID("id"),
    status: t.expose("status", { type: ScheduleStatusEnum }),
    owner: t.relation("owner", { type: UserType, description: "Who scheduled it; its runs' emails go to this user." }),
    repeatType: t.expose("repeatType", { type: RepeatTypeEnum }),
    weeklyOnDay: t.expose("weeklyOnDay", { type: DayOfWeekEnum, nullable: true }),
    dayOfMonth: t.exposeInt("dayOfMonth", { nullable: true, description: "In a shorter month, the month's last day." }),
    monthlyOnEndOfMonth: t.exposeBoolean("monthlyOnEndOfMonth"),
    runTime: t.exposeString("runTime", {
      description:
        'Wall-clock "HH:MM" in timeZone. On the day clocks skip it, the run is at the first instant after the gap; on the day it happens twice, at the first.',
    }),
    timeZone: t.exposeString("timeZone", { description: "IANA time zone, e.g. Europe/London." }),
    repeatFrom: t.expose("repeatFrom", { type: "Date" }),
    repeatTo: t.expose("repeatTo", { type: "Date", nullable: true, description: "Last day that may hold an occurrence; null: no end." }),
    targetDateOffsetDays: t.exposeInt("targetDateOffsetDays", { description: "A run's target date is its occurrence's day plus this." }),
    invoiceDateOffsetDays: t.exposeInt("invoiceDateOffsetDays", { description: "A run's invoice date is its occurrence's day plus this." }),
    batches: t.exposeIntList("batches", { description: "Empty: every batch." }),
    billCycleDay: t.exposeInt("billCycleDay", { nullable: true }),
    accountIds: t.exposeIDList("accountIds"),
    subscriptionIds: t.exposeIDList("subscriptionIds"),
    chargeTypesToExclude: t.field({ type: [ChargeTypeEnum], resolve: (s) => s.chargeTypesToExclude }),
    autoPost: t.exposeBoolean("autoPost"),
    autoEmail: t.exposeBoolean("autoEmail"),
    noEmailForZeroAmountInvoice: t.exposeBoolean("noEmailForZeroAmountInvoice"),
    nextRunAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "When the next run will be created; null when the schedule is not ACTIVE or has no occurrence left.",
      resolve: (s) => (s.status === "ACTIVE" ? s.nextRunAt : null),
    }),
    lastRunAt: t.expose("lastRunAt", { type: "DateTime", nullable: true, description: "The occurrence of the latest run it created." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    runs: t.connection(
      {
        type: BillRunType,
        description: "Newest first.",
        select: (args, _ctx, nestedSelection) => {
          const page = plannedPage(BILL_RUNS, args);
          const query = nestedSelection({ where: page.where, orderBy: page.orderBy, take: page.take }, ["edges", "node"]);
          return { id: true, runs: withSortKeys(query, BILL_RUNS), _count: { select: { runs: true } } };
        },
        resolve: (schedule, args) => {
          const page = pageOf(BILL_RUNS, schedule.id, args);
          return connectionOf(BILL_RUNS, schedule.id, page, schedule.runs, () => schedule._count.runs);
        },
      },
      { name: "BillRunScheduleRunConnection", fields: (c) => ({ totalCount: c.int({ resolve: (connection) => totalCountOf(connection) }) }) },
      { name: "BillRunScheduleRunEdge" },
    ),
  }),
});

builder.prismaObjectField(BillRunType, "schedule", (t) =>
  t.relation("schedule", { type: BillRunScheduleType, nullable: true, description: "The schedule that created the run, if one did." }),
);

const CreateBillRunScheduleInput = builder.inputType("CreateBillRunScheduleInput", {
  fields: (t) => ({
    repeatType: t.field({ type: RepeatTypeEnum, required: true }),
    weeklyOnDay: t.field({ type: DayOfWeekEnum, description: "Required for WEEKLY." }),
    dayOfMonth: t.int({ description: "MONTHLY: 1-31; in a shorter month, the month's last day." }),
    monthlyOnEndOfMonth: t.boolean({ description: "MONTHLY: on each month's last day (instead of dayOfMonth)." }),
    runTime: t.string({ required: true, description: 'Wall-clock "HH:MM" in timeZone.' }),
    timeZone: t.string({ required: true, description: "IANA time zone, e.g. America/New_York." }),
    repeatFrom: t.field({ type: "Date", description: "First day that may hold an occurrence; default: today in timeZone." }),
    repeatTo: t.field({ type: "Date", description: "Last day that may hold an occurrence; default: no end." }),
    targetDateOffsetDays: t.int({ description: "Target date = occurrence day + this (default 0)." }),
    invoiceDateOffsetDays: t.int({ description: "Invoice date = occurrence day + this (default 0)." }),
    ...runOptionInputFields(t),
    accountNumbers: t.stringList({ description: "Specific accounts by number (with or instead of accountIds); kept as the accounts they name now." }),
  }),
});

/** Schedules newest first; the id orders those created in the same millisecond. */
const SCHEDULES: KeysetOrder = {
  name: "billRunSchedules",
  keys: [
    { field: "createdAt", direction: "desc", type: "timestamp" },
    { field: "id", direction: "desc", type: "uuid" },
  ],
};

function schedulesWhere(args: { status?: readonly BillRunScheduleStatus[] | null }): Prisma.BillRunScheduleWhereInput {
  return args.status && args.status.length > 0 ? { status: { in: [...args.status] } } : {};
}

builder.queryFields((t) => ({
  billRunSchedules: t.connection(
    {
      type: BillRunScheduleType,
      authScopes: { viewer: true },
      description: "Newest first.",
      args: { status: t.arg({ type: [ScheduleStatusEnum] }) },
      resolve: async (_root, args, ctx, info) => {
        const page = pageOf(SCHEDULES, null, args);
        const query = withSortKeys(queryFromInfo({ context: ctx, info, path: ["edges", "node"] }), SCHEDULES);
        const rows = await ctx.db.billRunSchedule.findMany({
          ...query,
          where: { AND: [schedulesWhere(args), page.where] },
          orderBy: page.orderBy,
          take: page.take,
        });
        return connectionOf(SCHEDULES, null, page, rows, () => ctx.db.billRunSchedule.count({ where: schedulesWhere(args) }));
      },
    },
    { name: "BillRunScheduleConnection", fields: (c) => ({ totalCount: c.int({ resolve: (connection) => totalCountOf(connection) }) }) },
    { name: "BillRunScheduleEdge" },
  ),
  billRunSchedule: t.prismaField({
    type: BillRunScheduleType,
    nullable: true,
    authScopes: { viewer: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, { id }, ctx) => {
      // Read the selection first: plugin-prisma reports a query left unused, even for a malformed id.
      const selection = { ...query };
      return isUuid(id) ? ctx.db.billRunSchedule.findUnique({ ...selection, where: { id } }) : null;
    },
  }),
}));

/** Reads a schedule a mutation created or moved, with the mutation's selection. */
const scheduleReader = (ctx: Context, query: { select?: Prisma.BillRunScheduleSelect; include?: Prisma.BillRunScheduleInclude }) => (id: string) =>
  ctx.db.billRunSchedule.findUnique({ ...query, where: { id } });

/** A mutation that moves one schedule, named by id, and answers the schedule as it then is. */
function scheduleAction(
  t: Parameters<Parameters<typeof builder.mutationFields>[0]>[0],
  act: (services: schedules.ScheduleServices, id: string) => Promise<void>,
  description?: string,
) {
  return t.prismaField({
    type: BillRunScheduleType,
    errors: {},
    authScopes: { operator: true },
    description,
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, { id }, ctx) =>
      writeThenRead(
        ctx,
        null,
        async () => {
          await act(ctx.app, id);
          return id;
        },
        scheduleReader(ctx, query),
        "bill run schedule",
      ),
  });
}

builder.mutationFields((t) => ({
  createBillRunSchedule: t.prismaField({
    type: BillRunScheduleType,
    errors: {},
    authScopes: { operator: true },
    description: "The caller becomes the schedule's owner and receives its runs' emails.",
    args: {
      input: t.arg({ type: CreateBillRunScheduleInput, required: true }),
      idempotencyKey: t.arg.string({ description: IDEMPOTENCY_KEY_DESCRIPTION }),
    },
    resolve: (query, _root, { input, idempotencyKey }, ctx) =>
      writeThenRead(
        ctx,
        { operation: "createBillRunSchedule", key: idempotencyKey, input },
        () => schedules.createSchedule(ctx.app, input, ctx.user!.id),
        scheduleReader(ctx, query),
        "bill run schedule",
      ),
  }),
  pauseBillRunSchedule: scheduleAction(t, schedules.pauseSchedule),
  resumeBillRunSchedule: scheduleAction(t, schedules.resumeSchedule, "Runs again from the next occurrence; those missed while paused are not made up."),
  cancelBillRunSchedule: scheduleAction(t, schedules.cancelSchedule),
}));
