-- A run's events outlive it: deleting a run keeps its history (status changes, alerts) and adds
-- a last status event, REMOVE_IN_PROGRESS → REMOVED, so that a client resuming with `after`
-- receives exactly what connected clients received, the removal included.

-- The status a run's last event gives it once the run row is gone (never the status of a row).
ALTER TYPE "BillRunStatus" ADD VALUE IF NOT EXISTS 'REMOVED';

-- No foreign key: deleting the run no longer cascades to its events.
ALTER TABLE "bill_run_events" DROP CONSTRAINT "bill_run_events_bill_run_id_fkey";

-- Each event names its run's number, readable without the run.
ALTER TABLE "bill_run_events" ADD COLUMN "bill_run_number" TEXT;
UPDATE "bill_run_events" e SET "bill_run_number" = r."bill_run_number" FROM "bill_runs" r WHERE r."id" = e."bill_run_id";
-- Events of runs deleted before this migration went with them; none is left without its run.
DELETE FROM "bill_run_events" WHERE "bill_run_number" IS NULL;
ALTER TABLE "bill_run_events" ALTER COLUMN "bill_run_number" SET NOT NULL;

-- Whatever writes an event, its run's number is taken from the run, which must exist then: an
-- event can be recorded only for a run that exists (the foreign key's other half), and the
-- removal's event is written before the run is deleted.
CREATE FUNCTION "bill_run_events_take_run_number"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT "bill_run_number" INTO NEW."bill_run_number" FROM "bill_runs" WHERE "id" = NEW."bill_run_id";
  IF NEW."bill_run_number" IS NULL THEN
    RAISE EXCEPTION 'bill run % does not exist', NEW."bill_run_id" USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER "bill_run_events_run_number" BEFORE INSERT ON "bill_run_events"
  FOR EACH ROW EXECUTE FUNCTION "bill_run_events_take_run_number"();
