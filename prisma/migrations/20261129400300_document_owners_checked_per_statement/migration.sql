-- A document's run and account exist while the document does, checked once per statement
-- instead of once per row, as 20261129400200 does for items. The per-row check of the run was
-- the costlier: every document of a chunk locked the same bill_runs row FOR KEY SHARE, and with
-- two chunks writing at once each lock went through a multixact (see docs/performance.md).
ALTER TABLE "documents" DROP CONSTRAINT "documents_bill_run_id_fkey";
ALTER TABLE "documents" DROP CONSTRAINT "documents_account_id_fkey";

-- Every run and account a statement's documents name is locked FOR KEY SHARE (the foreign keys'
-- lock), once each; the statement is refused if one is missing.
CREATE FUNCTION "documents_check_owners"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  runs UUID[];
  owners UUID[];
  found INT;
BEGIN
  SELECT array_agg("bill_run_id") INTO runs FROM (SELECT DISTINCT "bill_run_id" FROM "new_documents" WHERE "bill_run_id" IS NOT NULL) AS r;
  SELECT array_agg("account_id") INTO owners FROM (SELECT DISTINCT "account_id" FROM "new_documents") AS a;
  IF runs IS NOT NULL THEN
    SELECT count(*) INTO found FROM (SELECT 1 FROM "bill_runs" WHERE "id" = ANY(runs) FOR KEY SHARE) AS locked;
    IF found <> cardinality(runs) THEN
      RAISE EXCEPTION 'documents name a bill run that does not exist' USING ERRCODE = 'foreign_key_violation', TABLE = 'documents';
    END IF;
  END IF;
  IF owners IS NOT NULL THEN
    SELECT count(*) INTO found FROM (SELECT 1 FROM "accounts" WHERE "id" = ANY(owners) FOR KEY SHARE) AS locked;
    IF found <> cardinality(owners) THEN
      RAISE EXCEPTION 'documents name an account that does not exist' USING ERRCODE = 'foreign_key_violation', TABLE = 'documents';
    END IF;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "documents_owners_exist" AFTER INSERT ON "documents"
  REFERENCING NEW TABLE AS "new_documents" FOR EACH STATEMENT EXECUTE FUNCTION "documents_check_owners"();

-- Moving a document to another run or account (nothing does) checks that one, row by row.
CREATE FUNCTION "documents_check_new_owners"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW."bill_run_id" IS NOT NULL THEN
    PERFORM 1 FROM "bill_runs" WHERE "id" = NEW."bill_run_id" FOR KEY SHARE;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'bill run % does not exist', NEW."bill_run_id" USING ERRCODE = 'foreign_key_violation', TABLE = 'documents';
    END IF;
  END IF;
  PERFORM 1 FROM "accounts" WHERE "id" = NEW."account_id" FOR KEY SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'account % does not exist', NEW."account_id" USING ERRCODE = 'foreign_key_violation', TABLE = 'documents';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER "documents_owners_exist_on_update" BEFORE UPDATE OF "bill_run_id", "account_id" ON "documents"
  FOR EACH ROW WHEN (OLD."bill_run_id" IS DISTINCT FROM NEW."bill_run_id" OR OLD."account_id" IS DISTINCT FROM NEW."account_id")
  EXECUTE FUNCTION "documents_check_new_owners"();

-- The run's foreign key cascaded: deleting a run deletes its documents (and, through
-- documents_delete_items, their items).
CREATE FUNCTION "bill_runs_delete_documents"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM "documents" WHERE "bill_run_id" = ANY(ARRAY(SELECT "id" FROM "gone_runs"));
  RETURN NULL;
END $$;

CREATE TRIGGER "bill_runs_delete_documents" AFTER DELETE ON "bill_runs"
  REFERENCING OLD TABLE AS "gone_runs" FOR EACH STATEMENT EXECUTE FUNCTION "bill_runs_delete_documents"();

-- The account's foreign key restricted: an account with documents cannot be deleted.
CREATE FUNCTION "accounts_keep_documents"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  billed UUID;
BEGIN
  SELECT "account_id" INTO billed FROM "documents" WHERE "account_id" = ANY(ARRAY(SELECT "id" FROM "gone_accounts")) LIMIT 1;
  IF billed IS NOT NULL THEN
    RAISE EXCEPTION 'account % has documents', billed USING ERRCODE = 'foreign_key_violation', TABLE = 'documents';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "accounts_keep_documents" AFTER DELETE ON "accounts"
  REFERENCING OLD TABLE AS "gone_accounts" FOR EACH STATEMENT EXECUTE FUNCTION "accounts_keep_documents"();

-- Ids never change (the foreign keys cascaded such a change), and neither table is emptied
-- under documents: both are refused.
CREATE FUNCTION "documents_keep_owners"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    IF (TG_TABLE_NAME = 'bill_runs' AND EXISTS (SELECT 1 FROM "documents" WHERE "bill_run_id" IS NOT NULL))
       OR (TG_TABLE_NAME = 'accounts' AND EXISTS (SELECT 1 FROM "documents")) THEN
      RAISE EXCEPTION '% cannot be truncated while documents refer to them', TG_TABLE_NAME USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
  END IF;
  IF (TG_TABLE_NAME = 'bill_runs' AND EXISTS (SELECT 1 FROM "documents" WHERE "bill_run_id" = OLD."id"))
     OR (TG_TABLE_NAME = 'accounts' AND EXISTS (SELECT 1 FROM "documents" WHERE "account_id" = OLD."id")) THEN
    RAISE EXCEPTION '% % has documents', TG_TABLE_NAME, OLD."id" USING ERRCODE = 'foreign_key_violation', TABLE = 'documents';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER "bill_runs_keep_documents_id" BEFORE UPDATE OF "id" ON "bill_runs"
  FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id") EXECUTE FUNCTION "documents_keep_owners"();
CREATE TRIGGER "bill_runs_keep_documents_truncate" BEFORE TRUNCATE ON "bill_runs"
  FOR EACH STATEMENT EXECUTE FUNCTION "documents_keep_owners"();
CREATE TRIGGER "accounts_keep_documents_id" BEFORE UPDATE OF "id" ON "accounts"
  FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id") EXECUTE FUNCTION "documents_keep_owners"();
CREATE TRIGGER "accounts_keep_documents_truncate" BEFORE TRUNCATE ON "accounts"
  FOR EACH STATEMENT EXECUTE FUNCTION "documents_keep_owners"();
