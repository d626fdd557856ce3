import type pg from "pg";

/**
 * Seeds `count` accounts × 2 subscriptions × 2 charges (one monthly in advance, one monthly
 * in arrears) directly in SQL, the way a migration from another billing system would load
 * them. Used by benchmarks and by tests that need volume. Ids are time-ordered (UUIDv7) and
 * drawn in account order, as the API and the bulk import draw them for rows created one
 * account after another.
 */
export async function seedBulkAccounts(pool: pg.Pool, count: number, options: { startDate?: string; prefix?: string } = {}): Promise<void> {
  const start = options.startDate ?? "2026-01-01";
  const prefix = options.prefix ?? "B";
  await pool.query(
    `INSERT INTO accounts (id, account_number, name, currency, bill_cycle_day, batch, bill_to_email, updated_at)
     SELECT uuidv7(), $2 || '-' || lpad(n::text, 8, '0'), 'Bulk customer ' || n,
            (ARRAY['USD','USD','USD','EUR','GBP','JPY'])[1 + n % 6], 1, 1 + n % 50, 'billing' || n || '@bulk.example', now()
       FROM generate_series(1, $1) AS n`,
    [count, prefix],
  );
  await pool.query(
    `INSERT INTO subscriptions (id, subscription_number, account_id, start_date)
     SELECT uuidv7(), a.account_number || '-S' || s, a.id, $2::date
       FROM accounts a CROSS JOIN generate_series(1, 2) AS s
      WHERE a.account_number LIKE $1 || '-%'
      ORDER BY a.account_number, s`,
    [prefix, start],
  );
  await pool.query(
    `INSERT INTO charges (id, subscription_id, position, name, type, currency, price, quantity, start_date, billing_period, billing_timing)
     SELECT uuidv7(), s.id, c.position, c.name, 'RECURRING', a.currency,
            CASE WHEN a.currency = 'JPY' THEN c.price * 100 ELSE c.price END, 1, s.start_date, 'MONTH', c.timing::"BillingTiming"
       FROM subscriptions s JOIN accounts a ON a.id = s.account_id
      CROSS JOIN (VALUES (0, 'Platform fee', 49.99, 'IN_ADVANCE'), (1, 'Support', 19.50, 'IN_ARREARS')) AS c(position, name, price, timing)
      WHERE a.account_number LIKE $1 || '-%'
      ORDER BY s.subscription_number, c.position`,
    [prefix],
  );
}
