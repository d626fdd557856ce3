-- A disabled user keeps their records (runs they started, schedules they own) but no token of
-- theirs authenticates until they are enabled again.
ALTER TABLE "users" ADD COLUMN "disabled_at" TIMESTAMPTZ(3);
