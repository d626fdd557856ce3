-- Sums over an unbounded number of rows get a column without a precision limit, so that no
-- sum can overflow where it is stored: a run's invoice total per currency adds up every
-- account of the run (whether an account bills must not depend on which others share its
-- run), and a usage item's quantity adds up every usage record of its period. Amounts of
-- items, documents and payments stay numeric(24,4); the service refuses or fails what would
-- not fit there (docs/decisions.md, "Limits").
ALTER TABLE "bill_run_totals" ALTER COLUMN "amount" TYPE NUMERIC;
ALTER TABLE "document_items" ALTER COLUMN "quantity" TYPE NUMERIC;
