import pg from "pg";
import type { Logger } from "../log.ts";
import { EVENTS_CHANNEL, type Notice } from "./notices.ts";

type Listener = (message: Notice) => void;

/**
 * Fans the NOTIFYs of every process (API or worker) out to this process's subscribers, over
 * one LISTEN connection. The connection is re-established if it drops; subscribers then
 * catch up from the stored events, so nothing committed is lost.
 */
export class EventBus {
  private readonly listeners = new Set<Listener>();
  private readonly reconnectListeners = new Set<() => void>();
  private client: pg.Client | null = null;
  private closed = false;
  private readonly databaseUrl: string;
  private readonly log: Logger;

  constructor(databaseUrl: string, log: Logger) {
    this.databaseUrl = databaseUrl;
    this.log = log;
  }

  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl });
    client.on("notification", (note) => {
      if (note.channel !== EVENTS_CHANNEL || !note.payload) return;
      let message: Notice;
      try {
        message = JSON.parse(note.payload) as Notice;
      } catch {
        return;
      }
      for (const listener of this.listeners) listener(message);
    });
    client.on("error", (error) => {
      this.log.warn({ err: error }, "event listener connection failed; reconnecting");
      void this.reconnect();
    });
    await client.connect();
    await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    this.client = client;
  }

  private async reconnect(): Promise<void> {
    const old = this.client;
    this.client = null;
    await old?.end().catch(() => {});
    while (!this.closed) {
      try {
        await this.start();
        for (const listener of this.reconnectListeners) listener();
        return;
      } catch (error) {
        this.log.warn({ err: error }, "event listener cannot reconnect yet");
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  /** Calls `listener` for every message until the returned function is called. */
  subscribe(listener: Listener, onReconnect?: () => void): () => void {
    this.listeners.add(listener);
    if (onReconnect) this.reconnectListeners.add(onReconnect);
    return () => {
      this.listeners.delete(listener);
      if (onReconnect) this.reconnectListeners.delete(onReconnect);
    };
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    await this.client?.end().catch(() => {});
  }
}
