-- Usage references its charge and the charge's subscription with one foreign key instead of two:
-- each usage row written pays one key check (an index probe and a row lock) instead of two, and
-- a usage row can no longer name a subscription other than its charge's. The charge's own
-- foreign key to its subscription keeps the subscription's existence guaranteed.
CREATE UNIQUE INDEX "charges_id_subscription_id_key" ON "charges"("id", "subscription_id");
-- Redundant with charges_subscription_id_name_key, whose first column is subscription_id: one
-- index less to write per charge.
DROP INDEX "charges_subscription_id_idx";

-- NOT VALID then VALIDATE: existing usage is checked without blocking writes meanwhile.
ALTER TABLE "usage_records" ADD CONSTRAINT "usage_records_charge_id_subscription_id_fkey" FOREIGN KEY ("charge_id", "subscription_id")
  REFERENCES "charges"("id", "subscription_id") ON DELETE RESTRICT ON UPDATE CASCADE NOT VALID;
ALTER TABLE "usage_records" VALIDATE CONSTRAINT "usage_records_charge_id_subscription_id_fkey";
ALTER TABLE "usage_records" DROP CONSTRAINT "usage_records_charge_id_fkey";
ALTER TABLE "usage_records" DROP CONSTRAINT "usage_records_subscription_id_fkey";
