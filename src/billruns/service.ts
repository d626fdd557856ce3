import { z } from "zod";
import type { App } from "../app.ts";
import { billAccount } from "../billing/engine.ts";
import type { AccountResult } from "../billing/types.ts";
import { minorUnits } from "../billing/money.ts";
import { transaction, type Sql } from "../db/sql.ts";
import { InvalidStateError, NotFoundError, ValidationError } from "../errors.ts";
import { QUEUES } from "../jobs.ts";
import { isoDate, isUuid } from "../util.ts";
import { parseInput } from "../validation.ts";
import { loadBillingInputs } from "./load.ts";
import { readRun } from "./executor.ts";
import { recordStatusEvent, transition, TRANSITIONS, tryTransition } from "./transitions.ts";

const chargeType = z.enum(["ONE_TIME", "RECURRING", "USAGE"]);
const ids = (what: string) =>
  z
    .array(z.string().refine(isUuid, `not a valid ${what} id`))
    .max(10_000, `at most 10000 ${what}s`)
    .transform((list) => [...new Set(list)]);

/** The filters and options of a run, shared with schedules so that an accepted schedule makes valid runs. */
export const runFilterFields = {
  batches: z
    .array(z.number().int().min(1, "batches are 1-50").max(50, "batches are 1-50"))
    .max(50)
    .transform((list) => [...new Set(list)].sort((a, b) => a - b))
    .optional(),
  billCycleDay: z.number().int().min(1, "bill cycle day must be between 1 and 31").max(31, "bill cycle day must be between 1 and 31").optional(),
  accountIds: ids("account").optional(),
  subscriptionIds: ids("subscription").optional(),
  chargeTypesToExclude: z
    .array(chargeType)
    .transform((list) => [...new Set(list)])
    .refine((list) => list.length <= 2, "at most two charge types can be excluded")
    .optional(),
  autoPost: z.boolean().default(false),
  autoEmail: z.boolean().default(false),
  noEmailForZeroAmountInvoice: z.boolean().default(false),
};

type RunFilters = { batches?: number[]; billCycleDay?: number; accountIds?: string[]; subscriptionIds?: string[] };

/** One kind of filter per run: batches/bill cycle day, or accounts, or subscriptions; no empty lists. */
export function checkRunFilters(input: RunFilters, ctx: z.RefinementCtx): void {
  const issue = (field: string, message: string) => ctx.addIssue({ code: "custom", path: [field], message });
  const byGroup = (input.batches?.length ?? 0) > 0 || input.billCycleDay !== undefined;
  const byAccount = (input.accountIds?.length ?? 0) > 0;
  const bySubscription = (input.subscriptionIds?.length ?? 0) > 0;
  if (byAccount && bySubscription) issue("subscriptionIds", "give accountIds or subscriptionIds, not both");
  if (byGroup && (byAccount || bySubscription)) {
    issue(byAccount ? "accountIds" : "subscriptionIds", "filter by batches/billCycleDay or by specific accounts/subscriptions, not both");
  }
  if (input.accountIds && input.accountIds.length === 0) issue("accountIds", "an empty list targets no account; leave it out to target all");
  if (input.subscriptionIds && input.subscriptionIds.length === 0) issue("subscriptionIds", "an empty list targets nothing; leave it out to target all");
}

/** Every account and subscription a run or schedule names must exist. */
export async function assertTargetsExist(app: App, input: RunFilters): Promise<void> {
  await assertAllExist(app, "accounts", input.accountIds, "accountIds");
  await assertAllExist(app, "subscriptions", input.subscriptionIds, "subscriptionIds");
}

const createBillRunInput = z
  .object({ targetDate: isoDate, invoiceDate: isoDate.optional(), ...runFilterFields })
  .superRefine(checkRunFilters);

export interface CreateRunOptions {
  createdById: string | null;
  scheduleId?: string | null;
  retriedFromId?: string | null;
}

/** Creates a PENDING run and enqueues its start, atomically; returns the run's id. */
export async function createBillRun(app: App, input: unknown, options: CreateRunOptions): Promise<string> {
  const data = parseInput(createBillRunInput, input);
  await assertTargetsExist(app, data);
  return insertRun(app, {
    targetDate: data.targetDate,
    invoiceDate: data.invoiceDate ?? data.targetDate,
    batches: data.batches ?? [],
    billCycleDay: data.billCycleDay ?? null,
    accountIds: data.accountIds ?? [],
    subscriptionIds: data.subscriptionIds ?? [],
    chargeTypesToExclude: data.chargeTypesToExclude ?? [],
    autoPost: data.autoPost,
    autoEmail: data.autoEmail,
    noEmailForZeroAmountInvoice: data.noEmailForZeroAmountInvoice,
    ...options,
  });
}

