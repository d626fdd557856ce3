import type pg from "pg";
import type { AccountInput, ChargeInput, SubscriptionInput, UsageInput } from "../billing/types.ts";
import { arrayLiteral } from "./arrays.ts";

type Queryable = Pick<pg.ClientBase, "query">;

/**
 * Reads what the billing core needs for a set of accounts in at most four set-based queries,
 * whatever the number of accounts. Dates come back as 'YYYY-MM-DD' text and numbers as
 * decimal text, so nothing passes through a JavaScript float.
 */
export async function loadBillingInputs(sql: Queryable, accountIds: readonly string[], targetDate: string): Promise<AccountInput[]> {
  if (accountIds.length === 0) return [];
  // Sequential: inside a transaction they share one connection.
  const ids = arrayLiteral(accountIds);
  // Rows as arrays (columns by position, in the order of each SELECT): node-postgres then builds
  // no object keyed by column name per row, a few percent of the worker's time for a chunk's
  // thousands of charges.
  const accounts = await sql.query<Row>({
    text: `SELECT id, account_number, currency, bill_cycle_day, bill_to_email, payment_term_days
         FROM accounts WHERE id = ANY($1::uuid[]) ORDER BY account_number`,
    values: [ids],
    rowMode: "array",
  });
  const subscriptions = await sql.query<Row>({
    text: `SELECT id, account_id, subscription_number, status, to_char(start_date, 'YYYY-MM-DD') AS start_date,
              to_char(cancelled_on, 'YYYY-MM-DD') AS cancelled_on, invoice_separately
         FROM subscriptions WHERE account_id = ANY($1::uuid[]) ORDER BY subscription_number`,
    values: [ids],
    rowMode: "array",
  });
  // By the subscriptions' ids rather than a join on their accounts: the planner then reads the
  // charges through their index, where the join led it to scan every charge for every chunk.
  const subscriptionIds = subscriptions.rows.map((s) => s[0] as string);
  const charges = await sql.query<Row>({
    text: `SELECT c.id, c.subscription_id, c.name, c.type, c.currency, c.price::text AS price, c.quantity::text AS quantity,
              to_char(c.start_date, 'YYYY-MM-DD') AS start_date, to_char(c.end_date, 'YYYY-MM-DD') AS end_date,
              c.billing_period, c.billing_timing, c.unit_of_measure,
              to_char(c.charged_through_date, 'YYYY-MM-DD') AS charged_through_date
         FROM charges c
        WHERE c.subscription_id = ANY($1::uuid[]) ORDER BY c.subscription_id, c.position, c.name`,
    values: [arrayLiteral(subscriptionIds)],
    rowMode: "array",
  });
  // Only usage that a period ending by the target date can still rate.
  // Likewise by the USAGE charges' ids (the index on usage_records leads with them); none, no query.
  const usageChargeIds = charges.rows.filter((c) => c[3] === "USAGE").map((c) => c[0] as string);
  const usage =
    usageChargeIds.length === 0
      ? { rows: [] }
      : await sql.query(
          `SELECT s.account_id, u.charge_id, u.quantity::text AS quantity, u.unit_of_measure,
              to_char(u.usage_date, 'YYYY-MM-DD') AS usage_date
         FROM usage_records u
         JOIN charges c ON c.id = u.charge_id
         JOIN subscriptions s ON s.id = u.subscription_id
        WHERE u.charge_id = ANY($1::uuid[])
          AND u.usage_date >= COALESCE(c.charged_through_date, c.start_date) AND u.usage_date < $2::date`,
          [arrayLiteral(usageChargeIds), targetDate],
        );

  const chargesBySubscription = groupBy(
    charges.rows,
    (c) => c[1] as string,
    (c): ChargeInput => ({
      id: c[0] as string,
      name: c[2] as string,
      type: c[3] as ChargeInput["type"],
      currency: c[4] as string,
      price: c[5] as string,
      quantity: c[6] as string,
      startDate: c[7] as string,
      endDate: c[8] as string | null,
      billingPeriod: c[9] as ChargeInput["billingPeriod"],
      billingTiming: c[10] as ChargeInput["billingTiming"],
      unitOfMeasure: c[11] as string | null,
      chargedThroughDate: c[12] as string | null,
    }),
  );
  const subscriptionsByAccount = groupBy(
    subscriptions.rows,
    (s) => s[1] as string,
    (s): SubscriptionInput => ({
      id: s[0] as string,
      subscriptionNumber: s[2] as string,
      status: s[3] as SubscriptionInput["status"],
      startDate: s[4] as string,
      cancelledOn: s[5] as string | null,
      invoiceSeparately: s[6] as boolean,
      charges: chargesBySubscription.get(s[0] as string) ?? [],
    }),
  );
  const usageByAccount = groupBy(
    usage.rows,
    (u) => u.account_id,
    (u): UsageInput => ({
      chargeId: u.charge_id,
      quantity: u.quantity,
      unitOfMeasure: u.unit_of_measure,
      usageDate: u.usage_date,
    }),
  );
  return accounts.rows.map((a) => ({
    id: a[0] as string,
    accountNumber: a[1] as string,
    currency: a[2] as string,
    billCycleDay: a[3] as number,
    billToEmail: a[4] as string,
    paymentTermDays: a[5] as number,
    subscriptions: subscriptionsByAccount.get(a[0] as string) ?? [],
    usage: usageByAccount.get(a[0] as string) ?? [],
  }));
}

/** A row read with `rowMode: "array"`: its columns in the order of the SELECT. */
type Row = unknown[];

/** Rows grouped under a key, each turned into what the billing core takes; order is kept. */
function groupBy<R, T>(rows: readonly R[], key: (row: R) => string, toItem: (row: R) => T): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const group = groups.get(key(row));
    if (group) group.push(toItem(row));
    else groups.set(key(row), [toItem(row)]);
  }
  return groups;
}
