import type pg from "pg";
import { Decimal } from "decimal.js";
import type { z } from "zod";
import { inputSchemas } from "../accounts/service.ts";
import { amountFits, extendedAmount, minorUnits } from "../billing/money.ts";
import { plainAccount, plainSubscription, plainUsage, surelyFits } from "./fastpath.ts";
import type { Columns, Row, RowError } from "./rows.ts";
import { timeOrderedId } from "../ids.ts";
import { bareArrayLiteral } from "../billruns/arrays.ts";

export type ImportKind = "ACCOUNTS" | "SUBSCRIPTIONS" | "USAGE";
export type ImportMode = "CREATE" | "UPSERT";

/** What a batch did: rows written, rows already there as the file says, rows refused (one error each). */
export interface BatchOutcome {
  imported: number;
  skipped: number;
  errors: RowError[];
}

/** A validated batch, ready to be written. */
export interface BatchPlan {
  /** The unique keys (numbers, usageIds) the batch writes: batches sharing none are written at once. */
  keys: string[];
  /** Writes the batch with a handful of set-based statements on `sql`, in the caller's transaction. */
  apply: (sql: pg.ClientBase) => Promise<BatchOutcome>;
}

export interface KindWriter {
  columns: Columns;
  /** Rows with the same key belong together (a subscription's charges): never split across batches. */
  groupKey?: (row: Row) => string | undefined;
  /**
   * Validates `rows` and reads what they refer to (read-only, on `sql`). A plan may be prepared
   * while the previous batch is still being written: what that batch adds is caught by the
   * writes' own conflict handling (a number taken meanwhile is a CONFLICT, a usageId a no-op).
   */
  prepare: (sql: pg.ClientBase | pg.Pool, rows: Row[], mode: ImportMode) => Promise<BatchPlan>;
  /** False when a batch must see the previous one committed before it is prepared (UPSERT of accounts). */
  pipelined: (mode: ImportMode) => boolean;
}

// Stands in for the id that the single mutations take and a file names by number instead.
const PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000";

/** The first problem zod found, as the row's error on the column it names. */
function zodError(line: number, issues: z.core.$ZodIssue[], column: (path: PropertyKey[]) => string | null): RowError {
  const issue = issues[0]!;
  const field = column(issue.path);
  return { line, field, code: "VALIDATION", message: field ? `${field}: ${issue.message}` : issue.message };
}

const sameDecimal = (a: string | null | undefined, b: string | null | undefined) => a === b || (a != null && b != null && new Decimal(a).eq(new Decimal(b)));

// --- accounts ----------------------------------------------------------------------------------

const ACCOUNT_COLUMNS: Columns = {
  accountNumber: "string",
  name: "string",
  currency: "string",
  billCycleDay: "int",
  batch: "int",
  billToEmail: "string",
  paymentTermDays: "int",
  status: "string",
};

interface AccountRow {
  id: string;
  account_number: string;
  name: string;
  currency: string;
  bill_cycle_day: number;
  batch: number;
  bill_to_email: string;
  payment_term_days: number;
  status: string;
}