interface RunSpec extends CreateRunOptions {
  targetDate: string;
  invoiceDate: string;
  batches: number[];
  billCycleDay: number | null;
  accountIds: string[];
  subscriptionIds: string[];
  chargeTypesToExclude: string[];
  autoPost: boolean;
  autoEmail: boolean;
  noEmailForZeroAmountInvoice: boolean;
}

async function insertRun(app: App, spec: RunSpec): Promise<string> {
  return transaction(app.pool, async (sql) => {
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
        spec.createdById,
        spec.scheduleId ?? null,
        spec.retriedFromId ?? null,
      ],
    );
    const id = inserted.rows[0]!.id;
    await recordStatusEvent(sql, id, null, "PENDING", spec.createdById);
    await app.jobs.send(QUEUES.start, { billRunId: id }, { singletonKey: id, sql });
    return id;
  });
}

async function assertAllExist(app: App, table: "accounts" | "subscriptions", list: string[] | undefined, field: string) {
  if (!list || list.length === 0) return;
  const found = await app.pool.query<{ id: string }>(`SELECT id FROM ${table} WHERE id = ANY($1::uuid[])`, [list]);
  if (found.rows.length === list.length) return;
  const known = new Set(found.rows.map((r) => r.id));
  const missing = list.filter((id) => !known.has(id));
  throw new ValidationError(`${field}: unknown ${table} ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", ..." : ""}`, ["input", field]);
}

/**
 * Starts posting. Idempotent: a run already posting or posted is returned as it is, so
 * any number of concurrent requests start exactly one posting.
 */
export async function postBillRun(app: App, billRunId: string, actorId: string | null): Promise<void> {
  requireUuid(billRunId);
  await transaction(app.pool, async (sql) => {
    const started = await tryTransition(sql, billRunId, "beginPost", { actorId });
    if (started) {
      await app.jobs.send(QUEUES.post, { billRunId }, { singletonKey: billRunId, sql });
      return;
    }
    const run = await readRun(sql, billRunId);
    if (!run) throw new NotFoundError(`bill run ${billRunId} not found`);
    if (run.status === "POST_IN_PROGRESS" || run.status === "POSTED") return;
    throw new InvalidStateError(`bill run ${run.bill_run_number} is ${run.status}; only a COMPLETED run can be posted`);
  });
}

/**
 * A scheduled run, PENDING → PAUSED: the workers leave it alone until it is resumed (or
 * canceled). A worker that picks it up first wins: the run is PROCESSING and the pause is
 * refused. An ad-hoc run is refused: it is started the moment it is created, by the person who
 * wanted it; cancel it instead. As every move outside SPEC's table, pausing a PAUSED run is
 * INVALID_STATE.
 */
export const pauseBillRun = (app: App, billRunId: string, actorId: string | null) => moveScheduledRun(app, billRunId, actorId, "pause");

/** A scheduled run, PAUSED → PENDING, and its start is enqueued again in the same transaction. */
export const resumeBillRun = (app: App, billRunId: string, actorId: string | null) => moveScheduledRun(app, billRunId, actorId, "resume");

async function moveScheduledRun(app: App, billRunId: string, actorId: string | null, move: "pause" | "resume"): Promise<void> {
  requireUuid(billRunId);
  const done = move === "pause" ? "paused" : "resumed";
  await transaction(app.pool, async (sql) => {
    const run = await readRun(sql, billRunId, true);
    if (!run) throw new NotFoundError(`bill run ${billRunId} not found`);
    if (run.schedule_id === null) {
      throw new InvalidStateError(`bill run ${run.bill_run_number} was not created by a schedule; only a scheduled run can be ${done}`);
    }
    if (!(await tryTransition(sql, billRunId, move, { actorId }))) {
      throw new InvalidStateError(`bill run ${run.bill_run_number} is ${run.status}; only a ${TRANSITIONS[move].from[0]} run can be ${done}`);
    }
    // The start job queued at creation may have found the run paused and let it be; if it is
    // still queued, two starts are harmless (startRun takes turns on the run).
    if (move === "resume") await app.jobs.send(QUEUES.start, { billRunId }, { singletonKey: billRunId, sql });
  });
}

