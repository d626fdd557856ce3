-- A subscription's account and a charge's subscription exist while they do, checked once per
-- statement instead of once per row, as 20261129400200 and 20261129400300 do for documents and
-- items. The foreign keys ran one `SELECT … FOR KEY SHARE` per subscription and per charge
-- written: two per subscription and two per charge of an import (each account and subscription
-- named twice), about 40 % of those INSERTs' time (docs/decisions.md, "Bulk import").
ALTER TABLE "subscriptions" DROP CONSTRAINT "subscriptions_account_id_fkey";
ALTER TABLE "charges" DROP CONSTRAINT "charges_subscription_id_fkey";

-- Every account a statement's subscriptions name is locked FOR KEY SHARE (the foreign key's
-- lock), once each; the statement is refused if one is missing.
CREATE FUNCTION "subscriptions_check_accounts"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  owners UUID[];
  found INT;
BEGIN
  -- DISTINCT in a subquery: hashed, where array_agg(DISTINCT …) sorts the statement's rows.
  SELECT array_agg("account_id") INTO owners FROM (SELECT DISTINCT "account_id" FROM "new_subscriptions") AS a;
  IF owners IS NULL THEN RETURN NULL; END IF;
  -- `= ANY(array)`: read through the primary key, whatever the planner guesses of the transition table.
  SELECT count(*) INTO found FROM (SELECT 1 FROM "accounts" WHERE "id" = ANY(owners) FOR KEY SHARE) AS locked;
  IF found <> cardinality(owners) THEN
    RAISE EXCEPTION 'subscriptions name % accounts that do not exist', cardinality(owners) - found
      USING ERRCODE = 'foreign_key_violation', TABLE = 'subscriptions';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "subscriptions_accounts_exist" AFTER INSERT ON "subscriptions"
  REFERENCING NEW TABLE AS "new_subscriptions" FOR EACH STATEMENT EXECUTE FUNCTION "subscriptions_check_accounts"();

-- The same for the subscriptions a statement's charges name.
CREATE FUNCTION "charges_check_subscriptions"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  owners UUID[];
  found INT;
BEGIN
  SELECT array_agg("subscription_id") INTO owners FROM (SELECT DISTINCT "subscription_id" FROM "new_charges") AS s;
  IF owners IS NULL THEN RETURN NULL; END IF;
  SELECT count(*) INTO found FROM (SELECT 1 FROM "subscriptions" WHERE "id" = ANY(owners) FOR KEY SHARE) AS locked;
  IF found <> cardinality(owners) THEN
    RAISE EXCEPTION 'charges name % subscriptions that do not exist', cardinality(owners) - found
      USING ERRCODE = 'foreign_key_violation', TABLE = 'charges';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "charges_subscriptions_exist" AFTER INSERT ON "charges"
  REFERENCING NEW TABLE AS "new_charges" FOR EACH STATEMENT EXECUTE FUNCTION "charges_check_subscriptions"();

-- Moving a subscription to another account or a charge to another subscription (nothing does)
-- checks the new owner, row by row.
CREATE FUNCTION "subscriptions_check_new_account"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM "accounts" WHERE "id" = NEW."account_id" FOR KEY SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'account % does not exist', NEW."account_id" USING ERRCODE = 'foreign_key_violation', TABLE = 'subscriptions';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER "subscriptions_account_exists_on_update" BEFORE UPDATE OF "account_id" ON "subscriptions"
  FOR EACH ROW WHEN (OLD."account_id" IS DISTINCT FROM NEW."account_id") EXECUTE FUNCTION "subscriptions_check_new_account"();

CREATE FUNCTION "charges_check_new_subscription"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1 FROM "subscriptions" WHERE "id" = NEW."subscription_id" FOR KEY SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'subscription % does not exist', NEW."subscription_id" USING ERRCODE = 'foreign_key_violation', TABLE = 'charges';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER "charges_subscription_exists_on_update" BEFORE UPDATE OF "subscription_id" ON "charges"
  FOR EACH ROW WHEN (OLD."subscription_id" IS DISTINCT FROM NEW."subscription_id") EXECUTE FUNCTION "charges_check_new_subscription"();

