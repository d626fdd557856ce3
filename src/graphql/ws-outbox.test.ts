import type { AddressInfo, Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { Outbox } from "./ws-outbox.ts";

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

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
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
    await until(() => received.length === messages.length);
    expect(received).toEqual(messages);
  });

  it("drops a peer that does not read once the bound is passed, holding at most one message more", async () => {
    const maxBytes = 2 * 1024 * 1024;
    const { outbox, server, client, overflows } = await connectedPair(maxBytes);
    // The client stops reading: the kernel's buffers fill, then the socket's.
    client.pause();
    const closed = new Promise((resolve) => server.once("close", resolve));
    const message = "x".repeat(64 * 1024);
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
