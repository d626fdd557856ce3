import type { App } from "../app.ts";
import type { Account, BillRun, Subscription } from "../generated/prisma/client.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import { NotFoundError, ValidationError } from "../errors.ts";
import { isUuid } from "../util.ts";
import { Channel } from "./channel-iterator.ts";
import type { EventLoader, FeedEvent } from "./loader.ts";
import type { EventNotice } from "./notices.ts";

export type { FeedEvent };

/** A run's last event when it is deleted (REMOVE_IN_PROGRESS → REMOVED): after it, the run has no events. */
export const isRemoval = (event: { toStatus?: string | null; to?: string | null }): boolean => (event.toStatus ?? event.to) === "REMOVED";

export type EventFeed = "status" | "alert";

const REPLAY_PAGE = 200;
/**
 * Notices a subscriber may hold while it cannot take them (its connection is full); past that
 * it drops them and reads what it missed from the table when it has room again.
 */
const SUBSCRIBER_QUEUE_LIMIT = 1_000;

/**
 * Which stored events a feed carries: status changes, or alerts (account failures and run-level
 * failures). A feed of one run also reads that run's removal, where it ends (an alert feed does
 * not deliver it).
 */
function feedWhere(feed: EventFeed, billRunId: string | null): Prisma.BillRunEventWhereInput {
  const alerts: Prisma.BillRunEventWhereInput[] = [
    { kind: "ALERT" },
    { kind: "STATUS", toStatus: "ERROR" },
    { kind: "STATUS", fromStatus: "POST_IN_PROGRESS", toStatus: "COMPLETED" },
  ];
  if (billRunId) alerts.push({ kind: "STATUS", toStatus: "REMOVED" });
  const kinds: Prisma.BillRunEventWhereInput = feed === "status" ? { kind: "STATUS" } : { OR: alerts };
  return billRunId ? { AND: [kinds, { billRunId }] } : kinds;
}

function carries(feed: EventFeed, notice: EventNotice, oneRun: boolean): boolean {
  if (feed === "status") return notice.kind === "STATUS";
  if (notice.kind === "ALERT") return true;
  if (oneRun && isRemoval(notice)) return true;
  return notice.to === "ERROR" || (notice.from === "POST_IN_PROGRESS" && notice.to === "COMPLETED");
}

type Relation = "billRun" | "account" | "subscription";
const relations = new WeakMap<FeedEvent, Partial<Record<Relation, Promise<unknown>>>>();

/**
 * An event's run, account or subscription: read once per event object, whoever asks, and
 * returned as a plain value once known (so executing the event stays synchronous).
 */
export function eventRelation(app: App, event: FeedEvent, name: "billRun"): BillRun | null | Promise<BillRun | null>;
export function eventRelation(app: App, event: FeedEvent, name: "account"): Account | null | Promise<Account | null>;
export function eventRelation(app: App, event: FeedEvent, name: "subscription"): Subscription | null | Promise<Subscription | null>;
export function eventRelation(app: App, event: FeedEvent, name: Relation): unknown {
  if (event[name] !== undefined) return event[name];
  let loading = relations.get(event);
  if (!loading) relations.set(event, (loading = {}));
  return (loading[name] ??= read(app, event, name).then((value) => {
    (event as Record<Relation, unknown>)[name] = value;
    return value;
  }));
}

function read(app: App, event: FeedEvent, name: Relation): Promise<unknown> {
  if (name === "billRun") return app.db.billRun.findUnique({ where: { id: event.billRunId } });
  if (name === "account") return event.accountId ? app.db.account.findUnique({ where: { id: event.accountId } }) : Promise.resolve(null);
  return event.subscriptionId ? app.db.subscription.findUnique({ where: { id: event.subscriptionId } }) : Promise.resolve(null);
}

export function parseEventId(after: string | null | undefined): bigint | null {
  if (after === null || after === undefined || after === "") return null;
  if (!/^\d{1,18}$/.test(after)) throw new ValidationError("after must be an eventId received earlier", ["after"]);
  return BigInt(after);
}

/**
 * Where a feed of one run starts: the run exists (live), or it was deleted and its REMOVED event
 * has this id. Raises NotFoundError when no run of that id ever existed (or its events went with
 * it, before events outlived their runs).
 */
