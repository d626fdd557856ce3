import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { from as copyFrom } from "pg-copy-streams";
import type { Sql } from "./sql.ts";

// COPY's text format: a tab between columns, a newline after each row, \N for null, and a
// backslash before each of these characters when they occur in a value.
const SPECIAL = /[\\\t\n\r]/;
const SPECIAL_ALL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };

/**
 * A text value as one field of COPY's text format (backslash, tab, newline and carriage return
 * escaped). Values that cannot hold these characters (ids, numbers, dates) need not pass here.
 */
export function copyField(value: string): string {
  return SPECIAL.test(value) ? value.replace(SPECIAL_ALL, (c) => ESCAPES[c]!) : value;
}

/**
 * Writes COPY text into `table` (`columns` in that order) with one `COPY … FROM STDIN`, on the
 * caller's connection and so in its transaction. Each piece holds whole lines (fields joined by
 * tabs, each line ending with a newline, \N for null), so a large batch is never one string.
 * PostgreSQL parses each value with the column's own input function: numbers as decimal text
 * and dates as 'YYYY-MM-DD' keep their exact value, and a value that does not fit (numeric
 * overflow, 22003) fails the statement as an INSERT would. `table` and `columns` are SQL
 * identifiers written by the caller, never user input.
 */
export async function copyLines(sql: Sql, table: string, columns: readonly string[], pieces: readonly string[]): Promise<void> {
  if (pieces.length === 0) return;
  const stream = sql.query(copyFrom(`COPY ${table} (${columns.join(", ")}) FROM STDIN`));
  await pipeline(Readable.from(pieces, { objectMode: false }), stream);
}
