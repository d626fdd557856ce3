import type { AccountResult, ProposedDocument } from "../billing/types.ts";
import { sumAmounts } from "../billing/money.ts";
import { CopyBinary, copyRows } from "../db/copy.ts";
import { arrayLiteral } from "./arrays.ts";
import type { Sql } from "../db/sql.ts";
import { ANNOUNCED_COLUMNS, announceEvents, type EventRow } from "../events/notices.ts";
import { writeTimeOrderedId } from "../ids.ts";

/** The chargedThroughDate a charge had is no longer what the run computed from: someone else moved it. */
export class ChargeMovedError extends Error {
  override name = "ChargeMovedError";
}

/** A charge the billing core billed was deleted before its items were written. */
export class ItemChargeMissingError extends Error {
  override name = "ItemChargeMissingError";
}

export interface AccountFailureRecord {
  accountId: string;
  code: string;
  message: string;
  subscriptions: { subscriptionId: string; code: string; message: string }[];
}

export interface Alert {
  accountId: string;
  subscriptionId: string | null;
  code: string;
  message: string;
}

/**
 * The rows of bill_run_accounts a transaction works on: those of the chunk whose positions are
 * within first..last (both included). Every lookup names that range, found through the
 * (bill_run_id, position) key: by bill_run_id alone the planner reads all the run's rows, for
 * every chunk, which makes a run's cost grow with the square of its size.
 */
export interface RunChunk {
  billRunId: string;
  chunk: number;
  first: number;
  last: number;
}

export interface AppliedCounts {
  accounts: number;
  invoices: number;
  creditMemos: number;
  zeroInvoices: number;
  failed: number;
  /** The failure code of each failed account, for the metrics. */
  failureCodes: string[];
  /** To record with recordAlerts once the run's row is locked (see there). */
  alerts: Alert[];
}

/**
 * Writes the billing core's results for a set of accounts in a handful of set-based
 * statements, inside the caller's transaction: documents, items, chargedThroughDate moves
 * (guarded: each must still be where the computation started), work status, failures and
 * their alert events, and the run's counters.
 *
 * What the statements send is drawn from the results before the first of them (items already
 * as their COPY data, lists as array literals), and the results are not kept: a chunk's
 * thousands of documents and items then die young, instead of surviving every collection of
 * V8's young generation while the chunk waits on its statements (copying them is what such a
 * collection costs).
 */
export function applyResults(
  sql: Sql,
  work: RunChunk,
  results: readonly AccountResult[],
  extraFailures: readonly AccountFailureRecord[] = [],
): Promise<AppliedCounts> {
  return writeChunk(sql, work, planChunk(results, extraFailures));
}

/** A document as its row needs it once its items are written: its number is drawn with the others. */
interface DocumentRow {
  type: ProposedDocument["type"];
  accountId: string;
  subscriptionId: string | null;
  currency: string;
  amount: string;
  invoiceDate: string;
  dueDate: string;
}

/** What a chunk's statements send, drawn from the billing core's results (see applyResults). */
interface ChunkPlan {
  /** The charges to move, as array literals (ids, dates before, dates after), and how many. */
  moves: { count: number; chargeIds: string; from: string; to: string } | null;
  /** Charges the items name that are not moved: locked FOR KEY SHARE (see lockItemCharges). */
  otherCharges: string[];
  documents: DocumentRow[];
  /** The documents' ids, 16 bytes each, in the order of `documents`. */
  documentIds: Buffer;
  /** The items' COPY data, finished. */
  items: Buffer[];
  /** The accounts billed, as an array literal; null when none was. */
  succeeded: string | null;
  failures: AccountFailureRecord[];
  counts: AppliedCounts;
  /** Invoice totals by currency, currencies sorted. */
  totals: { currencies: string[]; amounts: string[] };
}

