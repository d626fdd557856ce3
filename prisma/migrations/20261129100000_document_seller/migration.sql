-- The seller block printed on invoice and credit-memo PDFs. Empty until an ADMIN sets it.
ALTER TABLE "settings"
  ADD COLUMN "company_name" TEXT NOT NULL DEFAULT '',
  ADD COLUMN "company_address" TEXT NOT NULL DEFAULT '',
  ADD COLUMN "company_tax_id" TEXT NOT NULL DEFAULT '';
