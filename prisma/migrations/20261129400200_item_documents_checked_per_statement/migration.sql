-- An item's document exists while the item does, checked once per statement instead of once per
-- row. The foreign key ran one `SELECT … FOR KEY SHARE` on documents per item written (six per
-- account of a run); the trigger below runs one for all the documents a statement's items name,
-- with the same lock, so a document cannot be deleted under an item being written, whoever writes
-- (what each costs: docs/performance.md).
ALTER TABLE "document_items" DROP CONSTRAINT "document_items_document_id_fkey";

CREATE FUNCTION "document_items_check_documents"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  named UUID[];
  found INT;
BEGIN
  -- DISTINCT in a subquery: hashed, where array_agg(DISTINCT …) sorts the statement's rows.
  SELECT array_agg("document_id") INTO named FROM (SELECT DISTINCT "document_id" FROM "new_items") AS d;
  IF named IS NULL THEN RETURN NULL; END IF;
  -- `= ANY(array)`: read through the primary key, whatever the planner guesses of the transition table.
  SELECT count(*) INTO found FROM (SELECT 1 FROM "documents" WHERE "id" = ANY(named) FOR KEY SHARE) AS locked;
  IF found <> cardinality(named) THEN
    RAISE EXCEPTION 'document items name % documents that do not exist', cardinality(named) - found
      USING ERRCODE = 'foreign_key_violation', TABLE = 'document_items';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "document_items_documents_exist" AFTER INSERT ON "document_items"
  REFERENCING NEW TABLE AS "new_items" FOR EACH STATEMENT EXECUTE FUNCTION "document_items_check_documents"();

-- Moving an item to another document (nothing does) checks that one, row by row.
CREATE FUNCTION "document_items_check_new_document"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM "documents" WHERE "id" = NEW."document_id" FOR KEY SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'document % does not exist', NEW."document_id" USING ERRCODE = 'foreign_key_violation', TABLE = 'document_items';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER "document_items_document_exists" BEFORE UPDATE OF "document_id" ON "document_items"
  FOR EACH ROW WHEN (OLD."document_id" IS DISTINCT FROM NEW."document_id") EXECUTE FUNCTION "document_items_check_new_document"();

-- The foreign key's ON DELETE CASCADE: a document's items go with it (a run's removal deletes its
-- documents through their own foreign key to the run, and so their items here).
CREATE FUNCTION "documents_delete_items"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM "document_items" WHERE "document_id" = ANY(ARRAY(SELECT "id" FROM "gone_documents"));
  RETURN NULL;
END $$;

CREATE TRIGGER "documents_delete_items" AFTER DELETE ON "documents"
  REFERENCING OLD TABLE AS "gone_documents" FOR EACH STATEMENT EXECUTE FUNCTION "documents_delete_items"();

-- Ids never change (the foreign key cascaded such a change), and the table is not emptied under
-- items: both are refused.
CREATE FUNCTION "documents_keep_items"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    IF EXISTS (SELECT 1 FROM "document_items") THEN
      RAISE EXCEPTION 'documents cannot be truncated while document items refer to them'
        USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
  END IF;
  IF EXISTS (SELECT 1 FROM "document_items" WHERE "document_id" = OLD."id") THEN
    RAISE EXCEPTION 'document % has items', OLD."id" USING ERRCODE = 'foreign_key_violation', TABLE = 'document_items';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER "documents_keep_items_id" BEFORE UPDATE OF "id" ON "documents"
  FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id") EXECUTE FUNCTION "documents_keep_items"();
CREATE TRIGGER "documents_keep_items_truncate" BEFORE TRUNCATE ON "documents"
  FOR EACH STATEMENT EXECUTE FUNCTION "documents_keep_items"();
