import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { arrayLiteral } from "../../src/billruns/arrays.ts";
import { CopyText, copyLines } from "../../src/db/copy.ts";
import { createTestDatabase } from "../support/db.ts";

// What the chunk writer sends without node-postgres' own encoding: COPY text built into buffers
// and array literals built as text. PostgreSQL must read back exactly what was written.

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

describe("CopyText", () => {
  it("writes any text, integers and plain values so that COPY reads them back unchanged, across many pieces", async () => {
    await client.query("CREATE TEMP TABLE copied (n int, name text, amount numeric, day date)");
    const rows = Array.from({ length: 20_000 }, (_, n) => ({
      n,
      // Long values too: one larger than a piece, and lines that straddle two pieces.
      name: n === 7 ? "x".repeat(400_000) + "\t" : AWKWARD[n % AWKWARD.length]! + n,
      amount: `${n}.${String(n % 10_000).padStart(4, "0")}`,
      day: `2026-01-${String((n % 28) + 1).padStart(2, "0")}`,
    }));
    const copy = new CopyText();
    for (const row of rows) {
      copy.integer(row.n);
      copy.text(row.name);
      copy.plain(row.amount);
      copy.plain(row.day, true);
    }
    const pieces = copy.finish();
    expect(pieces.length).toBeGreaterThan(2);
    await copyLines(client, "copied", ["n", "name", "amount", "day"], pieces);
    const back = await client.query<{ n: number; name: string; amount: string; day: string }>(
      "SELECT n, name, amount::text AS amount, to_char(day, 'YYYY-MM-DD') AS day FROM copied ORDER BY n",
    );
    expect(back.rows).toEqual(rows);
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
