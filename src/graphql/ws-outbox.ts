import type { Socket } from "node:net";
import type { WebSocket } from "ws";

/** TCP sockets corked in this turn of the event loop; all are uncorked together in the next. */
const corked = new Set<Socket>();

function uncorkAll(): void {
  for (const socket of corked) socket.uncork();
  corked.clear();
}

/**
 * One unfragmented, unmasked WebSocket text frame (RFC 6455, section 5.2) holding `text`, in
 * one buffer: what a server sends, which `ws` would write as a header and a payload.
 */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const headLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headLength + length);
  // FIN and opcode 1 (text).
  frame[0] = 0x81;
  if (headLength === 2) {
    frame[1] = length;
  } else if (headLength === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  frame.write(text, headLength, "utf8");
  return frame;
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
 * Frames: each message is written to the TCP socket as one text frame of our own (`textFrame`)
 * rather than through `ws`'s `send`: a fan-out to a thousand connections is a thousand socket
 * writes, and writing a finished frame costs the API process less per delivery (see
 * docs/decisions.md, "Live events"). `ws` still does everything else on the connection (the
 * handshake, reading, pings, closing); its own frames go to the same corked socket, after ours,
 * so a message sent before `close` still arrives before the closing frame.
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
    // would wait on the JavaScript heap, out of sight of that figure), and in `ws`'s
    // `bufferedAmount`, which counts what its socket holds.
    this.tcp.write(textFrame(text));
    const buffered = this.buffered;
    if (buffered > this.maxBytes) {
      this.overflowed = true;
      this.onOverflow(buffered);
    }
  }
}
