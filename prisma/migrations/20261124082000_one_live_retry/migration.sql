-- One live retry per run: while a retry of a run has not finished, retryFailedAccounts returns it
-- instead of creating another. The service serialises calls on the source run's row lock; this
-- index makes a second live retry impossible whatever writes the rows.
CREATE UNIQUE INDEX "bill_runs_one_live_retry_key" ON "bill_runs" ("retried_from_id")
  WHERE "retried_from_id" IS NOT NULL AND "status" IN ('PENDING', 'PAUSED', 'PROCESSING');
