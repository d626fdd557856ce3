-- A schedule's runs: its page in the API and the scheduler's "is there a run for this
-- occurrence already" look them up by schedule (and target date).
CREATE INDEX "bill_runs_schedule_id_target_date_idx" ON "bill_runs"("schedule_id", "target_date");

-- Deleting a run sets retried_from_id to NULL in its retries: found by index, not by a scan of
-- every run.
CREATE INDEX "bill_runs_retried_from_id_idx" ON "bill_runs"("retried_from_id");

-- A run's invoices and credit memos are listed in number order, a page at a time.
CREATE INDEX "documents_bill_run_id_type_number_idx" ON "documents"("bill_run_id", "type", "number");
