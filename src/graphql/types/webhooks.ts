import { queryFromInfo } from "@pothos/plugin-prisma";
import { builder } from "../builder.ts";
import { connectionOf, pageOf, plannedPage, totalCountOf, withSortKeys, type KeysetOrder } from "../connections.ts";
import type { Prisma } from "../../generated/prisma/client.ts";
import { isUuid } from "../../util.ts";
import { NotFoundError } from "../../errors.ts";
import * as endpoints from "../../webhooks/endpoints.ts";
import { WEBHOOK_EVENT_TYPES } from "../../webhooks/events.ts";
import { renderBody } from "../../webhooks/events.ts";
import { UserType } from "./users.ts";
import type { Context } from "../context.ts";
import { writeThenRead } from "../write-then-read.ts";

const WebhookEndpointStatusEnum = builder.enumType("WebhookEndpointStatus", {
  values: {
    ENABLED: { description: "Receives the events it subscribes to." },
    DISABLED: { description: "Receives nothing; events meanwhile are not queued for it. Disabled by an ADMIN, or after 5 days of failed deliveries." },
  } as const,
});

const WebhookDeliveryStatusEnum = builder.enumType("WebhookDeliveryStatus", {
  values: {
    PENDING: { description: "Not sent yet, or waiting for a retry (see nextAttemptAt)." },
    SUCCEEDED: { description: "The endpoint answered 2xx." },
    FAILED: { description: "Refused (4xx other than 408/409/429, a redirect, a forbidden address) or not delivered within the retry window (3 days)." },
  } as const,
});

builder.prismaObject("WebhookDeliveryAttempt", {
  description: "One HTTP request of a delivery.",
  fields: (t) => ({
    attemptedAt: t.expose("attemptedAt", { type: "DateTime" }),
    httpStatus: t.exposeInt("httpStatus", { nullable: true, description: "Null when no response came (timeout, connection error, refused address)." }),
    durationMs: t.exposeInt("durationMs"),
    error: t.exposeString("error", { nullable: true }),
    response: t.exposeString("responseBody", { nullable: true, description: "The first 4 KiB of the response body." }),
  }),
});

const WebhookDeliveryType = builder.prismaObject("WebhookDelivery", {
  description: "One event sent (or to be sent) to one endpoint, with every attempt.",
  fields: (t) => ({
    id: t.id({ resolve: (d) => d.id.toString() }),
    webhookId: t.string({
      description: "The `webhook-id` header: the stored event's id, the same for every attempt and redelivery of the event.",
      resolve: (d) => d.eventId.toString(),
    }),
    eventType: t.string({ select: { event: { select: { type: true } } }, resolve: (d) => d.event.type }),
    payload: t.string({
      description: "The JSON body sent: { type, timestamp, data }.",
      select: { event: { select: { type: true, data: true, createdAt: true } } },
      resolve: (d) => renderBody(d.event),
    }),
    status: t.expose("status", { type: WebhookDeliveryStatusEnum }),
    attemptCount: t.exposeInt("attemptCount"),
    nextAttemptAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "When a PENDING delivery is sent next (its endpoint may wait longer behind an earlier retry).",
      resolve: (d) => (d.status === "PENDING" ? d.nextAttemptAt : null),
    }),
    lastAttemptAt: t.expose("lastAttemptAt", { type: "DateTime", nullable: true }),
    lastHttpStatus: t.exposeInt("lastHttpStatus", { nullable: true }),
    lastError: t.exposeString("lastError", { nullable: true }),
    deliveredAt: t.expose("deliveredAt", { type: "DateTime", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    requestedBy: t.relation("requestedBy", {
      type: UserType,
      nullable: true,
      description: "Who asked for a redelivery or test; null for an event's own delivery.",
    }),
    attempts: t.relation("attempts", { query: { orderBy: { id: "asc" } }, description: "Oldest first." }),
  }),
});

/** An endpoint's deliveries, newest first: the id grows with each delivery queued. */
const WEBHOOK_DELIVERIES: KeysetOrder = { name: "WebhookEndpoint.deliveries", keys: [{ field: "id", direction: "desc", type: "bigint" }] };

/** Endpoints oldest first; the id orders those created in the same millisecond. */
const WEBHOOK_ENDPOINTS: KeysetOrder = {
  name: "webhookEndpoints",
  keys: [
    { field: "createdAt", direction: "asc", type: "timestamp" },
    { field: "id", direction: "asc", type: "uuid" },
  ],
};

function deliveriesWhere(args: { status?: Prisma.WebhookDeliveryWhereInput["status"] | null }): Prisma.WebhookDeliveryWhereInput {
  return args.status ? { status: args.status } : {};
}

