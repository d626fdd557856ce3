-- A bill run moves every billed charge's charged_through_date. That column is in no index, so
-- PostgreSQL can update the row in place (a HOT update, no index entries) when its page has
-- room for the new version: half of each page, as every row of a page moves in the same run.
-- Pages written before this take the room up as vacuum frees their old rows.
ALTER TABLE "charges" SET (fillfactor = 50);

-- Every query by (bill_run_id, status) also uses (bill_run_id, status, position), and lookups
-- by account use the primary key (bill_run_id, account_id): this one only cost each snapshot
-- and each account's status change an index entry.
DROP INDEX "bill_run_accounts_bill_run_id_status_account_id_idx";

-- Posting moves every document of a run from DRAFT to POSTED. With status in no index and room
-- on the page, that too is an in-place update. Lookups of a run's documents by status read its
-- documents through (bill_run_id, type, number) instead.
DROP INDEX "documents_bill_run_id_type_status_idx";
ALTER TABLE "documents" SET (fillfactor = 50);