const accounts: KindWriter = {
  columns: ACCOUNT_COLUMNS,
  // A second row of one account in the next batch must update what the first created.
  pipelined: (mode) => mode === "CREATE",
  prepare: async (sql, rows, mode) => {
    const errors: RowError[] = [];
    const numbers = [
      ...new Set(
        rows
          .map((r) => r.values.accountNumber)
          .filter((n): n is string => typeof n === "string")
          .map((n) => n.trim()),
      ),
    ];
    const existing = new Map<string, AccountRow>();
    if (numbers.length > 0) {
      const found = await sql.query<AccountRow>(
        `SELECT id, account_number, name, currency, bill_cycle_day, batch, bill_to_email, payment_term_days, status::text AS status
           FROM accounts WHERE account_number = ANY($1::text[])`,
        [numbers],
      );
      for (const a of found.rows) existing.set(a.account_number, a);
    }
    const inserts: { line: number; id: string; number: string | null; data: Omit<AccountRow, "id" | "account_number"> }[] = [];
    const updates: { line: number; data: AccountRow }[] = [];
    let skipped = 0;
    const seen = new Map<string, number>();
    for (const row of rows) {
      if (row.error) {
        errors.push(row.error);
        continue;
      }
      const number = typeof row.values.accountNumber === "string" ? row.values.accountNumber.trim() : undefined;
      if (number !== undefined && seen.has(number)) {
        errors.push({ line: row.line, field: "accountNumber", code: "CONFLICT", message: `account number ${number} is also on line ${seen.get(number)}` });
        continue;
      }
      if (number !== undefined) seen.set(number, row.line);
      const current = number !== undefined ? existing.get(number) : undefined;
      if (mode === "UPSERT" && number === undefined) {
        errors.push({
          line: row.line,
          field: "accountNumber",
          code: "VALIDATION",
          message: "accountNumber: required to UPSERT (it says which account a row is)",
        });
        continue;
      }
      if (current && mode === "UPSERT") {
        const { accountNumber: _number, currency, ...changes } = row.values;
        if (currency !== undefined && String(currency).trim() !== current.currency) {
          errors.push({
            line: row.line,
            field: "currency",
            code: "VALIDATION",
            message: `currency: account ${number} is billed in ${current.currency}; an account's currency cannot change`,
          });
          continue;
        }
        const parsed = inputSchemas.updateAccountInput.safeParse({ id: current.id, ...changes });
        if (!parsed.success) {
          errors.push(zodError(row.line, parsed.error.issues, (path) => String(path[0] ?? "") || null));
          continue;
        }
        const d = parsed.data;
        const next: AccountRow = {
          ...current,
          name: d.name ?? current.name,
          bill_cycle_day: d.billCycleDay ?? current.bill_cycle_day,
          batch: d.batch ?? current.batch,
          bill_to_email: d.billToEmail ?? current.bill_to_email,
          payment_term_days: d.paymentTermDays ?? current.payment_term_days,
          status: d.status ?? current.status,
        };
        const changed = (Object.keys(next) as (keyof AccountRow)[]).some((k) => next[k] !== current[k]);
        if (changed) updates.push({ line: row.line, data: next });
        else skipped++;
        continue;
      }
      let d = plainAccount(row.values);
      if (!d) {
        const parsed = inputSchemas.createAccountInput.safeParse(row.values);
        if (!parsed.success) {
          errors.push(zodError(row.line, parsed.error.issues, (path) => String(path[0] ?? "") || null));
          continue;
        }
        d = parsed.data;
      }
      if (current) {
        errors.push({ line: row.line, field: "accountNumber", code: "CONFLICT", message: `account number ${number} is already taken` });
        continue;
      }
      inserts.push({
        line: row.line,
        id: timeOrderedId(),
        number: d.accountNumber ?? null,
        data: {
          name: d.name,
          currency: d.currency,
          bill_cycle_day: d.billCycleDay,
          batch: d.batch,
          bill_to_email: d.billToEmail,
          payment_term_days: d.paymentTermDays,
          status: d.status,
        },
      });
    }
    // Built here, while earlier batches are written, so that a write's transaction never waits on
    // it; as one array per column, which PostgreSQL reads faster than a JSON record set (a fifth
    // of the INSERT's time, trigram indexes aside). Ids and integers need no quoting; the driver
    // quotes the text (and writes a missing account number as NULL).
    const columns = [
      bareArrayLiteral(inserts.map((i) => i.id)),
      inserts.map((i) => i.number),
      inserts.map((i) => i.data.name),
      inserts.map((i) => i.data.currency),
      bareArrayLiteral(inserts.map((i) => i.data.bill_cycle_day)),
      bareArrayLiteral(inserts.map((i) => i.data.batch)),
      inserts.map((i) => i.data.bill_to_email),
      bareArrayLiteral(inserts.map((i) => i.data.payment_term_days)),
      inserts.map((i) => i.data.status),
    ];
    return {
      keys: inserts.map((i) => i.number).filter((n): n is string => n !== null),
      apply: async (sql) => {
        let imported = 0;
        if (inserts.length > 0) {
          const created = await insertUnlessTaken(sql, (guarded) =>
            sql.query<{ id: string }>(
              `INSERT INTO accounts (id, account_number, name, currency, bill_cycle_day, batch, bill_to_email, payment_term_days, status)
               SELECT u.id, COALESCE(u.number, billrun_number('A-', nextval('account_number_seq'))), u.name, u.currency, u.bcd, u.batch, u.email, u.terms, u.status::"AccountStatus"
                 FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::text[], $8::int[], $9::text[])
                      AS u(id, number, name, currency, bcd, batch, email, terms, status)
               ${guarded ? "ON CONFLICT (account_number) DO NOTHING RETURNING id" : ""}`,
              columns,
            ),
          );
          imported += created?.size ?? inserts.length;
          // Taken by someone else between the lookup and the insert.
          for (const i of inserts) {
            if (created && !created.has(i.id))
              errors.push({ line: i.line, field: "accountNumber", code: "CONFLICT", message: `account number ${i.number} is already taken` });
          }
        }
        if (updates.length > 0) {
          await sql.query(
            `UPDATE accounts a
                SET name = u.name, bill_cycle_day = u.bcd, batch = u.batch, bill_to_email = u.email,
                    payment_term_days = u.terms, status = u.status::"AccountStatus", updated_at = now()
               FROM json_to_recordset($1::json) AS u(id uuid, name text, bcd int, batch int, email text, terms int, status text)
              WHERE a.id = u.id`,
            [
              JSON.stringify(
                updates.map(({ data: a }) => ({
                  id: a.id,
                  name: a.name,
                  bcd: a.bill_cycle_day,
                  batch: a.batch,
                  email: a.bill_to_email,
                  terms: a.payment_term_days,
                  status: a.status,
                })),
              ),
            ],
          );
          imported += updates.length;
        }
        return { imported, skipped, errors };
      },
    };
  },
};

