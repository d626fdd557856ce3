import pg from "pg";
import type { Logger } from "../log.ts";
import { EVENTS_CHANNEL, type Notice } from "./notices.ts";
import { SECURITY_CHANNEL, type SecurityNotice } from "../auth/access.ts";

type Listener = (message: Notice) => void;

/** How the LISTEN connection shows in pg_stat_activity. */
export const EVENTS_CONNECTION_NAME = "billrun-events";

/**
 * Fans the NOTIFYs of every process (API or worker) out to this process's subscribers, over
 * one LISTEN connection. The connection is re-established if it drops; subscribers then
 * catch up from the stored events, so nothing committed is lost.
 */
export class EventBus {
  private readonly listeners = new Set<Listener>();
  private readonly reconnectListeners = new Set<() => void>();
  private securityListener: ((notice: SecurityNotice | null) => void) | null = null;
  private readonly sessionSetups: ((client: pg.Client) => Promise<unknown>)[] = [];
  private client: pg.Client | null = null;
  private closed = false;
  private reconnecting = false;
  private latest = 0n;
  private isListening!: Promise<void>;
  private listened!: () => void;
  private readonly databaseUrl: string;
  private readonly log: Logger;

  constructor(databaseUrl: string, log: Logger) {
    this.databaseUrl = databaseUrl;
    this.log = log;
    this.notListening();
  }

  private notListening(): void {
    this.isListening = new Promise((resolve) => (this.listened = resolve));
  }

  /** The highest event id committed, as far as this process has heard (or read when it started listening). */
  get latestEventId(): bigint {
    return this.latest;
  }

  private heard(eventId: bigint): void {
    if (eventId > this.latest) this.latest = eventId;
  }

  /** Resolves once this process listens for notices (again, after a dropped connection). */
  listening(): Promise<void> {
    return this.isListening;
  }

  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl, application_name: EVENTS_CONNECTION_NAME });
    client.on("notification", (note) => {
      if (note.channel === SECURITY_CHANNEL) return this.securityNotice(note.payload);
      if (note.channel !== EVENTS_CHANNEL || !note.payload) return;
      let message: Notice;
      try {
        message = JSON.parse(note.payload) as Notice;
      } catch {
        return;
      }
      if (message.kind !== "PROGRESS") this.heard(BigInt(message.id));
      for (const listener of this.listeners) {
        // Subscribers are served in this loop: one that fails must not cost the others the event.
        try {
          listener(message);
        } catch (error) {
          this.log.error({ err: error }, "an event subscriber failed");
        }
      }
    });
    client.on("error", (error) => {
      this.log.warn({ err: error }, "event listener connection failed; reconnecting");
      void this.reconnect();
    });
    await client.connect();
    // One connection for both channels: PostgreSQL delivers notices in commit order, so a
    // security change reaches subscribers before any event committed after it.
    await client.query(`LISTEN ${EVENTS_CHANNEL}; LISTEN ${SECURITY_CHANNEL}`);
    for (const setup of this.sessionSetups) await setup(client);
    const stored = await client.query<{ id: string }>("SELECT coalesce(max(id), 0)::text AS id FROM bill_run_events");
    this.heard(BigInt(stored.rows[0]!.id));
    const reconnected = this.client === null && this.reconnecting;
    this.client = client;
    this.listened();
    // Changes made while nobody listened were not heard: the listener checks what it watches.
    if (reconnected) this.securityListener?.(null);
  }

  private securityNotice(payload: string | undefined): void {
    let notice: SecurityNotice | null;
    try {
      notice = payload ? (JSON.parse(payload) as SecurityNotice) : null;
    } catch {
      notice = null;
    }
    try {
      this.securityListener?.(notice);
    } catch (error) {
      this.log.error({ err: error }, "applying a security change failed");
    }
  }

  /**
   * Calls `listener` with every committed security change, at once and in commit order with
   * the events; with null when changes may have been missed (the connection was re-established,
   * or a notice could not be read): the listener then checks against the database.
   */
  onSecurityChange(listener: (notice: SecurityNotice | null) => void): void {
    this.securityListener = listener;
  }

  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    this.notListening();
    // Subscribers queue a catch-up read now, before the new LISTEN: notices that arrive on it
    // then wait behind the read (which itself waits for `listening()`), so none overtakes it.
    for (const listener of this.reconnectListeners) listener();
    const old = this.client;
    this.client = null;
    await old?.end().catch(() => {});
    while (!this.closed) {
      try {
        await this.start();
        break;
      } catch (error) {
        this.log.warn({ err: error }, "event listener cannot reconnect yet");
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
    this.reconnecting = false;
  }

  /**
   * Runs `setup` on the LISTEN session now (when connected) and again after every reconnect:
   * for session state that must live exactly as long as this process's session, such as the
   * advisory lock that says the process is alive.
   */
  async addSessionSetup(setup: (client: pg.Client) => Promise<unknown>): Promise<void> {
    this.sessionSetups.push(setup);
    if (this.client) await setup(this.client);
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
