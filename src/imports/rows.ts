import { StringDecoder } from "node:string_decoder";
import { CsvError, parse as parseCsv, type InfoRecord, type Options } from "csv-parse";

/** The value a column holds, as the single mutations take it. */
export type ColumnType = "string" | "int" | "boolean" | "decimal";

/** The columns a kind of file may have (CSV header names = NDJSON keys = the API's field names). */
export type Columns = Record<string, ColumnType>;

/** A rejected row: its line in the file (1 = the first line), the column at fault, why. */
export interface RowError {
  line: number;
  field: string | null;
  code: "VALIDATION" | "NOT_FOUND" | "CONFLICT" | "INVALID_STATE";
  message: string;
}

/** One data row: its values by column (absent when empty), or what made it unreadable. */
export interface Row {
  line: number;
  values: Record<string, string | number | boolean>;
  error?: RowError;
}

/** What a reader yields: rows in file order, and how far into the file it has read. */
export interface ReadRow extends Row {
  /** Bytes of the file consumed up to and including this row (for progress). */
  bytes: number;
}

/** The file cannot be read at all (a header naming unknown columns, say): nothing imports. */
export class FileError extends Error {
  readonly line: number;
  readonly field: string | null;
  constructor(message: string, line: number, field: string | null) {
    super(message);
    this.line = line;
    this.field = field;
  }
}

const MAX_RECORD_BYTES = 1024 * 1024;

function typeProblem(type: ColumnType): string {
  switch (type) {
    case "int":
      return "must be a whole number";
    case "boolean":
      return "must be true or false";
    case "decimal":
      return 'must be a decimal written as a string, such as "12.50"';
    default:
      return "must be a string";
  }
}

/** A CSV cell (text) as the column's type; empty cells are absent. */
function fromText(type: ColumnType, text: string): string | number | boolean | undefined | Error {
  if (text === "") return undefined;
  if (text.includes("\u0000")) return new Error("must not contain a NUL character");
  if (type === "int") return /^\s*[+-]?\d{1,9}\s*$/.test(text) ? Number(text) : new Error(typeProblem(type));
  if (type === "boolean") {
    const t = text.trim().toLowerCase();
    return t === "true" ? true : t === "false" ? false : new Error(typeProblem(type));
  }
  return text;
}

/** An NDJSON value as the column's type: the JSON types GraphQL variables take; null is absent. */
function fromJson(type: ColumnType, value: unknown): string | number | boolean | undefined | Error {
  if (value === null || value === undefined) return undefined;
  if (type === "int") return Number.isSafeInteger(value) ? (value as number) : new Error(typeProblem(type));
  if (type === "boolean") return typeof value === "boolean" ? value : new Error(typeProblem(type));
  if (typeof value !== "string") return new Error(typeProblem(type));
  return value.includes("\u0000") ? new Error("must not contain a NUL character") : value;
}

/** A CSV record with the line it ends on and the bytes read up to its end. */
type Located = [record: string[], line: number, bytes: number];

/** Rows read ahead of the consumer, at most (then the parser, and the file, wait). */
const READ_AHEAD_ROWS = 20_000;

/**
 * Reads CSV rows from `chunks`, in file order, a run of rows at a time: a header row naming
 * columns of `columns` (any order, any subset), then one record per row. Rows with a wrong number
 * of cells, a cell of the wrong type or broken quoting come out with their `error`; a bad header
 * throws FileError.
 */
