import type { Db } from "../db/client.ts";
import type { Account, BillRun, BillRunEvent, Subscription } from "../generated/prisma/client.ts";
import { eventOfNotice, type EventNotice } from "./notices.ts";

/**
 * A stored event as subscriptions see it. One object per event is shared by every subscriber of
 * this process. Its run, account and subscription come with replayed events; for live ones they
 * are read once, and only if a subscription's selection asks for them (`eventRelation`). Events
 * outlive their run: `billRun` is null once the run is deleted (`billRunId` and `billRunNumber`
 * remain).
 */
export type FeedEvent = BillRunEvent & { billRun?: BillRun | null; account?: Account | null; subscription?: Subscription | null };

/**
 * Turns each committed event's notice into one shared object for every subscriber of this
 * process (that identity is what lets identical subscriptions execute once per event). The
 * notice carries the row; only a notice too large to carry it costs a read.
 */
export class EventLoader {
  // The bus hands the same notice object to every subscriber: the event lives as long as it does.
  private readonly carried = new WeakMap<EventNotice, FeedEvent | null>();
  // Reads of events whose notice could not carry them, shared by subscribers that reach them at
  // different times (each drains at its own pace), for a while.
  private readonly reads = new Map<string, Promise<FeedEvent | null>>();
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
  }

  /** The event at once when the notice carried it; otherwise null (use `load`). */
  peek(notice: EventNotice): FeedEvent | null {
    let event = this.carried.get(notice);
    if (event === undefined) this.carried.set(notice, (event = eventOfNotice(notice)));
    return event;
  }

  async load(notice: EventNotice): Promise<FeedEvent | null> {
    const carried = this.peek(notice);
    if (carried) return carried;
    let reading = this.reads.get(notice.id);
    if (!reading) {
      reading = this.db.billRunEvent.findUnique({ where: { id: BigInt(notice.id) } });
      this.reads.set(notice.id, reading);
      setTimeout(() => this.reads.delete(notice.id), 10_000).unref();
      reading.catch(() => this.reads.delete(notice.id));
    }
    return reading;
  }
}
