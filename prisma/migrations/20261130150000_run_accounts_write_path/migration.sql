-- A run's accounts (bill_run_accounts) are written twice per account: once by the snapshot that
-- fixes the run's accounts, once when the account is billed (DONE) or fails. This migration
-- makes the first cheaper and the second an in-place update (see docs/performance.md).

-- 1. Foreign keys checked once per statement, by five trigger functions that any table can use
-- for any of its keys to a table's "id" (as 20261129400200 and 20261129400300 do, table by
-- table, for items and documents). The guarantees are the foreign keys': the same lock on each
-- referenced row (FOR KEY SHARE), the same refusals with the same SQLSTATE (23503).
-- Arguments: pairs of names, (column of the rows, table it refers to) for the first two,
-- (table referring to this one, its column) for the other three.

-- AFTER INSERT … REFERENCING NEW TABLE AS "new_rows" FOR EACH STATEMENT: every row the
-- statement's rows name is locked, once each; the statement is refused if one is missing.
CREATE FUNCTION "referenced_rows_exist"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  named UUID[];
  found INT;
BEGIN
  FOR i IN 0 .. TG_NARGS - 1 BY 2 LOOP
    -- DISTINCT in a subquery: hashed, where array_agg(DISTINCT …) sorts the statement's rows.
    EXECUTE format('SELECT array_agg(v) FROM (SELECT DISTINCT %1$I AS v FROM "new_rows" WHERE %1$I IS NOT NULL) AS d', TG_ARGV[i]) INTO named;
    CONTINUE WHEN named IS NULL;
    EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM %I WHERE "id" = ANY($1) FOR KEY SHARE) AS locked', TG_ARGV[i + 1]) INTO found USING named;
    IF found <> cardinality(named) THEN
      RAISE EXCEPTION '% name % % that do not exist (%)', TG_TABLE_NAME, cardinality(named) - found, TG_ARGV[i + 1], TG_ARGV[i]
        USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME;
    END IF;
  END LOOP;
  RETURN NULL;
END $$;

-- BEFORE UPDATE OF <columns> … FOR EACH ROW: a row moved to another owner names one that exists.
CREATE FUNCTION "referenced_row_exists"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  named UUID;
  found INT;
BEGIN
  FOR i IN 0 .. TG_NARGS - 1 BY 2 LOOP
    named := (to_jsonb(NEW) ->> TG_ARGV[i])::uuid;
    CONTINUE WHEN named IS NULL OR named IS NOT DISTINCT FROM (to_jsonb(OLD) ->> TG_ARGV[i])::uuid;
    EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM %I WHERE "id" = $1 FOR KEY SHARE) AS locked', TG_ARGV[i + 1]) INTO found USING named;
    IF found = 0 THEN
      RAISE EXCEPTION '% % does not exist', TG_ARGV[i + 1], named USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME;
    END IF;
  END LOOP;
  RETURN NEW;
END $$;

-- On the referenced table, AFTER DELETE … REFERENCING OLD TABLE AS "gone_rows" FOR EACH
-- STATEMENT (ON DELETE RESTRICT): a row that others name cannot be deleted.
CREATE FUNCTION "referenced_rows_kept"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  named UUID;
BEGIN
  FOR i IN 0 .. TG_NARGS - 1 BY 2 LOOP
    EXECUTE format('SELECT %2$I FROM %1$I WHERE %2$I = ANY(ARRAY(SELECT "id" FROM "gone_rows")) LIMIT 1', TG_ARGV[i], TG_ARGV[i + 1]) INTO named;
    IF named IS NOT NULL THEN
      RAISE EXCEPTION '% % is named by %', TG_TABLE_NAME, named, TG_ARGV[i] USING ERRCODE = 'foreign_key_violation', TABLE = TG_ARGV[i];
    END IF;
  END LOOP;
  RETURN NULL;
END $$;

-- On the referenced table, AFTER DELETE … REFERENCING OLD TABLE AS "gone_rows" FOR EACH
-- STATEMENT (ON DELETE CASCADE): the rows that name a deleted row are deleted with it.
CREATE FUNCTION "referencing_rows_deleted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 0 .. TG_NARGS - 1 BY 2 LOOP
    EXECUTE format('DELETE FROM %1$I WHERE %2$I = ANY(ARRAY(SELECT "id" FROM "gone_rows"))', TG_ARGV[i], TG_ARGV[i + 1]);
  END LOOP;
  RETURN NULL;
END $$;

