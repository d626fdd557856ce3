import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { createTestDatabase } from "../support/db.ts";
import { migrate, pendingMigrations, readMigrations } from "../../src/db/migrate.ts";

/**
 * The migrations (what every database runs) and prisma/schema.prisma (what the client is
 * generated from) must describe the same tables, columns, keys, indexes and enums. One database
 * comes from the migrations (the tests' template), the other from the script Prisma writes for
 * schema.prisma alone; their catalogs are compared.
 *
 * What Prisma's schema language cannot express lives in the migrations only. Each such object is
 * named here with the reason it exists; anything else that differs is drift.
 */
const MIGRATIONS_ONLY: Record<string, string> = {
  // CHECK constraints (schema.prisma has no syntax for them): rules the database keeps whoever writes.
  "check accounts.accounts_batch_check": "an account's batch is 1..50",
  "check accounts.accounts_bill_cycle_day_check": "a bill cycle day is 1..31",
  "check accounts.accounts_payment_term_days_check": "payment terms are not negative",
  "check bill_run_schedules.bill_run_schedules_day_of_month_check": "a monthly day is 1..31",
  "check bill_run_schedules.bill_run_schedules_repeat_check": "a schedule ends after it starts",
  "check bill_run_schedules.bill_run_schedules_rule_check": "a weekly rule has a weekday, a monthly one a day or month-end, not both",
  "check bill_run_schedules.bill_run_schedules_run_time_check": "run time is HH:MM",
  "check charges.charges_dates_check": "a charge ends after it starts",
  "check charges.charges_quantity_check": "quantities are not negative",
  "check charges.charges_recurring_period_check": "a recurring charge has a billing period",
  "check documents.documents_amount_check": "document amounts are not negative",
  "check documents.documents_balance_check": "a balance stays within 0..amount",
  "check bill_run_accounts.bill_run_accounts_failure_check": "a failure code exactly when an account failed (the failed-accounts index relies on it)",
  "check idempotency_keys.idempotency_keys_key_length": "keys are 1..255 characters",
  "check payments.payments_amount_check": "payments are positive",
  "check usage_records.usage_records_quantity_check": "usage quantities are not negative",
  // Partial indexes (no WHERE in schema.prisma's @@index/@@unique).
  "index bill_run_accounts.bill_run_accounts_failed_idx": "a run's failed accounts, without status in any index",
  "index bill_runs.bill_runs_one_live_retry_key": "one live retry per run",
  "index document_items.document_items_charge_period_key": "a charge period is billed once, voided items aside",
  "index email_outbox.email_outbox_due_idx": "the sender's scan of due messages",
  "index webhook_deliveries.webhook_deliveries_due_idx": "the deliverer's scan of each endpoint's pending deliveries",
  // Trigram indexes: they need the pg_trgm extension, which schema.prisma does not declare.
  "index accounts.accounts_account_number_trgm_idx": "account search by number",
  "index accounts.accounts_bill_to_email_trgm_idx": "account search by email",
  "index accounts.accounts_name_trgm_idx": "account search by name",
  // Triggers (their functions come from the migrations on both sides: see prerequisites).
  "trigger charges.charges_keep_billed_delete": "a charge with items cannot be deleted (the items' foreign key replaced)",
  "trigger charges.charges_keep_billed_id": "a charge with items keeps its id (the items' foreign key replaced)",
  "trigger charges.charges_keep_billed_truncate": "charges cannot be emptied under items (the items' foreign key replaced)",
  "trigger document_items.document_items_documents_exist": "an item's document exists, checked once per statement (the foreign key replaced)",
  "trigger document_items.document_items_document_exists": "an item moved to another document names one that exists (the foreign key replaced)",
  "trigger documents.documents_delete_items": "a document's items go with it (the foreign key's cascade)",
  "trigger documents.documents_keep_items_id": "a document with items keeps its id (the foreign key replaced)",
  "trigger documents.documents_keep_items_truncate": "documents cannot be emptied under items (the foreign key replaced)",
  "trigger documents.documents_owners_exist": "a document's run and account exist, checked once per statement (the foreign keys replaced)",
  "trigger documents.documents_owners_exist_on_update": "a document moved to another run or account names one that exists (the foreign keys replaced)",
  "trigger bill_runs.bill_runs_delete_documents": "a run's documents go with it (the foreign key's cascade)",
  "trigger bill_runs.bill_runs_keep_documents_id": "a run with documents keeps its id (the foreign key replaced)",
  "trigger bill_runs.bill_runs_keep_documents_truncate": "runs cannot be emptied under documents (the foreign key replaced)",
  "trigger accounts.accounts_keep_documents": "an account with documents cannot be deleted (the foreign key replaced)",
  "trigger accounts.accounts_keep_documents_id": "an account with documents keeps its id (the foreign key replaced)",
  "trigger accounts.accounts_keep_documents_truncate": "accounts cannot be emptied under documents (the foreign key replaced)",
  "trigger bill_run_accounts.bill_run_accounts_owners_exist": "a run account's run and account exist, checked once per statement (the foreign keys replaced)",
  "trigger bill_run_accounts.bill_run_accounts_owners_exist_on_update":
    "a run account moved to another run or account names one that exists (the foreign keys replaced)",
  "trigger bill_runs.bill_runs_delete_run_accounts": "a run's accounts go with it (the foreign key's cascade)",
  "trigger bill_runs.bill_runs_keep_run_accounts_id": "a run with accounts keeps its id (the foreign key replaced)",
  "trigger bill_runs.bill_runs_keep_run_accounts_truncate": "runs cannot be emptied under their accounts (the foreign key replaced)",
  "trigger accounts.accounts_keep_run_accounts": "an account a run targeted cannot be deleted (the foreign key replaced)",
  "trigger accounts.accounts_keep_run_accounts_id": "an account a run targeted keeps its id (the foreign key replaced)",
  "trigger accounts.accounts_keep_run_accounts_truncate": "accounts cannot be emptied under runs' accounts (the foreign key replaced)",
  "trigger subscriptions.subscriptions_accounts_exist": "a subscription's account exists, checked once per statement (the foreign key replaced)",
  "trigger subscriptions.subscriptions_account_exists_on_update": "a subscription moved to another account names one that exists (the foreign key replaced)",
  "trigger charges.charges_subscriptions_exist": "a charge's subscription exists, checked once per statement (the foreign key replaced)",
  "trigger charges.charges_subscription_exists_on_update": "a charge moved to another subscription names one that exists (the foreign key replaced)",
  "trigger accounts.accounts_keep_subscriptions": "an account with subscriptions cannot be deleted (the foreign key replaced)",
  "trigger accounts.accounts_keep_subscriptions_id": "an account with subscriptions keeps its id (the foreign key replaced)",
  "trigger accounts.accounts_keep_subscriptions_truncate": "accounts cannot be emptied under subscriptions (the foreign key replaced)",
  "trigger subscriptions.subscriptions_keep_charges": "a subscription with charges cannot be deleted (the foreign key replaced)",
  "trigger subscriptions.subscriptions_keep_charges_id": "a subscription with charges keeps its id (the foreign key replaced)",
  "trigger subscriptions.subscriptions_keep_charges_truncate": "subscriptions cannot be emptied under charges (the foreign key replaced)",
  "trigger usage_records.usage_records_charges_exist":
    "a usage record's charge exists and is of its subscription, checked once per statement (the foreign key replaced)",
  "trigger usage_records.usage_records_charge_exists_on_update":
    "a usage record moved to another charge names one of its subscription (the foreign key replaced)",
  "trigger charges.charges_keep_usage": "a charge with usage cannot be deleted (the foreign key replaced)",
  "trigger charges.charges_keep_usage_key": "a charge with usage keeps its id and subscription (the foreign key replaced)",
  "trigger charges.charges_keep_usage_truncate": "charges cannot be emptied under usage (the foreign key replaced)",
  "trigger bill_run_events.bill_run_events_run_number": "an event takes its run's number from the run",
  "trigger bill_run_events.bill_run_events_webhooks": "account_failed webhook events and deliveries are written in the statement that writes the failures",
  "trigger documents.documents_webhooks": "documents posted while an endpoint subscribes are noted in the posting statement",
};

