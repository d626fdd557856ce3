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
  -- The unique partial index finds an unvoided item; a voided one is looked for only when there is none.
  IF EXISTS (SELECT 1 FROM document_items WHERE charge_id = OLD.id AND NOT voided)
     OR EXISTS (SELECT 1 FROM document_items WHERE charge_id = OLD.id AND voided) THEN
    RAISE EXCEPTION 'charge % is billed on document items', OLD.id
      USING ERRCODE = 'foreign_key_violation', TABLE = 'document_items';
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER "charges_keep_billed_delete" BEFORE DELETE ON "charges"
  FOR EACH ROW EXECUTE FUNCTION "charges_keep_billed"();
-- Only an UPDATE naming the id column fires it: moving charged_through_date does not.
CREATE TRIGGER "charges_keep_billed_id" BEFORE UPDATE OF "id" ON "charges"
  FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id") EXECUTE FUNCTION "charges_keep_billed"();
CREATE TRIGGER "charges_keep_billed_truncate" BEFORE TRUNCATE ON "charges"
  FOR EACH STATEMENT EXECUTE FUNCTION "charges_keep_billed"();