/**
 * PENDING/PAUSED → CANCELED, or COMPLETED → CANCEL_IN_PROGRESS → CANCELED: the run's draft
 * documents are canceled, their items stop counting as billed, and every charge's
 * chargedThroughDate moves back to where the run found it.
 */
export async function cancelBillRun(app: App, billRunId: string, actorId: string | null): Promise<void> {
  requireUuid(billRunId);
  const canceledEarly = await transaction(app.pool, async (sql) => {
    if (await tryTransition(sql, billRunId, "cancelPending", { actorId })) return true;
    const run = await readRun(sql, billRunId);
    if (!run) throw new NotFoundError(`bill run ${billRunId} not found`);
    if (run.status !== "COMPLETED") {
      throw new InvalidStateError(`bill run ${run.bill_run_number} is ${run.status}; only a PENDING, PAUSED or COMPLETED run can be canceled`);
    }
    await transition(sql, billRunId, "beginCancel", { actorId });
    const posted = await sql.query(`SELECT 1 FROM documents WHERE bill_run_id = $1 AND status = 'POSTED' LIMIT 1`, [billRunId]);
    if (posted.rowCount) throw new InvalidStateError(`bill run ${run.bill_run_number} has posted invoices; it cannot be canceled`);
    const later = await sql.query<{ account_number: string }>(
      `SELECT a.account_number FROM bill_run_charges m
         JOIN charges c ON c.id = m.charge_id
         JOIN subscriptions s ON s.id = c.subscription_id JOIN accounts a ON a.id = s.account_id
        WHERE m.bill_run_id = $1 AND c.charged_through_date IS DISTINCT FROM m.through_after LIMIT 1`,
      [billRunId],
    );
    if (later.rowCount) {
      throw new InvalidStateError(
        `account ${later.rows[0]!.account_number} was billed again after bill run ${run.bill_run_number}; cancel the later run first`,
      );
    }
    return false;
  });
  if (!canceledEarly) await finishCancel(app, billRunId, actorId);
}

/** The work of a cancel, in one transaction; also what recovery re-runs for a run stuck in CANCEL_IN_PROGRESS. */
export async function finishCancel(app: App, billRunId: string, actorId: string | null): Promise<void> {
  await transaction(app.pool, (sql) => finishCancelIn(sql, billRunId, actorId));
}

/** finishCancel's work in the caller's transaction. */
export async function finishCancelIn(sql: Sql, billRunId: string, actorId: string | null): Promise<void> {
  // The run's row stays locked until commit: the sweeper (supervisor.ts) sees it taken and
  // leaves a cancel that a live process is doing alone.
  await sql.query("SELECT 1 FROM bill_runs WHERE id = $1 FOR UPDATE", [billRunId]);
  await rollBackDocuments(sql, billRunId);
  await tryTransition(sql, billRunId, "finishCancel", { actorId });
}

async function rollBackDocuments(sql: Sql, billRunId: string): Promise<void> {
  await sql.query(
    `UPDATE charges c SET charged_through_date = m.through_before
       FROM bill_run_charges m
      WHERE m.bill_run_id = $1 AND c.id = m.charge_id AND c.charged_through_date IS NOT DISTINCT FROM m.through_after`,
    [billRunId],
  );
  await sql.query("DELETE FROM bill_run_charges WHERE bill_run_id = $1", [billRunId]);
  await sql.query(
    `UPDATE document_items SET voided = true
      WHERE document_id IN (SELECT id FROM documents WHERE bill_run_id = $1 AND status = 'DRAFT') AND NOT voided`,
    [billRunId],
  );
  await sql.query(`UPDATE documents SET status = 'CANCELED', canceled_at = now() WHERE bill_run_id = $1 AND status = 'DRAFT'`, [billRunId]);
}

/** CANCELED or ERROR → REMOVE_IN_PROGRESS → gone, with its documents. */
export async function deleteBillRun(app: App, billRunId: string, actorId: string | null): Promise<{ id: string; billRunNumber: string }> {
  requireUuid(billRunId);
  const moved = await transaction(app.pool, async (sql) => {
    const result = await transition(sql, billRunId, "beginRemove", { actorId });
    const posted = await sql.query(`SELECT 1 FROM documents WHERE bill_run_id = $1 AND status = 'POSTED' LIMIT 1`, [billRunId]);
    if (posted.rowCount) throw new InvalidStateError(`bill run ${result.billRunNumber} has posted invoices; it cannot be deleted`);
    return result;
  });
  await finishRemove(app, billRunId);
  return { id: moved.id, billRunNumber: moved.billRunNumber };
}

