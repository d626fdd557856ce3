// CSV exports of a bill run, streamed in constant memory: keyset-paged reads (the next page is
// read while the current one is written) feed a csv-stringify stream piped to the response with
// backpressure. Headers are the API's field names (nested ones as dotted paths). See the README.
import { Readable, Transform, type TransformCallback, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { stringify } from "csv-stringify";
import type { App } from "../app.ts";
import { formatAmount, formatQuantity, formatUnitPrice } from "../billing/money.ts";
import { isUuid } from "../util.ts";

export const EXPORTS = ["invoices", "items", "credit-memos", "failed-accounts"] as const;
export type ExportName = (typeof EXPORTS)[number];

export function isExportName(name: string): name is ExportName {
  return (EXPORTS as readonly string[]).includes(name);
}

/** Rows read per query. */
const PAGE = 2000;
/** Documents whose items are read per query. */
const ITEM_DOCUMENT_PAGE = 500;

type Row = (string | null)[];

/**
 * A text cell a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, or a tab or carriage
 * return that some programs strip first) gets a leading apostrophe, which spreadsheets show as
 * text. Only text columns go through this: the numeric columns (amounts, quantities, prices)
 * are written by the billing core's formatter and are plain decimals, so "-15.00" stays a number.
 */
export function neutralizeFormula(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

const text = (value: string | null): string | null => (value === null ? null : neutralizeFormula(value));

/** The run's number, or null when there is no run `billRunId`. */
export async function billRunNumber(app: Pick<App, "pool">, billRunId: string): Promise<string | null> {
  if (!isUuid(billRunId)) return null;
  const found = await app.pool.query<{ bill_run_number: string }>("SELECT bill_run_number FROM bill_runs WHERE id = $1", [billRunId]);
  return found.rows[0]?.bill_run_number ?? null;
}

/** Keyset pages of `read(after)` until a short page; each next page is requested before the current one is handed out. */
async function* pages<T>(read: (after: T | null) => Promise<T[]>): AsyncGenerator<T[]> {
  let next = read(null);
  while (true) {
    const rows = await next;
    if (rows.length === 0) return;
    const last = rows[rows.length - 1]!;
    next = rows.length === PAGE ? read(last) : Promise.resolve([]);
    // A rejected prefetch nobody awaits (the client went away) must not become an unhandled rejection.
    next.catch(() => {});
    yield rows;
  }
}

interface DocumentRow {
  id: string;
  number: string;
  account_number: string;
  name: string;
  currency: string;
  amount: string;
  balance: string;
  status: string;
  invoice_date: string;
  due_date: string;
  posted_at: string | null;
}

const ISO_TIMESTAMP = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;

function documentPages(app: Pick<App, "pool">, billRunId: string, type: "INVOICE" | "CREDIT_MEMO") {
  return pages<DocumentRow>(async (after) => {
    const result = await app.pool.query<DocumentRow>(
      `SELECT d.id, d.number, a.account_number, a.name, d.currency, d.amount::text AS amount, d.balance::text AS balance, d.status,
              to_char(d.invoice_date, 'YYYY-MM-DD') AS invoice_date, to_char(d.due_date, 'YYYY-MM-DD') AS due_date,
              to_char(d.posted_at AT TIME ZONE 'UTC', ${ISO_TIMESTAMP}) AS posted_at
         FROM documents d JOIN accounts a ON a.id = d.account_id
        WHERE d.bill_run_id = $1 AND d.type = $2 AND d.number > $3
        ORDER BY d.number LIMIT ${PAGE}`,
      [billRunId, type, after?.number ?? ""],
    );
    return result.rows;
  });
}

async function* documents(app: Pick<App, "pool">, billRunId: string, type: "INVOICE" | "CREDIT_MEMO"): AsyncGenerator<Row[]> {
  for await (const page of documentPages(app, billRunId, type)) {
    yield page.map((d) => [
      d.id,
      text(d.number),
      text(d.account_number),
      text(d.name),
      d.currency,
      formatAmount(d.amount, d.currency),
      formatAmount(d.balance, d.currency),
      d.status,
      d.invoice_date,
      d.due_date,
      d.posted_at,
    ]);
  }
}

const DOCUMENT_COLUMNS = (numberField: string) => [
  "id",
  numberField,
  "account.accountNumber",
  "account.name",
  "currency",
  "amount",
  "balance",
  "status",
  "invoiceDate",
  "dueDate",
  "postedAt",
];

async function* items(app: Pick<App, "pool">, billRunId: string): AsyncGenerator<Row[]> {
  for (const type of ["INVOICE", "CREDIT_MEMO"] as const) {
    // One page of documents and all their items (documents have a handful each); the next
    // page is read while this one is written.
    const read = (after: string) =>
      app.pool.query<{
        number: string;
        account_number: string;
        currency: string;
        id: string;
        charge_name: string;
        charge_type: string;
        kind: string;
        subscription_number: string;
        service_start: string;
        service_end: string;
        quantity: string;
        unit_price: string;
        amount: string;
      }>(
        `WITH docs AS (
           SELECT id, number, account_id, currency FROM documents
            WHERE bill_run_id = $1 AND type = $2 AND number > $3 ORDER BY number LIMIT ${ITEM_DOCUMENT_PAGE})
         SELECT d.number, a.account_number, d.currency, i.id, i.charge_name, i.charge_type, i.kind, s.subscription_number,
                to_char(i.service_start, 'YYYY-MM-DD') AS service_start, to_char(i.service_end, 'YYYY-MM-DD') AS service_end,
                i.quantity::text AS quantity, i.unit_price::text AS unit_price, i.amount::text AS amount
           FROM docs d
           JOIN accounts a ON a.id = d.account_id
           LEFT JOIN document_items i ON i.document_id = d.id
           LEFT JOIN subscriptions s ON s.id = i.subscription_id
          ORDER BY d.number, i.position, i.id`,
        [billRunId, type, after],
      );
    let next = read("");
    while (true) {
      const result = await next;
      if (result.rows.length === 0) break;
      next = read(result.rows[result.rows.length - 1]!.number);
      // A rejected read nobody awaits (the client went away) must not become an unhandled rejection.
      next.catch(() => {});
      const page: Row[] = [];
      for (const i of result.rows) {
        if (i.id === null) continue; // a document without items
        const number = text(i.number);
        page.push([
          type === "INVOICE" ? number : null,
          type === "CREDIT_MEMO" ? number : null,
          text(i.account_number),
          i.currency,
          i.id,
          text(i.charge_name),
          i.charge_type,
          i.kind,
          text(i.subscription_number),
          i.service_start,
          i.service_end,
          formatQuantity(i.quantity),
          formatUnitPrice(i.unit_price, i.currency),
          formatAmount(i.amount, i.currency),
        ]);
      }
      if (page.length > 0) yield page;
    }
  }
}

const ITEM_COLUMNS = [
  "invoiceNumber",
  "creditMemoNumber",
  "account.accountNumber",
  "currency",
  "id",
  "chargeName",
  "chargeType",
  "kind",
  "subscription.subscriptionNumber",
  "serviceStartDate",
  "serviceEndDate",
  "quantity",
  "unitPrice",
  "amount",
];

async function* failedAccounts(app: Pick<App, "pool">, billRunId: string): AsyncGenerator<Row[]> {
  let after = -1;
  while (true) {
    // A page of failed accounts with their failed subscriptions (one row each, or one row without).
    const result = await app.pool.query<{
      position: number;
      account_number: string;
      name: string;
      code: string | null;
      message: string | null;
      subscription_number: string | null;
      subscription_code: string | null;
      subscription_message: string | null;
    }>(
      `WITH failed AS (
         SELECT account_id, position, failure_code, failure_message FROM bill_run_accounts
          WHERE bill_run_id = $1 AND status = 'FAILED' AND failure_code IS NOT NULL AND position > $2 ORDER BY position LIMIT ${PAGE})
       SELECT f.position, a.account_number, a.name, f.failure_code AS code, f.failure_message AS message,
              s.subscription_number, fs.code AS subscription_code, fs.message AS subscription_message
         FROM failed f
         JOIN accounts a ON a.id = f.account_id
         LEFT JOIN bill_run_failed_subscriptions fs ON fs.bill_run_id = $1 AND fs.account_id = f.account_id
         LEFT JOIN subscriptions s ON s.id = fs.subscription_id
        ORDER BY f.position, s.subscription_number`,
      [billRunId, after],
    );
    if (result.rows.length === 0) return;
    after = result.rows[result.rows.length - 1]!.position;
    yield result.rows.map((f) => [
      text(f.account_number),
      text(f.name),
      // As the API answers: an account failed without a recorded code is an INTERNAL_ERROR.
      f.code ?? "INTERNAL_ERROR",
      text(f.message ?? ""),
      text(f.subscription_number),
      f.subscription_code,
      text(f.subscription_message),
    ]);
  }
}

const FAILED_ACCOUNT_COLUMNS = [
  "account.accountNumber",
  "account.name",
  "code",
  "message",
  "subscriptions.subscription.subscriptionNumber",
  "subscriptions.code",
  "subscriptions.message",
];

/** Header and rows (page by page, never an empty page) of one export. */
export function exportRows(app: Pick<App, "pool">, billRunId: string, name: ExportName): { columns: string[]; rows: AsyncGenerator<Row[]> } {
  switch (name) {
    case "invoices":
      return { columns: DOCUMENT_COLUMNS("invoiceNumber"), rows: documents(app, billRunId, "INVOICE") };
    case "credit-memos":
      return { columns: DOCUMENT_COLUMNS("creditMemoNumber"), rows: documents(app, billRunId, "CREDIT_MEMO") };
    case "items":
      return { columns: ITEM_COLUMNS, rows: items(app, billRunId) };
    case "failed-accounts":
      return { columns: FAILED_ACCOUNT_COLUMNS, rows: failedAccounts(app, billRunId) };
  }
}

/**
 * Writes export `name` of run `billRunId` as CSV (UTF-8 with a byte-order mark, so spreadsheets
 * read non-Latin names right; CRLF line ends; a header row) to `out`, respecting its
 * backpressure. Resolves when all is written; rejects when the database fails or `out` closes
 * early (then `out` is destroyed). An unknown run gives a header row only (check it first).
 */
export async function writeExport(app: Pick<App, "pool">, billRunId: string, name: ExportName, out: Writable): Promise<void> {
  const { columns, rows } = exportRows(app, billRunId, name);
  await pipeline(rowStream(rows), stringify({ header: true, columns, bom: true, record_delimiter: "windows" }), new Coalesce(), out);
}

/**
 * The rows of `pages` as an object stream. A page is pushed whole (at most PAGE rows held), and
 * the next one read only when the stringifier wants more: backpressure without a promise per row.
 */
function rowStream(pages: AsyncGenerator<Row[]>): Readable {
  let reading = false;
  return new Readable({
    objectMode: true,
    highWaterMark: PAGE,
    read() {
      if (reading) return;
      reading = true;
      pages.next().then(
        (next) => {
          reading = false;
          if (next.done) this.push(null);
          else for (const row of next.value) this.push(row);
        },
        (error: Error) => this.destroy(error),
      );
    },
    destroy(error, callback) {
      // Stops the reads (the client went away or a query failed).
      pages.return(undefined).then(
        () => callback(error),
        () => callback(error),
      );
    },
  });
}

/** Joins the stringifier's one-record chunks into ~64 KiB writes: one HTTP chunk each, not one per row. */
class Coalesce extends Transform {
  private parts: string[] = [];
  private length = 0;
  constructor() {
    super({ writableObjectMode: false, decodeStrings: false });
  }
  override _transform(chunk: string | Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const part = typeof chunk === "string" ? chunk : chunk.toString("utf8");
    this.parts.push(part);
    this.length += part.length;
    if (this.length >= 64 * 1024) this.emitParts();
    callback();
  }
  override _flush(callback: TransformCallback): void {
    this.emitParts();
    callback();
  }
  private emitParts(): void {
    if (this.parts.length === 0) return;
    this.push(Buffer.from(this.parts.join(""), "utf8"));
    this.parts = [];
    this.length = 0;
  }
}