const WebhookEndpointType = builder.prismaObject("WebhookEndpoint", {
  description: "An HTTPS URL that receives signed events (Standard Webhooks). Its secret is shown only when created or rotated.",
  fields: (t) => ({
    id: t.exposeID("id"),
    url: t.exposeString("url"),
    description: t.exposeString("description"),
    eventTypes: t.exposeStringList("eventTypes"),
    status: t.expose("status", { type: WebhookEndpointStatusEnum }),
    createdBy: t.relation("createdBy", { type: UserType, nullable: true, description: "Emailed when the endpoint is disabled for failing." }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    disabledAt: t.expose("disabledAt", { type: "DateTime", nullable: true }),
    disabledReason: t.exposeString("disabledReason", { nullable: true }),
    failingSince: t.expose("failingSince", { type: "DateTime", nullable: true, description: "Since when every attempt failed; null after a success." }),
    previousSecretExpiresAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "After a rotation: until when the previous secret still signs (a second signature).",
      resolve: (e) => (e.previousSecretExpiresAt && e.previousSecretExpiresAt.getTime() > Date.now() ? e.previousSecretExpiresAt : null),
    }),
    deliveries: t.connection(
      {
        type: WebhookDeliveryType,
        description: "Newest first.",
        args: { status: t.arg({ type: WebhookDeliveryStatusEnum }) },
        select: (args, _ctx, nestedSelection) => {
          const page = plannedPage(WEBHOOK_DELIVERIES, args);
          const where = deliveriesWhere(args);
          const query = nestedSelection({ where: { AND: [where, page.where] }, orderBy: page.orderBy, take: page.take }, ["edges", "node"]);
          return { id: true, deliveries: withSortKeys(query, WEBHOOK_DELIVERIES), _count: { select: { deliveries: { where } } } };
        },
        resolve: (endpoint, args) => {
          const page = pageOf(WEBHOOK_DELIVERIES, endpoint.id, args);
          return connectionOf(WEBHOOK_DELIVERIES, endpoint.id, page, endpoint.deliveries, () => endpoint._count.deliveries);
        },
      },
      { name: "WebhookDeliveryConnection", fields: (c) => ({ totalCount: c.int({ resolve: (connection) => totalCountOf(connection) }) }) },
      { name: "WebhookDeliveryEdge" },
    ),
  }),
});

const CreateWebhookEndpointInput = builder.inputType("CreateWebhookEndpointInput", {
  fields: (t) => ({
    url: t.string({
      required: true,
      description: "https URL (http only when BILLRUN_WEBHOOK_ALLOW_HTTP=true); its host may not resolve to a private address.",
    }),
    eventTypes: t.stringList({ required: true, description: `At least one of: ${WEBHOOK_EVENT_TYPES.join(", ")}.` }),
    description: t.string({ description: "What it is for (at most 500 characters)." }),
  }),
});

const UpdateWebhookEndpointInput = builder.inputType("UpdateWebhookEndpointInput", {
  fields: (t) => ({
    url: t.string(),
    eventTypes: t.stringList(),
    description: t.string(),
  }),
});

interface SecretPayload {
  id: string;
  secret: string;
}

const WebhookEndpointSecretPayload = builder.objectRef<SecretPayload>("WebhookEndpointSecretPayload").implement({
  description: "An endpoint with its signing secret, shown this once.",
  fields: (t) => ({
    webhookEndpoint: t.prismaField({
      type: WebhookEndpointType,
      resolve: (query, p, _args, ctx) => ctx.db.webhookEndpoint.findUniqueOrThrow({ ...query, where: { id: p.id } }),
    }),
    secret: t.exposeString("secret", {
      description: "whsec_... : verify signatures with it (any Standard Webhooks library). Stored encrypted; not shown again.",
    }),
  }),
});

const DeleteWebhookEndpointPayload = builder.objectRef<{ id: string }>("DeleteWebhookEndpointPayload").implement({
  fields: (t) => ({ id: t.exposeID("id") }),
});

/** Reads an endpoint a mutation changed, with the mutation's selection. */
const endpointReader = (ctx: Context, query: { select?: Prisma.WebhookEndpointSelect; include?: Prisma.WebhookEndpointInclude }) => (id: string) =>
  ctx.db.webhookEndpoint.findUnique({ ...query, where: { id } });
/** Reads a delivery a mutation queued (its id in decimal), with the mutation's selection. */
const deliveryReader = (ctx: Context, query: { select?: Prisma.WebhookDeliverySelect; include?: Prisma.WebhookDeliveryInclude }) => (id: string) =>
  ctx.db.webhookDelivery.findUnique({ ...query, where: { id: BigInt(id) } });

