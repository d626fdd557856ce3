import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { arrayLiteral } from "../../src/billruns/arrays.ts";
import { CopyBinary, copyRows } from "../../src/db/copy.ts";
import { createTestDatabase } from "../support/db.ts";

// What the chunk writer sends without node-postgres' own encoding: COPY's binary format built
// into buffers and array literals built as text. PostgreSQL must read back exactly what was written.

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let client: pg.PoolClient;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 1 });
  client = await pool.connect();
});
afterAll(async () => {
  client.release();
  await pool.end();
  await db.drop();
});

const AWKWARD = [
  "plain",
  "",
  "tab\there",
  "line\nbreak",
  "carriage\rreturn",
  "back\\slash",
  "\\N",
  "é ü 日本 🎉",
  'quote " and , {braces}',
  "NULL",
  "null",
  " spaced ",
];

describe("CopyBinary", () => {
  const DECIMALS = [
    "0",
    "-0",
    "-0.00",
    "0.00000001",
    "1",
    "-1",
    "5",
    "-5.10",
    "9999",
    "10000",
    "9999.9999",
    "10000.0001",
    "0.5",
    "0.0001",
    "0.00010000",
    "123.45",
    "100000000",
    "007.50",
    "-123456789012345.12345678",
    "999999999999999.99999999",
    "1" + "0".repeat(40),
  ];
  const DATES = ["2000-01-01", "1999-12-31", "2026-11-29", "2024-02-29", "1970-01-01", "0001-01-01", "0099-03-01", "9999-12-31", "1900-02-28"];

  it("writes ids, integers, text, enum labels, dates, decimals and nulls that PostgreSQL reads back as their text would read", async () => {
    await client.query(`CREATE TEMP TABLE copied_binary (n int, id uuid, name text, kind "ItemKind", day date, amount numeric, price numeric(24, 4))`);
    const rows = Array.from({ length: 20_000 }, (_, n) => ({
      n: n === 1 ? -2_147_483_648 : n === 2 ? 2_147_483_647 : n,
      id: n % 2 === 0 ? "0190f5a2-7b1c-7d2e-8f3a-4b5c6d7e8f90" : "FFFFFFFF-0000-4000-8000-00000000000A",
      // Long values too: one larger than a piece, and rows that straddle two pieces.
      name: n === 7 ? "x".repeat(400_000) + "\t" : n % 13 === 0 ? null : AWKWARD[n % AWKWARD.length]! + n,
      kind: n % 3 === 0 ? "CREDIT" : "CHARGE",
      day: DATES[n % DATES.length]!,
      amount: n % 11 === 0 ? null : DECIMALS[n % DECIMALS.length]!,
      price: DECIMALS[(n + 3) % (DECIMALS.length - 1)]!,
    }));
    const copy = new CopyBinary();
    for (const row of rows) {
      copy.row(7);
      copy.int4(row.n);
      copy.uuid(row.id);
      if (row.name === null) copy.null();
      else copy.text(row.name);
      copy.text(row.kind);
      copy.date(row.day);
      if (row.amount === null) copy.null();
      else copy.numeric(row.amount);
      copy.numeric(row.price);
    }
    const pieces = copy.finish();
    expect(pieces.length).toBeGreaterThan(2);
    await copyRows(client, "copied_binary", ["n", "id", "name", "kind", "day", "amount", "price"], pieces);
    const back = await client.query(
      `SELECT n, id::text AS id, name, kind::text AS kind, day::text AS day, amount::text AS amount, price::text AS price FROM copied_binary ORDER BY n`,
    );
    // What PostgreSQL makes of the same values written as text.
    const expected = await client.query(
      `SELECT n, id::uuid::text AS id, name, kind::"ItemKind"::text AS kind, day::date::text AS day, amount::numeric::text AS amount,
              price::numeric(24, 4)::text AS price
         FROM jsonb_to_recordset($1::jsonb) AS r(n int, id text, name text, kind text, day text, amount text, price text) ORDER BY n`,
      [JSON.stringify(rows)],
    );
    expect(back.rows).toEqual(expected.rows);
    expect(back.rows.find((r) => r.n === 7)).toMatchObject({ amount: "-5.10" });
  });

  it("refuses what is not a uuid, a date or a decimal, before anything is sent", () => {
    const copy = new CopyBinary();
    copy.row(1);
    expect(() => copy.uuid("0190f5a2-7b1c-7d2e-8f3a-4b5c6d7e8f9")).toThrow(RangeError);
    expect(() => copy.uuid("0190f5a2x7b1c-7d2e-8f3a-4b5c6d7e8f90")).toThrow(RangeError);
    expect(() => copy.date("2026-02-30")).toThrow(RangeError);
    expect(() => copy.date("0000-01-01")).toThrow(RangeError);
    expect(() => copy.date("2026-1-01")).toThrow(RangeError);
    for (const bad of ["", "-", "1.", ".5", "1e5", "+1", "1,5", " 1", "NaN"]) expect(() => copy.numeric(bad)).toThrow(RangeError);
  });

  it("writes ids given as bytes, and new time-ordered ids that PostgreSQL reads as version-7 uuids of the moment", async () => {
    await client.query("CREATE TEMP TABLE copied_ids (n int, id uuid)");
    const known = "0190f5a2-7b1c-7d2e-8f3a-4b5c6d7e8f90";
    const bytes = Buffer.concat([Buffer.from([0xff]), Buffer.from(known.replaceAll("-", ""), "hex")]);
    const before = Date.now();
    const copy = new CopyBinary();
    copy.row(2);
    copy.int4(0);
    copy.uuidBytes(bytes, 1);
    // More than one pool of random bytes' worth, so that the pool is refilled on the way.
    for (let n = 1; n <= 1000; n++) {
      copy.row(2);
      copy.int4(n);
      copy.timeOrderedUuid();
    }
    await copyRows(client, "copied_ids", ["n", "id"], copy.finish());
    const after = Date.now();
    const read = await client.query<{ id: string; version: number; ms: string; variant: string }>(
      `SELECT id::text, uuid_extract_version(id) AS version, (extract(epoch FROM uuid_extract_timestamp(id)) * 1000)::bigint::text AS ms,
              substr(id::text, 20, 1) AS variant FROM copied_ids ORDER BY n`,
    );
    expect(read.rows[0]!.id).toBe(known);
    const drawn = read.rows.slice(1);
    expect(new Set(drawn.map((r) => r.id)).size).toBe(1000);
    for (const r of drawn) {
      expect(r.version).toBe(7);
      expect("89ab").toContain(r.variant);
      expect(Number(r.ms)).toBeGreaterThanOrEqual(before);
      expect(Number(r.ms)).toBeLessThanOrEqual(after);
    }
    expect(() => new CopyBinary().uuidBytes(bytes, 2)).toThrow(RangeError);
  });

  it("fails the statement with numeric_value_out_of_range when a decimal does not fit its column, as text would", async () => {
    await client.query("CREATE TEMP TABLE copied_small (amount numeric(6, 2))");
    const copy = new CopyBinary();
    copy.row(1);
    copy.numeric("12345.67");
    await expect(copyRows(client, "copied_small", ["amount"], copy.finish())).rejects.toMatchObject({ code: "22003" });
  });
});

