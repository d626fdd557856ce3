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
  const accounts = await sql.query(
    `SELECT id, account_number, currency, bill_cycle_day, bill_to_email, payment_term_days
         FROM accounts WHERE id = ANY($1::uuid[]) ORDER BY account_number`,
    [ids],
  );
  const subscriptions = await sql.query(
    `SELECT id, account_id, subscription_number, status, to_char(start_date, 'YYYY-MM-DD') AS start_date,
              to_char(cancelled_on, 'YYYY-MM-DD') AS cancelled_on, invoice_separately
         FROM subscriptions WHERE account_id = ANY($1::uuid[]) ORDER BY subscription_number`,
    [ids],
  );
  // By the subscriptions' ids rather than a join on their accounts: the planner then reads the
  // charges through their index, where the join led it to scan every charge for every chunk.
  const subscriptionIds = subscriptions.rows.map((s) => s.id as string);
  const charges = await sql.query(
    `SELECT c.id, c.subscription_id, c.name, c.type, c.currency, c.price::text AS price, c.quantity::text AS quantity,
              to_char(c.start_date, 'YYYY-MM-DD') AS start_date, to_char(c.end_date, 'YYYY-MM-DD') AS end_date,
              c.billing_period, c.billing_timing, c.unit_of_measure,
              to_char(c.charged_through_date, 'YYYY-MM-DD') AS charged_through_date
         FROM charges c
        WHERE c.subscription_id = ANY($1::uuid[]) ORDER BY c.subscription_id, c.position, c.name`,
    [arrayLiteral(subscriptionIds)],
  );
  // Only usage that a period ending by the target date can still rate.
  // Likewise by the USAGE charges' ids (the index on usage_records leads with them); none, no query.
  const usageChargeIds = charges.rows.filter((c) => c.type === "USAGE").map((c) => c.id as string);
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
    (c) => c.subscription_id,
    (c): ChargeInput => ({
      id: c.id,
      name: c.name,
      type: c.type,
      currency: c.currency,
      price: c.price,
      quantity: c.quantity,
      startDate: c.start_date,
      endDate: c.end_date,
      billingPeriod: c.billing_period,
      billingTiming: c.billing_timing,
      unitOfMeasure: c.unit_of_measure,
      chargedThroughDate: c.charged_through_date,
    }),
  );
  const subscriptionsByAccount = groupBy(
    subscriptions.rows,
    (s) => s.account_id,
    (s): SubscriptionInput => ({
      id: s.id,
      subscriptionNumber: s.subscription_number,
      status: s.status,
      startDate: s.start_date,
      cancelledOn: s.cancelled_on,
      invoiceSeparately: s.invoice_separately,
      charges: chargesBySubscription.get(s.id) ?? [],
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
    id: a.id,
    accountNumber: a.account_number,
    currency: a.currency,
    billCycleDay: a.bill_cycle_day,
    billToEmail: a.bill_to_email,
    paymentTermDays: a.payment_term_days,
    subscriptions: subscriptionsByAccount.get(a.id) ?? [],
    usage: usageByAccount.get(a.id) ?? [],
  }));
}

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
