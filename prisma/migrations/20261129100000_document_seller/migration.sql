-- The seller block printed on invoice and credit-memo PDFs. Empty until an ADMIN sets it.
ALTER TABLE "settings"
  ADD COLUMN "company_name" TEXT NOT NULL DEFAULT '',
  ADD COLUMN "company_address" TEXT NOT NULL DEFAULT '',
  ADD COLUMN "company_tax_id" TEXT NOT NULL DEFAULT '',
  -- A PNG or JPEG data URL, or ''.
  ADD COLUMN "company_logo" TEXT NOT NULL DEFAULT '',
  -- Key of the HMAC that signs short-lived PDF links (Invoice.pdfUrl): 244 random bits, made
  -- here once, shared by every process through the database, never shown by the API.
  ADD COLUMN "document_link_secret" TEXT NOT NULL DEFAULT replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
