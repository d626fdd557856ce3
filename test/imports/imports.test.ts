import { beforeAll, describe, expect, it } from "vitest";
import { type TestApp } from "../support/app.ts";
import { stageImport } from "../../src/imports/staging.ts";
import { wakeImportRunners } from "../../src/imports/runner.ts";
import { WRITERS } from "../../src/imports/writers.ts";
import { createAccount, createSubscription } from "../../src/accounts/service.ts";
import { transaction } from "../../src/db/sql.ts";
import { csv, errorsOf, finished, importAndWait, ndjson, upload, withImportRunner } from "./helpers.ts";

let t: TestApp;
withImportRunner((app) => (t = app));

const ACCOUNT_HEADER = "accountNumber,name,currency,billCycleDay,batch,billToEmail,paymentTermDays,status";

describe("importing accounts", () => {
  it("creates the accounts of a CSV file, with the single mutation's defaults", async () => {
    const job = await importAndWait(
      t,
      "ACCOUNTS",
      "CSV",
      csv(
        ACCOUNT_HEADER,
        "CSV-1,Acme Inc,USD,1,2,billing@acme.example,15,ACTIVE",
        'CSV-2,"Quote ""Q"", Comma \\ {Co} & Co",EUR,31,,,,',
        "CSV-3,Yen Corp,JPY,15,,,,INACTIVE",
      ),
    );
    expect(job).toMatchObject({
      status: "COMPLETED",
      rowsTotal: 3,
      rowsImported: 3,
      rowsSkipped: 0,
      rowsRejected: 0,
      progress: 1,
      createdBy: { email: "operator@example.com" },
    });
    const rows = await t.app.db.account.findMany({ where: { accountNumber: { startsWith: "CSV-" } }, orderBy: { accountNumber: "asc" } });
    expect(rows.map((a) => [a.accountNumber, a.name, a.currency, a.billCycleDay, a.batch, a.billToEmail, a.paymentTermDays, a.status])).toEqual([
      ["CSV-1", "Acme Inc", "USD", 1, 2, "billing@acme.example", 15, "ACTIVE"],
      ["CSV-2", 'Quote "Q", Comma \\ {Co} & Co', "EUR", 31, 1, "", 30, "ACTIVE"],
      ["CSV-3", "Yen Corp", "JPY", 15, 1, "", 30, "INACTIVE"],
    ]);
  });

  it("creates the accounts of an NDJSON file, numbering those without a number", async () => {
    const job = await importAndWait(
      t,
      "ACCOUNTS",
      "NDJSON",
      ndjson(
        { accountNumber: "ND-1", name: "Json One", currency: "GBP", billCycleDay: 5 },
        { name: "Numbered For Me", currency: "KWD", billCycleDay: 28, billToEmail: null },
      ),
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

  it("reports broken CSV quoting and NUL characters on their lines, in file order", async () => {
    const job = await importAndWait(
      t,
      "ACCOUNTS",
      "CSV",
      csv("accountNumber,name,currency,billCycleDay", "Q-1,Fine,USD,1", 'Q-2,Bad "quote,USD,1', "Q-3,Nul\u0000Name,USD,1", '"Q-4","Quoted ""fine""",USD,1'),
    );
    expect(job).toMatchObject({ status: "COMPLETED", rowsImported: 2, rowsRejected: 2 });
    expect(errorsOf(job).map((e) => [e.line, e.field])).toEqual([
      [3, null],
      [4, "name"],
    ]);
    expect(errorsOf(job)[0]!.message).toMatch(/unreadable CSV/);
    expect((await t.app.db.account.findUniqueOrThrow({ where: { accountNumber: "Q-4" } })).name).toBe('Quoted "fine"');
  });

  it("stops at a CSV record over 1 MiB: FAILED, nothing after it imported", async () => {
    const operator = await t.app.db.user.findUniqueOrThrow({ where: { email: "operator@example.com" } });
    const file = csv("accountNumber,name,currency,billCycleDay", "BIG-1,Fine,USD,1", `BIG-2,"${"x".repeat(1_100_000)}",USD,1`, "BIG-3,Never read,USD,1");
    const id = await stageImport(
      t.app,
      { kind: "ACCOUNTS", format: "CSV", mode: "CREATE", atomic: false, fileName: null, createdById: operator.id },
      [Buffer.from(file)],
      10 * 1024 * 1024,
    );
    wakeImportRunners();
    const job = await finished(t, id);
    expect(job.status).toBe("FAILED");
    expect(job.errorMessage).toMatch(/unreadable CSV: Max Record Size/);
    expect(await t.app.db.account.count({ where: { accountNumber: { in: ["BIG-2", "BIG-3"] } } })).toBe(0);
  });

  it("refuses a file with an unknown column, naming it, and imports nothing", async () => {
    const job = await importAndWait(t, "ACCOUNTS", "CSV", csv("accountNumber,name,currency,billCycleDay,colour", "COL-1,Painted,USD,1,blue"));
    expect(job).toMatchObject({ status: "FAILED", rowsImported: 0 });
    expect(job.errorMessage).toMatch(/unknown column "colour"/);
    expect(errorsOf(job)).toEqual([{ line: 1, field: "colour", code: "VALIDATION", message: expect.stringContaining('"colour"') }]);
    expect(await t.app.db.account.count({ where: { accountNumber: "COL-1" } })).toBe(0);
  });

  it("refuses an unknown NDJSON field on its row", async () => {
    const job = await importAndWait(
      t,
      "ACCOUNTS",
      "NDJSON",
      ndjson({ accountNumber: "NDX-1", name: "A", currency: "USD", billCycleDay: 1, colour: "blue" }) + "not json\n",
    );
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

    const changed = await importAndWait(
      t,
      "ACCOUNTS",
      "NDJSON",
      ndjson({ accountNumber: "UP-2", name: "Renamed Two" }, { accountNumber: "UP-1", currency: "GBP" }),
      { mode: "UPSERT" },
    );
    expect(changed).toMatchObject({ rowsImported: 1, rowsRejected: 1 });
    expect(errorsOf(changed)).toEqual([{ line: 2, field: "currency", code: "VALIDATION", message: expect.stringMatching(/cannot change/) }]);
    expect(await t.app.db.account.findUniqueOrThrow({ where: { accountNumber: "UP-2" } })).toMatchObject({ name: "Renamed Two", currency: "EUR", batch: 3 });
  });

  it("refuses an account whose number is taken between the batch's lookup and its write, and writes the others", async () => {
    const row = (line: number, number: string) => ({ line, values: { accountNumber: number, name: `Race ${number}`, currency: "USD", billCycleDay: 1 } });
    const plan = await WRITERS.ACCOUNTS.prepare(t.app.pool, [row(2, "RACE-A1"), row(3, "RACE-A2")], "CREATE");
    await createAccount(t.app.db, { accountNumber: "RACE-A1", name: "Theirs", currency: "EUR", billCycleDay: 5 });
    const outcome = await transaction(t.app.pool, (sql) => plan.apply(sql));
    expect(outcome).toEqual({
      imported: 1,
      skipped: 0,
      errors: [{ line: 2, field: "accountNumber", code: "CONFLICT", message: "account number RACE-A1 is already taken" }],
    });
    const written = await t.app.db.account.findMany({ where: { accountNumber: { startsWith: "RACE-A" } }, orderBy: { accountNumber: "asc" } });
    expect(written.map((a) => [a.accountNumber, a.name, a.currency])).toEqual([
      ["RACE-A1", "Theirs", "EUR"],
      ["RACE-A2", "Race RACE-A2", "USD"],
    ]);
  });

  it("with atomic: true, one bad row means nothing imports", async () => {
    const job = await importAndWait(t, "ACCOUNTS", "CSV", csv(ACCOUNT_HEADER, "AT-1,Fine,USD,1,,,,", "AT-2,Broken,USD,99,,,,", "AT-3,Fine,USD,1,,,,"), {
      atomic: true,
    });
    expect(job).toMatchObject({ status: "FAILED", rowsImported: 0, rowsRejected: 1 });
    expect(job.errorMessage).toMatch(/nothing was imported/);
    expect(errorsOf(job).map((e) => e.line)).toEqual([3]);
    expect(await t.app.db.account.count({ where: { accountNumber: { startsWith: "AT-" } } })).toBe(0);

    const good = await importAndWait(t, "ACCOUNTS", "CSV", csv(ACCOUNT_HEADER, "AT-1,Fine,USD,1,,,,", "AT-3,Fine,USD,1,,,,"), { atomic: true });
    expect(good).toMatchObject({ status: "COMPLETED", rowsImported: 2 });
    expect(await t.app.db.account.count({ where: { accountNumber: { startsWith: "AT-" } } })).toBe(2);
  });
});

const SUBSCRIPTION_HEADER =
  "subscriptionNumber,accountNumber,startDate,invoiceSeparately,chargeName,chargeType,currency,price,quantity,chargeStartDate,chargeEndDate,billingPeriod,billingTiming,unitOfMeasure";

describe("importing subscriptions", () => {
  beforeAll(async () => {
    await importAndWait(t, "ACCOUNTS", "CSV", csv(ACCOUNT_HEADER, "SUB-A,Subscriber,USD,1,,,,", "SUB-B,Other,EUR,10,,,,"));
  });

  it("creates subscriptions with their charges from CSV, one row per charge", async () => {
    const job = await importAndWait(
      t,
      "SUBSCRIPTIONS",
      "CSV",
      csv(
        SUBSCRIPTION_HEADER,
        "SC-1,SUB-A,2026-01-01,false,Platform,RECURRING,,100.00,,,,MONTH,,",
        "SC-1,,,,Setup,ONE_TIME,,-25.5,2,2026-01-15,,,,",
        "SC-1,SUB-A,,,API calls,USAGE,,0.001,,,,MONTH,,call",
        "SC-2,SUB-B,2026-02-10,true,Support,RECURRING,,1200,,,2027-02-10,ANNUAL,IN_ARREARS,",
      ),
    );
    expect(job).toMatchObject({ status: "COMPLETED", rowsTotal: 4, rowsImported: 4, rowsRejected: 0 });
    const sc1 = await t.app.db.subscription.findUniqueOrThrow({
      where: { subscriptionNumber: "SC-1" },
      include: { charges: { orderBy: { position: "asc" } }, account: true },
    });
    expect(sc1.account.accountNumber).toBe("SUB-A");
    expect(sc1.invoiceSeparately).toBe(false);
    expect(
      sc1.charges.map((c) => [
        c.position,
        c.name,
        c.type,
        c.currency,
        c.price.toString(),
        c.quantity.toString(),
        c.startDate.toISOString().slice(0, 10),
        c.billingPeriod,
        c.billingTiming,
        c.unitOfMeasure,
      ]),
    ).toEqual([
      [0, "Platform", "RECURRING", "USD", "100", "1", "2026-01-01", "MONTH", "IN_ADVANCE", null],
      [1, "Setup", "ONE_TIME", "USD", "-25.5", "2", "2026-01-15", null, null, null],
      [2, "API calls", "USAGE", "USD", "0.001", "1", "2026-01-01", "MONTH", "IN_ARREARS", "call"],
    ]);
    const sc2 = await t.app.db.subscription.findUniqueOrThrow({ where: { subscriptionNumber: "SC-2" }, include: { charges: true } });
    expect(sc2.invoiceSeparately).toBe(true);
    expect(sc2.charges[0]).toMatchObject({ currency: "EUR", billingTiming: "IN_ARREARS", billingPeriod: "ANNUAL" });
    expect(sc2.charges[0]!.endDate?.toISOString().slice(0, 10)).toBe("2027-02-10");
  });

  it("gives subscriptions of one plan their own charges, each with its own values where they differ", async () => {
    const job = await importAndWait(
      t,
      "SUBSCRIPTIONS",
      "CSV",
      csv(
        SUBSCRIPTION_HEADER,
        "PL-1,SUB-A,2026-01-01,,Base,RECURRING,,10,,,,MONTH,,",
        "PL-1,,,,Calls,USAGE,,0.5,,,,MONTH,,call",
        "PL-2,SUB-A,2026-01-01,,Base,RECURRING,,10,,,,MONTH,,",
        "PL-2,,,,Calls,USAGE,,0.5,,,,MONTH,,call",
        "PL-3,SUB-A,2026-01-01,,Base,RECURRING,,12,,,,MONTH,,",
        "PL-3,,,,Calls,USAGE,,0.5,,,,MONTH,,minute",
        "PL-4,SUB-B,2026-01-01,,Base,RECURRING,,10,,,,MONTH,,",
      ),
    );
    expect(job).toMatchObject({ status: "COMPLETED", rowsImported: 7, rowsRejected: 0 });
    const found = await t.app.db.subscription.findMany({
      where: { subscriptionNumber: { startsWith: "PL-" } },
      include: { charges: { orderBy: { position: "asc" } } },
      orderBy: { subscriptionNumber: "asc" },
    });
    expect(
      found.map((s) => [s.subscriptionNumber, ...s.charges.map((c) => `${c.position} ${c.name} ${c.price.toString()} ${c.currency} ${c.unitOfMeasure}`)]),
    ).toEqual([
      ["PL-1", "0 Base 10 USD null", "1 Calls 0.5 USD call"],
      ["PL-2", "0 Base 10 USD null", "1 Calls 0.5 USD call"],
      ["PL-3", "0 Base 12 USD null", "1 Calls 0.5 USD minute"],
      ["PL-4", "0 Base 10 EUR null"],
    ]);
    expect(new Set(found.flatMap((s) => s.charges.map((c) => c.id))).size).toBe(7);
  });

  it("creates subscriptions from NDJSON; a bad charge rejects its whole subscription, naming the line", async () => {
    const job = await importAndWait(
      t,
      "SUBSCRIPTIONS",
      "NDJSON",
      ndjson(
        {
          subscriptionNumber: "SN-1",
          accountNumber: "SUB-A",
          startDate: "2026-03-01",
          chargeName: "Seat",
          chargeType: "RECURRING",
          price: "9.99",
          quantity: "3",
          billingPeriod: "MONTH",
        },
        {
          subscriptionNumber: "SN-2",
          accountNumber: "SUB-A",
          startDate: "2026-03-01",
          chargeName: "Seat",
          chargeType: "RECURRING",
          price: "9.99",
          billingPeriod: "MONTH",
        },
        { subscriptionNumber: "SN-2", chargeName: "Minutes", chargeType: "USAGE", price: "0.02", billingPeriod: "MONTH" },
        { subscriptionNumber: "SN-3", accountNumber: "NOBODY", startDate: "2026-03-01", chargeName: "Seat", chargeType: "ONE_TIME", price: "1" },
        { subscriptionNumber: "SN-4", accountNumber: "SUB-A", startDate: "2026-03-01", chargeName: "Seat", chargeType: "ONE_TIME", price: 12.5 },
        { subscriptionNumber: "SC-1", accountNumber: "SUB-A", startDate: "2026-03-01", chargeName: "Seat", chargeType: "ONE_TIME", price: "1" },
      ),
    );
    expect(job).toMatchObject({ status: "COMPLETED", rowsTotal: 6, rowsImported: 1, rowsRejected: 5 });
    expect(errorsOf(job).map((e) => [e.line, e.field, e.code])).toEqual([
      [2, "subscriptionNumber", "VALIDATION"],
      [3, "unitOfMeasure", "VALIDATION"],
      [4, "accountNumber", "NOT_FOUND"],
      [5, "price", "VALIDATION"],
      [6, "subscriptionNumber", "CONFLICT"],
    ]);
    expect(errorsOf(job)[0]!.message).toMatch(/line 3/);
    expect(errorsOf(job)[1]!.message).toMatch(/needs a unit of measure/);
    expect(errorsOf(job)[3]!.message).toMatch(/"12.50"/);
    expect(await t.app.db.subscription.count({ where: { subscriptionNumber: { in: ["SN-1", "SN-2", "SN-3", "SN-4"] } } })).toBe(1);
    expect(await t.app.db.charge.count({ where: { subscription: { subscriptionNumber: "SN-1" } } })).toBe(1);
  });

  it("UPSERT: the same subscriptions again change nothing", async () => {
    const before = await t.app.db.charge.count();
    const job = await importAndWait(
      t,
      "SUBSCRIPTIONS",
      "CSV",
      csv(SUBSCRIPTION_HEADER, "SC-2,SUB-B,2026-02-10,true,Support,RECURRING,,1200,,,2027-02-10,ANNUAL,IN_ARREARS,"),
      { mode: "UPSERT" },
    );
    expect(job).toMatchObject({ status: "COMPLETED", rowsImported: 0, rowsSkipped: 1, rowsRejected: 0 });
    expect(await t.app.db.charge.count()).toBe(before);
  });

  it("refuses a subscription whose number is taken between the batch's lookup and its write, and writes the others with their charges", async () => {
    const row = (line: number, number: string, charge: string) => ({
      line,
      values: { subscriptionNumber: number, accountNumber: "SUB-A", startDate: "2026-03-01", chargeName: charge, chargeType: "ONE_TIME", price: "5.00" },
    });
    const plan = await WRITERS.SUBSCRIPTIONS.prepare(t.app.pool, [row(2, "RACE-1", "First"), row(3, "RACE-1", "Second"), row(4, "RACE-2", "Only")], "CREATE");
    // Someone else creates RACE-1 meanwhile (with a charge of its own).
    const owner = await t.app.db.account.findUniqueOrThrow({ where: { accountNumber: "SUB-B" } });
    await createSubscription(t.app.db, {
      accountId: owner.id,
      subscriptionNumber: "RACE-1",
      startDate: "2026-03-01",
      charges: [{ name: "Theirs", type: "ONE_TIME", price: "1.00" }],
    });
    const outcome = await transaction(t.app.pool, (sql) => plan.apply(sql));
    expect(outcome).toEqual({
      imported: 1,
      skipped: 0,
      errors: [
        { line: 2, field: "subscriptionNumber", code: "CONFLICT", message: "subscription number RACE-1 is already taken" },
        { line: 3, field: "subscriptionNumber", code: "VALIDATION", message: "not imported: subscription RACE-1 has a rejected row (line 2)" },
      ],
    });
    const written = await t.app.db.subscription.findMany({
      where: { subscriptionNumber: { in: ["RACE-1", "RACE-2"] } },
      include: { account: true, charges: true },
      orderBy: { subscriptionNumber: "asc" },
    });
    expect(written.map((s) => [s.subscriptionNumber, s.account.accountNumber, s.charges.map((c) => c.name)])).toEqual([
      ["RACE-1", "SUB-B", ["Theirs"]],
      ["RACE-2", "SUB-A", ["Only"]],
    ]);
  });
});

const USAGE_HEADER = "subscriptionNumber,chargeName,quantity,unitOfMeasure,usageDate,usageId";

describe("importing usage", () => {
  it("records usage from CSV and NDJSON; a usageId sent again is a no-op", async () => {
    const first = await importAndWait(
      t,
      "USAGE",
      "CSV",
      csv(
        USAGE_HEADER,
        "SC-1,API calls,1500,call,2026-01-20,u-1",
        "SC-1,API calls,0.5,call,2026-01-21,",
        "SC-1,API calls,7,call,2026-01-22,u-2",
        "SC-1,API calls,7,call,2026-01-22,u-2",
      ),
    );
    expect(first).toMatchObject({ status: "COMPLETED", rowsTotal: 4, rowsImported: 3, rowsSkipped: 1, rowsRejected: 0 });
    const again = await importAndWait(
      t,
      "USAGE",
      "NDJSON",
      ndjson(
        { subscriptionNumber: "SC-1", chargeName: "API calls", quantity: "1500.000", unitOfMeasure: "call", usageDate: "2026-01-20", usageId: "u-1" },
        { subscriptionNumber: "SC-1", chargeName: "API calls", quantity: "99", unitOfMeasure: "call", usageDate: "2026-01-20", usageId: "u-2" },
        { subscriptionNumber: "SC-1", chargeName: "API calls", quantity: "3", unitOfMeasure: "call", usageDate: "2026-01-23", usageId: "u-3" },
      ),
    );
    expect(again).toMatchObject({ status: "COMPLETED", rowsImported: 1, rowsSkipped: 1, rowsRejected: 1 });
    expect(errorsOf(again)).toEqual([{ line: 2, field: "usageId", code: "CONFLICT", message: "usageId u-2 is already recorded with other values" }]);
    const stored = await t.app.db.usageRecord.findMany({ where: { subscription: { subscriptionNumber: "SC-1" } }, orderBy: { usageDate: "asc" } });
    expect(stored.map((u) => [u.quantity.toString(), u.usageDate.toISOString().slice(0, 10), u.usageId])).toEqual([
      ["1500", "2026-01-20", "u-1"],
      ["0.5", "2026-01-21", null],
      ["7", "2026-01-22", "u-2"],
      ["3", "2026-01-23", "u-3"],
    ]);
  });

  it("refuses per row what recordUsage refuses: unknown subscription or charge, not a usage charge, a billed period", async () => {
    await t.app.pool.query(`UPDATE charges SET charged_through_date = '2026-02-01' WHERE name = 'API calls'`);
    const job = await importAndWait(
      t,
      "USAGE",
      "CSV",
      csv(
        USAGE_HEADER,
        "NOPE,API calls,1,call,2026-02-05,",
        "SC-1,Nothing,1,call,2026-02-05,",
        "SC-1,Platform,1,call,2026-02-05,",
        "SC-1,API calls,1,call,2025-12-31,",
        "SC-1,API calls,1,call,2026-01-31,",
        "SC-1,API calls,-1,call,2026-02-05,",
        "SC-1,API calls,1,call,2026-02-30,",
        "SC-1,API calls,2,call,2026-02-01,",
      ),
    );
    expect(job).toMatchObject({ status: "COMPLETED", rowsImported: 1, rowsRejected: 7 });
    expect(errorsOf(job).map((e) => [e.line, e.field, e.code])).toEqual([
      [2, "subscriptionNumber", "NOT_FOUND"],
      [3, "chargeName", "NOT_FOUND"],
      [4, "chargeName", "VALIDATION"],
      [5, "usageDate", "VALIDATION"],
      [6, "usageDate", "INVALID_STATE"],
      [7, "quantity", "VALIDATION"],
      [8, "usageDate", "VALIDATION"],
    ]);
    expect(errorsOf(job)[4]!.message).toBe('usage before 2026-02-01 is already billed for charge "API calls"');
  });

  it("refuses per row, as recordUsage does, a quantity whose amount an item could not hold", async () => {
    const { rows } = await t.app.pool.query<{ price: string }>(`SELECT price::text AS price FROM charges WHERE name = 'API calls'`);
    await t.app.pool.query(`UPDATE charges SET price = 999999999999999, charged_through_date = NULL WHERE name = 'API calls'`);
    try {
      const job = await importAndWait(t, "USAGE", "CSV", csv(USAGE_HEADER, "SC-1,API calls,200000,call,2026-03-05,", "SC-1,API calls,60000,call,2026-03-05,"));
      expect(job).toMatchObject({ status: "COMPLETED", rowsImported: 1, rowsRejected: 1 });
      expect(errorsOf(job)).toEqual([
        {
          line: 2,
          field: "quantity",
          code: "VALIDATION",
          message: "quantity: quantity × the charge's price must be less than 10^20 (the largest amount an item can hold)",
        },
      ]);
    } finally {
      await t.app.pool.query(`UPDATE charges SET price = $1 WHERE name = 'API calls'`, [rows[0]!.price]);
    }
  });
});

describe("who may import", () => {
  it("refuses a viewer (FORBIDDEN) and a missing token (UNAUTHENTICATED), and stores nothing", async () => {
    const jobs = await t.app.db.importJob.count();
    const viewer = await upload(t, "USAGE", "CSV", csv(USAGE_HEADER), { token: t.tokens.viewer });
    expect(viewer.body.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    const anonymous = await upload(t, "ACCOUNTS", "CSV", csv(ACCOUNT_HEADER), { token: null });
    expect(anonymous.body.errors?.[0]?.extensions?.code).toMatch(/UNAUTHENTICATED|CSRF_PREVENTED/);
    expect(await t.app.db.importJob.count()).toBe(jobs);
  });

  it("answers a ValidationError on file when the request carries no upload", async () => {
    const result = await t.gql<{ importUsage: { __typename: string; code: string; field: string[] } }, object>(
      `mutation($f: File!) { importUsage(file: $f, format: CSV) { __typename ... on ValidationError { code field } } }`,
      { f: "not a file" },
      t.tokens.operator,
    );
    expect(result.data!.importUsage).toEqual({ __typename: "ValidationError", code: "VALIDATION", field: ["file"] });
  });

  it("lets an admin import, and lists jobs newest first with their rejected rows paged", async () => {
    const id = (
      await importAndWait(t, "ACCOUNTS", "CSV", csv(ACCOUNT_HEADER, "PG-1,,USD,1,,,,", "PG-2,,USD,1,,,,", "PG-3,,USD,1,,,,"), { token: t.tokens.admin })
    ).id;
    const page = await t.gql<
      {
        importJobs: {
          totalCount: number;
          edges: { node: { id: string; errors: { edges: { cursor: string; node: { line: number } }[]; pageInfo: { hasNextPage: boolean } } } }[];
        };
      },
      object
    >(
      `{ importJobs(first: 1) { totalCount edges { node { id errors(first: 2) { edges { cursor node { line } } pageInfo { hasNextPage } } } } } }`,
      {},
      t.tokens.viewer,
    );
    const node = page.data!.importJobs.edges[0]!.node;
    expect(node.id).toBe(id);
    expect(node.errors.edges.map((e) => e.node.line)).toEqual([2, 3]);
    expect(node.errors.pageInfo.hasNextPage).toBe(true);
    const next = await t.gql<{ importJob: { errors: { edges: { node: { line: number } }[] } } }, { id: string; after: string }>(
      `query($id: ID!, $after: String) { importJob(id: $id) { errors(first: 2, after: $after) { edges { node { line } } } } }`,
      { id, after: node.errors.edges[1]!.cursor },
    );
    expect(next.data!.importJob.errors.edges.map((e) => e.node.line)).toEqual([4]);
  });
});
