import type pg from "pg";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { registerWorkers } from "../../src/billruns/executor.ts";
import { applyResults, ItemChargeMissingError } from "../../src/billruns/persist.ts";
import type { AccountResult } from "../../src/billing/types.ts";
import { transaction } from "../../src/db/sql.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { waitFor } from "../support/wait.ts";
import { chargedThrough, countRows, createRun, dataOf, getRun, nodes, type Json } from "./helpers.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ BILLRUN_CHUNK_SIZE: "2" });
  await registerWorkers(t.app, 2);
});
afterAll(() => t.close());

/** Copies an existing item row under a new id, optionally voided; returns the insert's promise. */
function copyItem(itemId: string, voided: boolean) {
  return t.app.pool.query(
    `INSERT INTO document_items (id, document_id, charge_id, subscription_id, position, charge_name, charge_type, kind,
                                 service_start, service_end, quantity, unit_price, amount, voided)
     SELECT gen_random_uuid(), document_id, charge_id, subscription_id, position + 100, charge_name, charge_type, kind,
            service_start, service_end, quantity, unit_price, amount, $2
       FROM document_items WHERE id = $1`,
    [itemId, voided],
  );
}

/** Copies an account under a new id and number; nothing refers to the copy. Returns its id. */
async function copyAccount(accountId: string): Promise<string> {
  const copy = await t.app.pool.query<{ id: string }>(
    `INSERT INTO accounts SELECT (jsonb_populate_record(NULL::accounts, to_jsonb(a) || jsonb_build_object('id', gen_random_uuid(), 'account_number', a.account_number || '-' || gen_random_uuid()))).*
       FROM accounts a WHERE id = $1 RETURNING id`,
    [accountId],
  );
  return copy.rows[0]!.id;
}

describe("the database refuses to bill a charge period twice", () => {
  it("rejects a second live item for the same (charge, service start, kind) and allows a voided one", async () => {
    const { account } = await seedAccount(t, { charges: [{ type: "RECURRING", price: "30.00", billingPeriod: "MONTH" }] });
    const created = await createRun(t, { targetDate: "2026-01-01", accountIds: [account.id] });
    await waitForStatus(t, created.id, ["COMPLETED"]);
    const run = await getRun(t, created.id);
    const invoice = nodes(run.invoices)[0];
    expect(invoice.items.map((i: Json) => [i.serviceStartDate, i.serviceEndDate, i.amount])).toEqual([["2026-01-01", "2026-02-01", "30.00"]]);
    const item = await t.app.pool.query<{ id: string }>("SELECT id FROM document_items WHERE document_id = $1", [invoice.id]);
    const itemId = item.rows[0]!.id;
    const before = await countRows(t, "document_items");

    await expect(copyItem(itemId, false)).rejects.toMatchObject({ code: "23505", constraint: "document_items_charge_period_key" });
    expect(await countRows(t, "document_items")).toBe(before);

    // A CREDIT item for the same period is a different kind: allowed (that is how cancellation credits are stored).
    await expect(
      t.app.pool.query(
        `INSERT INTO document_items (id, document_id, charge_id, subscription_id, position, charge_name, charge_type, kind,
                                     service_start, service_end, quantity, unit_price, amount)
         SELECT gen_random_uuid(), document_id, charge_id, subscription_id, 1, charge_name, charge_type, 'CREDIT',
                service_start, service_end, quantity, unit_price, -amount
           FROM document_items WHERE id = $1`,
        [itemId],
      ),
    ).resolves.toMatchObject({ rowCount: 1 });

    await expect(copyItem(itemId, true)).resolves.toMatchObject({ rowCount: 1 });
    await expect(copyItem(itemId, true)).resolves.toMatchObject({ rowCount: 1 });
    expect(await countRows(t, "document_items")).toBe(before + 3);
  });
});