// --- subscriptions (one row per charge) ---------------------------------------------------------

/**
 * A subscription row: the subscription's fields (repeated, or left empty, on its other rows) and
 * one charge's. The charge's own `name`, `type`, `startDate` and `endDate` are prefixed `charge`
 * so that a row says which is which.
 */
const SUBSCRIPTION_COLUMNS: Columns = {
  accountNumber: "string",
  subscriptionNumber: "string",
  startDate: "string",
  invoiceSeparately: "boolean",
  chargeName: "string",
  chargeType: "string",
  currency: "string",
  price: "decimal",
  quantity: "decimal",
  chargeStartDate: "string",
  chargeEndDate: "string",
  billingPeriod: "string",
  billingTiming: "string",
  unitOfMeasure: "string",
};

const SUBSCRIPTION_FIELDS = ["accountNumber", "startDate", "invoiceSeparately"] as const;
const CHARGE_COLUMN_OF: Record<string, string> = { name: "chargeName", type: "chargeType", startDate: "chargeStartDate", endDate: "chargeEndDate" };
const chargeColumn = (field: string) => CHARGE_COLUMN_OF[field] ?? field;

const subscriptionNumberOf = (row: Row) => (typeof row.values.subscriptionNumber === "string" ? row.values.subscriptionNumber.trim() : undefined);

