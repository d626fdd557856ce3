-- A run's accounts (bill_run_accounts) are written twice per account: once by the snapshot that
-- fixes the run's accounts, once when the account is billed (DONE) or fails. This migration
-- makes the first cheaper and the second an in-place update (see docs/performance.md).

-- 1. The run and the account exist while the row does, checked once per statement instead of
-- once per row (two SELECT … FOR KEY SHARE per account in the snapshot), as 20261129400300 does
-- for documents. The guarantees are the foreign keys': the same locks, cascade and restriction.
ALTER TABLE "bill_run_accounts" DROP CONSTRAINT "bill_run_accounts_bill_run_id_fkey";
ALTER TABLE "bill_run_accounts" DROP CONSTRAINT "bill_run_accounts_account_id_fkey";

CREATE FUNCTION "bill_run_accounts_check_owners"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  runs UUID[];
  owners UUID[];
  found INT;
BEGIN
  SELECT array_agg("bill_run_id") INTO runs FROM (SELECT DISTINCT "bill_run_id" FROM "new_run_accounts") AS r;
  SELECT array_agg("account_id") INTO owners FROM (SELECT DISTINCT "account_id" FROM "new_run_accounts") AS a;
  IF runs IS NOT NULL THEN
    SELECT count(*) INTO found FROM (SELECT 1 FROM "bill_runs" WHERE "id" = ANY(runs) FOR KEY SHARE) AS locked;
    IF found <> cardinality(runs) THEN
      RAISE EXCEPTION 'bill_run_accounts name a bill run that does not exist' USING ERRCODE = 'foreign_key_violation', TABLE = 'bill_run_accounts';
    END IF;
  END IF;
  IF owners IS NOT NULL THEN
    SELECT count(*) INTO found FROM (SELECT 1 FROM "accounts" WHERE "id" = ANY(owners) FOR KEY SHARE) AS locked;
    IF found <> cardinality(owners) THEN
      RAISE EXCEPTION 'bill_run_accounts name an account that does not exist' USING ERRCODE = 'foreign_key_violation', TABLE = 'bill_run_accounts';
    END IF;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "bill_run_accounts_owners_exist" AFTER INSERT ON "bill_run_accounts"
  REFERENCING NEW TABLE AS "new_run_accounts" FOR EACH STATEMENT EXECUTE FUNCTION "bill_run_accounts_check_owners"();

-- Moving a row to another run or account (nothing does) checks that one, row by row.
CREATE FUNCTION "bill_run_accounts_check_new_owners"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM "bill_runs" WHERE "id" = NEW."bill_run_id" FOR KEY SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'bill run % does not exist', NEW."bill_run_id" USING ERRCODE = 'foreign_key_violation', TABLE = 'bill_run_accounts';
  END IF;
  PERFORM 1 FROM "accounts" WHERE "id" = NEW."account_id" FOR KEY SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'account % does not exist', NEW."account_id" USING ERRCODE = 'foreign_key_violation', TABLE = 'bill_run_accounts';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER "bill_run_accounts_owners_exist_on_update" BEFORE UPDATE OF "bill_run_id", "account_id" ON "bill_run_accounts"
  FOR EACH ROW WHEN (OLD."bill_run_id" IS DISTINCT FROM NEW."bill_run_id" OR OLD."account_id" IS DISTINCT FROM NEW."account_id")
  EXECUTE FUNCTION "bill_run_accounts_check_new_owners"();

-- The run's key cascaded: deleting a run deletes its accounts' rows (and, through their own key,
-- its failed subscriptions).
CREATE FUNCTION "bill_runs_delete_run_accounts"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM "bill_run_accounts" WHERE "bill_run_id" = ANY(ARRAY(SELECT "id" FROM "gone_runs"));
  RETURN NULL;
END $$;

CREATE TRIGGER "bill_runs_delete_run_accounts" AFTER DELETE ON "bill_runs"
  REFERENCING OLD TABLE AS "gone_runs" FOR EACH STATEMENT EXECUTE FUNCTION "bill_runs_delete_run_accounts"();

-- The account's key restricted: an account a run targeted cannot be deleted.
CREATE FUNCTION "accounts_keep_run_accounts"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  targeted UUID;
BEGIN
  SELECT "account_id" INTO targeted FROM "bill_run_accounts" WHERE "account_id" = ANY(ARRAY(SELECT "id" FROM "gone_accounts")) LIMIT 1;
  IF targeted IS NOT NULL THEN
    RAISE EXCEPTION 'account % is part of a bill run', targeted USING ERRCODE = 'foreign_key_violation', TABLE = 'bill_run_accounts';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "accounts_keep_run_accounts" AFTER DELETE ON "accounts"
  REFERENCING OLD TABLE AS "gone_accounts" FOR EACH STATEMENT EXECUTE FUNCTION "accounts_keep_run_accounts"();

-- Ids never change (the keys cascaded such a change), and neither table is emptied under the
-- rows that name it: both are refused.
CREATE FUNCTION "run_accounts_keep_owners"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    IF EXISTS (SELECT 1 FROM "bill_run_accounts") THEN
      RAISE EXCEPTION '% cannot be truncated while bill_run_accounts refer to them', TG_TABLE_NAME USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
  END IF;
  IF (TG_TABLE_NAME = 'bill_runs' AND EXISTS (SELECT 1 FROM "bill_run_accounts" WHERE "bill_run_id" = OLD."id"))
     OR (TG_TABLE_NAME = 'accounts' AND EXISTS (SELECT 1 FROM "bill_run_accounts" WHERE "account_id" = OLD."id")) THEN
    RAISE EXCEPTION '% % is named by bill_run_accounts', TG_TABLE_NAME, OLD."id" USING ERRCODE = 'foreign_key_violation', TABLE = 'bill_run_accounts';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER "bill_runs_keep_run_accounts_id" BEFORE UPDATE OF "id" ON "bill_runs"
  FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id") EXECUTE FUNCTION "run_accounts_keep_owners"();
CREATE TRIGGER "bill_runs_keep_run_accounts_truncate" BEFORE TRUNCATE ON "bill_runs"
  FOR EACH STATEMENT EXECUTE FUNCTION "run_accounts_keep_owners"();
CREATE TRIGGER "accounts_keep_run_accounts_id" BEFORE UPDATE OF "id" ON "accounts"
  FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id") EXECUTE FUNCTION "run_accounts_keep_owners"();
CREATE TRIGGER "accounts_keep_run_accounts_truncate" BEFORE TRUNCATE ON "accounts"
  FOR EACH STATEMENT EXECUTE FUNCTION "run_accounts_keep_owners"();

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
