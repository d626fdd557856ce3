import { builder } from "../builder.ts";
import type { Context } from "../context.ts";
import type { Channel } from "../../events/channel-iterator.ts";
import { eventFeed, eventRelation, parseEventId, progressFeed, type FeedEvent, type ProgressUpdate } from "../../events/streams.ts";
import { AccountType, CustomerSubscriptionType } from "./accounts.ts";
import { BillRunStatusEnum, BillRunType } from "./billruns.ts";

/** What every stored event says of its run, readable after the run is deleted. */
const RUN_FIELDS_DESCRIPTION = "null once the run is deleted; billRunId and billRunNumber stay.";

const BillRunStatusChange = builder.objectRef<FeedEvent>("BillRunStatusChange").implement({
  description:
    "A bill run changed status. eventId orders events; pass it as `after` to resume. Events outlive their run: " +
    "a deleted run's last event is REMOVE_IN_PROGRESS → REMOVED.",
  fields: (t) => ({
    previousStatus: t.field({ type: BillRunStatusEnum, nullable: true, resolve: (e) => e.fromStatus }),
    status: t.field({ type: BillRunStatusEnum, resolve: (e) => e.toStatus! }),
  }),
});

const BillRunAlert = builder.objectRef<FeedEvent>("BillRunAlert").implement({
  description:
    "Something went wrong in a bill run: an account (and, when one caused it, a subscription) failed, " +
    "the run as a whole failed (code RUN_ERROR), or some documents could not be posted (POST_INCOMPLETE).",
  fields: (t) => ({
    account: t.field({ type: AccountType, nullable: true, resolve: (e, _args, ctx) => eventRelation(ctx.app, e, "account") }),
    subscription: t.field({ type: CustomerSubscriptionType, nullable: true, resolve: (e, _args, ctx) => eventRelation(ctx.app, e, "subscription") }),
    code: t.string({ resolve: (e) => e.code ?? (e.toStatus === "ERROR" ? "RUN_ERROR" : "POST_INCOMPLETE") }),
    message: t.string({ resolve: (e) => e.message ?? "" }),
  }),
});

// Both kinds of stored event say which run they belong to and when, the same way.
for (const ref of [BillRunStatusChange, BillRunAlert]) {
  builder.objectFields(ref, (t) => ({
    eventId: t.string({ resolve: (e) => e.id.toString() }),
    billRunId: t.id({ resolve: (e) => e.billRunId }),
    billRunNumber: t.string({ resolve: (e) => e.billRunNumber }),
    billRun: t.field({
      type: BillRunType,
      nullable: true,
      description: RUN_FIELDS_DESCRIPTION,
      resolve: (e, _args, ctx) => eventRelation(ctx.app, e, "billRun"),
    }),
    at: t.field({ type: "DateTime", resolve: (e) => e.createdAt }),
  }));
}

const BillRunProgress = builder.objectRef<ProgressUpdate>("BillRunProgress").implement({
  fields: (t) => ({
    billRun: t.field({
      type: BillRunType,
      resolve: (p, _args, ctx) => ctx.db.billRun.findUniqueOrThrow({ where: { id: p.billRunId } }),
    }),
    accountsProcessed: t.exposeInt("accountsProcessed"),
    accountsTotal: t.exposeInt("accountsTotal"),
  }),
});

/**
 * graphql-ws waits for each message to be written before taking the next, so a client that
 * stops reading stalls its own feed; its queue is bounded, and past that bound its connection
 * is closed (4413) rather than holding events for it. It resumes with `after`.
 */
function cutOffWhenBehind<T>(ctx: Context, channel: Channel<T>): Channel<T> {
  channel.onOverflow = () => {
    ctx.app.log.warn({ requestId: ctx.requestId }, "closing a WebSocket whose subscriber fell too far behind");
    ctx.closeConnection?.(4413, "Subscriber too slow: resubscribe with after");
  };
  return channel;
}

builder.subscriptionFields((t) => ({
  billRunStatusChanged: t.field({
    type: BillRunStatusChange,
    description:
      "Status changes of one run, or of every run when billRunId is left out. With `after`, stored events after that eventId come first. " +
      "A run's feed completes after its REMOVED event (at once, with that event alone, for a run already deleted); " +
      "an id no run ever had is a NOT_FOUND error.",
    authScopes: { viewer: true },
    args: { billRunId: t.arg.id(), after: t.arg.string() },
    subscribe: async (_root, { billRunId, after }, ctx) =>
      cutOffWhenBehind(ctx, await eventFeed(ctx.app, ctx.app.eventLoader, "status", billRunId ?? null, parseEventId(after))),
    resolve: (event) => event,
  }),
  billRunAlert: t.field({
    type: BillRunAlert,
    description:
      "Per-account failures as they happen, and run-level failures. With `after`, stored alerts after that eventId come first. " +
      "A run's feed completes when the run is deleted; an id no run ever had is a NOT_FOUND error.",
    authScopes: { viewer: true },
    args: { billRunId: t.arg.id(), after: t.arg.string() },
    subscribe: async (_root, { billRunId, after }, ctx) =>
      cutOffWhenBehind(ctx, await eventFeed(ctx.app, ctx.app.eventLoader, "alert", billRunId ?? null, parseEventId(after))),
    resolve: (event) => event,
  }),
  billRunProgress: t.field({
    type: BillRunProgress,
    description: "Accounts processed so far: now, then at most four updates a second, ending with the final count.",
    authScopes: { viewer: true },
    args: { billRunId: t.arg.id({ required: true }) },
    subscribe: (_root, { billRunId }, ctx) => progressFeed(ctx.app, billRunId),
    resolve: (update) => update,
  }),
}));
