import type { App } from "../app.ts";
import { transaction } from "../db/sql.ts";
import { tryTransition } from "./transitions.ts";
import { metrics } from "../observability/metrics.ts";

const POST_BATCH = 20_000;

/**
 * POST_IN_PROGRESS → POSTED: posts the run's draft invoices (and credit memos when
 * advancedArSettlement is on) in batches. Each document moves DRAFT → POSTED in a conditional
 * UPDATE, so concurrent or repeated posting posts it once. Documents of accounts that are no
 * longer ACTIVE cannot be posted: the run goes back to COMPLETED saying which, and posting again
 * posts what is left.
 */
export async function postRun(app: App, billRunId: string): Promise<void> {
  const status = await app.pool.query<{ status: string }>("SELECT status FROM bill_runs WHERE id = $1", [billRunId]);
  if (status.rows[0]?.status !== "POST_IN_PROGRESS") return;
  const settings = await app.pool.query<{ advanced_ar_settlement: boolean }>("SELECT advanced_ar_settlement FROM settings WHERE id = 1");
  const withCreditMemos = settings.rows[0]?.advanced_ar_settlement ?? false;

  // In number order with a cursor: each batch reads on from where the last one stopped, through
  // (bill_run_id, type, number), instead of passing over every document posted so far.
  for (const type of withCreditMemos ? ["INVOICE", "CREDIT_MEMO"] : ["INVOICE"]) {
    let after = "";
    while (true) {
      const batch = await app.pool.query<{ last: string | null; taken: number; posted: number }>(
        `WITH batch AS (
           SELECT d.id, d.number FROM documents d JOIN accounts a ON a.id = d.account_id
            WHERE d.bill_run_id = $1 AND d.type = $2::"DocumentType" AND d.number > $3 AND d.status = 'DRAFT'
              AND a.status = 'ACTIVE'
            ORDER BY d.number LIMIT $4 FOR UPDATE OF d SKIP LOCKED),
         posted AS ( -- runs whether or not it is read, as every data-modifying WITH does
           UPDATE documents SET status = 'POSTED', posted_at = now()
            WHERE id IN (SELECT id FROM batch) AND status = 'DRAFT' RETURNING id)
         SELECT (SELECT max(number) FROM batch) AS last, (SELECT count(*) FROM batch)::int AS taken,
                (SELECT count(*) FROM posted)::int AS posted`,
        [billRunId, type, after, POST_BATCH],
      );
      const { last, taken, posted } = batch.rows[0]!;
      metrics.documentsPosted.inc(posted);
      if (taken < POST_BATCH || last === null) break;
      after = last;
      // Progress, as far as the stall warning (supervisor.ts) can tell: a long posting is not stuck.
      await app.pool.query("UPDATE bill_runs SET updated_at = now() WHERE id = $1 AND status = 'POST_IN_PROGRESS'", [billRunId]);
    }
  }

  await transaction(app.pool, async (sql) => {
    const blocked = await sql.query<{ count: string; accounts: string[] }>(
      `SELECT count(*)::text AS count, (array_agg(DISTINCT a.account_number ORDER BY a.account_number))[1:5] AS accounts
         FROM documents d JOIN accounts a ON a.id = d.account_id
        WHERE d.bill_run_id = $1 AND d.status = 'DRAFT' AND (d.type = 'INVOICE' OR $2) AND a.status <> 'ACTIVE'`,
      [billRunId, withCreditMemos],
    );
    const count = Number(blocked.rows[0]?.count ?? 0);
    if (count > 0) {
      const accounts = blocked.rows[0]!.accounts.join(", ");
      await tryTransition(sql, billRunId, "postIncomplete", {
        errorMessage: `${count} document(s) could not be posted: their account is not ACTIVE (${accounts}${count > 5 ? ", ..." : ""}); reactivate the accounts and post again`,
      });
    } else {
      await tryTransition(sql, billRunId, "finishPost");
    }
  });
}