async function runState(app: App, billRunId: string): Promise<{ removedEventId: bigint | null }> {
  const found = await app.pool.query<{ live: boolean; removed: string | null }>(
    `SELECT EXISTS (SELECT 1 FROM bill_runs WHERE id = $1) AS live,
            (SELECT id::text FROM bill_run_events WHERE bill_run_id = $1 AND kind = 'STATUS' AND to_status = 'REMOVED' LIMIT 1) AS removed`,
    [billRunId],
  );
  const { live, removed } = found.rows[0]!;
  if (!live && removed === null) throw new NotFoundError(`bill run ${billRunId} not found`);
  return { removedEventId: removed === null ? null : BigInt(removed) };
}

/**
 * Stored events of a feed, optionally of one run: first those after `after` (replayed from the
 * table), then live ones as they commit, in order, with no gap and no duplicate at the seam.
 * Live delivery starts listening before the replay reads, and skips what the replay already
 * gave. Per run, event ids are assigned under the run's row lock, so they commit in id order.
 *
 * A feed of one run ends (completes) with the run's removal: the status feed delivers the
 * REMOVED event first, the alert feed only ends. For a run already deleted it replays what
 * follows `after` up to the removal, or, without `after`, the removal alone (nothing else will
 * ever come); with `after` at or past the removal it completes at once. Raises ValidationError
 * for a malformed id, NotFoundError for a run that never existed.
 */
export async function eventFeed(app: App, loader: EventLoader, feed: EventFeed, billRunId: string | null, after: bigint | null): Promise<Channel<FeedEvent>> {
  if (billRunId !== null && !isUuid(billRunId)) throw new ValidationError("billRunId is not a valid id", ["billRunId"]);
  const lastByRun = new Map<string, bigint>();
  let lastSeen = after ?? 0n;
  // A subscriber without `after` wants what commits from now on: after a dropped LISTEN, the
  // catch-up gives it nothing older than this of the runs it has not seen yet.
  const subscribedAfter = after ?? app.events.latestEventId;
  const pending: (EventNotice | "replay" | "catch-up")[] = [];
  // While busy (checking the run, replaying, or waiting for an event to be read), later notices
  // wait their turn.
  let busy = billRunId !== null;

  const unsubscribe = app.events.subscribe(
    (message) => {
      if (message.kind === "PROGRESS") return;
      if (billRunId && message.billRunId !== billRunId) return;
      if (!carries(feed, message, billRunId !== null)) return;
      // The common case, a live subscriber with room and a notice carrying its event, is handled
      // here and now: a thousand subscribers cost a thousand function calls, not a thousand
      // async tasks. Otherwise the notice waits its turn (and the subscriber's room).
      const event = busy || !channel.hasRoom() ? null : loader.peek(message);
      if (event) return deliver(event);
      if (pending.length >= SUBSCRIBER_QUEUE_LIMIT) {
        // Far behind: rather than hold more notices, it reads what it missed from the table.
        pending.length = 0;
        pending.push("catch-up");
      } else if (pending[pending.length - 1] !== "catch-up") {
        pending.push(message);
      }
      drain();
    },
    // Called before the new LISTEN: notices from then on queue behind the catch-up read.
    () => {
      pending.length = 0;
      pending.push("catch-up");
      drain();
    },
  );
  const channel = new Channel<FeedEvent>(SUBSCRIBER_QUEUE_LIMIT, unsubscribe);

  const deliver = (event: FeedEvent) => {
    const previous = lastByRun.get(event.billRunId) ?? lastSeen;
    if (event.id <= previous) return;
    lastByRun.set(event.billRunId, event.id);
    if (event.id > lastSeen && billRunId) lastSeen = event.id;
    const removal = isRemoval(event);
    if (feed === "status" || !removal) channel.push(event);
    // The run is gone: nothing more will come for it (what was pushed is still delivered).
    if (removal && billRunId) channel.close();
  };

  const readStored = async (from: bigint, unseenAfter = from) => {
    let cursor = from;
    while (!channel.isClosed) {
      const page: FeedEvent[] = await app.db.billRunEvent.findMany({
        where: { AND: [feedWhere(feed, billRunId), { id: { gt: cursor } }] },
        include: { account: true, subscription: true },
        orderBy: { id: "asc" },
        take: REPLAY_PAGE,
      });
      // Not an `include`: a deleted run's events have no run (null), which a required relation refuses.
      const runIds = [...new Set(page.map((event) => event.billRunId))];
      const runs = new Map((await app.db.billRun.findMany({ where: { id: { in: runIds } } })).map((run) => [run.id, run]));
      for (const event of page) event.billRun = runs.get(event.billRunId) ?? null;
      for (const event of page) {
        if (event.id <= unseenAfter && !lastByRun.has(event.billRunId)) continue;
        // Paced by the connection: a large history reaches a slow reader without piling up here.
        await channel.room(REPLAY_PAGE);
        deliver(event);
      }
      if (page.length < REPLAY_PAGE) return;
      cursor = page[page.length - 1]!.id;
    }
  };

  const work = async () => {
    try {
      for (let next = pending.shift(); next !== undefined && !channel.isClosed; next = pending.shift()) {
        if (next === "replay") {
          await readStored(after!);
        } else if (next === "catch-up") {
          // The LISTEN connection dropped, or the subscriber fell far behind: whatever it has not
          // had is read from the table (once listening again).
          await app.events.listening();
          const earliest = [...lastByRun.values(), subscribedAfter].reduce((a, b) => (b < a ? b : a), subscribedAfter);
          await readStored(earliest, subscribedAfter);
        } else {
          const event = await loader.load(next);
          await channel.room(REPLAY_PAGE);
          if (event) deliver(event);
        }
      }
    } finally {
      // In the same step as the last check of `pending`: no notice can slip in between.
      busy = false;
    }
  };
  function drain() {
    if (busy) return;
    busy = true;
    work().catch((error) => channel.fail(error));
  }

  if (billRunId !== null) {
    // Checked once listening: a removal committed after this read arrives as a notice.
    let state: { removedEventId: bigint | null };
    try {
      state = await runState(app, billRunId);
    } catch (error) {
      channel.close();
      throw error;
    }
    if (state.removedEventId !== null) {
      if (after !== null && after >= state.removedEventId) {
        channel.close();
        return channel;
      }
      after ??= state.removedEventId - 1n;
    }
    busy = false;
  }
  if (after !== null) pending.unshift("replay");
  if (pending.length > 0) drain();
  return channel;
}

