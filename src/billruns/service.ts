import { z } from "zod";
import type { Pool } from "pg";
import { billAccount } from "../billing/engine.ts";
import type { AccountResult } from "../billing/types.ts";
import { formatMoney, minorUnits } from "../billing/money.ts";
import { transaction, type Sql } from "../db/sql.ts";
import { InvalidStateError, NotFoundError, ValidationError } from "../errors.ts";
import { QUEUES, type Jobs } from "../jobs.ts";
import { isoDate, isUuid } from "../util.ts";
import { parseInput, type InputOf } from "../validation.ts";
import { checkRunFilters, runOptionFields, scheduledRunOptions, type RunOptionInput, type RunOptions } from "./options.ts";
import { loadBillingInputs } from "./load.ts";
import { readRun } from "./runs.ts";
import { finishCancelIn, finishRemoveIn } from "./rollback.ts";
import { notFoundMessage, recordStatusEvent, RETRY_FROM, transition, TRANSITIONS, tryTransition } from "./transitions.ts";

/**
 * Every account and subscription a run or schedule names must exist. Returns the accounts it
 * targets as ids (`accountIds` and the accounts of `accountNumbers`, once each), or undefined
 * when it names none. An unknown number is a ValidationError on `accountNumbers` that says which.
 */
export async function assertTargetsExist(pool: Pool, input: RunOptionInput): Promise<string[] | undefined> {
  await assertAllExist(pool, "accounts", input.accountIds, "accountIds");
  await assertAllExist(pool, "subscriptions", input.subscriptionIds, "subscriptionIds");
  if (!input.accountNumbers || input.accountNumbers.length === 0) return input.accountIds;
  const found = await pool.query<{ id: string; account_number: string }>("SELECT id, account_number FROM accounts WHERE account_number = ANY($1::text[])", [
    input.accountNumbers,
  ]);
  const known = new Set(found.rows.map((r) => r.account_number));
  const missing = input.accountNumbers.filter((number) => !known.has(number));
  if (missing.length > 0) {
    const shown = missing.slice(0, 5).join(", ") + (missing.length > 5 ? `, and ${missing.length - 5} more` : "");
    throw new ValidationError(`account number${missing.length === 1 ? "" : "s"} ${shown} ${missing.length === 1 ? "does" : "do"} not exist`, [
      "input",
      "accountNumbers",
    ]);
  }
  return [...new Set([...(input.accountIds ?? []), ...found.rows.map((r) => r.id)])];
}

/** What a service that moves runs uses: the pool for its SQL, the queue for the work it starts. */
export interface RunServices {
  pool: Pool;
  jobs: Jobs;
}

const createBillRunInput = z.object({ targetDate: isoDate, invoiceDate: isoDate.optional(), ...runOptionFields }).superRefine(checkRunFilters);
/** createBillRun's input: the dates and the run options (see `runOptionFields`). */
export type CreateBillRunInput = InputOf<typeof createBillRunInput>;

/** Who and what a run comes from. */
export interface RunOrigin {
  createdById: string | null;
  scheduleId?: string | null;
  retriedFromId?: string | null;
}

/**
 * Creates a PENDING run and enqueues its start, atomically; returns the run's id. The invoice
 * date defaults to the target date. Raises ValidationError (a rule of `input`, or an account or
 * subscription it names that does not exist).
 */
export async function createBillRun(services: RunServices, input: CreateBillRunInput, origin: RunOrigin): Promise<string> {
  const data = parseInput(createBillRunInput, input);
  const accountIds = await assertTargetsExist(services.pool, data);
  const options: RunOptions = { targetDate: data.targetDate, invoiceDate: data.invoiceDate ?? data.targetDate, ...scheduledRunOptions(data, accountIds) };
  return transaction(services.pool, (sql) => insertRunIn(sql, services.jobs, options, origin));
}

/** Inserts a PENDING run, its first event and its start job in the caller's transaction. */
async function insertRunIn(sql: Sql, jobs: Jobs, spec: RunOptions, origin: RunOrigin): Promise<string> {
  const inserted = await sql.query<{ id: string }>(
    `INSERT INTO bill_runs (id, target_date, invoice_date, batches, bill_cycle_day, account_ids, subscription_ids,
                            charge_types_to_exclude, auto_post, auto_email, no_email_for_zero_amount_invoice,
                            created_by_id, schedule_id, retried_from_id)
     VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6, $7::"ChargeType"[], $8, $9, $10, $11, $12, $13) RETURNING id`,
    [
      spec.targetDate,
      spec.invoiceDate,
      spec.batches,
      spec.billCycleDay,
      spec.accountIds,
      spec.subscriptionIds,
      spec.chargeTypesToExclude,
      spec.autoPost,
      spec.autoEmail,
      spec.noEmailForZeroAmountInvoice,
      origin.createdById,
      origin.scheduleId ?? null,
      origin.retriedFromId ?? null,
    ],
  );
  const id = inserted.rows[0]!.id;
  await recordStatusEvent(sql, id, null, "PENDING", origin.createdById);
  await jobs.send(QUEUES.start, { billRunId: id }, { singletonKey: id, sql });
  return id;
}