describe("an item's charge and document exist while the item does (checked once per chunk or statement, kept by triggers)", () => {
  it("refuses to delete, re-key or truncate a billed charge, its items voided or not", async () => {
    const { subscription } = await seedAccount(t, { charges: [{ type: "RECURRING", price: "30.00", billingPeriod: "MONTH" }] });
    const chargeId = subscription.charges[0]!.id;
    const created = await createRun(t, { targetDate: "2026-01-01", subscriptionIds: [subscription.id] });
    await waitForStatus(t, created.id, ["COMPLETED"]);
    const items = await t.app.pool.query<{ id: string }>("SELECT id FROM document_items WHERE charge_id = $1", [chargeId]);
    expect(items.rowCount).toBe(1);

    const deleteCharge = () => t.app.pool.query("DELETE FROM charges WHERE id = $1", [chargeId]);
    await expect(deleteCharge()).rejects.toMatchObject({ code: "23503", table: "document_items" });
    await expect(t.app.pool.query("UPDATE charges SET id = gen_random_uuid() WHERE id = $1", [chargeId])).rejects.toMatchObject({ code: "23503" });
    await expect(t.app.pool.query("TRUNCATE charges CASCADE")).rejects.toMatchObject({ code: "23503" });
    // A voided item (its document canceled) still names the charge.
    await t.app.pool.query("UPDATE document_items SET voided = true WHERE charge_id = $1", [chargeId]);
    await expect(deleteCharge()).rejects.toMatchObject({ code: "23503" });
    expect((await t.app.pool.query("SELECT 1 FROM charges WHERE id = $1", [chargeId])).rowCount).toBe(1);
    // Other changes to a billed charge are not the triggers' business.
    await expect(t.app.pool.query("UPDATE charges SET name = name || ' (renamed)' WHERE id = $1", [chargeId])).resolves.toMatchObject({ rowCount: 1 });

    // A charge nothing was billed on can go.
    const { subscription: unbilled } = await seedAccount(t, { charges: [{ type: "RECURRING", price: "5.00", billingPeriod: "MONTH" }] });
    await expect(t.app.pool.query("DELETE FROM charges WHERE id = $1", [unbilled.charges[0]!.id])).resolves.toMatchObject({ rowCount: 1 });
  });

  it("refuses an item whose document does not exist, deletes a document's items with it, and keeps a document's id", async () => {
    const { account } = await seedAccount(t, { charges: [{ type: "RECURRING", price: "30.00", billingPeriod: "MONTH" }] });
    const created = await createRun(t, { targetDate: "2026-01-01", accountIds: [account.id] });
    await waitForStatus(t, created.id, ["COMPLETED"]);
    const documentId = nodes((await getRun(t, created.id)).invoices)[0].id as string;
    const item = await t.app.pool.query<{ id: string }>("SELECT id FROM document_items WHERE document_id = $1", [documentId]);
    const itemId = item.rows[0]!.id;
    const itemsBefore = await countRows(t, "document_items");

    // Written with others whose document exists, in one statement: the whole statement is refused.
    await expect(
      t.app.pool.query(
        `INSERT INTO document_items (id, document_id, charge_id, subscription_id, position, charge_name, charge_type, kind,
                                     service_start, service_end, quantity, unit_price, amount, voided)
         SELECT gen_random_uuid(), d, charge_id, subscription_id, position + 100, charge_name, charge_type, kind,
                service_start, service_end, quantity, unit_price, amount, true
           FROM document_items, unnest(ARRAY[document_id, gen_random_uuid()]) AS d WHERE id = $1`,
        [itemId],
      ),
    ).rejects.toMatchObject({ code: "23503", table: "document_items" });
    await expect(t.app.pool.query("UPDATE document_items SET document_id = gen_random_uuid() WHERE id = $1", [itemId])).rejects.toMatchObject({
      code: "23503",
    });
    await expect(t.app.pool.query("UPDATE documents SET id = gen_random_uuid() WHERE id = $1", [documentId])).rejects.toMatchObject({ code: "23503" });
    await expect(t.app.pool.query("TRUNCATE documents CASCADE")).rejects.toMatchObject({ code: "23503" });
    expect(await countRows(t, "document_items")).toBe(itemsBefore);

    // Deleting the document deletes its items, as the foreign key's cascade did.
    await expect(t.app.pool.query("DELETE FROM documents WHERE id = $1", [documentId])).resolves.toMatchObject({ rowCount: 1 });
    expect((await t.app.pool.query("SELECT 1 FROM document_items WHERE document_id = $1", [documentId])).rowCount).toBe(0);
    expect(await countRows(t, "document_items")).toBe(itemsBefore - 1);
  });

  it("locks the documents its items name unless the same transaction wrote them, and refuses a missing one either way", async () => {
    const { account } = await seedAccount(t, { charges: [{ type: "RECURRING", price: "30.00", billingPeriod: "MONTH" }] });
    const created = await createRun(t, { targetDate: "2026-01-01", accountIds: [account.id] });
    await waitForStatus(t, created.id, ["COMPLETED"]);
    const documentId = nodes((await getRun(t, created.id)).invoices)[0].id as string;
    const copyItems = (client: pg.PoolClient, from: string, to: string) =>
      client.query(
        `INSERT INTO document_items (id, document_id, charge_id, subscription_id, position, charge_name, charge_type, kind,
                                     service_start, service_end, quantity, unit_price, amount, voided)
         SELECT gen_random_uuid(), d, charge_id, subscription_id, position + 100, charge_name, charge_type, kind,
                service_start, service_end, quantity, unit_price, amount, true
           FROM document_items, unnest($2::uuid[]) AS d WHERE document_id = $1`,
        [from, `{${to}}`],
      );
    const lockedBy = async (client: pg.PoolClient, id: string) =>
      (await client.query<{ xmax: string }>("SELECT xmax::text FROM documents WHERE id = $1", [id])).rows[0]!.xmax;
    const client = await t.app.pool.connect();
    try {
      await client.query("BEGIN");
      const xid = (await client.query<{ xid: string }>("SELECT xid(pg_current_xact_id())::text AS xid")).rows[0]!.xid;
      const copy = (
        await client.query<{ id: string }>(
          `INSERT INTO documents (id, number, type, status, bill_run_id, account_id, subscription_id, currency, amount, balance, invoice_date, due_date)
           SELECT gen_random_uuid(), number || '-COPY', type, status, bill_run_id, account_id, subscription_id, currency, amount, balance, invoice_date, due_date
             FROM documents WHERE id = $1 RETURNING id`,
          [documentId],
        )
      ).rows[0]!.id;
      // Its own new document: not locked (no other transaction can see it yet).
      await copyItems(client, documentId, copy);
      expect(await lockedBy(client, copy)).toBe("0");
      // A document another transaction wrote: locked, as the foreign key locked it.
      await copyItems(client, documentId, documentId);
      expect(await lockedBy(client, documentId)).toBe(xid);
      // Its own document and a missing one: the statement is refused.
      await client.query("SAVEPOINT missing");
      await expect(copyItems(client, documentId, `${copy},${randomUUID()}`)).rejects.toMatchObject({ code: "23503", table: "document_items" });
      await client.query("ROLLBACK TO SAVEPOINT missing");
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }
  });

  it("refuses a document whose run or account does not exist, and keeps a billed account and its run's id", async () => {
    const { account } = await seedAccount(t, { charges: [{ type: "RECURRING", price: "30.00", billingPeriod: "MONTH" }] });
    const created = await createRun(t, { targetDate: "2026-01-01", accountIds: [account.id] });
    await waitForStatus(t, created.id, ["COMPLETED"]);
    const documentId = nodes((await getRun(t, created.id)).invoices)[0].id as string;
    const copyDocument = (run: string, owner: string) =>
      t.app.pool.query(
        `INSERT INTO documents (id, number, type, status, bill_run_id, account_id, currency, amount, balance, invoice_date, due_date)
         SELECT gen_random_uuid(), number || '-' || $3::text, type, status, $2::uuid, $3::uuid, currency, amount, balance, invoice_date, due_date
           FROM documents WHERE id = $1`,
        [documentId, run, owner],
      );
    const missing = "00000000-0000-4000-8000-000000000002";
    const documentsBefore = await countRows(t, "documents");
    await expect(copyDocument(missing, account.id)).rejects.toMatchObject({ code: "23503", table: "documents" });
    await expect(copyDocument(created.id, missing)).rejects.toMatchObject({ code: "23503", table: "documents" });
    await expect(t.app.pool.query("UPDATE documents SET account_id = $2 WHERE id = $1", [documentId, missing])).rejects.toMatchObject({ code: "23503" });
    expect(await countRows(t, "documents")).toBe(documentsBefore);

    // An account with a document and nothing else that would keep it (no subscription): the document does.
    const bare = await copyAccount(account.id);
    await expect(copyDocument(created.id, bare)).resolves.toMatchObject({ rowCount: 1 });
    await expect(t.app.pool.query("DELETE FROM accounts WHERE id = $1", [bare])).rejects.toMatchObject({ code: "23503", table: "documents" });
    await expect(t.app.pool.query("UPDATE bill_runs SET id = gen_random_uuid() WHERE id = $1", [created.id])).rejects.toMatchObject({ code: "23503" });
    await expect(t.app.pool.query("UPDATE accounts SET id = gen_random_uuid() WHERE id = $1", [account.id])).rejects.toMatchObject({ code: "23503" });
    await expect(t.app.pool.query("TRUNCATE bill_runs CASCADE")).rejects.toMatchObject({ code: "23503" });
    await expect(t.app.pool.query("TRUNCATE accounts CASCADE")).rejects.toMatchObject({ code: "23503" });
    // A document of no run is allowed, as the nullable key allowed it.
    await expect(
      t.app.pool.query(
        `INSERT INTO documents (id, number, type, status, account_id, currency, amount, balance, invoice_date, due_date)
         SELECT gen_random_uuid(), number || '-standalone', type, status, account_id, currency, amount, balance, invoice_date, due_date
           FROM documents WHERE id = $1`,
        [documentId],
      ),
    ).resolves.toMatchObject({ rowCount: 1 });
  });

  it("writes nothing for results whose charge is gone by the time they are written", async () => {
    const { account, subscription } = await seedAccount(t, { charges: [{ type: "RECURRING", price: "30.00", billingPeriod: "MONTH" }] });
    const created = await createRun(t, { targetDate: "2025-01-01", accountIds: [account.id] });
    await waitForStatus(t, created.id, ["COMPLETED"]);
    const gone = "00000000-0000-4000-8000-000000000001";
    const item = {
      subscriptionId: subscription.id,
      chargeName: "Plan",
      chargeType: "RECURRING" as const,
      kind: "CHARGE" as const,
      serviceStart: "2026-01-01",
      serviceEnd: "2026-02-01",
      quantity: "1",
      unitPrice: "30",
      amount: "30.00",
    };
    // The charge of the first item exists (and is not moved: only the check's lock guards it); the second's does not.
    const result: AccountResult = {
      accountId: account.id,
      ok: true,
      chargeUpdates: [],
      documents: [
        {
          type: "INVOICE",
          subscriptionId: null,
          currency: "USD",
          total: "60.00",
          amount: "60.00",
          invoiceDate: "2026-01-01",
          dueDate: "2026-01-31",
          items: [
            { ...item, chargeId: subscription.charges[0]!.id },
            { ...item, chargeId: gone },
          ],
        },
      ],
    };
    const before = await countRows(t, "documents");
    await expect(transaction(t.app.pool, (sql) => applyResults(sql, { billRunId: created.id, chunk: 0, first: 1, last: 2 }, [result]))).rejects.toBeInstanceOf(
      ItemChargeMissingError,
    );
    expect(await countRows(t, "documents")).toBe(before);
  });
});

