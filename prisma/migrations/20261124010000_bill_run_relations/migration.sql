-- DropIndex
DROP INDEX "document_items_charge_id_idx";

-- CreateTable
CREATE TABLE "bill_run_charges" (
    "bill_run_id" UUID NOT NULL,
    "charge_id" UUID NOT NULL,
    "through_before" DATE,
    "through_after" DATE NOT NULL,

    CONSTRAINT "bill_run_charges_pkey" PRIMARY KEY ("bill_run_id","charge_id")
);

-- AddForeignKey
ALTER TABLE "bill_run_charges" ADD CONSTRAINT "bill_run_charges_bill_run_id_fkey" FOREIGN KEY ("bill_run_id") REFERENCES "bill_runs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "bill_run_failed_subscriptions" ADD CONSTRAINT "bill_run_failed_subscriptions_bill_run_id_account_id_fkey" FOREIGN KEY ("bill_run_id", "account_id") REFERENCES "bill_run_accounts"("bill_run_id", "account_id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "bill_run_events" ADD CONSTRAINT "bill_run_events_actor_id_fkey" FOREIGN KEY ("actor_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "bill_run_events" ADD CONSTRAINT "bill_run_events_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "bill_run_events" ADD CONSTRAINT "bill_run_events_subscription_id_fkey" FOREIGN KEY ("subscription_id") REFERENCES "subscriptions"("id") ON DELETE SET NULL ON UPDATE CASCADE;