async function assertAllExist(pool: Pool, table: "accounts" | "subscriptions", list: string[] | undefined, field: string) {
  if (!list || list.length === 0) return;
  const found = await pool.query<{ id: string }>(`SELECT id FROM ${table} WHERE id = ANY($1::uuid[])`, [list]);
  if (found.rows.length === list.length) return;
  const known = new Set(found.rows.map((r) => r.id));
  const missing = list.filter((id) => !known.has(id));
  throw new ValidationError(`${field}: unknown ${table} ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", ..." : ""}`, ["input", field]);
}

/**
 * COMPLETED → POST_IN_PROGRESS and the posting job enqueued, atomically. Idempotent: a run
 * already posting or posted is left as it is, so any number of concurrent requests start exactly
 * one posting. Raises NotFoundError, InvalidStateError (any other status).
 */
export async function postBillRun(services: RunServices, billRunId: string, actorId: string | null): Promise<void> {
  requireUuid(billRunId);
  await transaction(services.pool, async (sql) => {
    const started = await tryTransition(sql, billRunId, "beginPost", { actorId });
    if (started) {
      await services.jobs.send(QUEUES.post, { billRunId }, { singletonKey: billRunId, sql });
      return;
    }
    const run = await readRun(sql, billRunId);
    if (!run) throw new NotFoundError(await notFoundMessage(sql, billRunId));
    if (run.status === "POST_IN_PROGRESS" || run.status === "POSTED") return;
    throw new InvalidStateError(`bill run ${run.bill_run_number} is ${run.status}; only a COMPLETED run can be posted`);
  });
}

/**
 * A scheduled run, PENDING → PAUSED: the workers leave it alone until it is resumed (or
 * canceled). A worker that picks it up first wins: the run is PROCESSING and the pause is
 * refused. An ad-hoc run is refused: it is started the moment it is created, by the person who
 * wanted it; cancel it instead. As every move outside SPEC's table, pausing a PAUSED run is
 * INVALID_STATE. Raises NotFoundError, InvalidStateError.
 */
export const pauseBillRun = (services: RunServices, billRunId: string, actorId: string | null) => moveScheduledRun(services, billRunId, actorId, "pause");

/**
 * A scheduled run, PAUSED → PENDING, and its start is enqueued again in the same transaction.
 * Raises NotFoundError, InvalidStateError (not PAUSED, or not a scheduled run).
 */
export const resumeBillRun = (services: RunServices, billRunId: string, actorId: string | null) => moveScheduledRun(services, billRunId, actorId, "resume");

async function moveScheduledRun(services: RunServices, billRunId: string, actorId: string | null, move: "pause" | "resume"): Promise<void> {
  requireUuid(billRunId);
  const done = move === "pause" ? "paused" : "resumed";
  await transaction(services.pool, async (sql) => {
    const run = await readRun(sql, billRunId, true);
    if (!run) throw new NotFoundError(await notFoundMessage(sql, billRunId));
    if (run.schedule_id === null) {
      throw new InvalidStateError(`bill run ${run.bill_run_number} was not created by a schedule; only a scheduled run can be ${done}`);
    }
    if (!(await tryTransition(sql, billRunId, move, { actorId }))) {
      throw new InvalidStateError(`bill run ${run.bill_run_number} is ${run.status}; only a ${TRANSITIONS[move].from[0]} run can be ${done}`);
    }
    // The start job queued at creation may have found the run paused and let it be; if it is
    // still queued, two starts are harmless (startRun takes turns on the run).
    if (move === "resume") await services.jobs.send(QUEUES.start, { billRunId }, { singletonKey: billRunId, sql });
  });
}

/**
 * PENDING/PAUSED → CANCELED, or COMPLETED → CANCEL_IN_PROGRESS → CANCELED: the run's draft
 * documents are canceled, their items stop counting as billed, and every charge's
 * chargedThroughDate moves back to where the run found it. Raises NotFoundError,
 * InvalidStateError (another status, posted invoices, or its accounts billed again since).
 */
