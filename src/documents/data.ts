// What a printed document shows, read in two queries. Every value is text as the database
// stores it; the renderer formats amounts through the billing core.
import { createHash } from "node:crypto";
import type { App } from "../app.ts";
import { isUuid } from "../util.ts";

export type DocumentKind = "INVOICE" | "CREDIT_MEMO";

export interface DocumentData {
  type: DocumentKind;
  id: string;
  number: string;
  status: "DRAFT" | "POSTED" | "CANCELED";
  currency: string;
  /** Decimal strings as stored (scale 4); always positive, a credit memo's too. */
  amount: string;
  balance: string;
  /** YYYY-MM-DD. */
  invoiceDate: string;
  dueDate: string;
  billRunNumber: string | null;
  account: { accountNumber: string; name: string; billToEmail: string };
  /** companyLogo: a PNG or JPEG data URL checked when it was set, or "". */
  seller: { companyName: string; companyAddress: string; companyTaxId: string; companyLogo: string };
  /** In position order. serviceEnd is exclusive (equal to the start for a one-time charge). */
  items: { chargeName: string; serviceStart: string; serviceEnd: string; quantity: string; unitPrice: string; amount: string }[];
  /** Oldest first; `date` is YYYY-MM-DD (UTC). */
  payments: { date: string; amount: string }[];
}

/**
 * The document `id` of `type` with its account, items, payments and the seller block, or null
 * when there is none (also for an id that is not a UUID).
 */
export async function loadDocument(app: Pick<App, "pool">, type: DocumentKind, id: string): Promise<DocumentData | null> {
  if (!isUuid(id)) return null;
  const found = await app.pool.query<{
    number: string;
    status: DocumentData["status"];
    currency: string;
    amount: string;
    balance: string;
    invoice_date: string;
    due_date: string;
    bill_run_number: string | null;
    account_number: string;
    name: string;
    bill_to_email: string;
    company_name: string | null;
    company_address: string | null;
    company_tax_id: string | null;
    company_logo: string | null;
  }>(
    `SELECT d.number, d.status, d.currency, d.amount::text AS amount, d.balance::text AS balance,
            to_char(d.invoice_date, 'YYYY-MM-DD') AS invoice_date, to_char(d.due_date, 'YYYY-MM-DD') AS due_date,
            r.bill_run_number, a.account_number, a.name, a.bill_to_email,
            s.company_name, s.company_address, s.company_tax_id, s.company_logo
       FROM documents d
       JOIN accounts a ON a.id = d.account_id
       LEFT JOIN bill_runs r ON r.id = d.bill_run_id
       LEFT JOIN settings s ON s.id = 1
      WHERE d.id = $1 AND d.type = $2`,
    [id, type],
  );
  const doc = found.rows[0];
  if (!doc) return null;
  const [items, payments] = await Promise.all([
    app.pool.query<DocumentData["items"][number]>(
      `SELECT charge_name AS "chargeName", to_char(service_start, 'YYYY-MM-DD') AS "serviceStart",
              to_char(service_end, 'YYYY-MM-DD') AS "serviceEnd", quantity::text AS quantity,
              unit_price::text AS "unitPrice", amount::text AS amount
         FROM document_items WHERE document_id = $1 ORDER BY position, id`,
      [id],
    ),
    app.pool.query<DocumentData["payments"][number]>(
      `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS date, amount::text AS amount
         FROM payments WHERE document_id = $1 ORDER BY created_at, id`,
      [id],
    ),
  ]);
  return {
    type,
    id,
    number: doc.number,
    status: doc.status,
    currency: doc.currency,
    amount: doc.amount,
    balance: doc.balance,
    invoiceDate: doc.invoice_date,
    dueDate: doc.due_date,
    billRunNumber: doc.bill_run_number,
    account: { accountNumber: doc.account_number, name: doc.name, billToEmail: doc.bill_to_email },
    seller: {
      companyName: doc.company_name ?? "",
      companyAddress: doc.company_address ?? "",
      companyTaxId: doc.company_tax_id ?? "",
      companyLogo: doc.company_logo ?? "",
    },
    items: items.rows,
    payments: payments.rows,
  };
}

/** SHA-256 (hex) of everything a rendering depends on: equal hashes, byte-identical PDFs. */
export function contentHash(data: DocumentData, rendererVersion: string): string {
  return createHash("sha256").update(rendererVersion).update("\0").update(JSON.stringify(data)).digest("hex");
}
