-- Where a run moved its charges' charged_through_date, one row per committed chunk instead of
-- one per charge: the three arrays are parallel (charge, date before, date after). A row per
-- charge cost every moved charge a heap row, a primary-key entry and a foreign-key check on
-- bill_runs, for a record that is only ever read whole, by run, when the run is canceled or
-- deleted. Within a run a charge is moved at most once (an account is billed once per run, and
-- a charge belongs to one account), which the old primary key also said.
CREATE TABLE "bill_run_charge_moves" (
    "id" BIGSERIAL NOT NULL,
    "bill_run_id" UUID NOT NULL,
    "charge_ids" UUID[] NOT NULL,
    "through_before" DATE[] NOT NULL,
    "through_after" DATE[] NOT NULL,

    CONSTRAINT "bill_run_charge_moves_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "bill_run_charge_moves_bill_run_id_idx" ON "bill_run_charge_moves"("bill_run_id");

ALTER TABLE "bill_run_charge_moves" ADD CONSTRAINT "bill_run_charge_moves_bill_run_id_fkey" FOREIGN KEY ("bill_run_id") REFERENCES "bill_runs"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The moves recorded so far, regrouped in lists of at most 10,000 charges per row (a chunk
-- records a few thousand), so that no row of a large past run holds one huge list.
INSERT INTO "bill_run_charge_moves" ("bill_run_id", "charge_ids", "through_before", "through_after")
SELECT "bill_run_id", array_agg("charge_id"), array_agg("through_before"), array_agg("through_after")
  FROM (SELECT m.*, (row_number() OVER (PARTITION BY "bill_run_id" ORDER BY "charge_id") - 1) / 10000 AS "part"
          FROM "bill_run_charges" m) AS numbered
 GROUP BY "bill_run_id", "part";

DROP TABLE "bill_run_charges";
