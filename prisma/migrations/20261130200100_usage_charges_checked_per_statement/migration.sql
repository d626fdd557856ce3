-- A usage record's charge exists, and is of the record's subscription, while the record does:
-- checked once per statement instead of once per row, as 20261130200000 does for subscriptions
-- and charges (the composite check is this table's own; the others use 20261130150000's). The foreign key (charge_id, subscription_id) → charges(id, subscription_id) ran one
-- `SELECT … FOR KEY SHARE` per usage row written, half of the usage INSERT's time on batches of
-- 5,000 (docs/decisions.md, "Bulk import"). Its unique index on charges goes with it: every
-- charge written paid an entry in it, and the check below reads charges by primary key.
ALTER TABLE "usage_records" DROP CONSTRAINT "usage_records_charge_id_subscription_id_fkey";
DROP INDEX "charges_id_subscription_id_key";

-- Every charge a statement's usage names is locked FOR KEY SHARE (the foreign key's lock), once
-- each; the statement is refused if one is missing or belongs to another subscription.
CREATE FUNCTION "usage_records_check_charges"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  charge_ids UUID[];
  subscription_ids UUID[];
  found INT;
BEGIN
  SELECT array_agg("charge_id"), array_agg("subscription_id") INTO charge_ids, subscription_ids
    FROM (SELECT DISTINCT "charge_id", "subscription_id" FROM "new_usage") AS u;
  IF charge_ids IS NULL THEN RETURN NULL; END IF;
  -- A charge named with two subscriptions is one row locked and one pair matched: refused.
  SELECT count(*) INTO found
    FROM (SELECT "id", "subscription_id" FROM "charges" WHERE "id" = ANY(charge_ids) FOR KEY SHARE) AS c
    JOIN unnest(charge_ids, subscription_ids) AS u(charge_id, subscription_id)
      ON u.charge_id = c."id" AND u.subscription_id = c."subscription_id";
  IF found <> cardinality(charge_ids) THEN
    RAISE EXCEPTION 'usage records name % charges that do not exist or belong to another subscription', cardinality(charge_ids) - found
      USING ERRCODE = 'foreign_key_violation', TABLE = 'usage_records';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "usage_records_charges_exist" AFTER INSERT ON "usage_records"
  REFERENCING NEW TABLE AS "new_usage" FOR EACH STATEMENT EXECUTE FUNCTION "usage_records_check_charges"();

-- Moving a record to another charge or subscription (nothing does) checks the new pair, row by row.
CREATE FUNCTION "usage_records_check_new_charge"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM "charges" WHERE "id" = NEW."charge_id" AND "subscription_id" = NEW."subscription_id" FOR KEY SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'charge % of subscription % does not exist', NEW."charge_id", NEW."subscription_id"
      USING ERRCODE = 'foreign_key_violation', TABLE = 'usage_records';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER "usage_records_charge_exists_on_update" BEFORE UPDATE OF "charge_id", "subscription_id" ON "usage_records"
  FOR EACH ROW WHEN (OLD."charge_id" IS DISTINCT FROM NEW."charge_id" OR OLD."subscription_id" IS DISTINCT FROM NEW."subscription_id")
  EXECUTE FUNCTION "usage_records_check_new_charge"();

-- The foreign key restricted: a charge with usage cannot be deleted; it cascaded a change of a
-- charge's id or subscription to its usage, and neither changes: a charge with usage keeps both,
-- and charges are not emptied under usage (the trigger functions of 20261130150000).
CREATE TRIGGER "charges_keep_usage" AFTER DELETE ON "charges"
  REFERENCING OLD TABLE AS "gone_rows" FOR EACH STATEMENT EXECUTE FUNCTION "referenced_rows_kept"('usage_records', 'charge_id');
CREATE TRIGGER "charges_keep_usage_key" BEFORE UPDATE OF "id", "subscription_id" ON "charges"
  FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id" OR OLD."subscription_id" IS DISTINCT FROM NEW."subscription_id")
  EXECUTE FUNCTION "referenced_ids_kept"('usage_records', 'charge_id');
CREATE TRIGGER "charges_keep_usage_truncate" BEFORE TRUNCATE ON "charges"
  FOR EACH STATEMENT EXECUTE FUNCTION "referenced_ids_kept"('usage_records', 'charge_id');