builder.queryFields((t) => ({
  webhookEventTypes: t.stringList({
    authScopes: { operator: true },
    description: "The event types an endpoint may subscribe to.",
    resolve: () => [...WEBHOOK_EVENT_TYPES],
  }),
  webhookEndpoints: t.connection(
    {
      type: WebhookEndpointType,
      authScopes: { operator: true },
      description: "Oldest first.",
      resolve: async (_root, args, ctx, info) => {
        const page = pageOf(WEBHOOK_ENDPOINTS, null, args);
        const query = withSortKeys(queryFromInfo({ context: ctx, info, path: ["edges", "node"] }), WEBHOOK_ENDPOINTS);
        const rows = await ctx.db.webhookEndpoint.findMany({ ...query, where: page.where, orderBy: page.orderBy, take: page.take });
        return connectionOf(WEBHOOK_ENDPOINTS, null, page, rows, () => ctx.db.webhookEndpoint.count());
      },
    },
    { name: "WebhookEndpointConnection", fields: (c) => ({ totalCount: c.int({ resolve: (connection) => totalCountOf(connection) }) }) },
    { name: "WebhookEndpointEdge" },
  ),
  webhookEndpoint: t.prismaField({
    type: WebhookEndpointType,
    nullable: true,
    authScopes: { operator: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, { id }, ctx) => {
      // The selection is read whatever the id: a malformed id names no endpoint, it is not an unused query.
      const selection = { ...query };
      return isUuid(id) ? ctx.db.webhookEndpoint.findUnique({ ...selection, where: { id } }) : null;
    },
  }),
}));

builder.mutationFields((t) => ({
  createWebhookEndpoint: t.field({
    type: WebhookEndpointSecretPayload,
    errors: {},
    authScopes: { admin: true },
    description: "An ENABLED endpoint and its signing secret (shown once).",
    args: { input: t.arg({ type: CreateWebhookEndpointInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      endpoints.createEndpoint(ctx.app, { url: input.url, eventTypes: input.eventTypes, description: input.description ?? "" }, ctx.user!.id),
  }),
  updateWebhookEndpoint: t.prismaField({
    type: WebhookEndpointType,
    errors: {},
    authScopes: { admin: true },
    description: "Changes the fields given; the others stay.",
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateWebhookEndpointInput, required: true }) },
    resolve: (query, _root, { id, input }, ctx) =>
      writeThenRead(
        ctx,
        null,
        async () => {
          await endpoints.updateEndpoint(ctx.app, id, input);
          return id;
        },
        endpointReader(ctx, query),
        "webhook endpoint",
      ),
  }),
  rotateWebhookEndpointSecret: t.field({
    type: WebhookEndpointSecretPayload,
    errors: {},
    authScopes: { admin: true },
    description: "A new secret (shown once). For 24 hours every message carries a signature with the old secret too.",
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => ({ id, secret: await endpoints.rotateSecret(ctx.app, id) }),
  }),
  disableWebhookEndpoint: t.prismaField({
    type: WebhookEndpointType,
    errors: {},
    authScopes: { admin: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, { id }, ctx) =>
      writeThenRead(
        ctx,
        null,
        async () => {
          await endpoints.disableEndpoint(ctx.app, id, `disabled by ${ctx.user!.email}`);
          return id;
        },
        endpointReader(ctx, query),
        "webhook endpoint",
      ),
  }),
  enableWebhookEndpoint: t.prismaField({
    type: WebhookEndpointType,
    errors: {},
    authScopes: { admin: true },
    description: "Delivers again, starting with what was queued (deliveries older than 3 days fail).",
    args: { id: t.arg.id({ required: true }) },
    resolve: (query, _root, { id }, ctx) =>
      writeThenRead(
        ctx,
        null,
        async () => {
          await endpoints.enableEndpoint(ctx.app, id);
          return id;
        },
        endpointReader(ctx, query),
        "webhook endpoint",
      ),
  }),
  deleteWebhookEndpoint: t.field({
    type: DeleteWebhookEndpointPayload,
    errors: {},
    authScopes: { admin: true },
    description: "Deletes the endpoint and its delivery log.",
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      await endpoints.deleteEndpoint(ctx.app, id);
      return { id };
    },
  }),
  redeliverWebhook: t.prismaField({
    type: WebhookDeliveryType,
    errors: {},
    authScopes: { admin: true },
    description: "Sends a delivery's event again, now, as a new delivery with the same webhook-id and body.",
    args: { deliveryId: t.arg.id({ required: true }) },
    resolve: (query, _root, { deliveryId }, ctx) =>
      writeThenRead(
        ctx,
        null,
        async () => String(await endpoints.redeliver(ctx.app, deliveryId, ctx.user!.id)),
        deliveryReader(ctx, query),
        "webhook delivery",
      ),
  }),
  sendTestWebhook: t.prismaField({
    type: WebhookDeliveryType,
    errors: {},
    authScopes: { admin: true },
    description: "Sends a `webhook.test` event to the endpoint now.",
    args: { endpointId: t.arg.id({ required: true }) },
    resolve: (query, _root, { endpointId }, ctx) =>
      writeThenRead(
        ctx,
        null,
        async () => {
          if (!isUuid(endpointId)) throw new NotFoundError(`webhook endpoint ${endpointId} not found`);
          return String(await endpoints.sendTest(ctx.app, endpointId, ctx.user!.id));
        },
        deliveryReader(ctx, query),
        "webhook delivery",
      ),
  }),
}));
