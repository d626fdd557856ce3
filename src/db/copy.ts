import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { from as copyFrom } from "pg-copy-streams";
import { writeTimeOrderedId } from "../ids.ts";
import type { Sql } from "./sql.ts";

/** Bytes per piece of COPY data; a value larger than that makes a piece of its own size. */
const PIECE_BYTES = 256 * 1024;

// COPY's binary format: a signature and two 32-bit words, then per row a 16-bit field count and
// per field a 32-bit length (-1 for null) and the value in the type's binary form; -1 as a 16-bit
// field count ends the data.
const SIGNATURE = Buffer.from("PGCOPY\n\xff\r\n\0", "latin1");
/** Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch for dates. */
const PG_EPOCH_DAYS = 10_957;
const DAY_MS = 86_400_000;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DECIMAL_TEXT = /^(-?)(\d+)(?:\.(\d+))?$/;
const DASH = 45;
/** Where each of a uuid's 16 bytes has its two hex digits in its canonical text (dashes at 8, 13, 18, 23). */
const UUID_BYTES = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
/** The value of each hexadecimal digit's character code (either case); -1 for other characters. */
const HEX = Int8Array.from({ length: 128 }, (_, code) => {
  const c = String.fromCharCode(code);
  return /[0-9a-fA-F]/.test(c) ? parseInt(c, 16) : -1;
});

/**
 * COPY's binary format written field by field into buffers: PostgreSQL reads each value with the
 * type's receive function, without parsing text (ids, dates and decimals cost it about half of a
 * text COPY's reading). Begin each row with `row(fields)`, then write exactly that many fields.
 * Dates and decimals repeat across a run's items; their encodings are kept, up to a bound.
 */
export class CopyBinary {
  private readonly pieces: Buffer[] = [];
  private buffer = Buffer.allocUnsafe(PIECE_BYTES);
  private at = 0;

  constructor() {
    this.room(SIGNATURE.length + 8);
    this.at += SIGNATURE.copy(this.buffer, this.at);
    this.at = this.buffer.writeInt32BE(0, this.at);
    this.at = this.buffer.writeInt32BE(0, this.at);
  }

  /** Starts a row of `fields` fields. */
  row(fields: number): void {
    this.room(2);
    this.at = this.buffer.writeInt16BE(fields, this.at);
  }

  /** A uuid in its canonical text form (36 characters, either case); throws RangeError on anything else. */
  uuid(value: string): void {
    this.room(20);
    let at = this.buffer.writeInt32BE(16, this.at);
    // Decoded here rather than by Buffer#write(…, "hex"): five native calls per id cost more than the loop.
    let bad =
      value.length !== 36 || value.charCodeAt(8) !== DASH || value.charCodeAt(13) !== DASH || value.charCodeAt(18) !== DASH || value.charCodeAt(23) !== DASH;
    for (let k = 0; k < 16 && !bad; k++) {
      const high = HEX[value.charCodeAt(UUID_BYTES[k]!)] ?? -1;
      const low = HEX[value.charCodeAt(UUID_BYTES[k]! + 1)] ?? -1;
      bad = high < 0 || low < 0;
      this.buffer[at++] = (high << 4) | low;
    }
    if (bad) throw new RangeError(`not a uuid: ${JSON.stringify(value)}`);
    this.at = at;
  }

  /** A uuid given as its 16 bytes, at `offset` of `bytes` (as writeTimeOrderedId writes them). */
  uuidBytes(bytes: Uint8Array, offset = 0): void {
    if (offset < 0 || offset + 16 > bytes.length) throw new RangeError(`no uuid at ${offset}`);
    this.room(20);
    let at = this.buffer.writeInt32BE(16, this.at);
    for (let k = 0; k < 16; k++) this.buffer[at++] = bytes[offset + k]!;
    this.at = at;
  }

  /** A new time-ordered uuid (see writeTimeOrderedId), written straight into the data. */
  timeOrderedUuid(): void {
    this.room(20);
    const at = this.buffer.writeInt32BE(16, this.at);
    writeTimeOrderedId(this.buffer, at);
    this.at = at + 16;
  }

  /** A 32-bit integer (int4). */
  int4(value: number): void {
    this.room(8);
    this.at = this.buffer.writeInt32BE(4, this.at);
    this.at = this.buffer.writeInt32BE(value, this.at);
  }

  /** Text, or the label of an enum (whose binary form is its label): written as UTF-8. */
  text(value: string): void {
    // At most three bytes of UTF-8 per UTF-16 unit.
    this.room(4 + value.length * 3);
    const length = this.buffer.write(value, this.at + 4, "utf8");
    this.buffer.writeInt32BE(length, this.at);
    this.at += 4 + length;
  }

  /** A calendar date as 'YYYY-MM-DD' (years 1–9999); throws RangeError on anything else. */
  date(value: string): void {
    let days = this.dates.get(value);
    if (days === undefined) {
      days = daysSincePgEpoch(value);
      if (this.dates.size < CACHE_LIMIT) this.dates.set(value, days);
    }
    this.room(8);
    this.at = this.buffer.writeInt32BE(4, this.at);
    this.at = this.buffer.writeInt32BE(days, this.at);
  }