export interface ProgressUpdate {
  billRunId: string;
  accountsProcessed: number;
  accountsTotal: number;
}

const ACTIVE = new Set(["PENDING", "PAUSED", "PROCESSING"]);

/**
 * A run's progress: the current count at once, then at most one update per `intervalMs`,
 * always ending with the final count when the run stops processing.
 */
export async function progressFeed(app: App, billRunId: string, intervalMs = 250): Promise<Channel<ProgressUpdate>> {
  if (!isUuid(billRunId)) throw new ValidationError("billRunId is not a valid id", ["billRunId"]);
  let timer: NodeJS.Timeout | null = null;
  let latest: ProgressUpdate | null = null;
  let lastSent = 0;
  // Closed only after `unsubscribe` below is set.
  const channel = new Channel<ProgressUpdate>(1_000, () => {
    unsubscribe();
    if (timer) clearTimeout(timer);
  });

  const read = async () => {
    const run = await app.db.billRun.findUnique({ where: { id: billRunId }, select: { status: true, accountsProcessed: true, accountsTotal: true } });
    return run;
  };
  const send = (update: ProgressUpdate) => {
    lastSent = Date.now();
    latest = null;
    channel.push(update);
  };
  const finish = async () => {
    const run = await read();
    if (run) send({ billRunId, accountsProcessed: run.accountsProcessed, accountsTotal: run.accountsTotal });
    channel.close();
  };

  const unsubscribe = app.events.subscribe((message) => {
    if (message.billRunId !== billRunId || channel.isClosed) return;
    if (message.kind === "STATUS") {
      if (message.to && !ACTIVE.has(message.to)) void finish();
      return;
    }
    if (message.kind !== "PROGRESS") return;
    const update = { billRunId, accountsProcessed: message.processed, accountsTotal: message.total };
    if (update.accountsProcessed >= update.accountsTotal) {
      if (timer) clearTimeout(timer);
      send(update);
      return;
    }
    const wait = lastSent + intervalMs - Date.now();
    if (wait <= 0) return send(update);
    latest = update;
    timer ??= setTimeout(() => {
      timer = null;
      if (latest && !channel.isClosed) send(latest);
    }, wait);
  });

  const run = await read();
  if (!run) {
    channel.close();
    const removed = await runState(app, billRunId);
    throw new NotFoundError(`bill run ${billRunId} ${removed.removedEventId === null ? "not found" : `was deleted (event ${removed.removedEventId})`}`);
  }
  send({ billRunId, accountsProcessed: run.accountsProcessed, accountsTotal: run.accountsTotal });
  if (!ACTIVE.has(run.status)) channel.close();
  return channel;
}
