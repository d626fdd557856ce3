// Email is queued in the transaction that changes a run's status (a transactional outbox): the
// email exists if and only if the change commits, and a unique dedupe key means a transaction
// that is retried, or a status reached twice, cannot queue it twice. The mailer delivers the rows.
import type { Sql } from "../db/sql.ts";
import { onTransition, type StatusChange } from "../billruns/hooks.ts";

/** How many failed accounts a status email lists; the rest are counted. */
export const FAILURES_LISTED = 50;

/** What a status email reports, as it was when the status changed. */
export interface RunStatusPayload {
  billRunId: string;
  billRunNumber: string;
  status: string;
  targetDate: string;
  invoiceDate: string;
  scheduled: boolean;
  accountsTotal: number;
  accountsProcessed: number;
  invoiceCount: number;
  creditMemoCount: number;
  zeroAmountInvoiceCount: number;
  failedAccountCount: number;
  /** Seconds from the start of processing to this status; absent in messages queued before it was recorded. */
  processingSeconds?: number | null;
  totals: { currency: string; amount: string }[];
  failures: {
    accountNumber: string;
    name: string;
    code: string;
    message: string;
    subscriptions: { subscriptionNumber: string; code: string; message: string }[];
  }[];
  errorMessage: string | null;
}

/**
 * Queues the emails a status change calls for, in the change's transaction: the status email for
 * COMPLETED and ERROR, the run's posted invoices (autoEmail) when posting ends. Registered as a
 * transition hook by subscribeEmailToTransitions.
 */
export async function onStatusChanged(sql: Sql, change: Pick<StatusChange, "id" | "from" | "to">): Promise<void> {
  if (change.to === "COMPLETED" || change.to === "ERROR") await queueStatusEmail(sql, change.id, change.to);
  // Posting may stop half-way (back to COMPLETED); the invoices it did post are emailed then.
  if (change.to === "POSTED" || (change.from === "POST_IN_PROGRESS" && change.to === "COMPLETED")) {
    await queueInvoiceEmails(sql, change.id);
  }
}

/** Makes every status change of a run queue its emails (start-up, once per process). Returns the unsubscriber. */
export function subscribeEmailToTransitions(): () => void {
  return onTransition("email", onStatusChanged);
}

/**
 * One email per run and status, to the owner of the run's schedule (a scheduled run, also when
 * someone retried it) or else to the user who created it; a run the system created alone
 * (no creator, no schedule) notifies nobody.
 */
