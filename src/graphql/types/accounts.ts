import { queryFromInfo } from "@pothos/plugin-prisma";
import { builder } from "../builder.ts";
import * as enums from "../../generated/prisma/enums.ts";
import { connectionOf, pageOf, plannedPage, totalCountOf, withSortKeys, type KeysetOrder } from "../connections.ts";
import * as accounts from "../../accounts/service.ts";
import { isUuid } from "../../util.ts";
import { formatPrice, formatQuantity } from "../format.ts";
import { IDEMPOTENCY_KEY_DESCRIPTION } from "../../idempotency/idempotency.ts";
import { writeThenRead } from "../write-then-read.ts";
import { ValidationError } from "../../errors.ts";
import type { Prisma } from "../../generated/prisma/client.ts";

export const AccountStatusEnum = builder.enumType(enums.AccountStatus, { name: "AccountStatus" });
export const SubscriptionStatusEnum = builder.enumType(enums.SubscriptionStatus, { name: "SubscriptionStatus" });
export const ChargeTypeEnum = builder.enumType(enums.ChargeType, { name: "ChargeType" });
export const BillingPeriodEnum = builder.enumType(enums.BillingPeriod, { name: "BillingPeriod" });
export const BillingTimingEnum = builder.enumType(enums.BillingTiming, { name: "BillingTiming" });

/** An account's subscriptions, by number. */
const ACCOUNT_SUBSCRIPTIONS: KeysetOrder = { name: "Account.subscriptions", keys: [{ field: "subscriptionNumber", direction: "asc", type: "text" }] };
const ACCOUNTS: KeysetOrder = { name: "accounts", keys: [{ field: "accountNumber", direction: "asc", type: "text" }] };
/** An account's documents across runs, newest number first. */
const ACCOUNT_INVOICES: KeysetOrder = { name: "Account.invoices", keys: [{ field: "number", direction: "desc", type: "text" }] };
const ACCOUNT_CREDIT_MEMOS: KeysetOrder = { name: "Account.creditMemos", keys: [{ field: "number", direction: "desc", type: "text" }] };
/** An account's failures across runs, latest first. */
const ACCOUNT_FAILURES: KeysetOrder = {
  name: "Account.billRunFailures",
  keys: [
    { field: "processedAt", direction: "desc", type: "timestamp" },
    { field: "billRunId", direction: "desc", type: "uuid" },
  ],
};

/**
 * The filter of `accounts(search:)`: any part of the number, name or bill-to email, in any case
 * (ILIKE, served by the trigram indexes). Blank: no filter. Raises ValidationError past 200 characters.
 */
function accountSearchWhere(search: string | null | undefined): Prisma.AccountWhereInput {
  const term = search?.trim() ?? "";
  if (term === "") return {};
  if (term.length > 200) throw new ValidationError("search: at most 200 characters", ["search"]);
  // Prisma passes `contains` to ILIKE as it is: LIKE's wildcards and escape are made plain characters.
  const contains = { contains: term.replace(/[\\%_]/g, (c) => `\\${c}`), mode: "insensitive" as const };
  return { OR: [{ accountNumber: contains }, { name: contains }, { billToEmail: contains }] };
}

