import type { Socket } from "node:net";

/**
 * An unmasked, unfragmented WebSocket text frame (RFC 6455 §5.2), as a server sends it.
 * The server never negotiates permessage-deflate, so this is the whole frame.
 */
export function textFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81; // FIN + text
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  frame.write(text, headerLength, "utf8");
  return frame;
}

/** Connections flushed per turn of the event loop before yielding to I/O. */
const FLUSH_BATCH = 128;

/**
 * Writes the messages of many connections in batches, once per turn of the event loop rather
 * than one system call per message as they are produced. A connection whose earlier messages
 * are still waiting when the next ones arrive (two status changes a few milliseconds apart,
 * fanned out to a thousand clients) gets them all in one write. Between batches the loop reads
 * I/O, so a later event's messages join the connections not yet written.
 */
export class FlushScheduler {
  private readonly dirty = new Set<Outbox>();
  private scheduled = false;

  mark(outbox: Outbox): void {
    this.dirty.add(outbox);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.flushBatch);
  }

  forget(outbox: Outbox): void {
    this.dirty.delete(outbox);
  }

  private readonly flushBatch = () => {
    let written = 0;
    // A Set iterates in insertion order: connections are written in the order they became ready.
    for (const outbox of this.dirty) {
      this.dirty.delete(outbox);
      outbox.flush();
      if (++written === FLUSH_BATCH) break;
    }
    if (this.dirty.size > 0) setImmediate(this.flushBatch);
    else this.scheduled = false;
  };
}

/**
 * What one WebSocket connection has yet to send. It holds at most `maxBytes` (counting what
 * the socket itself still buffers, i.e. what a client that does not read leaves in this
 * process); beyond that `onOverflow` is called and nothing more is kept.
 */
export class Outbox {
  private frames: Buffer[] = [];
  private bytes = 0;
  private closed = false;
  private readonly socket: Socket;
  private readonly isOpen: () => boolean;
  private readonly scheduler: FlushScheduler;
  private readonly maxBytes: number;
  private readonly onOverflow: (buffered: number) => void;

  /** `isOpen` says whether data may still be sent: not once a closing handshake has begun. */
  constructor(socket: Socket, isOpen: () => boolean, scheduler: FlushScheduler, maxBytes: number, onOverflow: (buffered: number) => void) {
    this.socket = socket;
    this.isOpen = isOpen;
    this.scheduler = scheduler;
    this.maxBytes = maxBytes;
    this.onOverflow = onOverflow;
  }

  /** Bytes held for this connection: queued here, and written but not yet taken by the kernel. */
  get buffered(): number {
    return this.bytes + this.socket.writableLength;
  }

  /** Whether a producer that can wait (a replay) should send more now. */
  hasRoom(): boolean {
    return this.buffered < this.maxBytes / 2;
  }

  send(text: string): void {
    if (this.closed) return;
    const frame = textFrame(text);
    this.frames.push(frame);
    this.bytes += frame.length;
    if (this.buffered > this.maxBytes) {
      const buffered = this.buffered;
      this.close();
      this.onOverflow(buffered);
      return;
    }
    this.scheduler.mark(this);
  }

  /** Writes everything queued, in one write. */
  flush(): void {
    if (this.frames.length === 0) return;
    const frames = this.frames;
    this.frames = [];
    this.bytes = 0;
    if (this.closed || this.socket.destroyed || !this.isOpen()) return;
    this.socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  }

  /** Drops whatever is queued; later messages are ignored. */
  close(): void {
    this.closed = true;
    this.frames = [];
    this.bytes = 0;
    this.scheduler.forget(this);
  }
}