describe("a run's accounts name a run and an account that exist (checked once per statement, kept by triggers)", () => {
  it("refuses a row whose run or account is missing, cascades the run's deletion, keeps a targeted account, and ties FAILED to a failure code", async () => {
    const { account } = await seedAccount(t, { charges: [{ type: "RECURRING", price: "30.00", billingPeriod: "MONTH" }] });
    const created = await createRun(t, { targetDate: "2026-01-01", accountIds: [account.id] });
    await waitForStatus(t, created.id, ["COMPLETED"]);
    const missing = "00000000-0000-4000-8000-000000000004";
    const addRow = (run: string, owner: string, position: number) =>
      t.app.pool.query("INSERT INTO bill_run_accounts (bill_run_id, account_id, position, chunk) VALUES ($1, $2, $3, 0)", [run, owner, position]);
    const rowsBefore = await countRows(t, "bill_run_accounts");
    await expect(addRow(missing, account.id, 1)).rejects.toMatchObject({ code: "23503", table: "bill_run_accounts" });
    await expect(addRow(created.id, missing, 2)).rejects.toMatchObject({ code: "23503", table: "bill_run_accounts" });
    await expect(t.app.pool.query("UPDATE bill_run_accounts SET account_id = $2 WHERE bill_run_id = $1", [created.id, missing])).rejects.toMatchObject({
      code: "23503",
    });
    expect(await countRows(t, "bill_run_accounts")).toBe(rowsBefore);

    // A run with no documents and an account with nothing but its place in that run: only the
    // run's accounts keep them.
    const bare = await copyAccount(account.id);
    const emptyRun = await t.app.pool.query<{ id: string }>(
      "INSERT INTO bill_runs (id, status, target_date, invoice_date) VALUES (gen_random_uuid(), 'COMPLETED', '2026-01-01', '2026-01-01') RETURNING id",
    );
    const runId = emptyRun.rows[0]!.id;
    await expect(addRow(runId, bare, 1)).resolves.toMatchObject({ rowCount: 1 });
    await expect(t.app.pool.query("DELETE FROM accounts WHERE id = $1", [bare])).rejects.toMatchObject({ code: "23503", table: "bill_run_accounts" });
    await expect(t.app.pool.query("UPDATE accounts SET id = gen_random_uuid() WHERE id = $1", [bare])).rejects.toMatchObject({ code: "23503" });
    await expect(t.app.pool.query("UPDATE bill_runs SET id = gen_random_uuid() WHERE id = $1", [runId])).rejects.toMatchObject({ code: "23503" });

    // FAILED exactly when there is a failure code: the failed-accounts index relies on it.
    await expect(t.app.pool.query("UPDATE bill_run_accounts SET status = 'FAILED' WHERE bill_run_id = $1", [runId])).rejects.toMatchObject({ code: "23514" });
    await expect(
      t.app.pool.query("UPDATE bill_run_accounts SET failure_code = 'X', failure_message = 'x' WHERE bill_run_id = $1", [runId]),
    ).rejects.toMatchObject({ code: "23514" });

    // Deleting the run deletes its accounts' rows, as the foreign key's cascade did; the account may then go.
    await expect(t.app.pool.query("DELETE FROM bill_runs WHERE id = $1", [runId])).resolves.toMatchObject({ rowCount: 1 });
    expect((await t.app.pool.query("SELECT 1 FROM bill_run_accounts WHERE bill_run_id = $1", [runId])).rowCount).toBe(0);
    await expect(t.app.pool.query("DELETE FROM accounts WHERE id = $1", [bare])).resolves.toMatchObject({ rowCount: 1 });
    expect(await countRows(t, "bill_run_accounts")).toBe(rowsBefore);
  });
});

