-- Each targeted account's place in its run, in account-number order: failed accounts are
-- listed (and paged) in that order.
ALTER TABLE "bill_run_accounts" ADD COLUMN "position" INTEGER;

UPDATE "bill_run_accounts" w SET "position" = ranked.position
  FROM (SELECT b.bill_run_id, b.account_id,
               row_number() OVER (PARTITION BY b.bill_run_id ORDER BY length(a.account_number), a.account_number)::int AS position
          FROM "bill_run_accounts" b JOIN "accounts" a ON a.id = b.account_id) ranked
 WHERE w.bill_run_id = ranked.bill_run_id AND w.account_id = ranked.account_id;

ALTER TABLE "bill_run_accounts" ALTER COLUMN "position" SET NOT NULL;
CREATE UNIQUE INDEX "bill_run_accounts_bill_run_id_position_key" ON "bill_run_accounts"("bill_run_id", "position");
CREATE INDEX "bill_run_accounts_bill_run_id_status_position_idx" ON "bill_run_accounts"("bill_run_id", "status", "position");
