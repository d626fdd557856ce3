import { describe, expect, it } from "vitest";
import { waitFor } from "../../test/support/wait.ts";
import { Channel } from "../events/channel-iterator.ts";
import { deliverDirectly, type DirectDelivery } from "./ws.ts";

/** A connection that takes text while `room` is set, as the Outbox does. */
function connection() {
  const written: string[] = [];
  const state = { room: true, looks: 0 };
  const direct: DirectDelivery = {
    next: (json) => written.push(json),
    hasRoom: () => {
      state.looks++;
      return state.room;
    },
  };
  return { written, state, direct };
}

const mask = (error: unknown) => error as Error;

describe("deliverDirectly", () => {
  it("writes results that waited for a read only while the connection has room, in order", async () => {
    const { written, state, direct } = connection();
    const source = new Channel<unknown>(1_000, () => {});
    // Each event's result needs a read; the reads finish together, later.
    const reads = new Map<number, (text: string) => void>();
    const payloadOf = (event: unknown) => new Promise<string>((resolve) => reads.set(event as number, resolve));
    const stream = deliverDirectly(source, payloadOf, direct, mask);
    for (let event = 0; event < 50; event++) source.push(event);

    // The connection fills up: what was read meanwhile waits instead of being written past it.
    state.room = false;
    for (const [event, resolve] of reads) resolve(`result ${event}`);
    // Every read has finished; the writer has since looked at the connection again and again.
    const looks = state.looks;
    await waitFor("the writer to look at the connection again", () => state.looks >= looks + 3, 5_000, 5);
    expect(written).toEqual([]);

    state.room = true;
    await waitFor("the 50 results", () => written.length === 50, 5_000, 5);
    expect(written).toEqual(Array.from({ length: 50 }, (_, event) => `result ${event}`));
    source.close();
    await expect(stream.next()).resolves.toEqual({ value: undefined, done: true });
  });

  it("writes a result known at once straight away, and later ones after those still waiting", async () => {
    const { written, direct } = connection();
    const source = new Channel<unknown>(1_000, () => {});
    let finishRead!: (text: string) => void;
    const payloadOf = (event: unknown) => (event === "needs a read" ? new Promise<string>((resolve) => (finishRead = resolve)) : `result ${event as string}`);
    deliverDirectly(source, payloadOf, direct, mask);
    source.push("first");
    source.push("needs a read");
    source.push("third");
    expect(written).toEqual(["result first"]);
    finishRead("result needs a read");
    await waitFor("the 3 results", () => written.length === 3, 5_000, 5);
    expect(written).toEqual(["result first", "result needs a read", "result third"]);
    source.close();
  });

  it("stops waiting for room when the subscription ends", async () => {
    const { written, state, direct } = connection();
    const source = new Channel<unknown>(1_000, () => {});
    const stream = deliverDirectly(source, async (event) => `result ${event as number}`, direct, mask);
    state.room = false;
    source.push(1);
    await waitFor("the writer to wait for room", () => state.looks >= 2, 5_000, 5);
    await stream.return!();
    state.room = true;
    // Had it kept waiting, it would look again within its polling interval, and then write.
    const looks = state.looks;
    await expect(waitFor("a look or a write after the end", () => state.looks > looks || written.length > 0, 200, 5)).rejects.toThrow("timed out");
    expect(written).toEqual([]);
  });
});