-- The foreign keys restricted: an account with subscriptions, or a subscription with charges,
-- cannot be deleted.
CREATE FUNCTION "accounts_keep_subscriptions"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  owner UUID;
BEGIN
  SELECT "account_id" INTO owner FROM "subscriptions" WHERE "account_id" = ANY(ARRAY(SELECT "id" FROM "gone_accounts")) LIMIT 1;
  IF owner IS NOT NULL THEN
    RAISE EXCEPTION 'account % has subscriptions', owner USING ERRCODE = 'foreign_key_violation', TABLE = 'subscriptions';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "accounts_keep_subscriptions" AFTER DELETE ON "accounts"
  REFERENCING OLD TABLE AS "gone_accounts" FOR EACH STATEMENT EXECUTE FUNCTION "accounts_keep_subscriptions"();

CREATE FUNCTION "subscriptions_keep_charges"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  owner UUID;
BEGIN
  SELECT "subscription_id" INTO owner FROM "charges" WHERE "subscription_id" = ANY(ARRAY(SELECT "id" FROM "gone_subscriptions")) LIMIT 1;
  IF owner IS NOT NULL THEN
    RAISE EXCEPTION 'subscription % has charges', owner USING ERRCODE = 'foreign_key_violation', TABLE = 'charges';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "subscriptions_keep_charges" AFTER DELETE ON "subscriptions"
  REFERENCING OLD TABLE AS "gone_subscriptions" FOR EACH STATEMENT EXECUTE FUNCTION "subscriptions_keep_charges"();

-- Ids never change (the foreign keys cascaded such a change), and neither table is emptied
-- under what refers to it: both are refused.
CREATE FUNCTION "owners_keep_children"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    IF (TG_TABLE_NAME = 'accounts' AND EXISTS (SELECT 1 FROM "subscriptions"))
       OR (TG_TABLE_NAME = 'subscriptions' AND EXISTS (SELECT 1 FROM "charges")) THEN
      RAISE EXCEPTION '% cannot be truncated while % refer to them', TG_TABLE_NAME,
        CASE TG_TABLE_NAME WHEN 'accounts' THEN 'subscriptions' ELSE 'charges' END USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
  END IF;
  IF TG_TABLE_NAME = 'accounts' AND EXISTS (SELECT 1 FROM "subscriptions" WHERE "account_id" = OLD."id") THEN
    RAISE EXCEPTION 'account % has subscriptions', OLD."id" USING ERRCODE = 'foreign_key_violation', TABLE = 'subscriptions';
  END IF;
  IF TG_TABLE_NAME = 'subscriptions' AND EXISTS (SELECT 1 FROM "charges" WHERE "subscription_id" = OLD."id") THEN
    RAISE EXCEPTION 'subscription % has charges', OLD."id" USING ERRCODE = 'foreign_key_violation', TABLE = 'charges';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER "accounts_keep_subscriptions_id" BEFORE UPDATE OF "id" ON "accounts"
  FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id") EXECUTE FUNCTION "owners_keep_children"();
CREATE TRIGGER "accounts_keep_subscriptions_truncate" BEFORE TRUNCATE ON "accounts"
  FOR EACH STATEMENT EXECUTE FUNCTION "owners_keep_children"();
CREATE TRIGGER "subscriptions_keep_charges_id" BEFORE UPDATE OF "id" ON "subscriptions"
  FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id") EXECUTE FUNCTION "owners_keep_children"();
CREATE TRIGGER "subscriptions_keep_charges_truncate" BEFORE TRUNCATE ON "subscriptions"
  FOR EACH STATEMENT EXECUTE FUNCTION "owners_keep_children"();
