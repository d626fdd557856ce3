import type { Socket } from "node:net";
import type { WebSocket } from "ws";

/** TCP sockets corked in this turn of the event loop; all are uncorked together in the next. */
const corked = new Set<Socket>();

function uncorkAll(): void {
  for (const socket of corked) socket.uncork();
  corked.clear();
}

/**
 * How graphql-ws sends on one `ws` connection: without waiting for the write (a thousand
 * subscribers of one event are served in one pass, not one write callback at a time), in
 * batches, and within a memory bound.
 *
 * Batches: the TCP socket under the connection is corked from the first message of a turn of
 * the event loop to the next turn, so a connection that gets several messages at once (two
 * status changes committed together, fanned out to every subscriber) gets them in one write.
 *
 * Bound: what the connection holds unsent (`ws`'s `bufferedAmount`: its queue and the socket's)
 * may pass `maxBytes` by the one message just sent, and then `onOverflow` is called with that
 * amount (once: it is expected to drop the connection, which frees it) and nothing more is sent.
 */
export class Outbox {
  private overflowed = false;
  private readonly socket: WebSocket;
  private readonly tcp: Socket;
  private readonly maxBytes: number;
  private readonly onOverflow: (buffered: number) => void;

  /** `tcp` is the socket `ws` writes to (the upgraded request's). */
  constructor(socket: WebSocket, tcp: Socket, maxBytes: number, onOverflow: (buffered: number) => void) {
    this.socket = socket;
    this.tcp = tcp;
    this.maxBytes = maxBytes;
    this.onOverflow = onOverflow;
  }

  /** Bytes held for this connection and not yet taken by the kernel. */
  get buffered(): number {
    return this.socket.bufferedAmount;
  }

  /** Whether a producer that can wait (a replay) should send more now: under half the bound. */
  hasRoom(): boolean {
    return !this.overflowed && this.buffered < this.maxBytes / 2;
  }

  /** Queues `text` as one text message; returns at once. Ignored once the connection is closing. */
  send(text: string): void {
    if (this.overflowed || this.socket.readyState !== this.socket.OPEN) return;
    if (!corked.has(this.tcp)) {
      if (corked.size === 0) setImmediate(uncorkAll);
      this.tcp.cork();
      corked.add(this.tcp);
    }
    // As a Buffer, what waits for the kernel is counted in the process's `arrayBuffers` (a string
    // would wait on the JavaScript heap, out of sight of that figure), and is not copied again
    // when written.
    this.socket.send(Buffer.from(text), { binary: false });
    const buffered = this.buffered;
    if (buffered > this.maxBytes) {
      this.overflowed = true;
      this.onOverflow(buffered);
    }
  }
}
