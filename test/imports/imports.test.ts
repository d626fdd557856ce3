import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { startImportRunner, type ImportRunner } from "../../src/imports/runner.ts";
import { csv, errorsOf, importAndWait, ndjson, upload } from "./helpers.ts";

let t: TestApp;
let runner: ImportRunner;

beforeAll(async () => {
  t = await createTestApp();
  runner = startImportRunner(t.app, { pollMs: 100 });
});
afterAll(async () => {
  await runner?.stop();
  await t?.close();
});

const ACCOUNT_HEADER = "accountNumber,name,currency,billCycleDay,batch,billToEmail,paymentTermDays,status";

describe("importing accounts", () => {
  it("creates the accounts of a CSV file, with the single mutation's defaults", async () => {
    const job = await importAndWait(
      t,
      "ACCOUNTS",
      "CSV",
      csv(ACCOUNT_HEADER, "CSV-1,Acme Inc,USD,1,2,billing@acme.example,15,ACTIVE", 'CSV-2,"Quote, Comma & Co",EUR,31,,,,', "CSV-3,Yen Corp,JPY,15,,,,INACTIVE"),
    );
    expect(job).toMatchObject({ status: "COMPLETED", rowsTotal: 3, rowsImported: 3, rowsSkipped: 0, rowsRejected: 0, progress: 1, createdBy: { email: "operator@example.com" } });
    const rows = await t.app.db.account.findMany({ where: { accountNumber: { startsWith: "CSV-" } }, orderBy: { accountNumber: "asc" } });
    expect(rows.map((a) => [a.accountNumber, a.name, a.currency, a.billCycleDay, a.batch, a.billToEmail, a.paymentTermDays, a.status])).toEqual([
      ["CSV-1", "Acme Inc", "USD", 1, 2, "billing@acme.example", 15, "ACTIVE"],
      ["CSV-2", "Quote, Comma & Co", "EUR", 31, 1, "", 30, "ACTIVE"],
      ["CSV-3", "Yen Corp", "JPY", 15, 1, "", 30, "INACTIVE"],
    ]);
  });

  it("creates the accounts of an NDJSON file, numbering those without a number", async () => {
    const job = await importAndWait(
      t,
      "ACCOUNTS",
      "NDJSON",
      ndjson({ accountNumber: "ND-1", name: "Json One", currency: "GBP", billCycleDay: 5 }, { name: "Numbered For Me", currency: "KWD", billCycleDay: 28, billToEmail: null }),
    );
    expect(job).toMatchObject({ status: "COMPLETED", rowsImported: 2, rowsRejected: 0 });
    expect(await t.app.db.account.findUnique({ where: { accountNumber: "ND-1" } })).toMatchObject({ name: "Json One", currency: "GBP", billCycleDay: 5 });
    const numbered = await t.app.db.account.findFirstOrThrow({ where: { name: "Numbered For Me" } });
    expect(numbered.accountNumber).toMatch(/^A-\d{8}$/);
  });

  it("reports each bad row with its line, field, code and reason, and imports the rest", async () => {
    const job = await importAndWait(
      t,
      "ACCOUNTS",
      "CSV",
      csv(
        ACCOUNT_HEADER,
        "BAD-1,Good One,USD,1,,,,",
        "BAD-2,Bad Currency,XXX,1,,,,",
        "BAD-3,Bad Day,USD,32,,,,",
        "BAD-4,Not A Number,USD,first,,,,",
        "BAD-5,,USD,1,,,,",
        "BAD-6,Bad Email,USD,1,,not-an-email,,",
        "CSV-1,Taken,USD,1,,,,",
        "BAD-7,Too,Many,Cells,1,,,,",
        "BAD-1,Twice,USD,1,,,,",
        "A-00000001,Reserved Form,USD,1,,,,",
        "BAD-8,Good Two,USD,1,,,,",
      ),
    );
    expect(job).toMatchObject({ status: "COMPLETED", rowsTotal: 11, rowsImported: 2, rowsRejected: 9 });
    const errors = errorsOf(job);
    expect(errors.map((e) => [e.line, e.field, e.code])).toEqual([
      [3, "currency", "VALIDATION"],
      [4, "billCycleDay", "VALIDATION"],
      [5, "billCycleDay", "VALIDATION"],
      [6, "name", "VALIDATION"],
      [7, "billToEmail", "VALIDATION"],
      [8, "accountNumber", "CONFLICT"],
      [9, null, "VALIDATION"],
      [10, "accountNumber", "CONFLICT"],
      [11, "accountNumber", "VALIDATION"],
    ]);
    expect(errors[0]!.message).toMatch(/unknown currency code/);
    expect(errors[1]!.message).toMatch(/between 1 and 31/);
    expect(errors[2]!.message).toBe("billCycleDay: must be a whole number");
    expect(errors[5]!.message).toMatch(/already taken/);
    expect(errors[6]!.message).toMatch(/9 cells where the header has 8/);
    expect(errors[8]!.message).toMatch(/assigned automatically/);
    expect(await t.app.db.account.count({ where: { accountNumber: { startsWith: "BAD-" } } })).toBe(2);
  });

  it("refuses a file with an unknown column, naming it, and imports nothing", async () => {
    const job = await importAndWait(t, "ACCOUNTS", "CSV", csv("accountNumber,name,currency,billCycleDay,colour", "COL-1,Painted,USD,1,blue"));
    expect(job).toMatchObject({ status: "FAILED", rowsImported: 0 });
    expect(job.errorMessage).toMatch(/unknown column "colour"/);
    expect(errorsOf(job)).toEqual([{ line: 1, field: "colour", code: "VALIDATION", message: expect.stringContaining('"colour"') }]);
    expect(await t.app.db.account.count({ where: { accountNumber: "COL-1" } })).toBe(0);
  });

  it("refuses an unknown NDJSON field on its row", async () => {
    const job = await importAndWait(t, "ACCOUNTS", "NDJSON", ndjson({ accountNumber: "NDX-1", name: "A", currency: "USD", billCycleDay: 1, colour: "blue" }) + "not json\n");
    expect(job).toMatchObject({ status: "COMPLETED", rowsImported: 0, rowsRejected: 2 });
    expect(errorsOf(job).map((e) => [e.line, e.field, e.code])).toEqual([
      [1, "colour", "VALIDATION"],
      [2, null, "VALIDATION"],
    ]);
  });

  it("UPSERT updates what differs, and the same file again changes nothing", async () => {
    const file = csv(ACCOUNT_HEADER, "UP-1,Upsert One,USD,1,,,,", "UP-2,Upsert Two,EUR,2,3,,,");
    expect(await importAndWait(t, "ACCOUNTS", "CSV", file, { mode: "UPSERT" })).toMatchObject({ rowsImported: 2, rowsSkipped: 0 });
    const before = await t.app.db.account.findMany({ where: { accountNumber: { startsWith: "UP-" } }, orderBy: { accountNumber: "asc" } });

    const again = await importAndWait(t, "ACCOUNTS", "CSV", file, { mode: "UPSERT" });
    expect(again).toMatchObject({ status: "COMPLETED", rowsImported: 0, rowsSkipped: 2, rowsRejected: 0 });
    expect(await t.app.db.account.findMany({ where: { accountNumber: { startsWith: "UP-" } }, orderBy: { accountNumber: "asc" } })).toEqual(before);

    const changed = await importAndWait(t, "ACCOUNTS", "NDJSON", ndjson({ accountNumber: "UP-2", name: "Renamed Two" }, { accountNumber: "UP-1", currency: "GBP" }), { mode: "UPSERT" });
    expect(changed).toMatchObject({ rowsImported: 1, rowsRejected: 1 });
    expect(errorsOf(changed)).toEqual([{ line: 2, field: "currency", code: "VALIDATION", message: expect.stringMatching(/cannot change/) }]);
    expect(await t.app.db.account.findUniqueOrThrow({ where: { accountNumber: "UP-2" } })).toMatchObject({ name: "Renamed Two", currency: "EUR", batch: 3 });
  });

  it("with atomic: true, one bad row means nothing imports", async () => {
    const job = await importAndWait(t, "ACCOUNTS", "CSV", csv(ACCOUNT_HEADER, "AT-1,Fine,USD,1,,,,", "AT-2,Broken,USD,99,,,,", "AT-3,Fine,USD,1,,,,"), { atomic: true });
    expect(job).toMatchObject({ status: "FAILED", rowsImported: 0, rowsRejected: 1 });
    expect(job.errorMessage).toMatch(/nothing was imported/);
    expect(errorsOf(job).map((e) => e.line)).toEqual([3]);
    expect(await t.app.db.account.count({ where: { accountNumber: { startsWith: "AT-" } } })).toBe(0);

    const good = await importAndWait(t, "ACCOUNTS", "CSV", csv(ACCOUNT_HEADER, "AT-1,Fine,USD,1,,,,", "AT-3,Fine,USD,1,,,,"), { atomic: true });
    expect(good).toMatchObject({ status: "COMPLETED", rowsImported: 2 });
    expect(await t.app.db.account.count({ where: { accountNumber: { startsWith: "AT-" } } })).toBe(2);
  });
});
