import net from "node:net";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { FlushScheduler, Outbox, textFrame } from "./ws-outbox.ts";

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const step of cleanup.splice(0)) step();
});

/** A real WebSocket connection; the server side writes through an Outbox on the raw socket. */
async function connectedPair(maxBytes = 1 << 20) {
  const wss = new WebSocketServer({ port: 0, perMessageDeflate: false });
  const accepted = new Promise<{ outbox: Outbox; socket: net.Socket; overflows: number[] }>((resolve) => {
    wss.once("connection", (ws, request) => {
      const state = { outbox: null as unknown as Outbox, socket: request.socket, overflows: [] as number[] };
      state.outbox = new Outbox(
        request.socket,
        () => ws.readyState === ws.OPEN,
        new FlushScheduler(),
        maxBytes,
        (buffered) => state.overflows.push(buffered),
      );
      resolve(state);
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

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("textFrame", () => {
  it("frames short, 16-bit and 64-bit lengths and multi-byte text as a real client reads them", async () => {
    const { outbox, received } = await connectedPair();
    const messages = ["", "ok", "€".repeat(50), "a".repeat(125), "b".repeat(126), "c".repeat(65_535), "d".repeat(65_536), `{"x":"${"é".repeat(40_000)}"}`];
    for (const message of messages) outbox.send(message);
    await until(() => received.length === messages.length);
    expect(received).toEqual(messages);
  });

  it("has the header RFC 6455 prescribes", () => {
    expect([...textFrame("hi")]).toEqual([0x81, 2, 0x68, 0x69]);
    expect([...textFrame("x".repeat(300)).subarray(0, 4)]).toEqual([0x81, 126, 1, 44]);
    expect([...textFrame("x".repeat(70_000)).subarray(0, 10)]).toEqual([0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
  });
});

describe("Outbox", () => {
  it("writes what was queued in one turn of the event loop with one write, in order", async () => {
    const { outbox, socket, received } = await connectedPair();
    let writes = 0;
    const write = socket.write.bind(socket);
    socket.write = ((...args: Parameters<typeof write>) => {
      writes++;
      return write(...args);
    }) as typeof socket.write;
    for (let i = 0; i < 5; i++) outbox.send(`m${i}`);
    expect(writes).toBe(0);
    await until(() => received.length === 5);
    expect(received).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(writes).toBe(1);
  });

  it("stops holding messages for a peer that does not read once the cap is passed", async () => {
    const maxBytes = 256 * 1024;
    // A raw TCP peer that never reads: the kernel's buffers fill, then the socket's, then the outbox's.
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const peer = net.connect((server.address() as AddressInfo).port, "127.0.0.1");
    peer.pause();
    const socket = await new Promise<net.Socket>((resolve) => server.once("connection", resolve));
    cleanup.push(() => {
      peer.destroy();
      socket.destroy();
      server.close();
    });
    const overflows: number[] = [];
    const outbox = new Outbox(
      socket,
      () => true,
      new FlushScheduler(),
      maxBytes,
      (buffered) => overflows.push(buffered),
    );
    const message = "x".repeat(64 * 1024);
    let sent = 0;
    while (overflows.length === 0) {
      outbox.send(message);
      sent++;
      if (sent > 10_000) throw new Error("the cap never applied");
      // Let queued frames reach the socket, as the event loop would between events.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(overflows).toHaveLength(1);
    expect(overflows[0]).toBeGreaterThan(maxBytes);
    expect(overflows[0]).toBeLessThanOrEqual(maxBytes + message.length + 10);
    expect(outbox.buffered).toBeLessThanOrEqual(maxBytes + message.length + 10);
    // Later messages are dropped, not held.
    const held = outbox.buffered;
    outbox.send(message);
    expect(outbox.buffered).toBe(held);
    expect(outbox.hasRoom()).toBe(false);
  });
});
