-- A subscription's account and a charge's subscription exist while they do, checked once per
-- statement instead of once per row, with the trigger functions of 20261130150000. The foreign
-- keys ran one `SELECT … FOR KEY SHARE` per subscription and per charge written: two per
-- subscription and two per charge of an import (each account and subscription named twice),
-- about 40 % of those INSERTs' time (docs/decisions.md, "Bulk import").
ALTER TABLE "subscriptions" DROP CONSTRAINT "subscriptions_account_id_fkey";
ALTER TABLE "charges" DROP CONSTRAINT "charges_subscription_id_fkey";

-- Every account a statement's subscriptions name, and every subscription its charges name, is
-- locked FOR KEY SHARE (the foreign key's lock), once each; the statement is refused if one is
-- missing. Moving a subscription or a charge (nothing does) checks the new owner, row by row.
CREATE TRIGGER "subscriptions_accounts_exist" AFTER INSERT ON "subscriptions"
  REFERENCING NEW TABLE AS "new_rows" FOR EACH STATEMENT EXECUTE FUNCTION "referenced_rows_exist"('account_id', 'accounts');
CREATE TRIGGER "subscriptions_account_exists_on_update" BEFORE UPDATE OF "account_id" ON "subscriptions"
  FOR EACH ROW EXECUTE FUNCTION "referenced_row_exists"('account_id', 'accounts');
CREATE TRIGGER "charges_subscriptions_exist" AFTER INSERT ON "charges"
  REFERENCING NEW TABLE AS "new_rows" FOR EACH STATEMENT EXECUTE FUNCTION "referenced_rows_exist"('subscription_id', 'subscriptions');
CREATE TRIGGER "charges_subscription_exists_on_update" BEFORE UPDATE OF "subscription_id" ON "charges"
  FOR EACH ROW EXECUTE FUNCTION "referenced_row_exists"('subscription_id', 'subscriptions');

-- The foreign keys restricted: an account with subscriptions, or a subscription with charges,
-- cannot be deleted; ids never change (the keys cascaded such a change), and neither table is
-- emptied under what refers to it.
CREATE TRIGGER "accounts_keep_subscriptions" AFTER DELETE ON "accounts"
  REFERENCING OLD TABLE AS "gone_rows" FOR EACH STATEMENT EXECUTE FUNCTION "referenced_rows_kept"('subscriptions', 'account_id');
CREATE TRIGGER "subscriptions_keep_charges" AFTER DELETE ON "subscriptions"
  REFERENCING OLD TABLE AS "gone_rows" FOR EACH STATEMENT EXECUTE FUNCTION "referenced_rows_kept"('charges', 'subscription_id');
CREATE TRIGGER "accounts_keep_subscriptions_id" BEFORE UPDATE OF "id" ON "accounts"
  FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id") EXECUTE FUNCTION "referenced_ids_kept"('subscriptions', 'account_id');
CREATE TRIGGER "accounts_keep_subscriptions_truncate" BEFORE TRUNCATE ON "accounts"
  FOR EACH STATEMENT EXECUTE FUNCTION "referenced_ids_kept"('subscriptions', 'account_id');
CREATE TRIGGER "subscriptions_keep_charges_id" BEFORE UPDATE OF "id" ON "subscriptions"
  FOR EACH ROW WHEN (OLD."id" IS DISTINCT FROM NEW."id") EXECUTE FUNCTION "referenced_ids_kept"('charges', 'subscription_id');
CREATE TRIGGER "subscriptions_keep_charges_truncate" BEFORE TRUNCATE ON "subscriptions"
  FOR EACH STATEMENT EXECUTE FUNCTION "referenced_ids_kept"('charges', 'subscription_id');