/**
 * In schema.prisma only. Prisma declares a relation only with a foreign key; the migrations
 * dropped this one so that a run's events outlive it (20261124081000_events_outlive_runs). A
 * migration generated from schema.prisma would add it back: take it out of such a migration.
 */
const SCHEMA_ONLY: Record<string, string> = {
  "constraint bill_run_events.bill_run_events_bill_run_id_fkey": "events outlive their run",
  // A foreign key takes a row lock per delivery, which would slow posting with many deliveries;
  // deleting an endpoint deletes its deliveries in code (src/webhooks/endpoints.ts).
  // A run's items would pay a check per row; the run locks their charges once each instead and
  // triggers on charges keep them (20261129400100_item_charge_checked_by_the_run).
  "constraint document_items.document_items_charge_id_fkey": "no check per item",
  // Checked once per statement by a trigger instead (20261129400200_item_documents_checked_per_statement).
  "constraint document_items.document_items_document_id_fkey": "no check per item",
  // Checked once per statement by a trigger instead (20261129400300_document_owners_checked_per_statement).
  "constraint documents.documents_bill_run_id_fkey": "no check per document",
  "constraint documents.documents_account_id_fkey": "no check per document",
  // Checked once per statement by a trigger instead (20261130150000_run_accounts_write_path).
  "constraint bill_run_accounts.bill_run_accounts_bill_run_id_fkey": "no check per account of a run",
  "constraint bill_run_accounts.bill_run_accounts_account_id_fkey": "no check per account of a run",
  // Checked once per statement by triggers instead (20261130200000_subscription_charge_owners_checked_per_statement).
  "constraint subscriptions.subscriptions_account_id_fkey": "no check per subscription",
  "constraint charges.charges_subscription_id_fkey": "no check per charge",
  "constraint webhook_deliveries.webhook_deliveries_endpoint_id_fkey": "no row lock per delivery",
  "constraint webhook_deliveries.webhook_deliveries_event_id_fkey": "no row lock per delivery",
  // Usage's charge and subscription are checked together, once per statement, by a trigger
  // (20261130200100_usage_charges_checked_per_statement); the unique index on charges that the
  // composite key needed went with it.
  "constraint usage_records.usage_records_subscription_id_fkey": "checked with the charge, which includes the subscription",
  "constraint usage_records.usage_records_charge_id_subscription_id_fkey": "no check per usage record",
  "index charges.charges_id_subscription_id_key": "only the dropped composite key needed it",
};