const subscriptions: KindWriter = {
  columns: SUBSCRIPTION_COLUMNS,
  groupKey: subscriptionNumberOf,
  pipelined: () => true,
  prepare: async (sql, rows, mode) => {
    const errors: RowError[] = [];
    let skipped = 0;
    // Consecutive rows with one subscription number make one subscription.
    const groups: Row[][] = [];
    for (const row of rows) {
      const last = groups.at(-1);
      const number = subscriptionNumberOf(row);
      if (last && number !== undefined && subscriptionNumberOf(last[0]!) === number) last.push(row);
      else groups.push([row]);
    }
    const accountNumbers = [
      ...new Set(
        groups
          .map((g) => g[0]!.values.accountNumber)
          .filter((n): n is string => typeof n === "string")
          .map((n) => n.trim()),
      ),
    ];
    const subscriptionNumbers = [...new Set(groups.map((g) => subscriptionNumberOf(g[0]!)).filter((n): n is string => n !== undefined))];
    const [accountsFound, subscriptionsFound] = await Promise.all([
      sql.query<{ id: string; account_number: string; currency: string }>(
        `SELECT id, account_number, currency FROM accounts WHERE account_number = ANY($1::text[])`,
        [accountNumbers],
      ),
      sql.query<{ subscription_number: string; account_number: string }>(
        `SELECT s.subscription_number, a.account_number FROM subscriptions s JOIN accounts a ON a.id = s.account_id WHERE s.subscription_number = ANY($1::text[])`,
        [subscriptionNumbers],
      ),
    ]);
    const accountByNumber = new Map(accountsFound.rows.map((a) => [a.account_number, a]));
    const existing = new Map(subscriptionsFound.rows.map((s) => [s.subscription_number, s.account_number]));

    type Ready = {
      id: string;
      number: string;
      accountId: string;
      currency: string;
      lines: number[];
      data: z.output<typeof inputSchemas.createSubscriptionInput>;
    };
    const ready: Ready[] = [];
    /** Rejects a whole subscription: `own` errors on their rows, the other rows named after the first. */
    const reject = (group: Row[], own: RowError[]) => {
      const first = own.reduce((min, e) => Math.min(min, e.line), Infinity);
      const number = subscriptionNumberOf(group[0]!);
      for (const row of group) {
        const error = own.find((e) => e.line === row.line);
        errors.push(
          error ?? {
            line: row.line,
            field: "subscriptionNumber",
            code: "VALIDATION",
            message: `not imported: subscription ${number} has a rejected row (line ${first})`,
          },
        );
      }
    };
    const seen = new Set<string>();
    for (const group of groups) {
      const head = group[0]!;
      const own = group.filter((r) => r.error).map((r) => r.error!);
      const number = subscriptionNumberOf(head);
      if (number === undefined) {
        reject(group, [
          ...own.filter((e) => e.line !== head.line),
          { line: head.line, field: "subscriptionNumber", code: "VALIDATION", message: "subscriptionNumber: required (it groups a subscription's charges)" },
        ]);
        continue;
      }
      for (const row of group.slice(1)) {
        for (const field of SUBSCRIPTION_FIELDS) {
          const value = row.values[field];
          if (value !== undefined && !row.error && value !== head.values[field]) {
            own.push({ line: row.line, field, code: "VALIDATION", message: `${field}: differs from line ${head.line} of the same subscription` });
            break;
          }
        }
      }
      if (own.length > 0) {
        reject(group, own);
        continue;
      }
      if (seen.has(number)) {
        reject(group, [
          {
            line: head.line,
            field: "subscriptionNumber",
            code: "CONFLICT",
            message: `subscription ${number} appears twice in this batch: a subscription's rows must be consecutive`,
          },
        ]);
        continue;
      }
      seen.add(number);
      const accountNumber = typeof head.values.accountNumber === "string" ? head.values.accountNumber.trim() : undefined;
      const owner = existing.get(number);
      if (owner !== undefined) {
        if (mode === "UPSERT" && owner === accountNumber) {
          // Subscriptions are never changed by an import (their charges may be billed already).
          skipped += group.length;
        } else {
          reject(group, [
            {
              line: head.line,
              field: "subscriptionNumber",
              code: "CONFLICT",
              message: `subscription number ${number} is already taken${owner !== accountNumber ? ` (by account ${owner})` : ""}`,
            },
          ]);
        }
        continue;
      }
      const account = accountNumber !== undefined ? accountByNumber.get(accountNumber) : undefined;
      if (!account) {
        reject(group, [
          accountNumber === undefined
            ? { line: head.line, field: "accountNumber", code: "VALIDATION", message: "accountNumber: required" }
            : { line: head.line, field: "accountNumber", code: "NOT_FOUND", message: `account ${accountNumber} not found` },
        ]);
        continue;
      }
      const input = {
        accountId: account.id,
        subscriptionNumber: number,
        startDate: head.values.startDate,
        invoiceSeparately: head.values.invoiceSeparately,
        charges: group.map((r) => {
          const v = r.values;
          return {
            name: v.chargeName,
            type: v.chargeType,
            currency: v.currency,
            price: v.price,
            quantity: v.quantity,
            startDate: v.chargeStartDate,
            endDate: v.chargeEndDate,
            billingPeriod: v.billingPeriod,
            billingTiming: v.billingTiming,
            unitOfMeasure: v.unitOfMeasure,
          };
        }),
      };
      const plain = plainSubscription(input);
      const parsed = plain ? { success: true as const, data: plain } : inputSchemas.createSubscriptionInput.safeParse(input);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        const [top, index, field] = issue.path;
        const onCharge = top === "charges" && typeof index === "number" && group[index];
        const line = onCharge ? group[index]!.line : head.line;
        const column = onCharge
          ? field === undefined
            ? "chargeName"
            : chargeColumn(String(field))
          : top === "charges"
            ? "chargeName"
            : String(top ?? "") || null;
        reject(group, [{ line, field: column, code: "VALIDATION", message: column ? `${column}: ${issue.message}` : issue.message }]);
        continue;
      }
      ready.push({ id: timeOrderedId(), number, accountId: account.id, currency: account.currency, lines: group.map((r) => r.line), data: parsed.data });
    }

    // Subscriptions of one plan repeat the same charges: each distinct charge is sent once (a
    // template), and each charge as its id, its subscription and its template's number. Built
    // here, while earlier batches are written, so that a write's transaction never waits on it.
    const templates: ChargeTemplate[] = [];
    // A plan's few charges are found by comparing their fields with the templates met at their
    // position (cheaper than building and hashing a key of all of them per charge); past
    // SCANNED_TEMPLATES at one position, further ones are found by such a key.
    const scanned: ChargeTemplate[][] = [];
    const keyed = new Map<string, number>();
    const charges: { ids: string[]; subscriptions: string[]; templates: number[] } = { ids: [], subscriptions: [], templates: [] };
    for (const s of ready) {
      s.data.charges.forEach((c, position) => {
        const t: ChargeTemplate = {
          k: templates.length,
          position,
          name: c.name,
          type: c.type,
          currency: c.currency ?? s.currency,
          price: c.price,
          quantity: c.quantity,
          start_date: c.startDate ?? s.data.startDate,
          end_date: c.endDate ?? null,
          period: c.billingPeriod ?? null,
          timing: c.type === "RECURRING" ? (c.billingTiming ?? "IN_ADVANCE") : c.type === "USAGE" ? "IN_ARREARS" : null,
          uom: c.unitOfMeasure ?? null,
        };
        const near = (scanned[position] ??= []);
        let k = near.find((n) => sameTemplate(n, t))?.k;
        if (k === undefined && near.length >= SCANNED_TEMPLATES) {
          const key = [position, t.name, t.type, t.currency, t.price, t.quantity, t.start_date, t.end_date, t.period, t.timing, t.uom].join("\u0000");
          k = keyed.get(key);
          if (k === undefined) keyed.set(key, t.k);
        }
        if (k === undefined) {
          k = t.k;
          templates.push(t);
          if (near.length < SCANNED_TEMPLATES) near.push(t);
        }
        charges.ids.push(timeOrderedId());
        charges.subscriptions.push(s.id);
        charges.templates.push(k);
      });
    }
    const templatesJson = JSON.stringify(templates);
    // The statements' parameters, built here too. Arrays rather than JSON: less text to build
    // here and to parse there. Ids, dates and booleans are written as array literals directly
    // (none needs quoting); numbers, which are the file's text, are quoted by the driver.
    const subscriptionColumns = [
      bareArrayLiteral(ready.map((s) => s.id)),
      ready.map((s) => s.number),
      bareArrayLiteral(ready.map((s) => s.accountId)),
      bareArrayLiteral(ready.map((s) => s.data.startDate)),
      bareArrayLiteral(ready.map((s) => (s.data.invoiceSeparately ? "t" : "f"))),
    ];
    const chargeColumns = (c: typeof charges) => [bareArrayLiteral(c.ids), bareArrayLiteral(c.subscriptions), bareArrayLiteral(c.templates), templatesJson];
    const allCharges = chargeColumns(charges);

    return {
      keys: ready.map((s) => s.number),
      apply: async (sql) => {
        let imported = 0;
        if (ready.length > 0) {
          const created = await insertUnlessTaken(sql, (guarded) =>
            sql.query<{ id: string }>(
              `INSERT INTO subscriptions (id, subscription_number, account_id, start_date, invoice_separately)
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::date[], $5::boolean[])
               ${guarded ? "ON CONFLICT (subscription_number) DO NOTHING RETURNING id" : ""}`,
              subscriptionColumns,
            ),
          );
          let written = charges;
          if (created) {
            // A number taken by someone else since the lookup: those subscriptions and their charges are refused.
            for (const s of ready) {
              if (created.has(s.id)) continue;
              reject(
                s.lines.map((line) => ({ line, values: { subscriptionNumber: s.number } })),
                [{ line: s.lines[0]!, field: "subscriptionNumber", code: "CONFLICT", message: `subscription number ${s.number} is already taken` }],
              );
            }
            written = { ids: [], subscriptions: [], templates: [] };
            charges.subscriptions.forEach((subscription, i) => {
              if (!created.has(subscription)) return;
              written.ids.push(charges.ids[i]!);
              written.subscriptions.push(subscription);
              written.templates.push(charges.templates[i]!);
            });
          }
          for (const s of ready) if (!created || created.has(s.id)) imported += s.lines.length;
          if (written.ids.length > 0) {
            await sql.query(
              `INSERT INTO charges (id, subscription_id, position, name, type, currency, price, quantity, start_date, end_date, billing_period, billing_timing, unit_of_measure)
               SELECT c.i, c.s, t.position, t.name, t.type::"ChargeType", t.currency, t.price, t.quantity, t.start_date, t.end_date,
                      t.period::"BillingPeriod", t.timing::"BillingTiming", t.uom
                 FROM unnest($1::uuid[], $2::uuid[], $3::int[]) AS c(i, s, t)
                 JOIN (SELECT * FROM json_to_recordset($4::json)
                              AS t(k int, position int, name text, type text, currency text, price numeric, quantity numeric, start_date date, end_date date,
                                   period text, timing text, uom text)) AS t ON t.k = c.t`,
              written === charges ? allCharges : chargeColumns(written),
            );
          }
        }
        return { imported, skipped, errors };
      },
    };
  },
};

