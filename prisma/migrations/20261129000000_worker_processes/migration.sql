-- Processes that take bill-run jobs, and the jobs each holds: any process can tell when a job's
-- holder is gone (its session's advisory lock is free, or it stopped beating) and send the job
-- again at once, instead of waiting for pg-boss's expiry.
CREATE TABLE "worker_processes" (
    "id" SERIAL NOT NULL,
    "host" TEXT NOT NULL,
    "pid" INTEGER NOT NULL,
    "kind" TEXT NOT NULL,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    "heartbeat_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CONSTRAINT "worker_processes_pkey" PRIMARY KEY ("id")
);

-- No foreign key to worker_processes: a holder row outliving its process is how a dead holder shows.
CREATE TABLE "job_holders" (
    "job_id" UUID NOT NULL,
    "queue" TEXT NOT NULL,
    "process_id" INTEGER NOT NULL,
    "bill_run_id" UUID,
    "started_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CONSTRAINT "job_holders_pkey" PRIMARY KEY ("job_id")
);
CREATE INDEX "job_holders_process_id_idx" ON "job_holders"("process_id");