/** On both sides, defined differently: schema.prisma cannot say it the migrations' way. */
const DEFINED_DIFFERENTLY: Record<string, string> = {
  // Prisma writes scalar lists (String[] and the like) without NOT NULL; the migrations keep them required.
  "column bill_run_charge_moves.charge_ids": "a required list",
  "column bill_run_charge_moves.through_after": "a required list",
  "column bill_run_charge_moves.through_before": "a required list",
  "column webhook_endpoints.event_types": "a required list",
  "column webhook_posted_documents.balances": "a required list",
  "column webhook_posted_documents.document_ids": "a required list",
  "column webhook_posted_documents.endpoint_ids": "a required list",
};

/** Same meaning, spelled two ways: Prisma writes `@default(now())` as CURRENT_TIMESTAMP. */
const normalise = (value: string) => value.replace(/ DEFAULT now\(\)$/, " DEFAULT CURRENT_TIMESTAMP");

const run = promisify(execFile);

interface Catalog {
  [key: string]: string;
}

/** One entry per schema object of `public` (Prisma's own bookkeeping table left out), keyed by kind and name. */
async function catalogOf(url: string): Promise<Catalog> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const entries: Catalog = {};
    const add = (rows: { key: string; value: string | null }[]) => {
      for (const row of rows) entries[row.key] = row.value ?? "";
    };
    // Columns: type, nullability and default.
    add(
      (
        await client.query(`
        SELECT 'column ' || c.relname || '.' || a.attname AS key,
               format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
                 || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '') AS value
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
           AND c.relname <> '_prisma_migrations'`)
      ).rows,
    );
    // Constraints: primary keys, foreign keys (with their actions), unique and check constraints.
    add(
      (
        await client.query(`
        SELECT CASE con.contype WHEN 'c' THEN 'check ' ELSE 'constraint ' END || c.relname || '.' || con.conname AS key,
               pg_get_constraintdef(con.oid) AS value
          FROM pg_constraint con
          JOIN pg_class c ON c.oid = con.conrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relname <> '_prisma_migrations' AND con.contype <> 'n'`)
      ).rows,
    );
    // Indexes, with their columns, methods and predicates.
    add(
      (
        await client.query(`
        SELECT 'index ' || tablename || '.' || indexname AS key, indexdef AS value
          FROM pg_indexes WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'`)
      ).rows,
    );
    // Enums and their values, in order.
    add(
      (
        await client.query(`
        SELECT 'enum ' || t.typname AS key, string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder) AS value
          FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE n.nspname = 'public' GROUP BY t.typname`)
      ).rows,
    );
    // Triggers and functions.
    add(
      (
        await client.query(`
        SELECT 'trigger ' || c.relname || '.' || tg.tgname AS key, pg_get_triggerdef(tg.oid) AS value
          FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND NOT tg.tgisinternal`)
      ).rows,
    );
    add(
      (
        await client.query(`
        SELECT 'function ' || p.proname AS key, pg_get_function_identity_arguments(p.oid) AS value
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'`)
      ).rows,
    );
    return entries;
  } finally {
    await client.end();
  }
}

let migrated: Awaited<ReturnType<typeof createTestDatabase>>;
let fromSchemaUrl: string;
let dropFromSchema: () => Promise<void>;

