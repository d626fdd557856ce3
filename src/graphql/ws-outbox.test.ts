import type { AddressInfo, Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../../test/support/wait.ts";
import WebSocket, { WebSocketServer } from "ws";
import v8 from "node:v8";
import vm from "node:vm";
import { Outbox } from "./ws-outbox.ts";

v8.setFlagsFromString("--expose-gc");
const collectGarbage = vm.runInNewContext("gc") as () => void;

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const step of cleanup.splice(0)) step();
});

/** A real WebSocket connection; the server side sends through an Outbox. */
async function connectedPair(maxBytes = 1 << 20) {
  const wss = new WebSocketServer({ port: 0, perMessageDeflate: false });
  const accepted = new Promise<{ outbox: Outbox; server: WebSocket; tcp: Socket; overflows: number[] }>((resolve) => {
    wss.once("connection", (server, request) => {
      const overflows: number[] = [];
      const outbox = new Outbox(server, request.socket, maxBytes, (buffered) => {
        overflows.push(buffered);
        server.terminate();
      });
      resolve({ outbox, server, tcp: request.socket, overflows });
    });
  });
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  const received: string[] = [];
  client.on("message", (data) => received.push(String(data)));
  await new Promise((resolve) => client.once("open", resolve));
  cleanup.push(() => {
    client.terminate();
    wss.close();
  });
  return { ...(await accepted), client, received };
}

describe("Outbox", () => {
  it("holds what is sent in one turn of the event loop and writes it in the next, in order", async () => {
    const { outbox, tcp, received } = await connectedPair();
    const messages = ["m0", "€".repeat(50), "b".repeat(126), "c".repeat(70_000), "m4"];
    for (const message of messages) outbox.send(message);
    // Corked: nothing has reached the kernel yet, all of it waits for one write.
    expect(tcp.writableCorked).toBe(1);
    expect(outbox.buffered).toBeGreaterThan(70_000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(tcp.writableCorked).toBe(0);
    await waitFor("every message", () => received.length === messages.length, 10_000, 5);
    expect(received).toEqual(messages);
  });

  it("writes frames a WebSocket client reads intact at each length encoding's edges, in any UTF-8", async () => {
    const { outbox, received } = await connectedPair();
    // 7-bit, 16-bit and 64-bit lengths, each at its edges, counted in bytes (not characters).
    const lengths = [0, 1, 125, 126, 127, 65_535, 65_536, 200_000];
    // `bytes` bytes of mostly three-byte characters, made up with one- and two-byte ones.
    const multiByte = (bytes: number) => "€".repeat(Math.floor(bytes / 3)) + ["", "a", "é"][bytes % 3]!;
    const messages = lengths.flatMap((bytes) => ["a".repeat(bytes), multiByte(bytes)]);
    expect(messages.map((message) => Buffer.byteLength(message))).toEqual(lengths.flatMap((bytes) => [bytes, bytes]));
    for (const message of messages) outbox.send(message);
    await waitFor("every message", () => received.length === messages.length, 10_000, 5);
    expect(received).toEqual(messages);
  });

  it("keeps what was sent before closing ahead of the closing frame", async () => {
    const { outbox, server, client, received } = await connectedPair();
    const closedWith = new Promise<number>((resolve) => client.once("close", (code) => resolve(code)));
    outbox.send("last words");
    server.close(4403, "Forbidden");
    expect(await closedWith).toBe(4403);
    expect(received).toEqual(["last words"]);
  });

  it("drops a peer that does not read once the bound is passed, holding at most one message more", async () => {
    const maxBytes = 2 * 1024 * 1024;
    const { outbox, server, client, overflows } = await connectedPair(maxBytes);
    // The client stops reading: the kernel's buffers fill, then the socket's.
    client.pause();
    const closed = new Promise((resolve) => server.once("close", resolve));
    const message = "x".repeat(64 * 1024);
    // Garbage of earlier tests, collected during this one, would hide what this one holds.
    collectGarbage();
    const baseline = process.memoryUsage().arrayBuffers;
    let held = 0;
    let visible = 0;
    let sent = 0;
    while (overflows.length === 0) {
      expect(outbox.buffered).toBeLessThanOrEqual(maxBytes);
      // What is held is in Buffers: the process's arrayBuffers show it.
      held = outbox.buffered;
      visible = process.memoryUsage().arrayBuffers - baseline;
      outbox.send(message);
      if (++sent > 10_000) throw new Error("the bound never applied");
      // Let the socket hand what it can to the kernel, as the event loop would between events.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(overflows).toHaveLength(1);
    expect(overflows[0]).toBeGreaterThan(maxBytes);
    expect(overflows[0]).toBeLessThanOrEqual(maxBytes + message.length + 14);
    expect(held).toBeGreaterThan(maxBytes / 2);
    expect(visible).toBeGreaterThanOrEqual(held);
    expect(outbox.hasRoom()).toBe(false);
    // Later messages are dropped, not held, and the connection is gone.
    outbox.send(message);
    expect(overflows).toHaveLength(1);
    await closed;
    expect(outbox.buffered).toBe(0);
  });

  it("has room under half the bound", async () => {
    const { outbox, client } = await connectedPair(64 * 1024);
    client.pause();
    expect(outbox.hasRoom()).toBe(true);
    outbox.send("y".repeat(40 * 1024));
    // Corked until the next turn: the 40 kB count against the bound.
    expect(outbox.hasRoom()).toBe(false);
  });
});
