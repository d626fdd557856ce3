import type { App } from "../app.ts";
import type { Account, BillRun, BillRunEvent, Subscription } from "../generated/prisma/client.ts";
import type { Prisma } from "../generated/prisma/client.ts";
import { ValidationError } from "../errors.ts";
import { isUuid } from "../util.ts";
import type { BusMessage } from "./bus.ts";
import { Channel } from "./channel-iterator.ts";

export type LoadedEvent = BillRunEvent & { billRun: BillRun; account: Account | null; subscription: Subscription | null };

export type EventFeed = "status" | "alert";

const REPLAY_PAGE = 200;
/** Events a subscriber may fall behind by before it is cut off (it resumes with `after`). */
const SUBSCRIBER_QUEUE_LIMIT = 1_000;

/** Which stored events a feed carries: status changes, or alerts (account failures and run-level failures). */
function feedWhere(feed: EventFeed, billRunId: string | null): Prisma.BillRunEventWhereInput {
  const kinds: Prisma.BillRunEventWhereInput =
    feed === "status"
      ? { kind: "STATUS" }
      : { OR: [{ kind: "ALERT" }, { kind: "STATUS", toStatus: "ERROR" }, { kind: "STATUS", fromStatus: "POST_IN_PROGRESS", toStatus: "COMPLETED" }] };
  return billRunId ? { AND: [kinds, { billRunId }] } : kinds;
}

function carries(feed: EventFeed, message: BusMessage & { kind: "STATUS" | "ALERT" }): boolean {
  if (feed === "status") return message.kind === "STATUS";
  if (message.kind === "ALERT") return true;
  const m = message as { to?: string; from?: string };
  return m.to === "ERROR" || (m.from === "POST_IN_PROGRESS" && m.to === "COMPLETED");
}

/**
 * One read per committed event, shared by every subscriber of this process: a thousand
 * dashboards watching the same run cost one query per event, not a thousand.
 */
export class EventLoader {
  private readonly cache = new Map<string, Promise<LoadedEvent | null>>();
  private readonly app: App;
  constructor(app: App) {
    this.app = app;
  }
  load(id: string): Promise<LoadedEvent | null> {
    let loading = this.cache.get(id);
    if (!loading) {
      loading = this.app.db.billRunEvent.findUnique({ where: { id: BigInt(id) }, include: { billRun: true, account: true, subscription: true } });
      this.cache.set(id, loading);
      setTimeout(() => this.cache.delete(id), 10_000).unref();
      loading.catch(() => this.cache.delete(id));
    }
    return loading;
  }
}

export function parseEventId(after: string | null | undefined): bigint | null {
  if (after === null || after === undefined || after === "") return null;
  if (!/^\d{1,18}$/.test(after)) throw new ValidationError("after must be an eventId received earlier", ["after"]);
  return BigInt(after);
}

/**
 * Stored events of a feed, optionally of one run: first those after `after` (replayed from the
 * table), then live ones as they commit, in order, with no gap and no duplicate at the seam.
 * Live delivery starts listening before the replay reads, and skips what the replay already
 * gave. Per run, event ids are assigned under the run's row lock, so they commit in id order.
 */
export function eventFeed(app: App, loader: EventLoader, feed: EventFeed, billRunId: string | null, after: bigint | null): Channel<LoadedEvent> {
  if (billRunId !== null && !isUuid(billRunId)) throw new ValidationError("billRunId is not a valid id", ["billRunId"]);
  const lastByRun = new Map<string, bigint>();
  let lastSeen = after ?? 0n;
  const pending: (BusMessage | "catch-up")[] = [];
  let wake: (() => void) | null = null;

  const unsubscribe = app.events.subscribe(
    (message) => {
      if (message.kind === "PROGRESS") return;
      if (billRunId && message.billRunId !== billRunId) return;
      if (!carries(feed, message)) return;
      pending.push(message);
      wake?.();
    },
    () => {
      pending.push("catch-up");
      wake?.();
    },
  );
  const channel = new Channel<LoadedEvent>(SUBSCRIBER_QUEUE_LIMIT, unsubscribe);

  const deliver = (event: LoadedEvent) => {
    const previous = lastByRun.get(event.billRunId) ?? lastSeen;
    if (event.id <= previous) return;
    lastByRun.set(event.billRunId, event.id);
    if (event.id > lastSeen && billRunId) lastSeen = event.id;
    channel.push(event);
  };

  const readStored = async (from: bigint) => {
    let cursor = from;
    while (!channel.isClosed) {
      const page = (await app.db.billRunEvent.findMany({
        where: { AND: [feedWhere(feed, billRunId), { id: { gt: cursor } }] },
        include: { billRun: true, account: true, subscription: true },
        orderBy: { id: "asc" },
        take: REPLAY_PAGE,
      })) as LoadedEvent[];
      for (const event of page) deliver(event);
      if (page.length < REPLAY_PAGE) return;
      cursor = page[page.length - 1]!.id;
      await channel.room(REPLAY_PAGE);
    }
  };

  const pump = async () => {
    if (after !== null) await readStored(after);
    while (!channel.isClosed) {
      const next = pending.shift();
      if (next === undefined) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        continue;
      }
      if (next === "catch-up") {
        // The LISTEN connection dropped: whatever committed meanwhile is read from the table.
        const earliest = [...lastByRun.values(), lastSeen].reduce((a, b) => (b < a ? b : a), lastSeen);
        await readStored(earliest);
        continue;
      }
      if (next.kind === "PROGRESS") continue;
      const event = await loader.load(next.id);
      if (event) deliver(event);
    }
  };
  pump().catch((error) => channel.fail(error));
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
  let channel: Channel<ProgressUpdate>;

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
      const to = (message as { to?: string }).to;
      if (to && !ACTIVE.has(to)) void finish();
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
  channel = new Channel<ProgressUpdate>(1_000, () => {
    unsubscribe();
    if (timer) clearTimeout(timer);
  });

  const run = await read();
  if (!run) {
    channel.close();
    throw new ValidationError(`bill run ${billRunId} not found`, ["billRunId"]);
  }
  send({ billRunId, accountsProcessed: run.accountsProcessed, accountsTotal: run.accountsTotal });
  if (!ACTIVE.has(run.status)) channel.close();
  return channel;
}