async function queueStatusEmail(sql: Sql, billRunId: string, status: "COMPLETED" | "ERROR"): Promise<void> {
  const dedupeKey = `billrun:${billRunId}:${status}`;
  const queued = await sql.query("SELECT 1 FROM email_outbox WHERE dedupe_key = $1", [dedupeKey]);
  if (queued.rowCount) return;
  const found = await sql.query<{
    bill_run_number: string;
    target_date: string;
    invoice_date: string;
    scheduled: boolean;
    to_address: string | null;
    accounts_total: number;
    accounts_processed: number;
    invoice_count: number;
    credit_memo_count: number;
    zero_amount_invoice_count: number;
    failed_account_count: number;
    error_message: string | null;
    processing_seconds: number | null;
  }>(
    `SELECT r.bill_run_number, to_char(r.target_date, 'YYYY-MM-DD') AS target_date, to_char(r.invoice_date, 'YYYY-MM-DD') AS invoice_date,
            r.schedule_id IS NOT NULL AS scheduled,
            CASE WHEN r.schedule_id IS NOT NULL THEN owner.email ELSE creator.email END AS to_address,
            r.accounts_total, r.accounts_processed, r.invoice_count, r.credit_memo_count, r.zero_amount_invoice_count,
            r.failed_account_count, r.error_message,
            extract(epoch FROM r.completed_at - r.started_at)::float8 AS processing_seconds
       FROM bill_runs r
       LEFT JOIN bill_run_schedules s ON s.id = r.schedule_id
       LEFT JOIN users owner ON owner.id = s.owner_id
       LEFT JOIN users creator ON creator.id = r.created_by_id
      WHERE r.id = $1`,
    [billRunId],
  );
  const run = found.rows[0];
  if (!run?.to_address) return;

  const totals = await sql.query<{ currency: string; amount: string }>(
    "SELECT currency, amount::text AS amount FROM bill_run_totals WHERE bill_run_id = $1 ORDER BY currency",
    [billRunId],
  );
  const failures = await sql.query<{ account_id: string; account_number: string; name: string; code: string | null; message: string | null }>(
    `SELECT w.account_id, a.account_number, a.name, w.failure_code AS code, w.failure_message AS message
       FROM bill_run_accounts w JOIN accounts a ON a.id = w.account_id
      WHERE w.bill_run_id = $1 AND w.status = 'FAILED' AND w.failure_code IS NOT NULL
      ORDER BY a.account_number LIMIT $2`,
    [billRunId, FAILURES_LISTED],
  );
  const subscriptions = await sql.query<{ account_id: string; subscription_number: string; code: string; message: string }>(
    `SELECT f.account_id, s.subscription_number, f.code, f.message
       FROM bill_run_failed_subscriptions f JOIN subscriptions s ON s.id = f.subscription_id
      WHERE f.bill_run_id = $1 AND f.account_id = ANY($2::uuid[])
      ORDER BY s.subscription_number`,
    [billRunId, failures.rows.map((f) => f.account_id)],
  );

  const payload: RunStatusPayload = {
    billRunId,
    billRunNumber: run.bill_run_number,
    status,
    targetDate: run.target_date,
    invoiceDate: run.invoice_date,
    scheduled: run.scheduled,
    accountsTotal: run.accounts_total,
    accountsProcessed: run.accounts_processed,
    invoiceCount: run.invoice_count,
    creditMemoCount: run.credit_memo_count,
    zeroAmountInvoiceCount: run.zero_amount_invoice_count,
    failedAccountCount: Math.max(run.failed_account_count, failures.rows.length),
    processingSeconds: run.processing_seconds,
    totals: totals.rows,
    failures: failures.rows.map((f) => ({
      accountNumber: f.account_number,
      name: f.name,
      code: f.code ?? "INTERNAL_ERROR",
      message: f.message ?? "",
      subscriptions: subscriptions.rows
        .filter((s) => s.account_id === f.account_id)
        .map((s) => ({ subscriptionNumber: s.subscription_number, code: s.code, message: s.message })),
    })),
    errorMessage: status === "ERROR" ? run.error_message : null,
  };
  await sql.query(
    `INSERT INTO email_outbox (id, dedupe_key, kind, priority, to_address, bill_run_id, payload)
     VALUES (gen_random_uuid(), $1, 'BILL_RUN_STATUS', 0, $2, $3, $4)
     ON CONFLICT (dedupe_key) DO NOTHING`,
    [dedupeKey, run.to_address, billRunId, JSON.stringify(payload)],
  );
}

/**
 * autoEmail: each posted invoice of the run to its account's bill-to address, in one set-based
 * statement (a run can have 100k invoices). The invoice itself is read when the email is sent.
 */
async function queueInvoiceEmails(sql: Sql, billRunId: string): Promise<void> {
  await sql.query(
    `INSERT INTO email_outbox (id, dedupe_key, kind, priority, to_address, bill_run_id, document_id)
     SELECT gen_random_uuid(), 'invoice:' || d.id, 'INVOICE', 1, a.bill_to_email, d.bill_run_id, d.id
       FROM bill_runs r
       JOIN documents d ON d.bill_run_id = r.id
       JOIN accounts a ON a.id = d.account_id
      WHERE r.id = $1 AND r.auto_email
        AND d.type = 'INVOICE' AND d.status = 'POSTED'
        AND a.bill_to_email <> ''
        AND NOT (r.no_email_for_zero_amount_invoice AND d.amount = 0)
     ON CONFLICT (dedupe_key) DO NOTHING`,
    [billRunId],
  );
}
