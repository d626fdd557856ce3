import { builder } from "../builder.ts";
import { DocumentStatus, ItemKind } from "../../generated/prisma/enums.ts";
import { describedValues } from "../enums.ts";
import { formatAmount, formatPrice, formatQuantity } from "../format.ts";
import { isUuid } from "../../util.ts";
import { applyPayment } from "../../billruns/service.ts";
import { ChargeTypeEnum, CustomerSubscriptionType } from "./accounts.ts";
import { IDEMPOTENCY_KEY_DESCRIPTION } from "../../idempotency/idempotency.ts";
import { writeThenRead } from "../write-then-read.ts";
import { DOCUMENT_LINK_SECONDS, signedDocumentUrl } from "../../documents/links.ts";

export const DocumentStatusEnum = builder.enumType(DocumentStatus, { name: "DocumentStatus" });
const ItemKindEnum = builder.enumType("ItemKind", {
  values: describedValues(ItemKind, {
    CHARGE: "Service billed for its period.",
    CREDIT: "Service billed in advance and given back after a cancellation.",
  }),
});

export const DocumentItemType = builder.prismaObject("DocumentItem", {
  name: "DocumentItem",
  fields: (t) => ({
    id: t.exposeID("id"),
    charge: t.relation("charge"),
    subscription: t.field({
      type: CustomerSubscriptionType,
      select: (_args, _ctx, nestedSelection) => ({ charge: { select: { subscription: nestedSelection(true) } } }),
      resolve: (i) => i.charge.subscription,
    }),
    chargeName: t.exposeString("chargeName"),
    chargeType: t.expose("chargeType", { type: ChargeTypeEnum }),
    kind: t.expose("kind", { type: ItemKindEnum }),
    serviceStartDate: t.expose("serviceStart", { type: "Date" }),
    serviceEndDate: t.expose("serviceEnd", {
      type: "Date",
      description: "Exclusive end of the service period; equal to the start for a one-time charge.",
    }),
    quantity: t.field({ type: "Decimal", resolve: (i) => formatQuantity(i.quantity) }),
    unitPrice: t.field({
      type: "Decimal",
      select: { document: { select: { currency: true } } },
      resolve: (i) => formatPrice(i.unitPrice, i.document.currency),
    }),
    amount: t.field({ type: "Decimal", select: { document: { select: { currency: true } } }, resolve: (i) => formatAmount(i.amount, i.document.currency) }),
  }),
});

export const InvoiceType = documentFields("invoiceNumber");
export const CreditMemoType = documentFields("creditMemoNumber");

export const PaymentType = builder.prismaObject("Payment", {
  fields: (t) => ({
    id: t.exposeID("id"),
    amount: t.field({ type: "Decimal", select: { document: { select: { currency: true } } }, resolve: (p) => formatAmount(p.amount, p.document.currency) }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    invoice: t.relation("document", { type: InvoiceType }),
  }),
});

function documentFields(numberField: "invoiceNumber" | "creditMemoNumber") {
  return builder.prismaObject("Document", {
    variant: numberField === "invoiceNumber" ? "Invoice" : "CreditMemo",
    fields: (t) => ({
      id: t.exposeID("id"),
      [numberField]: t.exposeString("number"),
      account: t.relation("account"),
      billRun: t.relation("billRun", { nullable: true }),
      status: t.expose("status", { type: DocumentStatusEnum }),
      currency: t.exposeString("currency"),
      amount: t.field({ type: "Decimal", description: "Always positive.", resolve: (d) => formatAmount(d.amount, d.currency) }),
      balance: t.field({ type: "Decimal", resolve: (d) => formatAmount(d.balance, d.currency) }),
      invoiceDate: t.expose("invoiceDate", { type: "Date" }),
      dueDate: t.expose("dueDate", { type: "Date" }),
      postedAt: t.expose("postedAt", { type: "DateTime", nullable: true }),
      items: t.relation("items", { query: { orderBy: { position: "asc" } } }),
      payments: t.relation("payments", { query: { orderBy: { createdAt: "asc" } } }),
      pdfUrl: t.string({
        description: `The PDF, without the bearer token: a signed link that works for ${DOCUMENT_LINK_SECONDS / 60} minutes (relative unless PUBLIC_URL is set).`,
        resolve: (d, _args, ctx) => signedDocumentUrl(ctx.app, numberField === "invoiceNumber" ? "INVOICE" : "CREDIT_MEMO", d.id),
      }),
    }),
  });
}

const ApplyPaymentInput = builder.inputType("ApplyPaymentInput", {
  fields: (t) => ({
    invoiceId: t.id({ required: true }),
    amount: t.field({ type: "Decimal", required: true, description: "At most the invoice's balance." }),
  }),
});

builder.queryFields((t) => ({
  invoice: t.prismaField({
    type: InvoiceType,
    nullable: true,
    authScopes: { viewer: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, { id }, ctx) => {
      const selection = { ...query };
      return isUuid(id) ? ctx.db.document.findFirst({ ...selection, where: { id, type: "INVOICE" } }) : null;
    },
  }),
  creditMemo: t.prismaField({
    type: CreditMemoType,
    nullable: true,
    authScopes: { viewer: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, { id }, ctx) => {
      const selection = { ...query };
      return isUuid(id) ? ctx.db.document.findFirst({ ...selection, where: { id, type: "CREDIT_MEMO" } }) : null;
    },
  }),
}));

builder.mutationFields((t) => ({
  applyPayment: t.prismaField({
    type: PaymentType,
    errors: {},
    authScopes: { operator: true },
    description: "Applies a payment to a POSTED invoice (refused for drafts); the amount may not exceed the balance.",
    args: {
      input: t.arg({ type: ApplyPaymentInput, required: true }),
      idempotencyKey: t.arg.string({ description: IDEMPOTENCY_KEY_DESCRIPTION }),
    },
    resolve: (query, _root, { input, idempotencyKey }, ctx) =>
      writeThenRead(
        ctx,
        { operation: "applyPayment", key: idempotencyKey, input },
        () => applyPayment(ctx.app, input, ctx.user!.id),
        (id) => ctx.db.payment.findUnique({ ...query, where: { id } }),
        "payment",
      ),
  }),
}));
