import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { from as copyFrom } from "pg-copy-streams";
import type { Sql } from "./sql.ts";

// COPY's text format: a tab between columns, a newline after each row, \N for null, and a
// backslash before each of these characters when they occur in a value.
const SPECIAL = /[\\\t\n\r]/;
const SPECIAL_ALL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };

/** Bytes per piece of COPY text; a value larger than that makes a piece of its own size. */
const PIECE_BYTES = 256 * 1024;
const TAB = 9;
const NEWLINE = 10;

/**
 * COPY's text format written field by field straight into buffers: no string per line or per
 * row, nothing to encode afterwards. A line may span two pieces (COPY reads one byte stream).
 * End each field with `last` false (a tab follows) and the line's last with `last` true.
 */
export class CopyText {
  private readonly pieces: Buffer[] = [];
  private buffer = Buffer.allocUnsafe(PIECE_BYTES);
  private at = 0;

  /** A value known to be ASCII with no character COPY reserves: an id, a name of an enum, a date, decimal text. */
  plain(value: string, last = false): void {
    this.room(value.length + 1);
    this.at += this.buffer.write(value, this.at, "latin1");
    this.buffer[this.at++] = last ? NEWLINE : TAB;
  }

  /** A non-negative integer below 2^53. */
  integer(value: number, last = false): void {
    this.plain(String(value), last);
  }

  /** Any text: escaped, written as UTF-8. */
  text(value: string, last = false): void {
    const escaped = SPECIAL.test(value) ? value.replace(SPECIAL_ALL, (c) => ESCAPES[c]!) : value;
    // At most three bytes of UTF-8 per UTF-16 unit.
    this.room(escaped.length * 3 + 1);
    this.at += this.buffer.write(escaped, this.at, "utf8");
    this.buffer[this.at++] = last ? NEWLINE : TAB;
  }

  /** The text written so far, in pieces; the writer is not to be used after. */
  finish(): Buffer[] {
    if (this.at > 0) this.pieces.push(this.buffer.subarray(0, this.at));
    this.at = 0;
    return this.pieces;
  }

  private room(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    if (this.at > 0) this.pieces.push(this.buffer.subarray(0, this.at));
    this.buffer = Buffer.allocUnsafe(Math.max(PIECE_BYTES, bytes));
    this.at = 0;
  }
}

/**
 * Writes COPY text into `table` (`columns` in that order) with one `COPY … FROM STDIN`, on the
 * caller's connection and so in its transaction. The pieces (see CopyText) are read as one
 * stream: fields joined by tabs, each line ending with a newline, \N for null.
 * PostgreSQL parses each value with the column's own input function: numbers as decimal text
 * and dates as 'YYYY-MM-DD' keep their exact value, and a value that does not fit (numeric
 * overflow, 22003) fails the statement as an INSERT would. `table` and `columns` are SQL
 * identifiers written by the caller, never user input.
 */
export async function copyLines(sql: Sql, table: string, columns: readonly string[], pieces: readonly (string | Buffer)[]): Promise<void> {
  if (pieces.length === 0) return;
  const stream = sql.query(copyFrom(`COPY ${table} (${columns.join(", ")}) FROM STDIN`));
  await pipeline(Readable.from(pieces, { objectMode: false }), stream);
}
