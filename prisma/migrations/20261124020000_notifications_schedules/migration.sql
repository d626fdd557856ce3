-- CreateEnum
CREATE TYPE "BillRunScheduleStatus" AS ENUM ('ACTIVE', 'PAUSED', 'CANCELED');

-- CreateEnum
CREATE TYPE "RepeatType" AS ENUM ('DAILY', 'WEEKLY', 'MONTHLY');

-- CreateEnum
CREATE TYPE "DayOfWeek" AS ENUM ('MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY', 'SUNDAY');

-- CreateEnum
CREATE TYPE "EmailStatus" AS ENUM ('PENDING', 'SENDING', 'SENT', 'FAILED');

-- CreateEnum
CREATE TYPE "EmailKind" AS ENUM ('BILL_RUN_STATUS', 'INVOICE');

-- CreateTable
CREATE TABLE "bill_run_schedules" (
    "id" UUID NOT NULL,
    "status" "BillRunScheduleStatus" NOT NULL DEFAULT 'ACTIVE',
    "owner_id" UUID NOT NULL,
    "repeat_type" "RepeatType" NOT NULL,
    "weekly_on_day" "DayOfWeek",
    "day_of_month" INTEGER,
    "monthly_on_end_of_month" BOOLEAN NOT NULL DEFAULT false,
    "run_time" TEXT NOT NULL,
    "time_zone" TEXT NOT NULL,
    "repeat_from" DATE NOT NULL,
    "repeat_to" DATE,
    "target_date_offset_days" INTEGER NOT NULL DEFAULT 0,
    "invoice_date_offset_days" INTEGER NOT NULL DEFAULT 0,
    "batches" INTEGER[],
    "bill_cycle_day" INTEGER,
    "account_ids" UUID[],
    "subscription_ids" UUID[],
    "charge_types_to_exclude" "ChargeType"[],
    "auto_post" BOOLEAN NOT NULL DEFAULT false,
    "auto_email" BOOLEAN NOT NULL DEFAULT false,
    "no_email_for_zero_amount_invoice" BOOLEAN NOT NULL DEFAULT false,
    "next_run_at" TIMESTAMPTZ(3),
    "last_run_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "paused_at" TIMESTAMPTZ(3),
    "canceled_at" TIMESTAMPTZ(3),

    CONSTRAINT "bill_run_schedules_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "bill_run_schedule_occurrences" (
    "schedule_id" UUID NOT NULL,
    "occurrence_date" DATE NOT NULL,
    "scheduled_at" TIMESTAMPTZ(3) NOT NULL,
    "bill_run_id" UUID,
    "error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "bill_run_schedule_occurrences_pkey" PRIMARY KEY ("schedule_id","occurrence_date")
);

-- CreateTable
CREATE TABLE "email_outbox" (
    "id" UUID NOT NULL,
    "dedupe_key" TEXT NOT NULL,
    "kind" "EmailKind" NOT NULL,
    "priority" SMALLINT NOT NULL DEFAULT 0,
    "to_address" TEXT NOT NULL,
    "bill_run_id" UUID,
    "document_id" UUID,
    "payload" JSONB,
    "status" "EmailStatus" NOT NULL DEFAULT 'PENDING',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "sent_at" TIMESTAMPTZ(3),

    CONSTRAINT "email_outbox_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "bill_run_schedules_owner_id_idx" ON "bill_run_schedules"("owner_id");

-- CreateIndex
CREATE INDEX "bill_run_schedules_status_next_run_at_idx" ON "bill_run_schedules"("status", "next_run_at");

-- CreateIndex
CREATE INDEX "bill_run_schedules_created_at_id_idx" ON "bill_run_schedules"("created_at", "id");

-- CreateIndex
CREATE UNIQUE INDEX "bill_run_schedule_occurrences_bill_run_id_key" ON "bill_run_schedule_occurrences"("bill_run_id");

-- CreateIndex
CREATE UNIQUE INDEX "email_outbox_dedupe_key_key" ON "email_outbox"("dedupe_key");

-- CreateIndex
CREATE INDEX "email_outbox_bill_run_id_idx" ON "email_outbox"("bill_run_id");

-- No schedule existed before this migration, so no run can name one.
UPDATE "bill_runs" SET "schedule_id" = NULL WHERE "schedule_id" IS NOT NULL;

-- AddForeignKey
ALTER TABLE "bill_runs" ADD CONSTRAINT "bill_runs_schedule_id_fkey" FOREIGN KEY ("schedule_id") REFERENCES "bill_run_schedules"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "bill_run_schedules" ADD CONSTRAINT "bill_run_schedules_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "bill_run_schedule_occurrences" ADD CONSTRAINT "bill_run_schedule_occurrences_schedule_id_fkey" FOREIGN KEY ("schedule_id") REFERENCES "bill_run_schedules"("id") ON DELETE CASCADE ON UPDATE CASCADE;


-- Hand-written: what Prisma cannot express.

-- The mailer's claim query: due rows in priority order (SENDING rows whose lease expired too).
CREATE INDEX "email_outbox_due_idx" ON "email_outbox" ("priority", "next_attempt_at")
  WHERE "status" IN ('PENDING', 'SENDING');

ALTER TABLE "bill_run_schedules"
  ADD CONSTRAINT "bill_run_schedules_run_time_check" CHECK ("run_time" ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'),
  ADD CONSTRAINT "bill_run_schedules_day_of_month_check" CHECK ("day_of_month" IS NULL OR "day_of_month" BETWEEN 1 AND 31),
  ADD CONSTRAINT "bill_run_schedules_repeat_check" CHECK ("repeat_to" IS NULL OR "repeat_to" >= "repeat_from"),
  ADD CONSTRAINT "bill_run_schedules_rule_check" CHECK (
    ("repeat_type" = 'WEEKLY') = ("weekly_on_day" IS NOT NULL)
    AND ("repeat_type" = 'MONTHLY') = ("day_of_month" IS NOT NULL OR "monthly_on_end_of_month")
    AND NOT ("day_of_month" IS NOT NULL AND "monthly_on_end_of_month"));