export const AccountType = builder.prismaObject("Account", {
  fields: (t) => ({
    id: t.exposeID("id"),
    accountNumber: t.exposeString("accountNumber"),
    name: t.exposeString("name"),
    currency: t.exposeString("currency"),
    billCycleDay: t.exposeInt("billCycleDay"),
    batch: t.exposeInt("batch"),
    billToEmail: t.exposeString("billToEmail", { description: "Empty when the account has no bill-to contact." }),
    paymentTermDays: t.exposeInt("paymentTermDays"),
    status: t.expose("status", { type: AccountStatusEnum }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    subscriptions: t.connection(
      {
        type: CustomerSubscriptionType,
        select: (args, _ctx, nestedSelection) => {
          const page = plannedPage(ACCOUNT_SUBSCRIPTIONS, args);
          const query = nestedSelection({ where: page.where, orderBy: page.orderBy, take: page.take }, ["edges", "node"]);
          return { id: true, subscriptions: withSortKeys(query, ACCOUNT_SUBSCRIPTIONS), _count: { select: { subscriptions: true } } };
        },
        resolve: (account, args) => {
          const page = pageOf(ACCOUNT_SUBSCRIPTIONS, account.id, args);
          return connectionOf(ACCOUNT_SUBSCRIPTIONS, account.id, page, account.subscriptions, () => account._count.subscriptions);
        },
      },
      { name: "CustomerSubscriptionConnection", fields: (c) => ({ totalCount: c.int({ resolve: (connection) => totalCountOf(connection) }) }) },
      { name: "CustomerSubscriptionEdge" },
    ),
    // Invoice, CreditMemo and FailedAccount are named rather than imported: their modules import this one.
    invoices: t.connection(
      {
        type: "Invoice" as never,
        description: "The account's invoices across runs (and outside them), newest first.",
        select: (args, _ctx, nestedSelection) => {
          const page = plannedPage(ACCOUNT_INVOICES, args);
          const where = { type: "INVOICE" as const };
          const query = nestedSelection({ where: { AND: [where, page.where] }, orderBy: page.orderBy, take: page.take }, ["edges", "node"]);
          return {
            id: true,
            documents: withSortKeys(query as { select?: Record<string, unknown> }, ACCOUNT_INVOICES),
            _count: { select: { documents: { where } } },
          };
        },
        resolve: (account, args) => {
          const page = pageOf(ACCOUNT_INVOICES, account.id, args);
          return connectionOf(ACCOUNT_INVOICES, account.id, page, account.documents, () => account._count.documents) as never;
        },
      },
      { name: "AccountInvoiceConnection", fields: (c) => ({ totalCount: c.int({ resolve: (connection) => totalCountOf(connection) }) }) },
      { name: "AccountInvoiceEdge" },
    ),
    creditMemos: t.connection(
      {
        type: "CreditMemo" as never,
        description: "The account's credit memos across runs, newest first.",
        select: (args, _ctx, nestedSelection) => {
          const page = plannedPage(ACCOUNT_CREDIT_MEMOS, args);
          const where = { type: "CREDIT_MEMO" as const };
          const query = nestedSelection({ where: { AND: [where, page.where] }, orderBy: page.orderBy, take: page.take }, ["edges", "node"]);
          return {
            id: true,
            documents: withSortKeys(query as { select?: Record<string, unknown> }, ACCOUNT_CREDIT_MEMOS),
            _count: { select: { documents: { where } } },
          };
        },
        resolve: (account, args) => {
          const page = pageOf(ACCOUNT_CREDIT_MEMOS, account.id, args);
          return connectionOf(ACCOUNT_CREDIT_MEMOS, account.id, page, account.documents, () => account._count.documents) as never;
        },
      },
      { name: "AccountCreditMemoConnection", fields: (c) => ({ totalCount: c.int({ resolve: (connection) => totalCountOf(connection) }) }) },
      { name: "AccountCreditMemoEdge" },
    ),
    billRunFailures: t.connection(
      {
        type: "FailedAccount" as never,
        description: "The runs in which the account failed, latest first, with each reason.",
        select: (args, _ctx, nestedSelection) => {
          const page = plannedPage(ACCOUNT_FAILURES, args);
          const where = { status: "FAILED" as const };
          const query = nestedSelection({ where: { AND: [where, page.where] }, orderBy: page.orderBy, take: page.take }, ["edges", "node"]);
          return {
            id: true,
            runWork: withSortKeys(query as { select?: Record<string, unknown> }, ACCOUNT_FAILURES),
            _count: { select: { runWork: { where } } },
          };
        },
        resolve: (account, args) => {
          const page = pageOf(ACCOUNT_FAILURES, account.id, args);
          return connectionOf(ACCOUNT_FAILURES, account.id, page, account.runWork, () => account._count.runWork) as never;
        },
      },
      { name: "AccountFailureConnection", fields: (c) => ({ totalCount: c.int({ resolve: (connection) => totalCountOf(connection) }) }) },
      { name: "AccountFailureEdge" },
    ),
  }),
});

export const CustomerSubscriptionType = builder.prismaObject("Subscription", {
  name: "CustomerSubscription",
  fields: (t) => ({
    id: t.exposeID("id"),
    subscriptionNumber: t.exposeString("subscriptionNumber"),
    account: t.relation("account"),
    status: t.expose("status", { type: SubscriptionStatusEnum }),
    startDate: t.expose("startDate", { type: "Date" }),
    cancelledOn: t.expose("cancelledOn", { type: "Date", nullable: true }),
    invoiceSeparately: t.exposeBoolean("invoiceSeparately"),
    charges: t.relation("charges", { query: { orderBy: { position: "asc" } } }),
  }),
});

export const ChargeType = builder.prismaObject("Charge", {
  fields: (t) => ({
    id: t.exposeID("id"),
    name: t.exposeString("name"),
    type: t.expose("type", { type: ChargeTypeEnum }),
    currency: t.exposeString("currency"),
    price: t.field({ type: "Decimal", resolve: (c) => formatPrice(c.price, c.currency) }),
    quantity: t.field({ type: "Decimal", resolve: (c) => formatQuantity(c.quantity) }),
    startDate: t.expose("startDate", { type: "Date" }),
    endDate: t.expose("endDate", { type: "Date", nullable: true }),
    billingPeriod: t.expose("billingPeriod", { type: BillingPeriodEnum, nullable: true }),
    billingTiming: t.expose("billingTiming", { type: BillingTimingEnum, nullable: true }),
    unitOfMeasure: t.exposeString("unitOfMeasure", { nullable: true }),
    chargedThroughDate: t.expose("chargedThroughDate", {
      type: "Date",
      nullable: true,
      description: "Exclusive end of what has been billed; null when nothing has been.",
    }),
  }),
});

export const UsageRecordType = builder.prismaObject("UsageRecord", {
  fields: (t) => ({
    id: t.exposeID("id"),
    subscription: t.relation("subscription"),
    charge: t.relation("charge"),
    quantity: t.field({ type: "Decimal", resolve: (u) => formatQuantity(u.quantity) }),
    unitOfMeasure: t.exposeString("unitOfMeasure"),
    usageDate: t.expose("usageDate", { type: "Date" }),
  }),
});

const CreateAccountInput = builder.inputType("CreateAccountInput", {
  fields: (t) => ({
    accountNumber: t.string({ description: "Defaults to the next A-00000000 number." }),
    name: t.string({ required: true }),
    currency: t.string({ required: true, description: "ISO 4217 code." }),
    billCycleDay: t.int({ required: true }),
    batch: t.int({ description: "1-50, default 1." }),
    billToEmail: t.string({ description: "Empty or absent: the account has no bill-to contact." }),
    paymentTermDays: t.int({ description: "Default 30." }),
    status: t.field({ type: AccountStatusEnum }),
  }),
});

const UpdateAccountInput = builder.inputType("UpdateAccountInput", {
  fields: (t) => ({
    id: t.id({ required: true }),
    name: t.string(),
    billCycleDay: t.int(),
    batch: t.int(),
    billToEmail: t.string(),
    paymentTermDays: t.int(),
    status: t.field({ type: AccountStatusEnum }),
  }),
});

const ChargeInput = builder.inputType("ChargeInput", {
  fields: (t) => ({
    name: t.string({ required: true }),
    type: t.field({ type: ChargeTypeEnum, required: true }),
    currency: t.string({ description: "Defaults to the account's currency." }),
    price: t.field({ type: "Decimal", required: true, description: "May be negative: a credit." }),
    quantity: t.field({ type: "Decimal", description: "Default 1." }),
    startDate: t.field({ type: "Date", description: "Defaults to the subscription's start date." }),
    endDate: t.field({ type: "Date", description: "Exclusive." }),
    billingPeriod: t.field({ type: BillingPeriodEnum }),
    billingTiming: t.field({ type: BillingTimingEnum, description: "RECURRING only; default IN_ADVANCE." }),
    unitOfMeasure: t.string({ description: "USAGE only." }),
  }),
});

const CreateSubscriptionInput = builder.inputType("CreateSubscriptionInput", {
  fields: (t) => ({
    accountId: t.id({ required: true }),
    subscriptionNumber: t.string({ description: "Defaults to the next S-00000000 number." }),
    startDate: t.field({ type: "Date", required: true }),
    invoiceSeparately: t.boolean(),
    charges: t.field({ type: [ChargeInput], required: true }),
  }),
});

const CancelSubscriptionInput = builder.inputType("CancelSubscriptionInput", {
  fields: (t) => ({
    subscriptionId: t.id({ required: true }),
    cancelledOn: t.field({ type: "Date", required: true, description: "Service ends the day before." }),
  }),
});

const RecordUsageInput = builder.inputType("RecordUsageInput", {
  fields: (t) => ({
    subscriptionId: t.id({ required: true }),
    chargeId: t.id({ description: "The USAGE charge; or give chargeName." }),
    chargeName: t.string(),
    quantity: t.field({ type: "Decimal", required: true }),
    unitOfMeasure: t.string({ required: true }),
    usageDate: t.field({ type: "Date", required: true }),
  }),
});

builder.queryFields((t) => ({
  accounts: t.connection(
    {
      type: AccountType,
      authScopes: { viewer: true },
      description: "By account number.",
      args: { search: t.arg.string({ description: "Part of the account number, name or bill-to email, in any case." }) },
      resolve: async (_root, args, ctx, info) => {
        const page = pageOf(ACCOUNTS, null, args);
        const where = accountSearchWhere(args.search);
        const query = withSortKeys(queryFromInfo({ context: ctx, info, path: ["edges", "node"] }), ACCOUNTS);
        const rows = await ctx.db.account.findMany({ ...query, where: { AND: [where, page.where] }, orderBy: page.orderBy, take: page.take });
        return connectionOf(ACCOUNTS, null, page, rows, () => ctx.db.account.count({ where }));
      },
    },
    { name: "AccountConnection", fields: (c) => ({ totalCount: c.int({ resolve: (connection) => totalCountOf(connection) }) }) },
    { name: "AccountEdge" },
  ),
  account: t.prismaField({
    type: AccountType,
    nullable: true,
    authScopes: { viewer: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, { id }, ctx) => {
      const selection = { ...query };
      return isUuid(id) ? ctx.db.account.findUnique({ ...selection, where: { id } }) : null;
    },
  }),
  subscription: t.prismaField({
    type: CustomerSubscriptionType,
    nullable: true,
    authScopes: { viewer: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, { id }, ctx) => {
      const selection = { ...query };
      return isUuid(id) ? ctx.db.subscription.findUnique({ ...selection, where: { id } }) : null;
    },
  }),
}));

builder.mutationFields((t) => ({
  createAccount: t.prismaField({
    type: AccountType,
    errors: {},
    authScopes: { operator: true },
    args: {
      input: t.arg({ type: CreateAccountInput, required: true }),
      idempotencyKey: t.arg.string({ description: IDEMPOTENCY_KEY_DESCRIPTION }),
    },
    resolve: (query, _root, { input, idempotencyKey }, ctx) =>
      writeThenRead(
        ctx,
        { operation: "createAccount", key: idempotencyKey, input },
        async () => (await accounts.createAccount(ctx.db, input)).id,
        (id) => ctx.db.account.findUnique({ ...query, where: { id } }),
        "account",
      ),
  }),
  updateAccount: t.prismaField({
    type: AccountType,
    errors: {},
    authScopes: { operator: true },
    args: { input: t.arg({ type: UpdateAccountInput, required: true }) },
    resolve: (query, _root, { input }, ctx) =>
      writeThenRead(
        ctx,
        null,
        async () => (await accounts.updateAccount(ctx.db, input)).id,
        (id) => ctx.db.account.findUnique({ ...query, where: { id } }),
        "account",
      ),
  }),
  createSubscription: t.prismaField({
    type: CustomerSubscriptionType,
    errors: {},
    authScopes: { operator: true },
    args: {
      input: t.arg({ type: CreateSubscriptionInput, required: true }),
      idempotencyKey: t.arg.string({ description: IDEMPOTENCY_KEY_DESCRIPTION }),
    },
    resolve: (query, _root, { input, idempotencyKey }, ctx) =>
      writeThenRead(
        ctx,
        { operation: "createSubscription", key: idempotencyKey, input },
        async () => (await accounts.createSubscription(ctx.db, input)).id,
        (id) => ctx.db.subscription.findUnique({ ...query, where: { id } }),
        "subscription",
      ),
  }),
  cancelSubscription: t.prismaField({
    type: CustomerSubscriptionType,
    errors: {},
    authScopes: { operator: true },
    args: { input: t.arg({ type: CancelSubscriptionInput, required: true }) },
    resolve: (query, _root, { input }, ctx) =>
      writeThenRead(
        ctx,
        null,
        async () => (await accounts.cancelSubscription(ctx.db, input)).id,
        (id) => ctx.db.subscription.findUnique({ ...query, where: { id } }),
        "subscription",
      ),
  }),
  recordUsage: t.prismaField({
    type: UsageRecordType,
    errors: {},
    authScopes: { operator: true },
    args: { input: t.arg({ type: RecordUsageInput, required: true }) },
    resolve: (query, _root, { input }, ctx) =>
      writeThenRead(
        ctx,
        null,
        async () => (await accounts.recordUsage(ctx.db, input)).id,
        (id) => ctx.db.usageRecord.findUnique({ ...query, where: { id } }),
        "usage record",
      ),
  }),
}));