beforeAll(async () => {
  migrated = await createTestDatabase();
  const adminUrl = inject("pgAdminUrl");
  const name = `schema_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  fromSchemaUrl = adminUrl.replace(/\/[^/]*$/, `/${name}`);
  dropFromSchema = async () => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.end();
  };
  // The script that creates schema.prisma's tables from nothing. Prisma's JS schema engine
  // computes it offline, but builds its driver adapter first, so it gets a reachable database.
  const { stdout } = await run("node_modules/.bin/prisma", ["migrate", "diff", "--from-empty", "--to-schema-datamodel", "prisma/schema.prisma", "--script"], {
    env: { ...process.env, DATABASE_URL: fromSchemaUrl },
    maxBuffer: 16 * 1024 * 1024,
  });
  expect(stdout).toContain("CREATE TABLE");
  const client = new pg.Client({ connectionString: fromSchemaUrl });
  await client.connect();
  try {
    await client.query(await prerequisites(migrated.url));
    await client.query(stdout);
  } finally {
    await client.end();
  }
}, 120_000);

/**
 * What schema.prisma's column defaults call but cannot declare: the number sequences named in
 * its `nextval(...)` defaults and the functions of `public` (billrun_number formats document
 * numbers), as the migrations define them. Function bodies are not checked at creation: a trigger
 * function may name tables that do not exist yet.
 */
async function prerequisites(migratedUrl: string): Promise<string> {
  const datamodel = await readFile("prisma/schema.prisma", "utf8");
  const sequences = [...new Set([...datamodel.matchAll(/nextval\('(\w+)'/g)].map((m) => m[1]!))];
  const client = new pg.Client({ connectionString: migratedUrl });
  await client.connect();
  try {
    const functions = await client.query<{ definition: string }>(
      `SELECT pg_get_functiondef(p.oid) AS definition FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'`,
    );
    return [
      "SET check_function_bodies = off;",
      ...sequences.map((name) => `CREATE SEQUENCE "${name}";`),
      ...functions.rows.map((f) => `${f.definition};`),
    ].join("\n");
  } finally {
    await client.end();
  }
}

afterAll(async () => {
  await dropFromSchema?.();
  await migrated?.drop();
});

describe("schema drift", () => {
  it("the migrations and schema.prisma build the same database, but for the objects only SQL can express", async () => {
    const fromMigrations = await catalogOf(migrated.url);
    const fromSchema = await catalogOf(fromSchemaUrl);
    const differences: string[] = [];
    for (const key of new Set([...Object.keys(fromMigrations), ...Object.keys(fromSchema)])) {
      const a = fromMigrations[key];
      const b = fromSchema[key];
      if (a === b) continue;
      if (a !== undefined && b !== undefined && normalise(a) === normalise(b)) continue;
      if (b === undefined && key in MIGRATIONS_ONLY) continue;
      if (a === undefined && key in SCHEMA_ONLY) continue;
      if (a !== undefined && b !== undefined && key in DEFINED_DIFFERENTLY) continue;
      differences.push(
        a === undefined
          ? `${key}: only in schema.prisma: ${b}`
          : b === undefined
            ? `${key}: only in the migrations: ${a}`
            : `${key}: migrations ${a} / schema.prisma ${b}`,
      );
    }
    expect(differences.sort()).toEqual([]);
    // Every listed exception is still there: a list that names what no longer exists misleads.
    const stale = [
      ...Object.keys(MIGRATIONS_ONLY).filter((key) => fromMigrations[key] === undefined || fromSchema[key] !== undefined),
      ...Object.keys(SCHEMA_ONLY).filter((key) => fromSchema[key] === undefined || fromMigrations[key] !== undefined),
      ...Object.keys(DEFINED_DIFFERENTLY).filter(
        (key) => fromSchema[key] === undefined || fromMigrations[key] === undefined || fromSchema[key] === fromMigrations[key],
      ),
    ];
    expect(stale).toEqual([]);
  });
});

describe("the migration runner", () => {
  it("applies again a migration whose recorded run was rolled back, and reports it pending until then", async () => {
    const adminUrl = inject("pgAdminUrl");
    const name = `migrate_${randomBytes(6).toString("hex")}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const url = adminUrl.replace(/\/[^/]*$/, `/${name}`);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const all = (await readMigrations()).map((m) => m.name);
      expect(await pendingMigrations(client)).toEqual(all);
      // The first migration was once applied, then marked rolled back (its objects are not there).
      await client.query(`CREATE TABLE "_prisma_migrations" (
        "id" VARCHAR(36) PRIMARY KEY NOT NULL, "checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ,
        "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ,
        "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0)`);
      await client.query(`INSERT INTO "_prisma_migrations" (id, checksum, migration_name, finished_at, rolled_back_at) VALUES ($1, 'x', $2, now(), now())`, [
        randomUUID(),
        all[0],
      ]);
      expect(await pendingMigrations(client)).toEqual(all);
      expect(await migrate(url)).toEqual(all);
      expect(await pendingMigrations(client)).toEqual([]);
      expect(await migrate(url)).toEqual([]);
    } finally {
      await client.end();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  }, 120_000);
});