-- On the referenced table (the keys cascaded id changes; none happen): BEFORE UPDATE OF "id" …
-- FOR EACH ROW refuses to change the id of a row others name, and BEFORE TRUNCATE … FOR EACH
-- STATEMENT refuses to empty the table while others name any row.
CREATE FUNCTION "referenced_ids_kept"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  named BOOLEAN;
BEGIN
  FOR i IN 0 .. TG_NARGS - 1 BY 2 LOOP
    IF TG_OP = 'TRUNCATE' THEN
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', TG_ARGV[i]) INTO named;
    ELSE
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM %1$I WHERE %2$I = $1)', TG_ARGV[i], TG_ARGV[i + 1]) INTO named USING OLD."id";
    END IF;
    IF named THEN
      RAISE EXCEPTION '% is named by %: its ids are kept', TG_TABLE_NAME, TG_ARGV[i] USING ERRCODE = 'foreign_key_violation', TABLE = TG_ARGV[i];
    END IF;
  END LOOP;
  RETURN CASE WHEN TG_OP = 'TRUNCATE' THEN NULL ELSE NEW END;
END $$;

-- A run's accounts → their run and their account: two checks per account, all in the snapshot,
-- before any chunk can start. The run's key cascaded a run's deletion; the account's restricted.
ALTER TABLE "bill_run_accounts" DROP CONSTRAINT "bill_run_accounts_bill_run_id_fkey";
ALTER TABLE "bill_run_accounts" DROP CONSTRAINT "bill_run_accounts_account_id_fkey";

CREATE TRIGGER "bill_run_accounts_owners_exist" AFTER INSERT ON "bill_run_accounts"
  REFERENCING NEW TABLE AS "new_rows" FOR EACH STATEMENT
  EXECUTE FUNCTION "referenced_rows_exist"('bill_run_id', 'bill_runs', 'account_id', 'accounts');
CREATE TRIGGER "bill_run_accounts_owners_exist_on_update" BEFORE UPDATE OF "bill_run_id", "account_id" ON "bill_run_accounts"
  FOR EACH ROW EXECUTE FUNCTION "referenced_row_exists"('bill_run_id', 'bill_runs', 'account_id', 'accounts');

CREATE TRIGGER "bill_runs_delete_run_accounts" AFTER DELETE ON "bill_runs"
  REFERENCING OLD TABLE AS "gone_rows" FOR EACH STATEMENT
  EXECUTE FUNCTION "referencing_rows_deleted"('bill_run_accounts', 'bill_run_id');

CREATE TRIGGER "accounts_keep_run_accounts" AFTER DELETE ON "accounts"
  REFERENCING OLD TABLE AS "gone_rows" FOR EACH STATEMENT
  EXECUTE FUNCTION "referenced_rows_kept"('bill_run_accounts', 'account_id');
CREATE TRIGGER "bill_runs_keep_run_accounts_id" BEFORE UPDATE OF "id" ON "bill_runs"
  FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id") EXECUTE FUNCTION "referenced_ids_kept"('bill_run_accounts', 'bill_run_id');
CREATE TRIGGER "bill_runs_keep_run_accounts_truncate" BEFORE TRUNCATE ON "bill_runs"
  FOR EACH STATEMENT EXECUTE FUNCTION "referenced_ids_kept"('bill_run_accounts', 'bill_run_id');
CREATE TRIGGER "accounts_keep_run_accounts_id" BEFORE UPDATE OF "id" ON "accounts"
  FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id") EXECUTE FUNCTION "referenced_ids_kept"('bill_run_accounts', 'account_id');
CREATE TRIGGER "accounts_keep_run_accounts_truncate" BEFORE TRUNCATE ON "accounts"
  FOR EACH STATEMENT EXECUTE FUNCTION "referenced_ids_kept"('bill_run_accounts', 'account_id');

-- 2. Status in no index, and room on each page: marking an account DONE is then an in-place
-- (HOT) update that writes no index entry, where it wrote one in each of the table's four.
-- A chunk's rows are found by (bill_run_id, chunk), a thousand rows whose status is read from
-- the rows themselves; the failed ones by a partial index on failure_code, which a failure sets
-- and nothing else changes. Readers of failed accounts say `failure_code IS NOT NULL` so that
-- the planner can use it; the check below makes that the same rows as status = 'FAILED'.
DROP INDEX "bill_run_accounts_bill_run_id_chunk_status_idx";
DROP INDEX "bill_run_accounts_bill_run_id_status_position_idx";
CREATE INDEX "bill_run_accounts_bill_run_id_chunk_idx" ON "bill_run_accounts" ("bill_run_id", "chunk");
CREATE INDEX "bill_run_accounts_failed_idx" ON "bill_run_accounts" ("bill_run_id", "position") WHERE "failure_code" IS NOT NULL;
ALTER TABLE "bill_run_accounts"
  ADD CONSTRAINT "bill_run_accounts_failure_check" CHECK (("status" = 'FAILED') = ("failure_code" IS NOT NULL));
ALTER TABLE "bill_run_accounts" SET (fillfactor = 50);
