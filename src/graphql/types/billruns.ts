import { queryFromInfo } from "@pothos/plugin-prisma";
import { builder } from "../builder.ts";
import { BillRunStatus } from "../../generated/prisma/enums.ts";
import { describedValues } from "../enums.ts";
import { connectionOf, pageOf, plannedPage, totalCountOf, withSortKeys, type KeysetOrder } from "../connections.ts";
import { formatAmount, formatPrice, formatQuantity } from "../format.ts";
import { dateOnly, isUuid } from "../../util.ts";
import * as billRuns from "../../billruns/service.ts";
import type { RunServices } from "../../billruns/service.ts";
import { availableActions } from "../../billruns/transitions.ts";
import type { Prisma } from "../../generated/prisma/client.ts";
import { ChargeTypeEnum } from "./accounts.ts";
import { CreditMemoType, InvoiceType } from "./documents.ts";
import { UserType } from "./users.ts";
import { IDEMPOTENCY_KEY_DESCRIPTION, idempotent, replayed } from "../../idempotency/idempotency.ts";
import { writeThenRead } from "../write-then-read.ts";
import type { Context } from "../context.ts";

export const BillRunStatusEnum = builder.enumType("BillRunStatus", {
  values: describedValues(BillRunStatus, {
    REMOVED: "The run was deleted. Only the last status change of a deleted run has it; no run is ever listed with it.",
  }),
});

export const BillRunActionEnum = builder.enumType("BillRunAction", {
  values: {
    POST: { description: "postBillRun" },
    CANCEL: { description: "cancelBillRun" },
    DELETE: { description: "deleteBillRun" },
    RETRY: { description: "retryFailedAccounts" },
    PAUSE: { description: "pauseBillRun" },
    RESUME: { description: "resumeBillRun" },
  } as const,
});

const FINISHED = ["COMPLETED", "POST_IN_PROGRESS", "POSTED", "CANCEL_IN_PROGRESS", "CANCELED", "ERROR"] as const;

/** The alert rule: a run that finished with failed accounts, or that could not execute at all. */
function hasErrorsWhere(hasErrors: boolean): Prisma.BillRunWhereInput {
  const alert: Prisma.BillRunWhereInput = {
    OR: [{ status: "ERROR" }, { failedAccountCount: { gt: 0 }, status: { in: [...FINISHED] } }],
  };
  return hasErrors ? alert : { NOT: alert };
}

const CurrencyAmount = builder.objectRef<{ currency: string; amount: Prisma.Decimal }>("CurrencyAmount").implement({
  fields: (t) => ({
    currency: t.exposeString("currency"),
    amount: t.field({ type: "Decimal", resolve: (a) => formatAmount(a.amount, a.currency) }),
  }),
});

const StatusHistoryEntry = builder.prismaObject("BillRunEvent", {
  name: "BillRunStatusHistoryEntry",
  fields: (t) => ({
    from: t.expose("fromStatus", { type: BillRunStatusEnum, nullable: true }),
    to: t.field({ type: BillRunStatusEnum, resolve: (e) => e.toStatus! }),
    at: t.expose("createdAt", { type: "DateTime" }),
    by: t.relation("actor", { nullable: true, description: "Who made the change; null when the system did." }),
  }),
});

builder.prismaObject("BillRunFailedSubscription", {
  name: "FailedSubscription",
  fields: (t) => ({
    subscription: t.relation("subscription"),
    code: t.exposeString("code"),
    message: t.exposeString("message"),
  }),
});

const FailedAccountType = builder.prismaObject("BillRunAccount", {
  name: "FailedAccount",
  fields: (t) => ({
    account: t.relation("account"),
    billRun: t.relation("billRun", { description: "The run in which the account failed." }),
    code: t.string({ resolve: (w) => w.failureCode ?? "INTERNAL_ERROR" }),
    message: t.string({ resolve: (w) => w.failureMessage ?? "" }),
    subscriptions: t.relation("failedSubscriptions", { query: { orderBy: { subscription: { subscriptionNumber: "asc" } } } }),
  }),
});

