import type { Db } from "../db/client.ts";
import type { Role } from "../generated/prisma/client.ts";
import type { Logger } from "../log.ts";

/** The PostgreSQL NOTIFY channel on which committed security changes are announced. */
export const SECURITY_CHANNEL = "billrun_security";

/**
 * A committed change that may take access away from open subscriptions: a token revoked, or a
 * user's role or status changed (the new values). Ids only: never a token or its hash.
 */
export type SecurityNotice = { kind: "TOKEN_REVOKED"; tokenId: string } | { kind: "USER_CHANGED"; userId: string; role: Role; disabled: boolean };

/**
 * Announces `notice` to every process. Call it inside the transaction that makes the change:
 * PostgreSQL delivers it when (and only if) that commits, in commit order with the bill-run
 * events, so a subscription is ended before any event committed after the change reaches it.
 */
export async function announceSecurityChange(tx: Pick<Db, "$executeRaw">, notice: SecurityNotice): Promise<void> {
  await tx.$executeRaw`SELECT pg_notify(${SECURITY_CHANNEL}, ${JSON.stringify(notice)})`;
}

/** Why a session ends: what its client is told (WebSocket close reason, or the error of an SSE stream). */
export interface AccessLoss {
  code: "UNAUTHENTICATED" | "FORBIDDEN";
  message: string;
}

/** An open subscription (a WebSocket connection, or one SSE stream) and the access it was opened with. */
export interface Session {
  tokenId: string;
  userId: string;
  role: Role;
  /** Ends the session at once: closes its socket or stream. Called at most once. */
  end: (loss: AccessLoss) => void;
}

/** Where this process's notice log stood before an authentication (see AccessWatch.mark). */
export type AccessMark = number;

/** Notices kept to replay to sessions registered just after them (see AccessWatch.watch). */
const RECENT_NOTICES = 1_000;

/**
 * The open subscriptions of this process, ended within moments of a committed security change
 * on any process: the change's NOTIFY (heard on the event bus's connection) is applied at once,
 * synchronously, before any later notice. A periodic check against the database
 * (BILLRUN_WS_REAUTH_SECONDS) is only a safety net, for notices missed while the listening
 * connection was down.
 *
 * A role change of any kind ends the user's sessions: their subscriptions were authorised, and
 * their shared results computed, for the old role; the client reconnects with the new one.
 */
export class AccessWatch {
  private readonly sessions = new Set<Session>();
  private readonly recent: SecurityNotice[] = [];
  /** Notices applied since start; `recent` holds the last RECENT_NOTICES of them. */
  private heard = 0;
  private checking = false;
  private readonly timer: NodeJS.Timeout;
  private readonly db: Db;
  private readonly log: Logger;

  constructor(db: Db, log: Logger, checkIntervalMs: number) {
    this.db = db;
    this.log = log;
    this.timer = setInterval(() => {
      if (this.checking) return;
      this.checking = true;
      void this.check().finally(() => (this.checking = false));
    }, checkIntervalMs);
    this.timer.unref();
  }

  /** Take one before reading the token from the database, and pass it to `watch`. */
  mark(): AccessMark {
    return this.heard;
  }

  /**
   * Watches `session` until the returned function is called. Notices heard since `mark` (taken
   * before the session's token was read) are applied to it first: a change that committed
   * while it was being authenticated is not missed.
   */
  watch(session: Session, mark: AccessMark): () => void {
    const missed = this.heard - mark;
    if (missed > this.recent.length) {
      // Too much happened meanwhile to replay: ask the database.
      this.sessions.add(session);
      void this.check([session]);
    } else {
      for (const notice of this.recent.slice(this.recent.length - missed)) {
        const loss = lossFor(session, notice);
        if (loss) {
          this.end(session, loss);
          return () => {};
        }
      }
      this.sessions.add(session);
    }
    return () => this.sessions.delete(session);
  }

  /** Applies a committed change: ends, before returning, every session it takes access from. */
  apply(notice: SecurityNotice): void {
    this.heard++;
    this.recent.push(notice);
    if (this.recent.length > RECENT_NOTICES) this.recent.shift();
    for (const session of this.sessions) {
      const loss = lossFor(session, notice);
      if (loss) this.end(session, loss);
    }
  }

  /** How many sessions are watched (for tests and metrics). */
  get size(): number {
    return this.sessions.size;
  }

  /**
   * Checks sessions (default: all) against the database with one query, ending those whose
   * token is revoked or gone, or whose user is disabled or has another role now. Sessions
   * registered while it runs are left to the next check: they were authenticated after its read.
   */
  async check(sessions: Session[] = [...this.sessions]): Promise<void> {
    if (sessions.length === 0) return;
    try {
      const rows = await this.db.apiToken.findMany({
        where: { id: { in: [...new Set(sessions.map((s) => s.tokenId))] } },
        select: { id: true, revokedAt: true, user: { select: { role: true, disabledAt: true } } },
      });
      const tokens = new Map(rows.map((row) => [row.id, row]));
      for (const session of sessions) {
        if (!this.sessions.has(session)) continue;
        const token = tokens.get(session.tokenId);
        if (!token || token.revokedAt) this.end(session, REVOKED);
        else if (token.user.disabledAt) this.end(session, DISABLED);
        else if (token.user.role !== session.role) this.end(session, ROLE_CHANGED);
      }
    } catch (error) {
      this.log.warn({ err: error }, "could not check open subscriptions against revoked tokens and users");
    }
  }

  private end(session: Session, loss: AccessLoss): void {
    this.sessions.delete(session);
    this.log.info({ userId: session.userId, reason: loss.message }, "ending an open subscription: access revoked");
    try {
      session.end(loss);
    } catch (error) {
      this.log.error({ err: error }, "ending an open subscription failed");
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.sessions.clear();
  }
}

const REVOKED: AccessLoss = { code: "UNAUTHENTICATED", message: "token revoked" };
const DISABLED: AccessLoss = { code: "UNAUTHENTICATED", message: "user disabled" };
const ROLE_CHANGED: AccessLoss = { code: "FORBIDDEN", message: "role changed: reconnect" };

function lossFor(session: Session, notice: SecurityNotice): AccessLoss | null {
  if (notice.kind === "TOKEN_REVOKED") return notice.tokenId === session.tokenId ? REVOKED : null;
  if (notice.userId !== session.userId) return null;
  if (notice.disabled) return DISABLED;
  return notice.role !== session.role ? ROLE_CHANGED : null;
}
