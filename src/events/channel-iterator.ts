/** How often a producer waiting for a piped consumer's room looks again. */
const ROOM_POLL_MS = 10;

/** Resolves once `hasRoom()` is true or `gone()` is: for a producer pacing itself by a consumer that cannot notify. */
export async function whenRoom(hasRoom: () => boolean, gone: () => boolean): Promise<void> {
  while (!gone() && !hasRoom()) await new Promise((resolve) => setTimeout(resolve, ROOM_POLL_MS));
}

export class SlowConsumerError extends Error {
  override name = "SlowConsumerError";
}

/**
 * A bounded async queue that a GraphQL subscription iterates. `push` never blocks: a consumer
 * that falls `limit` items behind is failed instead of letting memory grow (the client resumes
 * from its last event id). `return()` (the client unsubscribed) ends it at once, even while the
 * consumer is waiting.
 */
export class Channel<T> implements AsyncIterableIterator<T> {
  private readonly items: T[] = [];
  private readonly waiters: ((result: IteratorResult<T>) => void)[] = [];
  private readonly failWaiters: ((error: unknown) => void)[] = [];
  private roomWaiters: (() => void)[] = [];
  private closed = false;
  private failure: unknown = null;
  private consumer: ((item: T) => void) | null = null;
  private consumerHasRoom: () => boolean = () => true;
  private readonly limit: number;
  private readonly onClose: () => void;
  /** Called once when the consumer fell `limit` items behind (e.g. to drop its connection). */
  onOverflow: (() => void) | null = null;

  constructor(limit: number, onClose: () => void) {
    this.limit = limit;
    this.onClose = onClose;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  push(item: T): void {
    if (this.closed) return;
    if (this.consumer) return this.consumer(item);
    const waiter = this.waiters.shift();
    if (waiter) {
      this.failWaiters.shift();
      waiter({ value: item, done: false });
      return;
    }
    this.items.push(item);
    if (this.items.length > this.limit) this.overflow();
  }

  /** The consumer fell `limit` items behind: what it holds is dropped and it is failed. */
  overflow(): void {
    if (this.closed) return;
    this.items.length = 0;
    this.onOverflow?.();
    this.fail(new SlowConsumerError(`the subscriber fell more than ${this.limit} events behind; resubscribe with "after" to resume`));
  }

  /**
   * From now on hands each item to `consumer` as it is pushed, synchronously and in order,
   * instead of queueing it for `next()`, which then only reports the end (done, or the failure).
   * Items already queued go to `consumer` at once. The consumer bounds its own backlog.
   */
  pipeTo(consumer: (item: T) => void, hasRoom: () => boolean): void {
    this.consumer = consumer;
    this.consumerHasRoom = hasRoom;
    for (const item of this.items.splice(0)) consumer(item);
    this.wakeProducers();
  }

  /** Whether a producer may push now without waiting for `room`. */
  hasRoom(): boolean {
    return this.items.length < this.limit && this.consumerHasRoom();
  }

  /** Resolves when fewer than `watermark` items wait: producers of large replays pace themselves with it. */
  async room(watermark: number): Promise<void> {
    while (!this.closed && this.items.length >= watermark) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
    // A piped consumer says when it has room (e.g. its connection has sent what it held).
    await whenRoom(this.consumerHasRoom, () => this.closed);
  }

  fail(error: unknown): void {
    if (this.closed) return;
    this.failure = error;
    this.finish();
    for (const reject of this.failWaiters.splice(0)) reject(error);
    this.waiters.length = 0;
  }

  close(): void {
    if (this.closed) return;
    this.finish();
    for (const resolve of this.waiters.splice(0)) resolve({ value: undefined, done: true });
    this.failWaiters.length = 0;
  }

  private finish(): void {
    this.closed = true;
    this.wakeProducers();
    this.onClose();
  }

  private wakeProducers(): void {
    const waiting = this.roomWaiters;
    this.roomWaiters = [];
    for (const resolve of waiting) resolve();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) {
      const value = this.items.shift()!;
      this.wakeProducers();
      return Promise.resolve({ value, done: false });
    }
    if (this.failure) {
      const failure = this.failure;
      this.failure = null;
      return Promise.reject(failure);
    }
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiters.push(resolve);
      this.failWaiters.push(reject);
    });
  }

  return(): Promise<IteratorResult<T>> {
    this.items.length = 0;
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
