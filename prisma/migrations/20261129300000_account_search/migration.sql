-- Account search (`accounts(search:)`) matches any part of the number, name or bill-to email, in
-- any case: ILIKE '%term%'. Trigram GIN indexes answer that from the index on a million
-- accounts; a btree could only serve prefixes. pg_trgm is a trusted contrib extension: a
-- database owner may create it, and PostgreSQL distributions (the embedded one too) ship it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX "accounts_account_number_trgm_idx" ON "accounts" USING gin ("account_number" gin_trgm_ops);
CREATE INDEX "accounts_name_trgm_idx" ON "accounts" USING gin ("name" gin_trgm_ops);
CREATE INDEX "accounts_bill_to_email_trgm_idx" ON "accounts" USING gin ("bill_to_email" gin_trgm_ops);