describe("arrayLiteral", () => {
  it("is read by PostgreSQL as the same list, nulls included", async () => {
    const values = [...AWKWARD, null, "a}b", "x y"];
    const back = await client.query<{ v: (string | null)[] }>("SELECT $1::text[] AS v", [arrayLiteral(values)]);
    expect(back.rows[0]!.v).toEqual(values);
  });

  it("carries ids, dates and amounts as their types read them", async () => {
    const ids = ["0190f5a2-7b1c-7d2e-8f3a-4b5c6d7e8f90", "00000000-0000-0000-0000-000000000000"];
    const back = await client.query<{ ids: string[]; days: string[]; amounts: string[] }>(
      "SELECT $1::uuid[]::text[] AS ids, $2::date[]::text[] AS days, $3::numeric[]::text[] AS amounts",
      [arrayLiteral(ids), arrayLiteral(["2026-02-28", null]), arrayLiteral(["-12.3400", "0"])],
    );
    expect(back.rows[0]).toEqual({ ids, days: ["2026-02-28", null], amounts: ["-12.3400", "0"] });
  });

  it("of nothing is the empty array", async () => {
    const back = await client.query<{ n: number }>("SELECT cardinality($1::uuid[]) AS n", [arrayLiteral([])]);
    expect(back.rows[0]!.n).toBe(0);
  });
});
