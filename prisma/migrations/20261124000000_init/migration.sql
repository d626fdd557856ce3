-- Sequences behind the human-readable numbers (A-, S-, BR-, INV-, CM-).
CREATE SEQUENCE "account_number_seq";
CREATE SEQUENCE "subscription_number_seq";
CREATE SEQUENCE "bill_run_number_seq";
CREATE SEQUENCE "invoice_number_seq";
CREATE SEQUENCE "credit_memo_number_seq";

-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "Role" AS ENUM ('ADMIN', 'OPERATOR', 'VIEWER');

-- CreateEnum
CREATE TYPE "AccountStatus" AS ENUM ('ACTIVE', 'INACTIVE');

-- CreateEnum
CREATE TYPE "SubscriptionStatus" AS ENUM ('ACTIVE', 'CANCELLED');

-- CreateEnum
CREATE TYPE "ChargeType" AS ENUM ('ONE_TIME', 'RECURRING', 'USAGE');

-- CreateEnum
CREATE TYPE "BillingPeriod" AS ENUM ('MONTH', 'QUARTER', 'SEMI_ANNUAL', 'ANNUAL');

-- CreateEnum
CREATE TYPE "BillingTiming" AS ENUM ('IN_ADVANCE', 'IN_ARREARS');

-- CreateEnum
CREATE TYPE "BillRunStatus" AS ENUM ('PENDING', 'PAUSED', 'PROCESSING', 'COMPLETED', 'ERROR', 'POST_IN_PROGRESS', 'POSTED', 'CANCEL_IN_PROGRESS', 'CANCELED', 'REMOVE_IN_PROGRESS');

-- CreateEnum
CREATE TYPE "DocumentType" AS ENUM ('INVOICE', 'CREDIT_MEMO');

-- CreateEnum
CREATE TYPE "DocumentStatus" AS ENUM ('DRAFT', 'POSTED', 'CANCELED');

-- CreateEnum
CREATE TYPE "ItemKind" AS ENUM ('CHARGE', 'CREDIT');

-- CreateEnum
CREATE TYPE "WorkStatus" AS ENUM ('PENDING', 'DONE', 'FAILED');

-- CreateEnum
CREATE TYPE "EventKind" AS ENUM ('STATUS', 'ALERT');