export async function cancelBillRun({ pool }: Pick<RunServices, "pool">, billRunId: string, actorId: string | null): Promise<void> {
  requireUuid(billRunId);
  const canceledEarly = await transaction(pool, async (sql) => {
    if (await tryTransition(sql, billRunId, "cancelPending", { actorId })) return true;
    const run = await readRun(sql, billRunId);
    if (!run) throw new NotFoundError(await notFoundMessage(sql, billRunId));
    if (run.status !== "COMPLETED") {
      throw new InvalidStateError(`bill run ${run.bill_run_number} is ${run.status}; only a PENDING, PAUSED or COMPLETED run can be canceled`);
    }
    await transition(sql, billRunId, "beginCancel", { actorId });
    const posted = await sql.query(`SELECT 1 FROM documents WHERE bill_run_id = $1 AND status = 'POSTED' LIMIT 1`, [billRunId]);
    if (posted.rowCount) throw new InvalidStateError(`bill run ${run.bill_run_number} has posted invoices; it cannot be canceled`);
    const later = await sql.query<{ account_number: string }>(
      `SELECT a.account_number
         FROM bill_run_charge_moves r CROSS JOIN LATERAL unnest(r.charge_ids, r.through_after) AS m(charge_id, through_after)
         JOIN charges c ON c.id = m.charge_id
         JOIN subscriptions s ON s.id = c.subscription_id JOIN accounts a ON a.id = s.account_id
        WHERE r.bill_run_id = $1 AND c.charged_through_date IS DISTINCT FROM m.through_after LIMIT 1`,
      [billRunId],
    );
    if (later.rowCount) {
      throw new InvalidStateError(
        `account ${later.rows[0]!.account_number} was billed again after bill run ${run.bill_run_number}; cancel the later run first`,
      );
    }
    return false;
  });
  if (!canceledEarly) await transaction(pool, (sql) => finishCancelIn(sql, billRunId, actorId));
}

/**
 * CANCELED or ERROR → REMOVE_IN_PROGRESS → REMOVED: the run and its documents are gone; its
 * events stay, ending with the REMOVED one (see `finishRemove`). Returns the run's id and number.
 * Raises NotFoundError (also for a run already deleted), InvalidStateError (another status, or
 * posted invoices).
 */
export async function deleteBillRun(
  { pool }: Pick<RunServices, "pool">,
  billRunId: string,
  actorId: string | null,
): Promise<{ id: string; billRunNumber: string }> {
  requireUuid(billRunId);
  const moved = await transaction(pool, async (sql) => {
    const result = await transition(sql, billRunId, "beginRemove", { actorId });
    const posted = await sql.query(`SELECT 1 FROM documents WHERE bill_run_id = $1 AND status = 'POSTED' LIMIT 1`, [billRunId]);
    if (posted.rowCount) throw new InvalidStateError(`bill run ${result.billRunNumber} has posted invoices; it cannot be deleted`);
    return result;
  });
  await transaction(pool, (sql) => finishRemoveIn(sql, billRunId, actorId));
  return { id: moved.id, billRunNumber: moved.billRunNumber };
}

/** A deleted run's id and number, read from its REMOVED event; null if no run of that id was deleted. */
export async function deletedBillRun(
  { pool }: Pick<RunServices, "pool">,
  billRunId: string,
): Promise<{ id: string; billRunNumber: string; eventId: string } | null> {
  if (!isUuid(billRunId)) return null;
  const found = await pool.query<{ bill_run_number: string; id: string }>(
    `SELECT bill_run_number, id::text FROM bill_run_events
      WHERE bill_run_id = $1 AND kind = 'STATUS' AND to_status = 'REMOVED' ORDER BY id DESC LIMIT 1`,
    [billRunId],
  );
  const row = found.rows[0];
  return row ? { id: billRunId, billRunNumber: row.bill_run_number, eventId: row.id } : null;
}

/** Statuses of a retry that is still to finish: while one exists, retrying its source again returns it. */
const LIVE = ["PENDING", "PAUSED", "PROCESSING"];