/** The data of a chunk's statements, drawn from the billing core's results in one pass (see applyResults). */
function planChunk(results: readonly AccountResult[], extraFailures: readonly AccountFailureRecord[]): ChunkPlan {
  const failures: AccountFailureRecord[] = [...extraFailures];
  const moves = { chargeId: [] as string[], from: [] as (string | null)[], to: [] as string[] };
  const succeeded: string[] = [];
  const documents: DocumentRow[] = [];
  let documentCount = 0;
  for (const result of results) if (result.ok) documentCount += result.documents.length;
  // Time-ordered ids: each chunk appends to the ends of the documents' and items' indexes, where
  // random ones would touch (and after a checkpoint, log whole) pages all over them. Drawn as
  // bytes, which is what COPY's binary format takes: a document's id is written with it and with
  // each of its items, and never needed as text.
  const documentIds = Buffer.allocUnsafe(16 * documentCount);
  // COPY: the largest table of a run, written straight into buffers in the binary format, which
  // PostgreSQL reads without parsing ids, dates and decimals as text.
  const items = new CopyBinary();
  const totalsByCurrency = new Map<string, string[]>();
  const otherCharges = new Set<string>();
  let invoices = 0;
  let zeroInvoices = 0;
  for (const result of results) {
    if (!result.ok) {
      failures.push({
        accountId: result.accountId,
        code: result.failure.code,
        message: result.failure.message,
        subscriptions: result.failure.subscriptions,
      });
      continue;
    }
    succeeded.push(result.accountId);
    const movedSet = result.chargeUpdates.length > 16 ? new Set(result.chargeUpdates.map((m) => m.chargeId)) : null;
    for (const d of result.documents) {
      const k = documents.length;
      writeTimeOrderedId(documentIds, 16 * k);
      documents.push({
        type: d.type,
        accountId: result.accountId,
        subscriptionId: d.subscriptionId,
        currency: d.currency,
        amount: d.amount,
        invoiceDate: d.invoiceDate,
        dueDate: d.dueDate,
      });
      if (d.type === "INVOICE") {
        invoices++;
        if (/^0(\.0+)?$/.test(d.amount)) zeroInvoices++;
        const list = totalsByCurrency.get(d.currency);
        if (list) list.push(d.amount);
        else totalsByCurrency.set(d.currency, [d.amount]);
      }
      let position = 0;
      for (const i of d.items) {
        // A charge belongs to one account: moved, it is among this account's moves.
        if (!movedBy(result.chargeUpdates, movedSet, i.chargeId)) otherCharges.add(i.chargeId);
        items.row(ITEM_COLUMNS.length);
        items.timeOrderedUuid();
        items.uuidBytes(documentIds, 16 * k);
        items.uuid(i.chargeId);
        items.uuid(i.subscriptionId);
        items.int4(position++);
        items.text(i.chargeName);
        items.text(i.chargeType);
        items.text(i.kind);
        items.date(i.serviceStart);
        items.date(i.serviceEnd);
        items.numeric(i.quantity);
        items.numeric(i.unitPrice);
        items.numeric(i.amount);
      }
    }
    for (const move of result.chargeUpdates) {
      moves.chargeId.push(move.chargeId);
      moves.from.push(move.from);
      moves.to.push(move.to);
    }
  }
  // One alert per failing subscription, or one for the account when the failure is its own.
  const alerts = failures.flatMap<Alert>((f) =>
    f.subscriptions.length > 0
      ? f.subscriptions.map((s) => ({ accountId: f.accountId, subscriptionId: s.subscriptionId, code: s.code, message: s.message }))
      : [{ accountId: f.accountId, subscriptionId: null, code: f.code, message: f.message }],
  );
  // In one order for every chunk: two chunks committing at once lock the totals alike, no deadlock.
  const currencies = [...totalsByCurrency.keys()].sort();
  return {
    moves:
      moves.chargeId.length === 0
        ? null
        : { count: moves.chargeId.length, chargeIds: arrayLiteral(moves.chargeId), from: arrayLiteral(moves.from), to: arrayLiteral(moves.to) },
    otherCharges: [...otherCharges],
    documents,
    documentIds,
    items: documents.length > 0 ? items.finish() : [],
    succeeded: succeeded.length === 0 ? null : arrayLiteral(succeeded),
    failures,
    counts: {
      accounts: succeeded.length + failures.length,
      invoices,
      creditMemos: documents.length - invoices,
      zeroInvoices,
      failed: failures.length,
      failureCodes: failures.map((f) => f.code),
      alerts,
    },
    totals: { currencies, amounts: currencies.map((c) => sumAmounts(totalsByCurrency.get(c)!, c)) },
  };
}

/** Whether `chargeId` is among an account's `moves`: scanned when they are few, else looked up in `set`, made of them. */
function movedBy(moves: readonly { chargeId: string }[], set: ReadonlySet<string> | null, chargeId: string): boolean {
  if (set) return set.has(chargeId);
  for (const move of moves) if (move.chargeId === chargeId) return true;
  return false;
}

