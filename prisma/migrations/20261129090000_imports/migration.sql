-- Bulk imports: jobs, their rejected rows and their staged files; an external id on usage.
CREATE TYPE "ImportKind" AS ENUM ('ACCOUNTS', 'SUBSCRIPTIONS', 'USAGE');
CREATE TYPE "ImportFormat" AS ENUM ('CSV', 'NDJSON');
CREATE TYPE "ImportMode" AS ENUM ('CREATE', 'UPSERT');
CREATE TYPE "ImportStatus" AS ENUM ('RECEIVING', 'QUEUED', 'RUNNING', 'COMPLETED', 'FAILED');

CREATE TABLE "import_jobs" (
    "id" UUID NOT NULL,
    "kind" "ImportKind" NOT NULL,
    "format" "ImportFormat" NOT NULL,
    "mode" "ImportMode" NOT NULL DEFAULT 'CREATE',
    "atomic" BOOLEAN NOT NULL DEFAULT false,
    "status" "ImportStatus" NOT NULL DEFAULT 'RECEIVING',
    "file_name" TEXT,
    "size_bytes" BIGINT NOT NULL DEFAULT 0,
    "bytes_done" BIGINT NOT NULL DEFAULT 0,
    "committed_line" INTEGER NOT NULL DEFAULT 0,
    "rows_total" INTEGER NOT NULL DEFAULT 0,
    "rows_imported" INTEGER NOT NULL DEFAULT 0,
    "rows_skipped" INTEGER NOT NULL DEFAULT 0,
    "rows_rejected" INTEGER NOT NULL DEFAULT 0,
    "error_message" TEXT,
    "created_by_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),
    CONSTRAINT "import_jobs_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "import_jobs_created_at_id_idx" ON "import_jobs"("created_at", "id");
CREATE INDEX "import_jobs_status_idx" ON "import_jobs"("status");
ALTER TABLE "import_jobs" ADD CONSTRAINT "import_jobs_created_by_id_fkey" FOREIGN KEY ("created_by_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE;

CREATE TABLE "import_job_errors" (
    "job_id" UUID NOT NULL,
    "line" INTEGER NOT NULL,
    "field" TEXT,
    "code" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    CONSTRAINT "import_job_errors_pkey" PRIMARY KEY ("job_id", "line")
);
ALTER TABLE "import_job_errors" ADD CONSTRAINT "import_job_errors_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "import_jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "import_job_chunks" (
    "job_id" UUID NOT NULL,
    "seq" INTEGER NOT NULL,
    "data" BYTEA NOT NULL,
    CONSTRAINT "import_job_chunks_pkey" PRIMARY KEY ("job_id", "seq")
);
ALTER TABLE "import_job_chunks" ADD CONSTRAINT "import_job_chunks_job_id_fkey" FOREIGN KEY ("job_id") REFERENCES "import_jobs"("id") ON DELETE CASCADE ON UPDATE CASCADE;
-- Staged files are written once, read once and deleted: compressing them is wasted work.
ALTER TABLE "import_job_chunks" ALTER COLUMN "data" SET STORAGE EXTERNAL;

ALTER TABLE "usage_records" ADD COLUMN "usage_id" TEXT;
CREATE UNIQUE INDEX "usage_records_usage_id_key" ON "usage_records"("usage_id");