export async function finishRemove(app: App, billRunId: string): Promise<void> {
  await transaction(app.pool, (sql) => finishRemoveIn(sql, billRunId));
}

/** finishRemove's work in the caller's transaction. */
export async function finishRemoveIn(sql: Sql, billRunId: string): Promise<void> {
  // Locked first, as finishCancelIn.
  await sql.query("SELECT 1 FROM bill_runs WHERE id = $1 FOR UPDATE", [billRunId]);
  // An ERROR run may have billed some accounts before it failed: free those periods first.
  await rollBackDocuments(sql, billRunId);
  await sql.query("DELETE FROM bill_runs WHERE id = $1 AND status = 'REMOVE_IN_PROGRESS'", [billRunId]);
}

/** A new run for exactly the accounts that failed, with the same dates and options. */
export async function retryFailedAccounts(app: App, billRunId: string, actorId: string | null): Promise<string> {
  requireUuid(billRunId);
  const run = await app.db.billRun.findUnique({ where: { id: billRunId } });
  if (!run) throw new NotFoundError(`bill run ${billRunId} not found`);
  if (!["COMPLETED", "POST_IN_PROGRESS", "POSTED"].includes(run.status)) {
    throw new InvalidStateError(`bill run ${run.billRunNumber} is ${run.status}; failed accounts can be retried once it has COMPLETED`);
  }
  const failed = await app.db.billRunAccount.findMany({ where: { billRunId, status: "FAILED" }, select: { accountId: true } });
  if (failed.length === 0) throw new InvalidStateError(`bill run ${run.billRunNumber} has no failed accounts`);
  const failedIds = failed.map((f) => f.accountId);
  let subscriptionIds: string[] = [];
  if (run.subscriptionIds.length > 0) {
    const subs = await app.db.subscription.findMany({ where: { id: { in: run.subscriptionIds }, accountId: { in: failedIds } }, select: { id: true } });
    subscriptionIds = subs.map((s) => s.id);
  }
  return insertRun(app, {
    targetDate: run.targetDate.toISOString().slice(0, 10),
    invoiceDate: run.invoiceDate.toISOString().slice(0, 10),
    batches: [],
    billCycleDay: null,
    accountIds: subscriptionIds.length > 0 ? [] : failedIds,
    subscriptionIds,
    chargeTypesToExclude: run.chargeTypesToExclude,
    autoPost: run.autoPost,
    autoEmail: run.autoEmail,
    noEmailForZeroAmountInvoice: run.noEmailForZeroAmountInvoice,
    createdById: actorId,
    scheduleId: run.scheduleId,
    retriedFromId: run.id,
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

/** Applies a payment to a POSTED invoice; the balance never goes below zero. */
export async function applyPayment(app: App, input: unknown, actorId: string | null): Promise<string> {
  const data = parseInput(applyPaymentInput, input);
  if (!/[1-9]/.test(data.amount)) throw new ValidationError("amount must be greater than zero", ["input", "amount"]);
  return transaction(app.pool, async (sql) => {
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
    if (decimals > minorUnits(invoice.currency)) {
      throw new ValidationError(`amount has more decimals than ${invoice.currency} allows (${minorUnits(invoice.currency)})`, ["input", "amount"]);
    }
    if (!invoice.fits) {
      throw new ValidationError(`amount exceeds the balance of invoice ${invoice.number} (${invoice.balance} ${invoice.currency})`, ["input", "amount"]);
    }
    const payment = await sql.query<{ id: string }>(
      `INSERT INTO payments (id, document_id, amount, created_by_id) VALUES (gen_random_uuid(), $1, $2, $3) RETURNING id`,
      [data.invoiceId, data.amount, actorId],
    );
    await sql.query("UPDATE documents SET balance = balance - $2 WHERE id = $1", [data.invoiceId, data.amount]);
    return payment.rows[0]!.id;
  });
}

/** What a bill run would create for one account now, computed without writing anything. */
export async function billingPreview(app: App, accountId: string, targetDate: string): Promise<AccountResult> {
  if (!isUuid(accountId)) throw new NotFoundError(`account ${accountId} not found`);
  const [input] = await loadBillingInputs(app.pool, [accountId], targetDate);
  if (!input) throw new NotFoundError(`account ${accountId} not found`);
  return billAccount(input, { targetDate, invoiceDate: targetDate, chargeTypesToExclude: [] });
}

function requireUuid(id: string): void {
  if (!isUuid(id)) throw new NotFoundError(`bill run ${id} not found`);
}

