-- A chunk's accounts are a range of positions (the snapshot numbers them in order and cuts the
-- chunks from that order), so (bill_run_id, position) finds them, and the chunk's job names its
-- range. The index on (bill_run_id, chunk) held a thousand equal keys per chunk: writing it was a
-- third of the snapshot's time (the statement every run starts with, before any chunk can start),
-- most of it in merging those duplicates as its pages filled.
DROP INDEX "bill_run_accounts_bill_run_id_chunk_idx";