async function writeChunk(sql: Sql, work: RunChunk, plan: ChunkPlan): Promise<AppliedCounts> {
  const { billRunId, chunk, first, last } = work;
  const { moves } = plan;
  if (moves) {
    // Moved and recorded (for a cancel to move back) in one statement, the record as one row of
    // parallel lists for the whole chunk: the count returned is of the charges both moved and
    // recorded. `c.id = ANY(…)` lets the planner find the charges through their key; joined with
    // the unnest alone, it hashed the whole table for every chunk.
    const moved = await sql.query<{ moved: number }>(
      `WITH moved AS (
         UPDATE charges c SET charged_through_date = m.through_after
           FROM unnest($2::uuid[], $3::date[], $4::date[]) AS m(charge_id, through_before, through_after)
          WHERE c.id = ANY($2::uuid[]) AND c.id = m.charge_id AND c.charged_through_date IS NOT DISTINCT FROM m.through_before
         RETURNING m.charge_id, m.through_before, m.through_after)
       INSERT INTO bill_run_charge_moves (bill_run_id, charge_ids, through_before, through_after)
       SELECT $1, array_agg(charge_id), array_agg(through_before), array_agg(through_after) FROM moved HAVING count(*) > 0
       RETURNING cardinality(charge_ids) AS moved`,
      [billRunId, moves.chargeIds, moves.from, moves.to],
    );
    const count = moved.rows[0]?.moved ?? 0;
    if (count !== moves.count) {
      throw new ChargeMovedError(`${moves.count - count} charges were billed by someone else meanwhile`);
    }
  }

  if (plan.documents.length > 0) {
    await lockItemCharges(sql, plan.otherCharges);
    await insertDocuments(sql, billRunId, plan);
  }

  if (plan.succeeded) {
    await sql.query(
      `UPDATE bill_run_accounts SET status = 'DONE', processed_at = now()
        WHERE bill_run_id = $1 AND position BETWEEN $4 AND $5 AND chunk = $3 AND account_id = ANY($2::uuid[]) AND status = 'PENDING'`,
      [billRunId, plan.succeeded, chunk, first, last],
    );
  }
  if (plan.failures.length > 0) await recordFailures(sql, work, plan.failures);

  if (plan.totals.currencies.length > 0) {
    await sql.query(
      `INSERT INTO bill_run_totals (bill_run_id, currency, amount)
       SELECT $1, * FROM unnest($2::text[], $3::numeric[])
       ON CONFLICT (bill_run_id, currency) DO UPDATE SET amount = bill_run_totals.amount + excluded.amount`,
      [billRunId, plan.totals.currencies, plan.totals.amounts],
    );
  }
  return plan.counts;
}

/**
 * Items have no foreign key to their charge (see migration 20261129400100): what it checked,
 * that each item's charge exists and stays until commit, holds here. The charges just moved are
 * locked by their update; the items' other charges (`others`) are locked FOR KEY SHARE here,
 * once each. Raises ItemChargeMissingError when one is gone.
 */
async function lockItemCharges(sql: Sql, others: readonly string[]): Promise<void> {
  if (others.length === 0) return;
  const found = await sql.query<{ id: string }>("SELECT id FROM charges WHERE id = ANY($1::uuid[]) FOR KEY SHARE", [arrayLiteral(others)]);
  if (found.rowCount !== others.length) {
    throw new ItemChargeMissingError(`${others.length - (found.rowCount ?? 0)} charges billed on these documents no longer exist`);
  }
}

async function insertDocuments(sql: Sql, billRunId: string, plan: ChunkPlan) {
  const { documents, documentIds } = plan;
  // Numbers first, in the order of the documents, then the documents themselves with COPY (as
  // their items below): no array parameters to parse, no numbering function called per row.
  const invoiceCount = plan.counts.invoices;
  const numbered = await sql.query<{ invoices: string[]; memos: string[] }>(
    `SELECT ARRAY(SELECT billrun_number('INV-', n) FROM (SELECT nextval('invoice_number_seq') AS n FROM generate_series(1, $1)) s ORDER BY n) AS invoices,
            ARRAY(SELECT billrun_number('CM-', n) FROM (SELECT nextval('credit_memo_number_seq') AS n FROM generate_series(1, $2)) s ORDER BY n) AS memos`,
    [invoiceCount, documents.length - invoiceCount],
  );
  const { invoices, memos } = numbered.rows[0]!;
  let nextInvoice = 0;
  let nextMemo = 0;
  const rows = new CopyBinary();
  for (let k = 0; k < documents.length; k++) {
    const d = documents[k]!;
    rows.row(DOCUMENT_COLUMNS.length);
    rows.uuidBytes(documentIds, 16 * k);
    rows.text(d.type === "INVOICE" ? invoices[nextInvoice++]! : memos[nextMemo++]!);
    rows.text(d.type);
    rows.text("DRAFT");
    rows.uuid(billRunId);
    rows.uuid(d.accountId);
    if (d.subscriptionId === null) rows.null();
    else rows.uuid(d.subscriptionId);
    rows.text(d.currency);
    rows.numeric(d.amount);
    rows.numeric(d.amount);
    rows.date(d.invoiceDate);
    rows.date(d.dueDate);
  }
  await copyRows(sql, "documents", DOCUMENT_COLUMNS, rows.finish());
  await copyRows(sql, "document_items", ITEM_COLUMNS, plan.items);
}