// One connection type for the failed accounts, whether reached from the root or from a run.
const FailedAccountConnection = builder.connectionObject(
  {
    type: FailedAccountType,
    name: "FailedAccountConnection",
    fields: (t) => ({
      totalCount: t.int({ resolve: (connection) => totalCountOf(connection) }),
    }),
  },
  { name: "FailedAccountEdge" },
);

// List orders (see connections.ts). Numbers sort as text: zero-padded, so in number order.
const RUN_INVOICES: KeysetOrder = { name: "BillRun.invoices", keys: [{ field: "number", direction: "asc", type: "text" }] };
const RUN_INVOICES_BY_AMOUNT: KeysetOrder = {
  name: "BillRun.invoices.amount",
  keys: [
    { field: "amount", direction: "asc", type: "decimal" },
    { field: "number", direction: "asc", type: "text" },
  ],
};
const RUN_INVOICES_BY_AMOUNT_DESC: KeysetOrder = {
  name: "BillRun.invoices.amountDesc",
  keys: [
    { field: "amount", direction: "desc", type: "decimal" },
    { field: "number", direction: "desc", type: "text" },
  ],
};
const InvoiceOrderEnum = builder.enumType("InvoiceOrder", {
  values: {
    NUMBER: { description: "Invoice number, ascending." },
    AMOUNT_ASC: { description: "Amount, smallest first (then number)." },
    AMOUNT_DESC: { description: "Amount, largest first (then number, descending)." },
  } as const,
});

function invoiceOrder(orderBy: string | null | undefined): KeysetOrder {
  return orderBy === "AMOUNT_ASC" ? RUN_INVOICES_BY_AMOUNT : orderBy === "AMOUNT_DESC" ? RUN_INVOICES_BY_AMOUNT_DESC : RUN_INVOICES;
}

/** A run's invoices with the filters of `BillRun.invoices`; a malformed account id matches none. */
function runInvoicesWhere(args: { accountId?: string | null; minAmount?: string | null; maxAmount?: string | null }): Prisma.DocumentWhereInput {
  const where: Prisma.DocumentWhereInput[] = [{ type: "INVOICE" }];
  if (args.accountId !== null && args.accountId !== undefined) {
    where.push(isUuid(args.accountId) ? { accountId: args.accountId } : { id: { in: [] } });
  }
  if (args.minAmount !== null && args.minAmount !== undefined) where.push({ amount: { gte: args.minAmount } });
  if (args.maxAmount !== null && args.maxAmount !== undefined) where.push({ amount: { lte: args.maxAmount } });
  return { AND: where };
}

const RUN_CREDIT_MEMOS: KeysetOrder = { name: "BillRun.creditMemos", keys: [{ field: "number", direction: "asc", type: "text" }] };
/** A run's failed accounts, in the place each account has in the run; the same list from the run or from the root. */
/**
 * A run's failed accounts. failure_code is set exactly when the status is FAILED (a check in the
 * database); saying it lets the planner read them through their partial index
 * (bill_run_accounts_failed_idx) instead of every account of the run.
 */
const FAILED_WORK = { status: "FAILED" as const, failureCode: { not: null } };
const FAILED_ACCOUNTS: KeysetOrder = { name: "failedAccounts", keys: [{ field: "position", direction: "asc", type: "int" }] };
/** Bill runs newest first, from the root or from a schedule. */
export const BILL_RUNS: KeysetOrder = { name: "billRuns", keys: [{ field: "billRunNumber", direction: "desc", type: "text" }] };

/** Statuses a run moves on from by itself: its clock is still running. */
const ACTIVE = new Set(["PENDING", "PAUSED", "PROCESSING", "POST_IN_PROGRESS", "CANCEL_IN_PROGRESS", "REMOVE_IN_PROGRESS"]);

