import type { BillRunEvent, BillRunStatus, EventKind } from "../generated/prisma/client.ts";
import type { Sql } from "../db/sql.ts";

/** The PostgreSQL NOTIFY channel on which committed bill-run events are announced. */
export const EVENTS_CHANNEL = "billrun_events";

/**
 * PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more, which would fail the transaction
 * that records the event. A notice that would not fit leaves out the row; listeners then read
 * the event from the table instead.
 */
const MAX_NOTICE_BYTES = 7_500;

/** The columns of bill_run_events, as `announceEvents` needs them: select them with RETURNING. */
export const ANNOUNCED_COLUMNS =
  "id::text, bill_run_id, bill_run_number, kind, from_status, to_status, actor_id, account_id, subscription_id, code, message, created_at";

export interface EventRow {
  id: string;
  bill_run_id: string;
  bill_run_number: string;
  kind: EventKind;
  from_status: BillRunStatus | null;
  to_status: BillRunStatus | null;
  actor_id: string | null;
  account_id: string | null;
  subscription_id: string | null;
  code: string | null;
  message: string | null;
  created_at: Date;
}

/**
 * What a NOTIFY says about a committed event: its id and run (enough to route it, and its number,
 * which outlives the run), its status
 * change (progress feeds end on it), and the stored row itself when it fits, so that the live
 * path needs no read.
 */
export interface EventNotice {
  kind: EventKind;
  id: string;
  billRunId: string;
  billRunNumber: string;
  from: BillRunStatus | null;
  to: BillRunStatus | null;
  row?: { actorId: string | null; accountId: string | null; subscriptionId: string | null; code: string | null; message: string | null; at: string };
}

export interface ProgressNotice {
  kind: "PROGRESS";
  billRunId: string;
  processed: number;
  total: number;
}

export type Notice = EventNotice | ProgressNotice;

function noticeText(row: EventRow): string {
  const notice: EventNotice = {
    kind: row.kind,
    id: row.id,
    billRunId: row.bill_run_id,
    billRunNumber: row.bill_run_number,
    from: row.from_status,
    to: row.to_status,
  };
  const full = JSON.stringify({
    ...notice,
    row: {
      actorId: row.actor_id,
      accountId: row.account_id,
      subscriptionId: row.subscription_id,
      code: row.code,
      message: row.message,
      at: row.created_at.toISOString(),
    },
  } satisfies EventNotice);
  return Buffer.byteLength(full) <= MAX_NOTICE_BYTES ? full : JSON.stringify(notice);
}

/**
 * Announces events inserted in this transaction, in id order, with one statement. PostgreSQL
 * delivers the notices when (and only if) the transaction commits.
 */
export async function announceEvents(sql: Sql, rows: readonly EventRow[]): Promise<void> {
  if (rows.length === 0) return;
  const ordered = [...rows].sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  await sql.query("SELECT pg_notify($1, notice) FROM unnest($2::text[]) WITH ORDINALITY AS n(notice, position) ORDER BY position", [
    EVENTS_CHANNEL,
    ordered.map(noticeText),
  ]);
}

export async function announceProgress(sql: Sql, billRunId: string, processed: number, total: number): Promise<void> {
  await sql.query("SELECT pg_notify($1, $2)", [EVENTS_CHANNEL, JSON.stringify({ kind: "PROGRESS", billRunId, processed, total } satisfies ProgressNotice)]);
}

/** The stored event a notice carries, or null when it had to be left out (read it from the table). */
export function eventOfNotice(notice: EventNotice): BillRunEvent | null {
  const row = notice.row;
  if (!row) return null;
  return {
    id: BigInt(notice.id),
    billRunId: notice.billRunId,
    billRunNumber: notice.billRunNumber,
    kind: notice.kind,
    fromStatus: notice.from,
    toStatus: notice.to,
    actorId: row.actorId,
    accountId: row.accountId,
    subscriptionId: row.subscriptionId,
    code: row.code,
    message: row.message,
    createdAt: new Date(row.at),
  };
}