const DOCUMENT_COLUMNS = [
  "id",
  "number",
  "type",
  "status",
  "bill_run_id",
  "account_id",
  "subscription_id",
  "currency",
  "amount",
  "balance",
  "invoice_date",
  "due_date",
];

const ITEM_COLUMNS = [
  "id",
  "document_id",
  "charge_id",
  "subscription_id",
  "position",
  "charge_name",
  "charge_type",
  "kind",
  "service_start",
  "service_end",
  "quantity",
  "unit_price",
  "amount",
];

async function recordFailures(sql: Sql, { billRunId, chunk, first, last }: RunChunk, failures: AccountFailureRecord[]) {
  await sql.query(
    `UPDATE bill_run_accounts w SET status = 'FAILED', failure_code = f.code, failure_message = f.message, processed_at = now()
       FROM unnest($2::uuid[], $3::text[], $4::text[]) AS f(account_id, code, message)
      WHERE w.bill_run_id = $1 AND w.position BETWEEN $6 AND $7 AND w.chunk = $5 AND w.account_id = f.account_id AND w.status = 'PENDING'`,
    [billRunId, failures.map((f) => f.accountId), failures.map((f) => f.code), failures.map((f) => f.message), chunk, first, last],
  );
  const subscriptionFailures = failures.flatMap((f) => f.subscriptions.map((s) => ({ ...s, accountId: f.accountId })));
  if (subscriptionFailures.length > 0) {
    await sql.query(
      `INSERT INTO bill_run_failed_subscriptions (id, bill_run_id, account_id, subscription_id, code, message)
       SELECT gen_random_uuid(), $1, * FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[])`,
      [
        billRunId,
        subscriptionFailures.map((s) => s.accountId),
        subscriptionFailures.map((s) => s.subscriptionId),
        subscriptionFailures.map((s) => s.code),
        subscriptionFailures.map((s) => s.message),
      ],
    );
  }
}

/**
 * Stores alert events and announces them. Call it holding the run's row lock (after addCounts):
 * ids are then assigned in the order the transactions commit, which is what lets live
 * subscribers resume by id without a gap.
 */
export async function recordAlerts(sql: Sql, billRunId: string, alerts: readonly Alert[]): Promise<void> {
  if (alerts.length === 0) return;
  const inserted = await sql.query<EventRow>(
    `INSERT INTO bill_run_events (bill_run_id, kind, account_id, subscription_id, code, message)
     SELECT $1, 'ALERT', * FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[]) RETURNING ${ANNOUNCED_COLUMNS}`,
    [billRunId, alerts.map((a) => a.accountId), alerts.map((a) => a.subscriptionId), alerts.map((a) => a.code), alerts.map((a) => a.message)],
  );
  await announceEvents(sql, inserted.rows);
}

/** Adds a chunk's counts to the run; returns the new processed and total counts. */
export async function addCounts(sql: Sql, billRunId: string, counts: AppliedCounts): Promise<{ processed: number; total: number }> {
  const updated = await sql.query<{ accounts_processed: number; accounts_total: number }>(
    `UPDATE bill_runs SET accounts_processed = accounts_processed + $2, invoice_count = invoice_count + $3,
            credit_memo_count = credit_memo_count + $4, zero_amount_invoice_count = zero_amount_invoice_count + $5,
            failed_account_count = failed_account_count + $6, updated_at = now()
      WHERE id = $1 RETURNING accounts_processed, accounts_total`,
    [billRunId, counts.accounts, counts.invoices, counts.creditMemos, counts.zeroInvoices, counts.failed],
  );
  const row = updated.rows[0]!;
  return { processed: row.accounts_processed, total: row.accounts_total };
}
