import { describe, expect, it } from "vitest";
import { Channel, SlowConsumerError } from "./channel-iterator.ts";

describe("Channel", () => {
  it("delivers pushed items in order", async () => {
    const channel = new Channel<number>(10, () => {});
    channel.push(1);
    channel.push(2);
    expect(await channel.next()).toEqual({ value: 1, done: false });
    expect(await channel.next()).toEqual({ value: 2, done: false });
  });

  it("hands an item straight to a waiting consumer", async () => {
    const channel = new Channel<string>(10, () => {});
    const waiting = channel.next();
    channel.push("x");
    expect(await waiting).toEqual({ value: "x", done: false });
  });

  it("fails a consumer that falls behind, drops what it held and reports the overflow once", async () => {
    let closed = 0;
    let overflows = 0;
    const channel = new Channel<number>(3, () => closed++);
    channel.onOverflow = () => overflows++;
    for (let i = 0; i < 10; i++) channel.push(i);
    expect(overflows).toBe(1);
    expect(closed).toBe(1);
    await expect(channel.next()).rejects.toBeInstanceOf(SlowConsumerError);
    expect(await channel.next()).toEqual({ value: undefined, done: true });
  });

  it("ends at once on return(), even while the consumer waits, and unsubscribes", async () => {
    let closed = 0;
    const channel = new Channel<number>(3, () => closed++);
    const waiting = channel.next();
    await channel.return();
    expect(await waiting).toEqual({ value: undefined, done: true });
    expect(closed).toBe(1);
    channel.push(1);
    expect(await channel.next()).toEqual({ value: undefined, done: true });
  });

  it("lets a producer wait for room", async () => {
    const channel = new Channel<number>(100, () => {});
    for (let i = 0; i < 5; i++) channel.push(i);
    let roomy = false;
    const room = channel.room(3).then(() => (roomy = true));
    await Promise.resolve();
    expect(roomy).toBe(false);
    await channel.next();
    await channel.next();
    await channel.next();
    await room;
    expect(roomy).toBe(true);
  });

  it("hands items to a piped consumer as they come, queued ones first, and then reports only the end", async () => {
    const channel = new Channel<number>(3, () => {});
    channel.push(1);
    const seen: number[] = [];
    channel.pipeTo(
      (item) => seen.push(item),
      () => true,
    );
    expect(seen).toEqual([1]);
    // More than the queue limit: a piped consumer bounds its own backlog.
    for (let i = 2; i <= 6; i++) channel.push(i);
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    const end = channel.next();
    channel.close();
    expect(await end).toEqual({ value: undefined, done: true });
    channel.push(7);
    expect(seen).toHaveLength(6);
  });
});
