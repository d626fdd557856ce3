import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { from as copyFrom } from "pg-copy-streams";
import type { Sql } from "./sql.ts";

/** One row's values in column order: text as PostgreSQL would read it, or null. */
export type CopyRow = readonly (string | number | boolean | null)[];

// COPY's text format: a tab between columns, a newline after each row, \N for null, and a
// backslash before each of these characters when they occur in a value.
const SPECIAL = /[\\\t\n\r]/;
const SPECIAL_ALL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };

function field(value: string | number | boolean | null): string {
  if (value === null) return "\\N";
  const text = String(value);
  return SPECIAL.test(text) ? text.replace(SPECIAL_ALL, (c) => ESCAPES[c]!) : text;
}

/** Rows this many at a time make one piece of the stream, so a large batch is never one string. */
const ROWS_PER_PIECE = 2_000;

/**
 * Writes `rows` into `table` (`columns` in that order) with one `COPY … FROM STDIN`, on the
 * caller's connection and so in its transaction. PostgreSQL parses each value with the column's
 * own input function: numbers as decimal text and dates as 'YYYY-MM-DD' keep their exact value,
 * and a value that does not fit (numeric overflow, 22003) fails the statement as an INSERT would.
 * `table` and `columns` are SQL identifiers written by the caller, never user input.
 */
export async function copyRows(sql: Sql, table: string, columns: readonly string[], rows: readonly CopyRow[]): Promise<void> {
  if (rows.length === 0) return;
  function* pieces(): Generator<string> {
    for (let start = 0; start < rows.length; start += ROWS_PER_PIECE) {
      let piece = "";
      const end = Math.min(rows.length, start + ROWS_PER_PIECE);
      for (let i = start; i < end; i++) {
        const row = rows[i]!;
        let line = field(row[0] ?? null);
        for (let c = 1; c < row.length; c++) line += "\t" + field(row[c] ?? null);
        piece += line + "\n";
      }
      yield piece;
    }
  }
  const stream = sql.query(copyFrom(`COPY ${table} (${columns.join(", ")}) FROM STDIN`));
  await pipeline(Readable.from(pieces(), { objectMode: false }), stream);
}