/**
 * Inserts a batch whose unique keys (numbers, usageIds) were free when it was prepared:
 * `insert(false)` runs the plain INSERT; only if it meets a key taken since, or twice in the batch
 * (a unique violation, which is rare) does the batch go in again, from a savepoint, with
 * `insert(true)`: ON CONFLICT DO NOTHING, returning as `id` the key of each row it wrote. ON
 * CONFLICT on every batch would cost each row a second probe of the unique index and a WAL record
 * more (about 15 % of a subscription's INSERT, 10 % of a usage record's). Returns the keys written
 * (nulls left out), or null when the plain INSERT wrote every row. Runs inside the caller's
 * transaction.
 */
async function insertUnlessTaken(
  sql: pg.ClientBase,
  insert: (guarded: boolean) => Promise<pg.QueryResult<{ id: string | null }>>,
): Promise<Set<string> | null> {
  await sql.query("SAVEPOINT batch_insert");
  let written: Set<string> | null = null;
  try {
    await insert(false);
  } catch (error) {
    if ((error as { code?: unknown }).code !== "23505") throw error;
    await sql.query("ROLLBACK TO SAVEPOINT batch_insert");
    written = new Set((await insert(true)).rows.map((r) => r.id).filter((id): id is string => id !== null));
  }
  await sql.query("RELEASE SAVEPOINT batch_insert");
  return written;
}