export async function* readCsv(chunks: AsyncIterable<Uint8Array>, columns: Columns): AsyncGenerator<ReadRow[]> {
  let out: ReadRow[] = [];
  // Unreadable records, reported as the parser meets them: put in their place among the others.
  const skipped: ReadRow[] = [];
  let header: string[] | null = null;
  let failure: Error | null = null;
  let ended = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const parser = parseCsv({
    bom: true,
    // A record's line and bytes, without the wrapper objects `info: true` builds around each record.
    on_record: ((record: string[], context: InfoRecord): Located => [record, context.lines, context.bytes]) as unknown as Options["on_record"],
    skip_empty_lines: true,
    relax_column_count: true,
    max_record_size: MAX_RECORD_BYTES,
    skip_records_with_error: true,
    on_skip: (error: CsvError | undefined) => {
      if (error?.code === "CSV_MAX_RECORD_SIZE") {
        // Past the limit the parser cannot tell where the record ends: nothing after it is trustworthy.
        failure ??= new FileError(`unreadable CSV: ${error.message}`, (error as CsvError & { lines?: number }).lines ?? 0, null);
        parser.destroy();
        notify();
      } else if (error) {
        const line = (error as CsvError & { lines?: number }).lines ?? 0;
        skipped.push({
          line,
          values: {},
          bytes: parser.info.bytes,
          error: { line, field: null, code: "VALIDATION", message: `unreadable CSV: ${error.message}` },
        });
      }
      return undefined;
    },
  });

  const take = (record: string[], line: number, bytes: number): void => {
    while (skipped.length > 0 && skipped[0]!.line < line) out.push(skipped.shift()!);
    if (!header) {
      header = record.map((name) => name.trim());
      const unknown = header.filter((name) => !Object.hasOwn(columns, name));
      if (unknown.length > 0) {
        throw new FileError(
          `unknown column${unknown.length > 1 ? "s" : ""} ${unknown.map((n) => `"${n}"`).join(", ")}; the columns are ${Object.keys(columns).join(", ")}`,
          line,
          unknown[0]!,
        );
      }
      const twice = header.find((name, i) => header!.indexOf(name) !== i);
      if (twice) throw new FileError(`column "${twice}" appears twice`, line, twice);
      return;
    }
    if (record.length !== header.length) {
      out.push({
        line,
        values: {},
        bytes,
        error: { line, field: null, code: "VALIDATION", message: `${record.length} cells where the header has ${header.length}` },
      });
      return;
    }
    const values: Row["values"] = {};
    let error: RowError | undefined;
    for (let i = 0; i < header.length; i++) {
      const name = header[i]!;
      const value = fromText(columns[name]!, record[i]!);
      if (value instanceof Error) {
        error ??= { line, field: name, code: "VALIDATION", message: `${name}: ${value.message}` };
      } else if (value !== undefined) {
        values[name] = value;
      }
    }
    out.push({ line, values, bytes, error });
  };
  // Records are taken from the parser as they come, in the event handler, while fewer than
  // READ_AHEAD_ROWS wait; past that, the parser's buffer fills and the file stops being read.
  const drain = () => {
    try {
      let item: Located | null;
      while (out.length < READ_AHEAD_ROWS && (item = parser.read() as Located | null) !== null) take(item[0], item[1], item[2]);
    } catch (error) {
      failure ??= error as Error;
      parser.destroy();
    }
    notify();
  };
  parser.on("readable", drain);
  parser.on("end", () => {
    out.push(...skipped.splice(0));
    ended = true;
    notify();
  });
  // Destroyed without an error event: whoever destroyed it set `failure` (or stopped reading).
  parser.on("close", () => {
    if (!ended) failure ??= new Error("the CSV parser stopped");
    notify();
  });
  parser.on("error", (error) => {
    // What the parser cannot skip (a record past the size limit, say) ends the file as unreadable.
    failure ??=
      error instanceof CsvError ? new FileError(`unreadable CSV: ${error.message}`, (error as CsvError & { lines?: number }).lines ?? 0, null) : error;
    notify();
  });
  const feeding = (async () => {
    try {
      for await (const chunk of chunks) {
        if (parser.destroyed) return;
        if (!parser.write(chunk)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              parser.off("drain", done);
              parser.off("close", done);
              resolve();
            };
            parser.on("drain", done);
            parser.on("close", done);
          });
        }
      }
      if (!parser.destroyed) parser.end();
    } catch (error) {
      failure ??= error as Error;
      parser.destroy();
      notify();
    }
  })();

  try {
    for (;;) {
      if (out.length > 0) {
        const rows = out;
        out = [];
        yield rows;
        drain();
        continue;
      }
      if (failure) throw failure;
      if (ended) break;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    if (!ended) parser.destroy();
  }
  await feeding;
  if (failure) throw failure;
  if (!header) throw new FileError("the file is empty: a CSV file starts with a header row naming its columns", 1, null);
}

/**
 * Reads NDJSON rows from `chunks`: one JSON object per line, keys among `columns`. Blank lines
 * are skipped; a line that is not a JSON object, names an unknown field or holds a value of the
 * wrong type comes out with its `error`.
 */
export async function* readNdjson(chunks: AsyncIterable<Uint8Array>, columns: Columns): AsyncGenerator<ReadRow[]> {
  const decoder = new StringDecoder("utf8");
  let pending = "";
  let line = 0;
  let bytes = 0;
  let first = true;
  const toRow = (text: string): ReadRow | null => {
    line++;
    if (first) {
      first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (text.trim() === "") return null;
    if (text.length > MAX_RECORD_BYTES)
      return { line, values: {}, bytes, error: { line, field: null, code: "VALIDATION", message: `line longer than ${MAX_RECORD_BYTES} characters` } };
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { line, values: {}, bytes, error: { line, field: null, code: "VALIDATION", message: "not a JSON object" } };
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      return { line, values: {}, bytes, error: { line, field: null, code: "VALIDATION", message: "not a JSON object" } };
    }
    const values: Row["values"] = {};
    let error: RowError | undefined;
    for (const [name, raw] of Object.entries(parsed as Record<string, unknown>)) {
      const type = Object.hasOwn(columns, name) ? columns[name] : undefined;
      if (!type) {
        error ??= { line, field: name, code: "VALIDATION", message: `unknown field "${name}"; the fields are ${Object.keys(columns).join(", ")}` };
        continue;
      }
      const value = fromJson(type, raw);
      if (value instanceof Error) error ??= { line, field: name, code: "VALIDATION", message: `${name}: ${value.message}` };
      else if (value !== undefined) values[name] = value;
    }
    return { line, values, bytes, error };
  };
  for await (const chunk of chunks) {
    pending += decoder.write(chunk as Buffer);
    let start = 0;
    let end: number;
    const rows: ReadRow[] = [];
    while ((end = pending.indexOf("\n", start)) !== -1) {
      const text = pending.slice(start, end);
      bytes += Buffer.byteLength(text) + 1;
      start = end + 1;
      const row = toRow(text.endsWith("\r") ? text.slice(0, -1) : text);
      if (row) rows.push(row);
    }
    if (rows.length > 0) yield rows;
    pending = pending.slice(start);
    if (pending.length > MAX_RECORD_BYTES) {
      // A line that never ends would otherwise grow without bound.
      throw new FileError(`line ${line + 1} is longer than ${MAX_RECORD_BYTES} characters`, line + 1, null);
    }
  }
  pending += decoder.end();
  if (pending.length > 0) {
    bytes += Buffer.byteLength(pending);
    const row = toRow(pending.endsWith("\r") ? pending.slice(0, -1) : pending);
    if (row) yield [row];
  }
}