interface RunTimes {
  status: string;
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
  accountsProcessed: number;
  invoiceCount: number;
  creditMemoCount: number;
  events: { fromStatus: string | null; toStatus: string | null; createdAt: Date }[];
}

interface RunMetrics {
  wallSeconds: number;
  waitingSeconds: number | null;
  processingSeconds: number | null;
  postingSeconds: number | null;
  accountsPerSecond: number | null;
  documentsPerSecond: number | null;
}

const seconds = (from: Date, to: Date) => Math.max(0, Math.round(to.getTime() - from.getTime())) / 1000;
const rate = (count: number, elapsed: number | null) => (elapsed ? Math.round((count / elapsed) * 100) / 100 : null);

/** The run's clock, from its timestamps and status history (`now` for a phase still running). */
export function runMetrics(run: RunTimes, now = new Date()): RunMetrics {
  const active = ACTIVE.has(run.status);
  const lastChange = run.events.at(-1)?.createdAt ?? run.createdAt;
  const waitingSeconds = run.startedAt
    ? seconds(run.createdAt, run.startedAt)
    : run.status === "PENDING" || run.status === "PAUSED"
      ? seconds(run.createdAt, now)
      : null;
  const processingSeconds = run.startedAt ? seconds(run.startedAt, run.completedAt ?? (run.status === "PROCESSING" ? now : lastChange)) : null;
  // Every stint in POST_IN_PROGRESS (posting again after an incomplete post adds one).
  let postingSeconds: number | null = null;
  let postingSince: Date | null = null;
  for (const event of run.events) {
    if (event.toStatus === "POST_IN_PROGRESS") postingSince = event.createdAt;
    else if (event.fromStatus === "POST_IN_PROGRESS" && postingSince) {
      postingSeconds = (postingSeconds ?? 0) + seconds(postingSince, event.createdAt);
      postingSince = null;
    }
  }
  if (postingSince) postingSeconds = (postingSeconds ?? 0) + seconds(postingSince, now);
  return {
    wallSeconds: seconds(run.createdAt, active ? now : lastChange),
    waitingSeconds,
    processingSeconds,
    postingSeconds: postingSeconds === null ? null : Math.round(postingSeconds * 1000) / 1000,
    accountsPerSecond: rate(run.accountsProcessed, processingSeconds),
    documentsPerSecond: rate(run.invoiceCount + run.creditMemoCount, processingSeconds),
  };
}

const BillRunMetricsType = builder.objectRef<RunMetrics>("BillRunMetrics").implement({
  description: "How long a run took and how fast it went. Durations are in seconds; a phase still running counts up to now.",
  fields: (t) => ({
    wallSeconds: t.exposeFloat("wallSeconds", {
      description: "From creation to the last status change, or to now while the run is in progress (PENDING, PAUSED, PROCESSING, *_IN_PROGRESS).",
    }),
    waitingSeconds: t.exposeFloat("waitingSeconds", {
      nullable: true,
      description: "From creation to the start of processing (pending or paused); null for a run canceled before it started.",
    }),
    processingSeconds: t.exposeFloat("processingSeconds", {
      nullable: true,
      description: "From the start of processing to COMPLETED (or ERROR); null before it started.",
    }),
    postingSeconds: t.exposeFloat("postingSeconds", { nullable: true, description: "Time spent in POST_IN_PROGRESS; null when the run was never posted." }),
    accountsPerSecond: t.exposeFloat("accountsPerSecond", { nullable: true, description: "Accounts processed (billed or failed) per second of processing." }),
    documentsPerSecond: t.exposeFloat("documentsPerSecond", { nullable: true, description: "Invoices and credit memos created per second of processing." }),
  }),
});