/** Templates compared field by field per charge position, at most (then looked up by key). */
const SCANNED_TEMPLATES = 8;

/** Whether two templates describe the same charge (their numbers aside). */
const sameTemplate = (a: ChargeTemplate, b: ChargeTemplate) =>
  a.position === b.position &&
  a.name === b.name &&
  a.type === b.type &&
  a.currency === b.currency &&
  a.price === b.price &&
  a.quantity === b.quantity &&
  a.start_date === b.start_date &&
  a.end_date === b.end_date &&
  a.period === b.period &&
  a.timing === b.timing &&
  a.uom === b.uom;

/** A charge as its subscriptions share it (k: its number in the batch's list of templates). */
interface ChargeTemplate {
  k: number;
  position: number;
  name: string;
  type: string;
  currency: string;
  price: string;
  quantity: string;
  start_date: string;
  end_date: string | null;
  period: string | null;
  timing: string | null;
  uom: string | null;
}

// --- usage ----------------------------------------------------------------------------------------

const USAGE_COLUMNS: Columns = {
  subscriptionNumber: "string",
  chargeName: "string",
  quantity: "decimal",
  unitOfMeasure: "string",
  usageDate: "string",
  usageId: "string",
};

const USAGE_ID = /^[\x21-\x7e]{1,255}$/;

interface ChargeKey {
  /** The key's position in the lookup's arrays. */
  slot: number;
  subscription_id: string;
  charge_id: string | null;
  type: string | null;
  start_date: string | null;
  charged_through_date: string | null;
  price: string | null;
  currency: string;
}