describe("a subscription's account, a charge's subscription and a usage record's charge exist while they do (checked once per statement, kept by triggers)", () => {
  const missing = "00000000-0000-4000-8000-000000000004";
  /** Inserts, in one statement, a copy of the subscription under each of `owners` (account ids). */
  const copySubscription = (sql: Pick<pg.ClientBase, "query">, subscriptionId: string, owners: string[]) =>
    sql.query<{ id: string }>(
      `INSERT INTO subscriptions (id, subscription_number, account_id, start_date, invoice_separately)
       SELECT gen_random_uuid(), s.subscription_number || '-' || gen_random_uuid(), o, s.start_date, s.invoice_separately
         FROM subscriptions s, unnest($2::uuid[]) AS o WHERE s.id = $1 RETURNING id`,
      [subscriptionId, owners],
    );
  /** Inserts, in one statement, a copy of the charge under each of `owners` (subscription ids). */
  const copyCharge = (chargeId: string, owners: string[]) =>
    t.app.pool.query(
      `INSERT INTO charges (id, subscription_id, position, name, type, currency, price, quantity, start_date, billing_period, billing_timing)
       SELECT gen_random_uuid(), o, c.position, c.name, c.type, c.currency, c.price, c.quantity, c.start_date, c.billing_period, c.billing_timing
         FROM charges c, unnest($2::uuid[]) AS o WHERE c.id = $1`,
      [chargeId, owners],
    );

  it("refuses a subscription or a charge whose owner does not exist, the whole statement, and a move to a missing owner", async () => {
    const { account, subscription } = await seedAccount(t, { charges: [{ type: "RECURRING", price: "30.00", billingPeriod: "MONTH" }] });
    const chargeId = subscription.charges[0]!.id;
    const other = await copyAccount(account.id);
    const [subscriptionsBefore, chargesBefore] = [await countRows(t, "subscriptions"), await countRows(t, "charges")];

    await expect(copySubscription(t.app.pool, subscription.id, [missing])).rejects.toMatchObject({ code: "23503", table: "subscriptions" });
    // Written with others whose account exists, in one statement: the whole statement is refused.
    await expect(copySubscription(t.app.pool, subscription.id, [account.id, other, missing])).rejects.toMatchObject({ code: "23503", table: "subscriptions" });
    await expect(copyCharge(chargeId, [missing])).rejects.toMatchObject({ code: "23503", table: "charges" });
    const fresh = (await copySubscription(t.app.pool, subscription.id, [other])).rows[0]!.id;
    await expect(copyCharge(chargeId, [fresh, missing])).rejects.toMatchObject({ code: "23503", table: "charges" });
    expect(await countRows(t, "subscriptions")).toBe(subscriptionsBefore + 1);
    expect(await countRows(t, "charges")).toBe(chargesBefore);
    await expect(copyCharge(chargeId, [fresh])).resolves.toMatchObject({ rowCount: 1 });

    // Moving to another owner is checked as the foreign key checked it: an existing one is fine.
    await expect(t.app.pool.query("UPDATE subscriptions SET account_id = $2 WHERE id = $1", [fresh, missing])).rejects.toMatchObject({
      code: "23503",
      table: "subscriptions",
    });
    await expect(t.app.pool.query("UPDATE charges SET subscription_id = $2 WHERE id = $1", [chargeId, missing])).rejects.toMatchObject({
      code: "23503",
      table: "charges",
    });
    await expect(t.app.pool.query("UPDATE subscriptions SET account_id = $2 WHERE id = $1", [fresh, account.id])).resolves.toMatchObject({ rowCount: 1 });
    await expect(t.app.pool.query("UPDATE subscriptions SET account_id = $2 WHERE id = $1", [fresh, other])).resolves.toMatchObject({ rowCount: 1 });
  });

  it("refuses to delete, re-key or truncate an account with subscriptions or a subscription with charges, and deletes those without", async () => {
    const { account, subscription } = await seedAccount(t, { charges: [{ type: "RECURRING", price: "30.00", billingPeriod: "MONTH" }] });
    await expect(t.app.pool.query("DELETE FROM accounts WHERE id = $1", [account.id])).rejects.toMatchObject({ code: "23503", table: "subscriptions" });
    await expect(t.app.pool.query("DELETE FROM subscriptions WHERE id = $1", [subscription.id])).rejects.toMatchObject({ code: "23503", table: "charges" });
    await expect(t.app.pool.query("UPDATE accounts SET id = gen_random_uuid() WHERE id = $1", [account.id])).rejects.toMatchObject({ code: "23503" });
    await expect(t.app.pool.query("UPDATE subscriptions SET id = gen_random_uuid() WHERE id = $1", [subscription.id])).rejects.toMatchObject({
      code: "23503",
    });
    await expect(t.app.pool.query("TRUNCATE subscriptions CASCADE")).rejects.toMatchObject({ code: "23503" });
    await expect(t.app.pool.query("TRUNCATE accounts CASCADE")).rejects.toMatchObject({ code: "23503" });
    expect((await t.app.pool.query("SELECT 1 FROM subscriptions WHERE id = $1 AND account_id = $2", [subscription.id, account.id])).rowCount).toBe(1);
    // Other changes are not the triggers' business.
    await expect(
      t.app.pool.query("UPDATE subscriptions SET invoice_separately = NOT invoice_separately WHERE id = $1", [subscription.id]),
    ).resolves.toMatchObject({
      rowCount: 1,
    });

    // Without charges a subscription can go, and then its account, as the foreign keys allowed.
    const other = await copyAccount(account.id);
    const bare = (await copySubscription(t.app.pool, subscription.id, [other])).rows[0]!.id;
    await expect(t.app.pool.query("DELETE FROM accounts WHERE id = $1", [other])).rejects.toMatchObject({ code: "23503", table: "subscriptions" });
    await expect(t.app.pool.query("DELETE FROM subscriptions WHERE id = $1", [bare])).resolves.toMatchObject({ rowCount: 1 });
    await expect(t.app.pool.query("DELETE FROM accounts WHERE id = $1", [other])).resolves.toMatchObject({ rowCount: 1 });
  });

  it("refuses usage whose charge is missing or of another subscription, and keeps a charge that has usage", async () => {
    const { subscription } = await seedAccount(t, { charges: [{ type: "USAGE", price: "0.01", billingPeriod: "MONTH", unitOfMeasure: "call" }] });
    const { subscription: other } = await seedAccount(t, { charges: [{ type: "USAGE", price: "0.02", billingPeriod: "MONTH", unitOfMeasure: "call" }] });
    const chargeId = subscription.charges[0]!.id;
    /** Inserts, in one statement, a usage record for each (charge, subscription) pair. */
    const record = (pairs: [string, string][]) =>
      t.app.pool.query(
        `INSERT INTO usage_records (id, subscription_id, charge_id, quantity, unit_of_measure, usage_date)
         SELECT gen_random_uuid(), s, c, 1, 'call', '2026-01-05' FROM unnest($1::uuid[], $2::uuid[]) AS p(c, s)`,
        [pairs.map((p) => p[0]), pairs.map((p) => p[1])],
      );
    const before = await countRows(t, "usage_records");
    await expect(record([[missing, subscription.id]])).rejects.toMatchObject({ code: "23503", table: "usage_records" });
    // The charge exists but is another subscription's, alone or next to a right pair for the same charge.
    await expect(record([[chargeId, other.id]])).rejects.toMatchObject({ code: "23503", table: "usage_records" });
    await expect(
      record([
        [chargeId, subscription.id],
        [chargeId, other.id],
      ]),
    ).rejects.toMatchObject({ code: "23503", table: "usage_records" });
    expect(await countRows(t, "usage_records")).toBe(before);
    await expect(
      record([
        [chargeId, subscription.id],
        [chargeId, subscription.id],
        [other.charges[0]!.id, other.id],
      ]),
    ).resolves.toMatchObject({ rowCount: 3 });

    const used = await t.app.pool.query<{ id: string }>("SELECT id FROM usage_records WHERE charge_id = $1 LIMIT 1", [chargeId]);
    const usageId = used.rows[0]!.id;
    await expect(t.app.pool.query("UPDATE usage_records SET charge_id = $2 WHERE id = $1", [usageId, other.charges[0]!.id])).rejects.toMatchObject({
      code: "23503",
      table: "usage_records",
    });
    await expect(t.app.pool.query("UPDATE usage_records SET subscription_id = $2 WHERE id = $1", [usageId, other.id])).rejects.toMatchObject({
      code: "23503",
    });
    // Both together name the other subscription's own charge: allowed, as the key allowed it.
    await expect(
      t.app.pool.query("UPDATE usage_records SET charge_id = $2, subscription_id = $3 WHERE id = $1", [usageId, other.charges[0]!.id, other.id]),
    ).resolves.toMatchObject({ rowCount: 1 });

    await expect(t.app.pool.query("DELETE FROM charges WHERE id = $1", [chargeId])).rejects.toMatchObject({ code: "23503", table: "usage_records" });
    await expect(t.app.pool.query("UPDATE charges SET id = gen_random_uuid() WHERE id = $1", [chargeId])).rejects.toMatchObject({ code: "23503" });
    await expect(t.app.pool.query("UPDATE charges SET subscription_id = $2 WHERE id = $1", [chargeId, other.id])).rejects.toMatchObject({
      code: "23503",
    });
    await expect(t.app.pool.query("TRUNCATE charges CASCADE")).rejects.toMatchObject({ code: "23503" });
    expect((await t.app.pool.query("SELECT 1 FROM charges WHERE id = $1 AND subscription_id = $2", [chargeId, subscription.id])).rowCount).toBe(1);
  });

  it("keeps the foreign key's lock: an account being deleted and a subscription being added to it never both commit", async () => {
    const { account, subscription } = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "1.00" }] });
    const waitingOn = (client: pg.Client) =>
      waitFor(
        "a statement waiting on a lock",
        async () => {
          const pid = (client as unknown as { processID: number }).processID;
          const found = await t.app.pool.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'", [pid]);
          return found.rowCount === 1;
        },
        15_000,
      );
    const [adding, deleting] = [await t.app.pool.connect(), await t.app.pool.connect()];
    try {
      // The subscription first: the delete waits for its commit, then sees it and is refused.
      const first = await copyAccount(account.id);
      await adding.query("BEGIN");
      await copySubscription(adding, subscription.id, [first]);
      const refused = deleting.query("DELETE FROM accounts WHERE id = $1", [first]).then(
        () => null,
        (error: unknown) => error,
      );
      await waitingOn(deleting as unknown as pg.Client);
      await adding.query("COMMIT");
      expect(await refused).toMatchObject({ code: "23503", table: "subscriptions" });
      expect((await t.app.pool.query("SELECT 1 FROM accounts WHERE id = $1", [first])).rowCount).toBe(1);

      // The delete first: the subscription waits for its commit, then finds no account and is refused.
      const second = await copyAccount(account.id);
      await deleting.query("BEGIN");
      await deleting.query("DELETE FROM accounts WHERE id = $1", [second]);
      const orphan = copySubscription(adding, subscription.id, [second]).then(
        () => null,
        (error: unknown) => error,
      );
      await waitingOn(adding as unknown as pg.Client);
      await deleting.query("COMMIT");
      expect(await orphan).toMatchObject({ code: "23503", table: "subscriptions" });
      expect((await t.app.pool.query("SELECT 1 FROM subscriptions WHERE account_id = $1", [second])).rowCount).toBe(0);
    } finally {
      adding.release(true);
      deleting.release(true);
    }
  });
});