export const BillRunType = builder.prismaObject("BillRun", {
  fields: (t) => ({
    id: t.exposeID("id"),
    billRunNumber: t.exposeString("billRunNumber"),
    status: t.expose("status", { type: BillRunStatusEnum }),
    hasErrors: t.boolean({
      description: "True when the run finished with failed accounts, or could not execute (ERROR): show an alert.",
      resolve: (r) => r.status === "ERROR" || (r.failedAccountCount > 0 && (FINISHED as readonly string[]).includes(r.status)),
    }),
    availableActions: t.field({
      type: [BillRunActionEnum],
      description:
        "What the run's status allows now (the transition table): offer these and no other. The mutation may still refuse " +
        "for a reason beyond the status (e.g. a later run billed the accounts further); its error says why.",
      select: { status: true, scheduleId: true, failedAccountCount: true },
      resolve: (r) => availableActions(r),
    }),
    targetDate: t.expose("targetDate", { type: "Date" }),
    invoiceDate: t.expose("invoiceDate", { type: "Date" }),
    batches: t.exposeIntList("batches", { description: "Empty: every batch." }),
    billCycleDay: t.exposeInt("billCycleDay", { nullable: true }),
    accountIds: t.exposeIDList("accountIds"),
    subscriptionIds: t.exposeIDList("subscriptionIds"),
    chargeTypesToExclude: t.field({ type: [ChargeTypeEnum], resolve: (r) => r.chargeTypesToExclude }),
    autoPost: t.exposeBoolean("autoPost"),
    autoEmail: t.exposeBoolean("autoEmail"),
    noEmailForZeroAmountInvoice: t.exposeBoolean("noEmailForZeroAmountInvoice"),
    createdBy: t.relation("createdBy", { nullable: true, type: UserType }),
    retriedFrom: t.relation("retriedFrom", { nullable: true }),
    accountsTotal: t.exposeInt("accountsTotal"),
    accountsProcessed: t.exposeInt("accountsProcessed"),
    invoiceCount: t.exposeInt("invoiceCount"),
    creditMemoCount: t.exposeInt("creditMemoCount"),
    zeroAmountInvoiceCount: t.exposeInt("zeroAmountInvoiceCount"),
    failedAccountCount: t.exposeInt("failedAccountCount"),
    invoiceTotals: t.field({
      type: [CurrencyAmount],
      description: "Sum of the run's invoice amounts, one entry per currency.",
      select: { totals: { orderBy: { currency: "asc" } } },
      resolve: (r) => r.totals,
    }),
    startedAt: t.expose("startedAt", { type: "DateTime", nullable: true }),
    completedAt: t.expose("completedAt", { type: "DateTime", nullable: true }),
    postedAt: t.expose("postedAt", { type: "DateTime", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    errorMessage: t.exposeString("errorMessage", { nullable: true }),
    metrics: t.field({
      type: BillRunMetricsType,
      description: "Wall time, time per phase (waiting, processing, posting) and throughput, from the run's timestamps and status history.",
      select: {
        status: true,
        createdAt: true,
        startedAt: true,
        completedAt: true,
        accountsProcessed: true,
        invoiceCount: true,
        creditMemoCount: true,
        events: { where: { kind: "STATUS" }, orderBy: { id: "asc" }, select: { fromStatus: true, toStatus: true, createdAt: true } },
      },
      resolve: (r) => runMetrics(r),
    }),
    statusHistory: t.relation("events", {
      type: StatusHistoryEntry,
      query: { where: { kind: "STATUS" }, orderBy: { id: "asc" } },
    }),
    // In number order, as an operator reads them: numbers are zero-padded to eight digits, so text
    // order is number order (past 99999999 only the run that crosses to nine digits is out of order).
    invoices: t.connection(
      {
        type: InvoiceType,
        args: {
          accountId: t.arg.id({ description: "Only this account's invoices." }),
          minAmount: t.arg({ type: "Decimal", description: "Only invoices of at least this amount (any currency)." }),
          maxAmount: t.arg({ type: "Decimal", description: "Only invoices of at most this amount (any currency)." }),
          orderBy: t.arg({ type: InvoiceOrderEnum, description: "Default NUMBER." }),
        },
        select: (args, _ctx, nestedSelection) => {
          const order = invoiceOrder(args.orderBy);
          const page = plannedPage(order, args);
          const where = runInvoicesWhere(args);
          const query = nestedSelection({ where: { AND: [where, page.where] }, orderBy: page.orderBy, take: page.take }, ["edges", "node"]);
          return { id: true, documents: withSortKeys(query, order), _count: { select: { documents: { where } } } };
        },
        resolve: (run, args) => {
          const order = invoiceOrder(args.orderBy);
          const page = pageOf(order, run.id, args);
          return connectionOf(order, run.id, page, run.documents, () => run._count.documents);
        },
      },
      { name: "InvoiceConnection", fields: (c) => ({ totalCount: c.int({ resolve: (connection) => totalCountOf(connection) }) }) },
      { name: "InvoiceEdge" },
    ),
    creditMemos: t.connection(
      {
        type: CreditMemoType,
        select: (args, _ctx, nestedSelection) => {
          const page = plannedPage(RUN_CREDIT_MEMOS, args);
          const where = { type: "CREDIT_MEMO" as const };
          const query = nestedSelection({ where: { AND: [where, page.where] }, orderBy: page.orderBy, take: page.take }, ["edges", "node"]);
          return { id: true, documents: withSortKeys(query, RUN_CREDIT_MEMOS), _count: { select: { documents: { where } } } };
        },
        resolve: (run, args) => {
          const page = pageOf(RUN_CREDIT_MEMOS, run.id, args);
          return connectionOf(RUN_CREDIT_MEMOS, run.id, page, run.documents, () => run._count.documents);
        },
      },
      { name: "CreditMemoConnection", fields: (c) => ({ totalCount: c.int({ resolve: (connection) => totalCountOf(connection) }) }) },
      { name: "CreditMemoEdge" },
    ),
    failedAccounts: t.connection(
      {
        type: FailedAccountType,
        select: (args, _ctx, nestedSelection) => {
          const page = plannedPage(FAILED_ACCOUNTS, args);
          const where = FAILED_WORK;
          const query = nestedSelection({ where: { AND: [where, page.where] }, orderBy: page.orderBy, take: page.take }, ["edges", "node"]);
          return { id: true, work: withSortKeys(query, FAILED_ACCOUNTS), _count: { select: { work: { where } } } };
        },
        resolve: (run, args) => {
          const page = pageOf(FAILED_ACCOUNTS, run.id, args);
          return connectionOf(FAILED_ACCOUNTS, run.id, page, run.work, () => run._count.work);
        },
      },
      FailedAccountConnection,
    ),
  }),
});

type InputFieldBuilder = Parameters<Parameters<typeof builder.inputType>[1]["fields"]>[0];

/**
 * The input fields of a run's targeting and flags (src/billruns/options.ts), the same in
 * createBillRun and createBillRunSchedule.
 */
export function runOptionInputFields(t: InputFieldBuilder) {
  return {
    batches: t.intList({ description: "Account batches (1-50); default all." }),
    billCycleDay: t.int({ description: "Only accounts with this bill cycle day; default all." }),
    accountIds: t.idList({ description: "Specific accounts instead of batches/bill cycle day." }),
    accountNumbers: t.stringList({ description: "Specific accounts by number (with or instead of accountIds), e.g. A-00000042." }),
    subscriptionIds: t.idList({ description: "Specific subscriptions instead of batches/bill cycle day." }),
    chargeTypesToExclude: t.field({ type: [ChargeTypeEnum], description: "At most two; left for a later run." }),
    autoPost: t.boolean({ description: "Post as soon as the run completes." }),
    autoEmail: t.boolean({ description: "Email posted invoices to their accounts' bill-to contacts." }),
    noEmailForZeroAmountInvoice: t.boolean(),
  };
}

const CreateBillRunInput = builder.inputType("CreateBillRunInput", {
  fields: (t) => ({
    targetDate: t.field({ type: "Date", required: true, description: "Bill what is due up to this date." }),
    invoiceDate: t.field({ type: "Date", description: "Default: the target date." }),
    ...runOptionInputFields(t),
  }),
});

const DeleteBillRunPayload = builder.objectRef<{ id: string; billRunNumber: string }>("DeleteBillRunPayload").implement({
  fields: (t) => ({
    id: t.exposeID("id", { description: "Id of the deleted run." }),
    billRunNumber: t.exposeString("billRunNumber"),
  }),
});

const BillingPreview = builder.objectRef<Awaited<ReturnType<typeof billRuns.billingPreview>>>("BillingPreview").implement({
  description: "What a bill run would create for an account now; nothing is written.",
  fields: (t) => ({
    failureCode: t.string({ nullable: true, resolve: (r) => (r.ok ? null : r.failure.code) }),
    failureMessage: t.string({ nullable: true, resolve: (r) => (r.ok ? null : r.failure.message) }),
    documents: t.field({ type: [PreviewDocument], resolve: (r) => (r.ok ? r.documents : []) }),
  }),
});

type Preview = Awaited<ReturnType<typeof billRuns.billingPreview>>;
type PreviewDoc = Extract<Preview, { ok: true }>["documents"][number];

const PreviewItem = builder.objectRef<PreviewDoc["items"][number] & { currency: string }>("BillingPreviewItem").implement({
  fields: (t) => ({
    chargeId: t.exposeID("chargeId"),
    subscriptionId: t.exposeID("subscriptionId"),
    chargeName: t.exposeString("chargeName"),
    chargeType: t.field({ type: ChargeTypeEnum, resolve: (i) => i.chargeType }),
    kind: t.exposeString("kind"),
    serviceStartDate: t.field({ type: "Date", resolve: (i) => i.serviceStart }),
    serviceEndDate: t.field({ type: "Date", resolve: (i) => i.serviceEnd }),
    quantity: t.field({ type: "Decimal", resolve: (i) => formatQuantity(i.quantity) }),
    unitPrice: t.field({ type: "Decimal", resolve: (i) => formatPrice(i.unitPrice, i.currency) }),
    amount: t.field({ type: "Decimal", resolve: (i) => i.amount }),
  }),
});

const PreviewDocument = builder.objectRef<PreviewDoc>("BillingPreviewDocument").implement({
  fields: (t) => ({
    type: t.exposeString("type", { description: "INVOICE or CREDIT_MEMO." }),
    subscriptionId: t.exposeID("subscriptionId", { nullable: true }),
    currency: t.exposeString("currency"),
    amount: t.field({ type: "Decimal", resolve: (d) => d.amount }),
    invoiceDate: t.field({ type: "Date", resolve: (d) => d.invoiceDate }),
    dueDate: t.field({ type: "Date", resolve: (d) => d.dueDate }),
    items: t.field({ type: [PreviewItem], resolve: (d) => d.items.map((item) => ({ ...item, currency: d.currency })) }),
  }),
});

builder.queryFields((t) => ({
  billRuns: t.connection(
    {
      type: BillRunType,
      authScopes: { viewer: true },
      description: "Newest first.",
      args: {
        status: t.arg({ type: [BillRunStatusEnum] }),
        hasErrors: t.arg.boolean(),
        targetDateFrom: t.arg({ type: "Date", description: "Only runs whose target date is on or after this day." }),
        targetDateTo: t.arg({ type: "Date", description: "Only runs whose target date is on or before this day." }),
      },
      resolve: async (_root, args, ctx, info) => {
        const page = pageOf(BILL_RUNS, null, args);
        const query = withSortKeys(queryFromInfo({ context: ctx, info, path: ["edges", "node"] }), BILL_RUNS);
        const rows = await ctx.db.billRun.findMany({ ...query, where: { AND: [billRunsWhere(args), page.where] }, orderBy: page.orderBy, take: page.take });
        return connectionOf(BILL_RUNS, null, page, rows, () => ctx.db.billRun.count({ where: billRunsWhere(args) }));
      },
    },
    { name: "BillRunConnection", fields: (c) => ({ totalCount: c.int({ resolve: (connection) => totalCountOf(connection) }) }) },
    { name: "BillRunEdge" },
  ),
  billRun: t.prismaField({
    type: BillRunType,
    nullable: true,
    authScopes: { viewer: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, { id }, ctx) => {
      const selection = { ...query };
      return isUuid(id) ? ctx.db.billRun.findUnique({ ...selection, where: { id } }) : null;
    },
  }),
  failedAccounts: t.connection(
    {
      type: FailedAccountType,
      authScopes: { viewer: true },
      args: { billRunId: t.arg.id({ required: true }) },
      resolve: async (_root, args, ctx, info) => {
        // A malformed run id names no run: an empty list (its cursors are still checked).
        const scope = args.billRunId;
        const page = pageOf(FAILED_ACCOUNTS, scope, args);
        if (!isUuid(scope)) return connectionOf(FAILED_ACCOUNTS, scope, page, [], () => 0);
        const where = { billRunId: scope, ...FAILED_WORK };
        const query = withSortKeys(queryFromInfo({ context: ctx, info, path: ["edges", "node"] }), FAILED_ACCOUNTS);
        const rows = await ctx.db.billRunAccount.findMany({ ...query, where: { AND: [where, page.where] }, orderBy: page.orderBy, take: page.take });
        return connectionOf(FAILED_ACCOUNTS, scope, page, rows, () => ctx.db.billRunAccount.count({ where }));
      },
    },
    FailedAccountConnection,
  ),
  billingPreview: t.field({
    type: BillingPreview,
    authScopes: { viewer: true },
    errors: {},
    args: { accountId: t.arg.id({ required: true }), targetDate: t.arg({ type: "Date", required: true }) },
    resolve: (_root, { accountId, targetDate }, ctx) => billRuns.billingPreview(ctx.app, accountId, targetDate),
  }),
}));

function billRunsWhere(args: {
  status?: readonly BillRunStatus[] | null;
  hasErrors?: boolean | null;
  targetDateFrom?: string | null;
  targetDateTo?: string | null;
}): Prisma.BillRunWhereInput {
  const where: Prisma.BillRunWhereInput[] = [];
  if (args.targetDateFrom) where.push({ targetDate: { gte: dateOnly(args.targetDateFrom) } });
  if (args.targetDateTo) where.push({ targetDate: { lte: dateOnly(args.targetDateTo) } });
  if (args.status && args.status.length > 0) where.push({ status: { in: [...args.status] } });
  if (args.hasErrors !== null && args.hasErrors !== undefined) where.push(hasErrorsWhere(args.hasErrors));
  return { AND: where };
}

/** Reads a run a mutation created or moved, with the mutation's selection. */
const runReader = (ctx: Context, query: { select?: Prisma.BillRunSelect; include?: Prisma.BillRunInclude }) => (id: string) =>
  ctx.db.billRun.findUnique({ ...query, where: { id } });

type MutationFieldBuilder = Parameters<Parameters<typeof builder.mutationFields>[0]>[0];

/** A mutation that moves one run, named by id, and answers the run as it then is. */
function runAction(t: MutationFieldBuilder, act: (services: RunServices, billRunId: string, actorId: string | null) => Promise<void>, description?: string) {
  return t.prismaField({
    type: BillRunType,
    errors: {},
    authScopes: { operator: true },
    description,
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, { id }, ctx) =>
      writeThenRead(
        ctx,
        null,
        async () => {
          await act(ctx.app, id, ctx.user!.id);
          return id;
        },
        runReader(ctx, query),
        "bill run",
      ),
  });
}

/** Like `runAction`, with an idempotencyKey: a replay answers the run as it is now. */
function idempotentRunAction(
  t: MutationFieldBuilder,
  operation: string,
  act: (services: RunServices, billRunId: string, actorId: string | null) => Promise<void>,
  description?: string,
) {
  return t.prismaField({
    type: BillRunType,
    errors: {},
    authScopes: { operator: true },
    description,
    args: { id: t.arg.id({ required: true }), idempotencyKey: t.arg.string({ description: IDEMPOTENCY_KEY_DESCRIPTION }) },
    resolve: (query, _root, { id, idempotencyKey }, ctx) =>
      writeThenRead(
        ctx,
        { operation, key: idempotencyKey, input: { id } },
        async () => {
          await act(ctx.app, id, ctx.user!.id);
          return id;
        },
        runReader(ctx, query),
        "bill run",
      ),
  });
}

builder.mutationFields((t) => ({
  createBillRun: t.prismaField({
    type: BillRunType,
    errors: {},
    authScopes: { operator: true },
    args: {
      input: t.arg({ type: CreateBillRunInput, required: true }),
      idempotencyKey: t.arg.string({ description: IDEMPOTENCY_KEY_DESCRIPTION }),
    },
    resolve: (query, _root, { input, idempotencyKey }, ctx) =>
      writeThenRead(
        ctx,
        { operation: "createBillRun", key: idempotencyKey, input },
        () => billRuns.createBillRun(ctx.app, input, { createdById: ctx.user!.id }),
        runReader(ctx, query),
        "bill run",
      ),
  }),
  postBillRun: idempotentRunAction(
    t,
    "postBillRun",
    billRuns.postBillRun,
    "Posts the run's draft invoices (and credit memos with advancedArSettlement). Idempotent.",
  ),
  cancelBillRun: idempotentRunAction(t, "cancelBillRun", billRuns.cancelBillRun),
  pauseBillRun: runAction(t, billRuns.pauseBillRun, "Holds a PENDING run that a schedule created back from the workers until it is resumed."),
  resumeBillRun: runAction(t, billRuns.resumeBillRun, "Makes a PAUSED run PENDING again; a worker then starts it."),
  deleteBillRun: t.field({
    type: DeleteBillRunPayload,
    errors: {},
    authScopes: { operator: true },
    args: { id: t.arg.id({ required: true }), idempotencyKey: t.arg.string({ description: IDEMPOTENCY_KEY_DESCRIPTION }) },
    resolve: async (_root, { id, idempotencyKey }, ctx) => {
      if (idempotencyKey === null || idempotencyKey === undefined) return billRuns.deleteBillRun(ctx.app, id, ctx.user!.id);
      const runId = await idempotent(ctx.app, { userId: ctx.user!.id, operation: "deleteBillRun", key: idempotencyKey, input: { id } }, async () => {
        return (await billRuns.deleteBillRun(ctx.app, id, ctx.user!.id)).id;
      });
      // A replay answers from the run's tombstone (its REMOVED event): the row is gone.
      return replayed(await billRuns.deletedBillRun(ctx.app, runId), `deleted bill run ${runId}`);
    },
  }),
  retryFailedAccounts: t.prismaField({
    type: BillRunType,
    errors: {},
    authScopes: { operator: true },
    description:
      "A new run for the run's failed accounts that no later run has billed since. While that retry has not finished " +
      "(PENDING, PAUSED, PROCESSING), calling again returns it; with nothing left to retry it is INVALID_STATE.",
    args: { billRunId: t.arg.id({ required: true }), idempotencyKey: t.arg.string({ description: IDEMPOTENCY_KEY_DESCRIPTION }) },
    resolve: (query, _root, { billRunId, idempotencyKey }, ctx) =>
      writeThenRead(
        ctx,
        { operation: "retryFailedAccounts", key: idempotencyKey, input: { billRunId } },
        () => billRuns.retryFailedAccounts(ctx.app, billRunId, ctx.user!.id),
        runReader(ctx, query),
        "bill run",
      ),
  }),
}));