/**
 * A new run for the failed accounts of a finished run (COMPLETED, posting or POSTED) that are
 * still left to retry, with the same dates and options, `retriedFrom` set; returns its id.
 *
 * Safe to call twice (double click, client retry): one live retry per source run. While a retry
 * of this run is PENDING, PAUSED or PROCESSING, calling again returns that retry. The source run's
 * row lock serialises concurrent calls, and a unique partial index on `retried_from_id` over live
 * runs makes a second live retry impossible whatever writes the rows.
 *
 * Left to retry: failed accounts that no run since has billed, that is, no run in this run's
 * retry chain (its retries, their retries...) and no later run covering at least as much (target
 * date not earlier, no subscription filter, no charge type excluded that this run billed) has
 * processed without failure while it keeps its documents.
 *
 * Raises NotFoundError (unknown or deleted run), InvalidStateError (not finished; no failed
 * accounts; nothing left to retry, naming the runs that billed them).
 */
export async function retryFailedAccounts(services: RunServices, billRunId: string, actorId: string | null): Promise<string> {
  requireUuid(billRunId);
  return transaction(services.pool, async (sql) => {
    const found = await sql.query<{
      bill_run_number: string;
      status: string;
      target_date: string;
      invoice_date: string;
      subscription_ids: string[];
      charge_types_to_exclude: RunOptions["chargeTypesToExclude"];
      auto_post: boolean;
      auto_email: boolean;
      no_email_for_zero_amount_invoice: boolean;
      schedule_id: string | null;
      created_at: Date;
    }>(
      `SELECT bill_run_number, status, target_date::text, invoice_date::text, subscription_ids::text[],
              charge_types_to_exclude::text[], auto_post, auto_email, no_email_for_zero_amount_invoice, schedule_id, created_at
         FROM bill_runs WHERE id = $1 FOR UPDATE`,
      [billRunId],
    );
    const run = found.rows[0];
    if (!run) throw new NotFoundError(await notFoundMessage(sql, billRunId));
    if (!(RETRY_FROM as readonly string[]).includes(run.status)) {
      throw new InvalidStateError(`bill run ${run.bill_run_number} is ${run.status}; failed accounts can be retried once it has COMPLETED`);
    }
    // Read after the lock: a retry committed by a concurrent call is seen here.
    const live = await sql.query<{ id: string }>(`SELECT id FROM bill_runs WHERE retried_from_id = $1 AND status = ANY($2::"BillRunStatus"[]) LIMIT 1`, [
      billRunId,
      LIVE,
    ]);
    if (live.rows[0]) return live.rows[0].id;

    const failed = await sql.query<{ account_id: string }>(
      `SELECT account_id FROM bill_run_accounts WHERE bill_run_id = $1 AND status = 'FAILED' AND failure_code IS NOT NULL`,
      [billRunId],
    );
    if (failed.rows.length === 0) throw new InvalidStateError(`bill run ${run.bill_run_number} has no failed accounts`);
    const failedIds = failed.rows.map((f) => f.account_id);
    const billedSince = await sql.query<{ account_id: string; bill_run_number: string }>(
      `WITH RECURSIVE chain AS (
         SELECT id FROM bill_runs WHERE retried_from_id = $1
         UNION SELECT r.id FROM bill_runs r JOIN chain c ON r.retried_from_id = c.id)
       SELECT DISTINCT ON (d.account_id) d.account_id, r.bill_run_number
         FROM bill_runs r JOIN bill_run_accounts d ON d.bill_run_id = r.id AND d.status = 'DONE' AND d.account_id = ANY($2::uuid[])
        WHERE r.status NOT IN ('CANCEL_IN_PROGRESS', 'CANCELED', 'REMOVE_IN_PROGRESS')
          AND (r.id IN (SELECT id FROM chain)
               OR (r.created_at > $3 AND r.target_date >= $4::date AND cardinality(r.subscription_ids) = 0
                   AND r.charge_types_to_exclude <@ $5::"ChargeType"[]))
        ORDER BY d.account_id, r.created_at`,
      [billRunId, failedIds, run.created_at, run.target_date, run.charge_types_to_exclude],
    );
    const billed = new Map(billedSince.rows.map((row) => [row.account_id, row.bill_run_number]));
    const left = failedIds.filter((id) => !billed.has(id));
    if (left.length === 0) {
      const by = [...new Set(billed.values())].sort();
      throw new InvalidStateError(
        `bill run ${run.bill_run_number} has nothing left to retry: its failed accounts were billed since by ${by.slice(0, 5).join(", ")}${by.length > 5 ? ", ..." : ""}`,
      );
    }
    let subscriptionIds: string[] = [];
    if (run.subscription_ids.length > 0) {
      const subs = await sql.query<{ id: string }>("SELECT id FROM subscriptions WHERE id = ANY($1::uuid[]) AND account_id = ANY($2::uuid[])", [
        run.subscription_ids,
        left,
      ]);
      subscriptionIds = subs.rows.map((row) => row.id);
    }
    const options: RunOptions = {
      targetDate: run.target_date,
      invoiceDate: run.invoice_date,
      batches: [],
      billCycleDay: null,
      accountIds: subscriptionIds.length > 0 ? [] : left,
      subscriptionIds,
      chargeTypesToExclude: run.charge_types_to_exclude,
      autoPost: run.auto_post,
      autoEmail: run.auto_email,
      noEmailForZeroAmountInvoice: run.no_email_for_zero_amount_invoice,
    };
    return insertRunIn(sql, services.jobs, options, { createdById: actorId, scheduleId: run.schedule_id, retriedFromId: billRunId });
  });
}