const usage: KindWriter = {
  columns: USAGE_COLUMNS,
  pipelined: () => true,
  prepare: async (sql, rows) => {
    const errors: RowError[] = [];
    type Valid = {
      line: number;
      subscriptionNumber: string;
      chargeName: string;
      quantity: string;
      unitOfMeasure: string;
      usageDate: string;
      usageId: string | null;
      /** Subscription number and charge name, as the lookup's key. */
      key: string;
      /** Set once the charge is found. */
      subscriptionId: string;
      chargeId: string;
    };
    const valid: Valid[] = [];
    for (const row of rows) {
      if (row.error) {
        errors.push(row.error);
        continue;
      }
      const { subscriptionNumber, usageId } = row.values;
      if (typeof subscriptionNumber !== "string" || subscriptionNumber.trim() === "") {
        errors.push({ line: row.line, field: "subscriptionNumber", code: "VALIDATION", message: "subscriptionNumber: required" });
        continue;
      }
      if (row.values.chargeName === undefined) {
        errors.push({ line: row.line, field: "chargeName", code: "VALIDATION", message: "chargeName: required" });
        continue;
      }
      let d = plainUsage(PLACEHOLDER_ID, row.values);
      if (!d) {
        const { subscriptionNumber: _number, usageId: _id, ...rest } = row.values;
        const parsed = inputSchemas.recordUsageInput.safeParse({ subscriptionId: PLACEHOLDER_ID, ...rest });
        if (!parsed.success) {
          errors.push(zodError(row.line, parsed.error.issues, (path) => String(path[0] ?? "") || null));
          continue;
        }
        d = parsed.data;
      }
      const id = typeof usageId === "string" ? usageId.trim() : null;
      if (id !== null && !USAGE_ID.test(id)) {
        errors.push({ line: row.line, field: "usageId", code: "VALIDATION", message: "usageId: 1 to 255 printable characters without spaces" });
        continue;
      }
      const number = subscriptionNumber.trim();
      valid.push({
        line: row.line,
        subscriptionNumber: number,
        chargeName: d.chargeName!,
        quantity: d.quantity,
        unitOfMeasure: d.unitOfMeasure,
        usageDate: d.usageDate,
        usageId: id,
        key: `${number}\u0000${d.chargeName!}`,
        subscriptionId: "",
        chargeId: "",
      });
    }
    if (valid.length === 0) return { keys: [], apply: async () => ({ imported: 0, skipped: 0, errors }) };

    // Each distinct (subscription, charge) once, sent as two text arrays (cheaper for PostgreSQL to
    // read than a JSON record set) and found again by its position in them. Each is looked up
    // through the indexes (LATERAL, OFFSET 0): knowing how many keys come, the planner would
    // otherwise hash whole tables for a few thousand of their rows.
    const slots = new Map<string, number>();
    const subscriptionNumbers: string[] = [];
    const chargeNames: string[] = [];
    const slotOf = new Int32Array(valid.length);
    valid.forEach((v, i) => {
      let slot = slots.get(v.key);
      if (slot === undefined) {
        slot = subscriptionNumbers.length;
        slots.set(v.key, slot);
        subscriptionNumbers.push(v.subscriptionNumber);
        chargeNames.push(v.chargeName);
      }
      slotOf[i] = slot;
    });
    const found = await sql.query<ChargeKey>(
      `SELECT k.n::int - 1 AS slot, s.id AS subscription_id, c.id AS charge_id, c.type::text AS type,
              c.start_date::text AS start_date, c.charged_through_date::text AS charged_through_date,
              c.price::text AS price, s.currency
         FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(sn, cn, n)
         CROSS JOIN LATERAL (SELECT s.id, a.currency FROM subscriptions s JOIN accounts a ON a.id = s.account_id
                              WHERE s.subscription_number = k.sn OFFSET 0) AS s
         LEFT JOIN LATERAL (SELECT c.id, c.type, c.start_date, c.charged_through_date, c.price FROM charges c
                             WHERE c.subscription_id = s.id AND c.name = k.cn OFFSET 0) AS c ON true`,
      [subscriptionNumbers, chargeNames],
    );
    const charges: (ChargeKey | undefined)[] = new Array(subscriptionNumbers.length);
    for (const c of found.rows) charges[c.slot] = c;
    const accepted: Valid[] = [];
    for (let i = 0; i < valid.length; i++) {
      const v = valid[i]!;
      const c = charges[slotOf[i]!];
      // The same rules and words as recordUsage.
      if (!c) {
        errors.push({ line: v.line, field: "subscriptionNumber", code: "NOT_FOUND", message: `subscription ${v.subscriptionNumber} not found` });
      } else if (!c.charge_id) {
        errors.push({ line: v.line, field: "chargeName", code: "NOT_FOUND", message: `no charge "${v.chargeName}" on subscription ${v.subscriptionNumber}` });
      } else if (c.type !== "USAGE") {
        errors.push({
          line: v.line,
          field: "chargeName",
          code: "VALIDATION",
          message: `chargeName: charge "${v.chargeName}" is a ${c.type} charge, not a USAGE charge`,
        });
      } else if (!surelyFits(c.price!, v.quantity) && !amountFits(extendedAmount(c.price!, v.quantity, c.currency), minorUnits(c.currency))) {
        errors.push({
          line: v.line,
          field: "quantity",
          code: "VALIDATION",
          message: "quantity: quantity × the charge's price must be less than 10^20 (the largest amount an item can hold)",
        });
      } else if (v.usageDate < c.start_date!) {
        errors.push({ line: v.line, field: "usageDate", code: "VALIDATION", message: `usageDate: charge "${v.chargeName}" starts on ${c.start_date!}` });
      } else if (c.charged_through_date && v.usageDate < c.charged_through_date) {
        errors.push({
          line: v.line,
          field: "usageDate",
          code: "INVALID_STATE",
          message: `usage before ${c.charged_through_date} is already billed for charge "${v.chargeName}"`,
        });
      } else {
        v.subscriptionId = c.subscription_id;
        v.chargeId = c.charge_id;
        accepted.push(v);
      }
    }
    if (accepted.length === 0) return { keys: [], apply: async () => ({ imported: 0, skipped: 0, errors }) };
    // Built here, while earlier batches are written, so that a write's transaction never waits on it.
    const records = JSON.stringify(
      accepted.map((u) => ({
        id: timeOrderedId(),
        sid: u.subscriptionId,
        cid: u.chargeId,
        quantity: u.quantity,
        uom: u.unitOfMeasure,
        usage_date: u.usageDate,
        usage_id: u.usageId,
      })),
    );
    return {
      keys: accepted.map((u) => u.usageId).filter((id): id is string => id !== null),
      apply: async (sql) => {
        // A file sent again meets a taken usageId at its first row: the plain INSERT stops there.
        const fresh = await insertUnlessTaken(sql, (guarded) =>
          sql.query<{ id: string | null }>(
            `INSERT INTO usage_records (id, subscription_id, charge_id, quantity, unit_of_measure, usage_date, usage_id)
             SELECT u.id, u.sid, u.cid, u.quantity, u.uom, u.usage_date, u.usage_id
               FROM json_to_recordset($1::json) AS u(id uuid, sid uuid, cid uuid, quantity numeric, uom text, usage_date date, usage_id text)
             ${guarded ? "ON CONFLICT (usage_id) DO NOTHING RETURNING usage_id AS id" : ""}`,
            [records],
          ),
        );
        if (!fresh) return { imported: accepted.length, skipped: 0, errors };
        let skipped = 0;
        // A usageId recorded before (or earlier in this batch): the same record again is a no-op;
        // other values under the same id are refused rather than silently dropped.
        const repeats = accepted.filter((u) => {
          if (u.usageId === null) return false;
          if (fresh.has(u.usageId)) {
            fresh.delete(u.usageId);
            return false;
          }
          return true;
        });
        const imported = accepted.length - repeats.length;
        if (repeats.length > 0) {
          const stored = await sql.query<{ usage_id: string; charge_id: string; quantity: string; unit_of_measure: string; usage_date: string }>(
            `SELECT usage_id, charge_id, quantity::text AS quantity, unit_of_measure, usage_date::text AS usage_date FROM usage_records WHERE usage_id = ANY($1::text[])`,
            [repeats.map((u) => u.usageId)],
          );
          const byId = new Map(stored.rows.map((s) => [s.usage_id, s]));
          for (const u of repeats) {
            const s = byId.get(u.usageId!);
            if (
              s &&
              s.charge_id === u.chargeId &&
              sameDecimal(s.quantity, u.quantity) &&
              s.unit_of_measure === u.unitOfMeasure &&
              s.usage_date === u.usageDate
            ) {
              skipped++;
            } else {
              errors.push({ line: u.line, field: "usageId", code: "CONFLICT", message: `usageId ${u.usageId} is already recorded with other values` });
            }
          }
        }
        return { imported, skipped, errors };
      },
    };
  },
};

export const WRITERS: Record<ImportKind, KindWriter> = { ACCOUNTS: accounts, SUBSCRIPTIONS: subscriptions, USAGE: usage };
