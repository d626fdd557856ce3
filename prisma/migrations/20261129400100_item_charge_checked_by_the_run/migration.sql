-- An item's charge exists, and stays while the item does: kept without a per-row foreign-key
-- check on the bulk insert of a run's items (one `SELECT … FOR KEY SHARE` on charges per item).
--
-- When the items are written, the run's own statements already guarantee it: in the same
-- transaction, each charge the run moves is updated (which locks its row until commit), and the
-- items' other charges are locked FOR KEY SHARE in one statement (src/billruns/persist.ts), the
-- very lock the foreign key took, once per charge instead of once per item.
--
-- Afterwards, nothing may take a billed charge away from under its items: the triggers below
-- refuse, as the foreign key's ON DELETE RESTRICT did, to delete a charge that has items, to
-- change its id (the foreign key cascaded such a change; ids never change, so it is refused),
-- or to empty the table while items remain. No API deletes charges.
ALTER TABLE "document_items" DROP CONSTRAINT "document_items_charge_id_fkey";

CREATE FUNCTION "charges_keep_billed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    IF EXISTS (SELECT 1 FROM document_items) THEN
      RAISE EXCEPTION 'charges cannot be truncated while document items refer to them'
        USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
  END IF;
  IF EXISTS (SELECT 1 FROM document_items WHERE charge_id = OLD.id) THEN
    RAISE EXCEPTION 'charge % is billed on document items', OLD.id
      USING ERRCODE = 'foreign_key_violation', TABLE = 'document_items';
  END IF;
  RETURN NEW;
END $$;

-- Once per DELETE statement, for all the charges it deleted: items are found by charge only
-- through the partial index of unvoided items, so a voided one takes a scan of the items.
CREATE FUNCTION "charges_keep_billed_on_delete"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  gone UUID[];
  billed UUID;
BEGIN
  SELECT array_agg(id) INTO gone FROM gone_charges;
  IF gone IS NULL THEN RETURN NULL; END IF;
  SELECT charge_id INTO billed FROM document_items WHERE charge_id = ANY(gone) LIMIT 1;
  IF billed IS NOT NULL THEN
    RAISE EXCEPTION 'charge % is billed on document items', billed
      USING ERRCODE = 'foreign_key_violation', TABLE = 'document_items';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "charges_keep_billed_delete" AFTER DELETE ON "charges"
  REFERENCING OLD TABLE AS gone_charges FOR EACH STATEMENT EXECUTE FUNCTION "charges_keep_billed_on_delete"();
-- Only an UPDATE naming the id column fires it: moving charged_through_date does not.
CREATE TRIGGER "charges_keep_billed_id" BEFORE UPDATE OF "id" ON "charges"
  FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id") EXECUTE FUNCTION "charges_keep_billed"();
CREATE TRIGGER "charges_keep_billed_truncate" BEFORE TRUNCATE ON "charges"
  FOR EACH STATEMENT EXECUTE FUNCTION "charges_keep_billed"();