describe("billingPreview", () => {
  const TABLES = ["bill_runs", "documents", "document_items", "bill_run_accounts", "bill_run_charge_moves", "bill_run_events", "pgboss.job"];
  const counts = async () => Object.fromEntries(await Promise.all(TABLES.map(async (table) => [table, await countRows(t, table)] as const)));

  it("returns what a run would create and writes nothing", async () => {
    const { account, subscription } = await seedAccount(t, {
      startDate: "2026-01-10",
      charges: [
        { name: "Plan", type: "RECURRING", price: "30.00", billingPeriod: "MONTH" },
        { name: "Setup", type: "ONE_TIME", price: "12.50", quantity: "2" },
      ],
    });
    const before = await counts();

    const result = await t.gql<Json, unknown>(
      `query($id: ID!, $date: Date!) { billingPreview(accountId: $id, targetDate: $date) { __typename
         ... on BillingPreview { failureCode failureMessage documents { type subscriptionId currency amount invoiceDate dueDate
           items { chargeName chargeType kind serviceStartDate serviceEndDate amount subscriptionId } } }
         ... on Error { code message } } }`,
      { id: account.id, date: "2026-02-01" },
    );
    const chargeIds = subscription.charges.map((c) => c.id);
    expect(chargeIds).toHaveLength(2);
    expect(dataOf(result).billingPreview).toEqual({
      __typename: "BillingPreview",
      failureCode: null,
      failureMessage: null,
      documents: [
        {
          type: "INVOICE",
          subscriptionId: null,
          currency: "USD",
          amount: "76.29",
          invoiceDate: "2026-02-01",
          dueDate: "2026-03-03",
          items: [
            {
              chargeName: "Plan",
              chargeType: "RECURRING",
              kind: "CHARGE",
              serviceStartDate: "2026-01-10",
              serviceEndDate: "2026-02-01",
              amount: "21.29",
              subscriptionId: subscription.id,
            },
            {
              chargeName: "Plan",
              chargeType: "RECURRING",
              kind: "CHARGE",
              serviceStartDate: "2026-02-01",
              serviceEndDate: "2026-03-01",
              amount: "30.00",
              subscriptionId: subscription.id,
            },
            {
              chargeName: "Setup",
              chargeType: "ONE_TIME",
              kind: "CHARGE",
              serviceStartDate: "2026-01-10",
              serviceEndDate: "2026-01-10",
              amount: "25.00",
              subscriptionId: subscription.id,
            },
          ],
        },
      ],
    });
    expect(await counts()).toEqual(before);
    expect(await chargedThrough(t, subscription.id)).toEqual([null, null]);

    // The run then creates exactly what the preview showed.
    const created = await createRun(t, { targetDate: "2026-02-01", accountIds: [account.id] });
    await waitForStatus(t, created.id, ["COMPLETED"]);
    const run = await getRun(t, created.id);
    const invoice = nodes(run.invoices)[0];
    expect(invoice.amount).toBe("76.29");
    expect(invoice.items.map((i: Json) => [i.chargeName, i.serviceStartDate, i.serviceEndDate, i.amount])).toEqual([
      ["Plan", "2026-01-10", "2026-02-01", "21.29"],
      ["Plan", "2026-02-01", "2026-03-01", "30.00"],
      ["Setup", "2026-01-10", "2026-01-10", "25.00"],
    ]);

    // Once billed, the preview for the same date is empty.
    const after = await t.gql<Json, unknown>(
      `query($id: ID!) { billingPreview(accountId: $id, targetDate: "2026-02-01") { ... on BillingPreview { documents { amount } } } }`,
      { id: account.id },
    );
    expect(dataOf(after).billingPreview).toEqual({ documents: [] });
  });

  it("shows quantity and unit price exactly as the invoice the run then creates", async () => {
    const { account } = await seedAccount(t, {
      charges: [
        { name: "Plan", type: "RECURRING", price: "30.00", billingPeriod: "MONTH" },
        { name: "Seats", type: "RECURRING", price: "4.125", quantity: "3", billingPeriod: "MONTH" },
      ],
    });
    const preview = await t.gql<Json, unknown>(
      `query($id: ID!) { billingPreview(accountId: $id, targetDate: "2026-01-01") { ... on BillingPreview { documents { items { chargeName quantity unitPrice amount } } } } }`,
      { id: account.id },
    );
    const previewed = dataOf(preview).billingPreview.documents[0].items;
    expect(previewed).toEqual([
      { chargeName: "Plan", quantity: "1", unitPrice: "30.00", amount: "30.00" },
      { chargeName: "Seats", quantity: "3", unitPrice: "4.125", amount: "12.38" },
    ]);
    const created = await createRun(t, { targetDate: "2026-01-01", accountIds: [account.id] });
    await waitForStatus(t, created.id, ["COMPLETED"]);
    const invoiceId = nodes((await getRun(t, created.id)).invoices)[0].id;
    const invoice = await t.gql<Json, unknown>(`query($id: ID!) { invoice(id: $id) { items { chargeName quantity unitPrice amount } } }`, { id: invoiceId });
    expect(dataOf(invoice).invoice.items).toEqual(previewed);
  });

  it("reports a failure instead of documents, and NOT_FOUND for unknown accounts", async () => {
    const { account } = await seedAccount(t, { billToEmail: "", charges: [{ type: "ONE_TIME", price: "10.00" }] });
    const failing = await t.gql<Json, unknown>(
      `query($id: ID!) { billingPreview(accountId: $id, targetDate: "2026-02-01") { ... on BillingPreview { failureCode failureMessage documents { amount } } } }`,
      { id: account.id },
    );
    expect(dataOf(failing).billingPreview).toEqual({
      failureCode: "MISSING_BILL_TO_CONTACT",
      failureMessage: `Account ${account.accountNumber} has no bill-to email address`,
      documents: [],
    });
    for (const id of ["00000000-0000-4000-8000-000000000000", "nope"]) {
      const missing = await t.gql<Json, unknown>(
        `query($id: ID!) { billingPreview(accountId: $id, targetDate: "2026-02-01") { __typename ... on Error { code message } } }`,
        { id },
      );
      expect(dataOf(missing).billingPreview).toEqual({ __typename: "NotFoundError", code: "NOT_FOUND", message: `account ${id} not found` });
    }
  });
});

describe("document and record numbers", () => {
  it("grow a ninth digit after 99999999 instead of being cut to eight and colliding", async () => {
    for (const seq of ["account_number_seq", "subscription_number_seq", "bill_run_number_seq", "invoice_number_seq"]) {
      await t.app.pool.query(`SELECT setval($1::regclass, 99999998)`, [seq]);
    }
    const first = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "1.00" }] });
    const second = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "2.00" }] });
    expect([first.account.accountNumber, second.account.accountNumber]).toEqual(["A-99999999", "A-100000000"]);
    expect([first.subscription.subscriptionNumber, second.subscription.subscriptionNumber]).toEqual(["S-99999999", "S-100000000"]);
    const run = await createRun(t, { targetDate: "2026-01-15", accountIds: [first.account.id, second.account.id] });
    expect(run.billRunNumber).toBe("BR-99999999");
    await waitForStatus(t, run.id, ["COMPLETED"]);
    const done = await getRun(t, run.id);
    expect(done).toMatchObject({ invoiceCount: 2, failedAccountCount: 0 });
    expect(
      nodes(done.invoices)
        .map((i: Json) => i.invoiceNumber)
        .sort(),
    ).toEqual(["INV-100000000", "INV-99999999"]);
  });
});