const applyPaymentInput = z.object({
  invoiceId: z.string().refine(isUuid, "not a valid invoice id"),
  amount: z
    .string()
    .trim()
    .regex(/^\d{1,15}(\.\d{1,8})?$/, "amount must be a positive decimal such as 25.00")
    .refine((v) => Number.parseFloat(v) !== 0 || /[1-9]/.test(v), "amount must be greater than zero"),
});

/** applyPayment's input: the invoice's id and a positive decimal amount. */
export type ApplyPaymentInput = InputOf<typeof applyPaymentInput>;

/**
 * Applies a payment to a POSTED invoice; the balance never goes below zero. Returns the payment's
 * id. Raises ValidationError (malformed amount, more decimals than the currency has, more than the
 * balance), NotFoundError (no such invoice), InvalidStateError (the invoice is not POSTED).
 */
export async function applyPayment({ pool }: Pick<RunServices, "pool">, input: ApplyPaymentInput, actorId: string | null): Promise<string> {
  const data = parseInput(applyPaymentInput, input);
  if (!/[1-9]/.test(data.amount)) throw new ValidationError("amount must be greater than zero", ["input", "amount"]);
  return transaction(pool, async (sql) => {
    const found = await sql.query<{ number: string; type: string; status: string; currency: string; balance: string; fits: boolean }>(
      `SELECT number, type, status, currency, balance::text AS balance, $2::numeric <= balance AS fits
         FROM documents WHERE id = $1 FOR UPDATE`,
      [data.invoiceId, data.amount],
    );
    const invoice = found.rows[0];
    if (!invoice || invoice.type !== "INVOICE") throw new NotFoundError(`invoice ${data.invoiceId} not found`);
    if (invoice.status !== "POSTED") {
      throw new InvalidStateError(`invoice ${invoice.number} is ${invoice.status}; payments can only be applied to POSTED invoices`);
    }
    const decimals = data.amount.split(".")[1]?.replace(/0+$/, "").length ?? 0;
    const places = minorUnits(invoice.currency);
    if (decimals > places) {
      throw new ValidationError(
        places === 0
          ? `amount ${data.amount} has decimals; ${invoice.currency} amounts are whole numbers`
          : `amount ${data.amount} has more than the ${places} decimals ${invoice.currency} allows`,
        ["input", "amount"],
      );
    }
    if (!invoice.fits) {
      throw new ValidationError(
        `amount ${formatMoney(data.amount, invoice.currency)} exceeds the balance of invoice ${invoice.number} (${formatMoney(invoice.balance, invoice.currency)})`,
        ["input", "amount"],
      );
    }
    const payment = await sql.query<{ id: string }>(
      `INSERT INTO payments (id, document_id, amount, created_by_id) VALUES (gen_random_uuid(), $1, $2, $3) RETURNING id`,
      [data.invoiceId, data.amount, actorId],
    );
    await sql.query("UPDATE documents SET balance = balance - $2 WHERE id = $1", [data.invoiceId, data.amount]);
    return payment.rows[0]!.id;
  });
}

/**
 * What a bill run would create for one account on `targetDate` (YYYY-MM-DD), computed without
 * writing anything: the documents, or the account's failure. Raises NotFoundError (no such account).
 */
export async function billingPreview({ pool }: Pick<RunServices, "pool">, accountId: string, targetDate: string): Promise<AccountResult> {
  if (!isUuid(accountId)) throw new NotFoundError(`account ${accountId} not found`);
  const [input] = await loadBillingInputs(pool, [accountId], targetDate);
  if (!input) throw new NotFoundError(`account ${accountId} not found`);
  return billAccount(input, { targetDate, invoiceDate: targetDate, chargeTypesToExclude: [] });
}

function requireUuid(id: string): void {
  if (!isUuid(id)) throw new NotFoundError(`bill run ${id} not found`);
}