-- CreateTable
CREATE TABLE "users" (
    "id" UUID NOT NULL,
    "email" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "role" "Role" NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "api_tokens" (
    "id" UUID NOT NULL,
    "user_id" UUID NOT NULL,
    "token_hash" TEXT NOT NULL,
    "label" TEXT NOT NULL DEFAULT '',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revoked_at" TIMESTAMPTZ(3),

    CONSTRAINT "api_tokens_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "settings" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "advanced_ar_settlement" BOOLEAN NOT NULL DEFAULT false,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "settings_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "accounts" (
    "id" UUID NOT NULL,
    "account_number" TEXT NOT NULL DEFAULT ('A-'::text || lpad((nextval('account_number_seq'::regclass))::text, 8, '0'::text)),
    "name" TEXT NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "bill_cycle_day" INTEGER NOT NULL,
    "batch" INTEGER NOT NULL DEFAULT 1,
    "bill_to_email" TEXT NOT NULL DEFAULT '',
    "payment_term_days" INTEGER NOT NULL DEFAULT 30,
    "status" "AccountStatus" NOT NULL DEFAULT 'ACTIVE',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "accounts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "subscriptions" (
    "id" UUID NOT NULL,
    "subscription_number" TEXT NOT NULL DEFAULT ('S-'::text || lpad((nextval('subscription_number_seq'::regclass))::text, 8, '0'::text)),
    "account_id" UUID NOT NULL,
    "status" "SubscriptionStatus" NOT NULL DEFAULT 'ACTIVE',
    "start_date" DATE NOT NULL,
    "cancelled_on" DATE,
    "invoice_separately" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "subscriptions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "charges" (
    "id" UUID NOT NULL,
    "subscription_id" UUID NOT NULL,
    "position" INTEGER NOT NULL DEFAULT 0,
    "name" TEXT NOT NULL,
    "type" "ChargeType" NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "price" DECIMAL(24,8) NOT NULL,
    "quantity" DECIMAL(24,8) NOT NULL DEFAULT 1,
    "start_date" DATE NOT NULL,
    "end_date" DATE,
    "billing_period" "BillingPeriod",
    "billing_timing" "BillingTiming",
    "unit_of_measure" TEXT,
    "charged_through_date" DATE,

    CONSTRAINT "charges_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "usage_records" (
    "id" UUID NOT NULL,
    "subscription_id" UUID NOT NULL,
    "charge_id" UUID NOT NULL,
    "quantity" DECIMAL(24,8) NOT NULL,
    "unit_of_measure" TEXT NOT NULL,
    "usage_date" DATE NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "usage_records_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "bill_runs" (
    "id" UUID NOT NULL,
    "bill_run_number" TEXT NOT NULL DEFAULT ('BR-'::text || lpad((nextval('bill_run_number_seq'::regclass))::text, 8, '0'::text)),
    "status" "BillRunStatus" NOT NULL DEFAULT 'PENDING',
    "target_date" DATE NOT NULL,
    "invoice_date" DATE NOT NULL,
    "batches" INTEGER[],
    "bill_cycle_day" INTEGER,
    "account_ids" UUID[],
    "subscription_ids" UUID[],
    "charge_types_to_exclude" "ChargeType"[],
    "auto_post" BOOLEAN NOT NULL DEFAULT false,
    "auto_email" BOOLEAN NOT NULL DEFAULT false,
    "no_email_for_zero_amount_invoice" BOOLEAN NOT NULL DEFAULT false,
    "created_by_id" UUID,
    "schedule_id" UUID,
    "retried_from_id" UUID,
    "accounts_total" INTEGER NOT NULL DEFAULT 0,
    "accounts_processed" INTEGER NOT NULL DEFAULT 0,
    "invoice_count" INTEGER NOT NULL DEFAULT 0,
    "credit_memo_count" INTEGER NOT NULL DEFAULT 0,
    "zero_amount_invoice_count" INTEGER NOT NULL DEFAULT 0,
    "failed_account_count" INTEGER NOT NULL DEFAULT 0,
    "started_at" TIMESTAMPTZ(3),
    "completed_at" TIMESTAMPTZ(3),
    "posted_at" TIMESTAMPTZ(3),
    "error_message" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "bill_runs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "bill_run_totals" (
    "bill_run_id" UUID NOT NULL,
    "currency" CHAR(3) NOT NULL,
    "amount" DECIMAL(24,4) NOT NULL DEFAULT 0,

    CONSTRAINT "bill_run_totals_pkey" PRIMARY KEY ("bill_run_id","currency")
);

-- CreateTable
CREATE TABLE "bill_run_accounts" (
    "bill_run_id" UUID NOT NULL,
    "account_id" UUID NOT NULL,
    "chunk" INTEGER NOT NULL,
    "status" "WorkStatus" NOT NULL DEFAULT 'PENDING',
    "failure_code" TEXT,
    "failure_message" TEXT,
    "processed_at" TIMESTAMPTZ(3),

    CONSTRAINT "bill_run_accounts_pkey" PRIMARY KEY ("bill_run_id","account_id")
);

-- CreateTable
CREATE TABLE "bill_run_failed_subscriptions" (
    "id" UUID NOT NULL,
    "bill_run_id" UUID NOT NULL,
    "account_id" UUID NOT NULL,
    "subscription_id" UUID NOT NULL,
    "code" TEXT NOT NULL,
    "message" TEXT NOT NULL,

    CONSTRAINT "bill_run_failed_subscriptions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "documents" (
    "id" UUID NOT NULL,
    "number" TEXT NOT NULL,
    "type" "DocumentType" NOT NULL,
    "status" "DocumentStatus" NOT NULL DEFAULT 'DRAFT',
    "bill_run_id" UUID,
    "account_id" UUID NOT NULL,
    "subscription_id" UUID,
    "currency" CHAR(3) NOT NULL,
    "amount" DECIMAL(24,4) NOT NULL,
    "balance" DECIMAL(24,4) NOT NULL,
    "invoice_date" DATE NOT NULL,
    "due_date" DATE NOT NULL,
    "posted_at" TIMESTAMPTZ(3),
    "canceled_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "documents_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "document_items" (
    "id" UUID NOT NULL,
    "document_id" UUID NOT NULL,
    "charge_id" UUID NOT NULL,
    "subscription_id" UUID NOT NULL,
    "position" INTEGER NOT NULL,
    "charge_name" TEXT NOT NULL,
    "charge_type" "ChargeType" NOT NULL,
    "kind" "ItemKind" NOT NULL,
    "service_start" DATE NOT NULL,
    "service_end" DATE NOT NULL,
    "quantity" DECIMAL(24,8) NOT NULL,
    "unit_price" DECIMAL(24,8) NOT NULL,
    "amount" DECIMAL(24,4) NOT NULL,
    "voided" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "document_items_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "payments" (
    "id" UUID NOT NULL,
    "document_id" UUID NOT NULL,
    "amount" DECIMAL(24,4) NOT NULL,
    "created_by_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "payments_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "bill_run_events" (
    "id" BIGSERIAL NOT NULL,
    "bill_run_id" UUID NOT NULL,
    "kind" "EventKind" NOT NULL,
    "from_status" "BillRunStatus",
    "to_status" "BillRunStatus",
    "actor_id" UUID,
    "account_id" UUID,
    "subscription_id" UUID,
    "code" TEXT,
    "message" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "bill_run_events_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "users_email_key" ON "users"("email");

-- CreateIndex
CREATE UNIQUE INDEX "api_tokens_token_hash_key" ON "api_tokens"("token_hash");

-- CreateIndex
CREATE INDEX "api_tokens_user_id_idx" ON "api_tokens"("user_id");

-- CreateIndex
CREATE UNIQUE INDEX "accounts_account_number_key" ON "accounts"("account_number");

-- CreateIndex
CREATE INDEX "accounts_status_batch_bill_cycle_day_idx" ON "accounts"("status", "batch", "bill_cycle_day");

-- CreateIndex
CREATE UNIQUE INDEX "subscriptions_subscription_number_key" ON "subscriptions"("subscription_number");

-- CreateIndex
CREATE INDEX "subscriptions_account_id_idx" ON "subscriptions"("account_id");

-- CreateIndex
CREATE INDEX "charges_subscription_id_idx" ON "charges"("subscription_id");

-- CreateIndex
CREATE UNIQUE INDEX "charges_subscription_id_name_key" ON "charges"("subscription_id", "name");

-- CreateIndex
CREATE INDEX "usage_records_charge_id_usage_date_idx" ON "usage_records"("charge_id", "usage_date");

-- CreateIndex
CREATE UNIQUE INDEX "bill_runs_bill_run_number_key" ON "bill_runs"("bill_run_number");

-- CreateIndex
CREATE INDEX "bill_runs_status_created_at_idx" ON "bill_runs"("status", "created_at");

-- CreateIndex
CREATE INDEX "bill_run_accounts_bill_run_id_chunk_status_idx" ON "bill_run_accounts"("bill_run_id", "chunk", "status");

-- CreateIndex
CREATE INDEX "bill_run_accounts_bill_run_id_status_account_id_idx" ON "bill_run_accounts"("bill_run_id", "status", "account_id");

-- CreateIndex
CREATE INDEX "bill_run_failed_subscriptions_bill_run_id_account_id_idx" ON "bill_run_failed_subscriptions"("bill_run_id", "account_id");

-- CreateIndex
CREATE UNIQUE INDEX "documents_number_key" ON "documents"("number");

-- CreateIndex
CREATE INDEX "documents_bill_run_id_type_status_idx" ON "documents"("bill_run_id", "type", "status");

-- CreateIndex
CREATE INDEX "documents_account_id_idx" ON "documents"("account_id");

-- CreateIndex
CREATE INDEX "document_items_document_id_position_idx" ON "document_items"("document_id", "position");

-- CreateIndex
CREATE INDEX "document_items_charge_id_idx" ON "document_items"("charge_id");

-- CreateIndex
CREATE INDEX "payments_document_id_idx" ON "payments"("document_id");

-- CreateIndex
CREATE INDEX "bill_run_events_bill_run_id_kind_id_idx" ON "bill_run_events"("bill_run_id", "kind", "id");

-- AddForeignKey
ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "subscriptions" ADD CONSTRAINT "subscriptions_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "charges" ADD CONSTRAINT "charges_subscription_id_fkey" FOREIGN KEY ("subscription_id") REFERENCES "subscriptions"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "usage_records" ADD CONSTRAINT "usage_records_subscription_id_fkey" FOREIGN KEY ("subscription_id") REFERENCES "subscriptions"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "usage_records" ADD CONSTRAINT "usage_records_charge_id_fkey" FOREIGN KEY ("charge_id") REFERENCES "charges"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "bill_runs" ADD CONSTRAINT "bill_runs_created_by_id_fkey" FOREIGN KEY ("created_by_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "bill_runs" ADD CONSTRAINT "bill_runs_retried_from_id_fkey" FOREIGN KEY ("retried_from_id") REFERENCES "bill_runs"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "bill_run_totals" ADD CONSTRAINT "bill_run_totals_bill_run_id_fkey" FOREIGN KEY ("bill_run_id") REFERENCES "bill_runs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "bill_run_accounts" ADD CONSTRAINT "bill_run_accounts_bill_run_id_fkey" FOREIGN KEY ("bill_run_id") REFERENCES "bill_runs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "bill_run_accounts" ADD CONSTRAINT "bill_run_accounts_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "bill_run_failed_subscriptions" ADD CONSTRAINT "bill_run_failed_subscriptions_bill_run_id_fkey" FOREIGN KEY ("bill_run_id") REFERENCES "bill_runs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "bill_run_failed_subscriptions" ADD CONSTRAINT "bill_run_failed_subscriptions_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "bill_run_failed_subscriptions" ADD CONSTRAINT "bill_run_failed_subscriptions_subscription_id_fkey" FOREIGN KEY ("subscription_id") REFERENCES "subscriptions"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "documents" ADD CONSTRAINT "documents_bill_run_id_fkey" FOREIGN KEY ("bill_run_id") REFERENCES "bill_runs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "documents" ADD CONSTRAINT "documents_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "document_items" ADD CONSTRAINT "document_items_document_id_fkey" FOREIGN KEY ("document_id") REFERENCES "documents"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "document_items" ADD CONSTRAINT "document_items_charge_id_fkey" FOREIGN KEY ("charge_id") REFERENCES "charges"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "payments" ADD CONSTRAINT "payments_document_id_fkey" FOREIGN KEY ("document_id") REFERENCES "documents"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "bill_run_events" ADD CONSTRAINT "bill_run_events_bill_run_id_fkey" FOREIGN KEY ("bill_run_id") REFERENCES "bill_runs"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- Rules the database itself enforces, whatever code writes to it.

-- The same charge period is never billed twice: one live (non-voided) item per charge,
-- period start and kind. Items of canceled documents are voided and free the period again.
CREATE UNIQUE INDEX "document_items_charge_period_key"
  ON "document_items" ("charge_id", "service_start", "kind") WHERE NOT "voided";

ALTER TABLE "accounts"
  ADD CONSTRAINT "accounts_bill_cycle_day_check" CHECK ("bill_cycle_day" BETWEEN 1 AND 31),
  ADD CONSTRAINT "accounts_batch_check" CHECK ("batch" BETWEEN 1 AND 50),
  ADD CONSTRAINT "accounts_payment_term_days_check" CHECK ("payment_term_days" >= 0);

ALTER TABLE "charges"
  ADD CONSTRAINT "charges_quantity_check" CHECK ("quantity" >= 0),
  ADD CONSTRAINT "charges_dates_check" CHECK ("end_date" IS NULL OR "end_date" > "start_date"),
  ADD CONSTRAINT "charges_recurring_period_check" CHECK ("type" = 'ONE_TIME' OR "billing_period" IS NOT NULL);

ALTER TABLE "documents"
  ADD CONSTRAINT "documents_amount_check" CHECK ("amount" >= 0),
  ADD CONSTRAINT "documents_balance_check" CHECK ("balance" >= 0 AND "balance" <= "amount");

ALTER TABLE "payments"
  ADD CONSTRAINT "payments_amount_check" CHECK ("amount" > 0);

ALTER TABLE "usage_records"
  ADD CONSTRAINT "usage_records_quantity_check" CHECK ("quantity" >= 0);

INSERT INTO "settings" ("id") VALUES (1);