  /**
   * A decimal as text ('-12.3400': optional minus, digits, optional fraction), with the scale it is
   * written with, as `'-12.3400'::numeric` would read it; throws RangeError on anything else.
   */
  numeric(value: string): void {
    let encoded = this.numerics.get(value);
    if (encoded === undefined) {
      encoded = encodeNumeric(value);
      if (this.numerics.size < CACHE_LIMIT) this.numerics.set(value, encoded);
    }
    this.room(4 + encoded.length);
    let at = this.buffer.writeInt32BE(encoded.length, this.at);
    // A few bytes: copied here rather than by a native call.
    for (let i = 0; i < encoded.length; i++) this.buffer[at++] = encoded[i]!;
    this.at = at;
  }

  /** A null of any type. */
  null(): void {
    this.room(4);
    this.at = this.buffer.writeInt32BE(-1, this.at);
  }

  /** The data written so far with its end marker, in pieces; the writer is not to be used after. */
  finish(): Buffer[] {
    this.room(2);
    this.at = this.buffer.writeInt16BE(-1, this.at);
    this.pieces.push(this.buffer.subarray(0, this.at));
    this.at = 0;
    return this.pieces;
  }

  private readonly dates = new Map<string, number>();
  private readonly numerics = new Map<string, Buffer>();

  private room(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    if (this.at > 0) this.pieces.push(this.buffer.subarray(0, this.at));
    this.buffer = Buffer.allocUnsafe(Math.max(PIECE_BYTES, bytes));
    this.at = 0;
  }
}

/** Distinct dates or decimals remembered per writer: a run's items repeat a few hundred. */
const CACHE_LIMIT = 10_000;

function daysSincePgEpoch(value: string): number {
  const match = ISO_DATE.exec(value);
  if (!match) throw new RangeError(`not a date: ${JSON.stringify(value)}`);
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const at = new Date(0);
  // setUTCFullYear, not Date.UTC: the latter reads years 0–99 as 1900–1999.
  at.setUTCFullYear(year, month - 1, day);
  if (year < 1 || at.getUTCFullYear() !== year || at.getUTCMonth() !== month - 1 || at.getUTCDate() !== day) {
    throw new RangeError(`not a date: ${JSON.stringify(value)}`);
  }
  return Math.round(at.getTime() / DAY_MS) - PG_EPOCH_DAYS;
}

/**
 * numeric's binary form: digit count, weight (of the first digit, in powers of 10,000), sign
 * (0x4000 negative), display scale, then the base-10,000 digits without leading or trailing
 * zero digits. Zero is positive whatever its sign, as PostgreSQL stores it.
 */
function encodeNumeric(value: string): Buffer {
  const match = DECIMAL_TEXT.exec(value);
  if (!match) throw new RangeError(`not a decimal: ${JSON.stringify(value)}`);
  const integer = match[2]!.replace(/^0+/, "");
  const fraction = match[3] ?? "";
  const scale = fraction.length;
  // Groups of four decimal digits aligned on the decimal point.
  const integerDigits = integer.padStart(Math.ceil(integer.length / 4) * 4, "0");
  const fractionDigits = fraction.padEnd(Math.ceil(fraction.length / 4) * 4, "0");
  const digits: number[] = [];
  for (let i = 0; i < integerDigits.length; i += 4) digits.push(Number(integerDigits.slice(i, i + 4)));
  for (let i = 0; i < fractionDigits.length; i += 4) digits.push(Number(fractionDigits.slice(i, i + 4)));
  let weight = integerDigits.length / 4 - 1;
  let first = 0;
  while (first < digits.length && digits[first] === 0) {
    first++;
    weight--;
  }
  let end = digits.length;
  while (end > first && digits[end - 1] === 0) end--;
  const kept = digits.slice(first, end);
  const negative = match[1] === "-" && kept.length > 0;
  const out = Buffer.allocUnsafe(8 + kept.length * 2);
  out.writeInt16BE(kept.length, 0);
  out.writeInt16BE(kept.length === 0 ? 0 : weight, 2);
  out.writeUInt16BE(negative ? 0x4000 : 0, 4);
  out.writeInt16BE(scale, 6);
  kept.forEach((digit, i) => out.writeInt16BE(digit, 8 + i * 2));
  return out;
}

/**
 * Writes what CopyBinary wrote into `table` (`columns` in that order) with one
 * `COPY … FROM STDIN (FORMAT binary)`, on the caller's connection and so in its transaction.
 * PostgreSQL reads each value with the column's receive function: decimals and dates keep their
 * exact value, and a value that does not fit (numeric overflow, 22003) fails the statement as an
 * INSERT would. `table` and `columns` are SQL identifiers written by the caller, never user input.
 */
export async function copyRows(sql: Sql, table: string, columns: readonly string[], pieces: readonly Buffer[]): Promise<void> {
  if (pieces.length === 0) return;
  const stream = sql.query(copyFrom(`COPY ${table} (${columns.join(", ")}) FROM STDIN (FORMAT binary)`));
  await pipeline(Readable.from(pieces, { objectMode: false }), stream);
}
