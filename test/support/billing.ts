import type { TestApp } from "./app.ts";
import { waitFor } from "./wait.ts";

/** Polls a run until it reaches one of `statuses` (runs execute asynchronously in workers). */
export async function waitForStatus(t: TestApp, billRunId: string, statuses: string[], timeoutMs = 30_000): Promise<string> {
  let status = "";
  return waitFor(
    () => `bill run ${billRunId} to become ${statuses.join("/")} (it stayed ${status})`,
    async () => {
      const run = await t.app.db.billRun.findUnique({ where: { id: billRunId }, select: { status: true } });
      status = run?.status ?? "GONE";
      return statuses.includes(status) && status;
    },
    timeoutMs,
    100,
  );
}

/**
 * Polls until no job of `queue` for the run is waiting, retrying or running (pg-boss's job table):
 * after it, whatever those jobs were going to change has changed.
 */
export async function waitForJobsSettled(t: TestApp, queue: string, billRunId: string, timeoutMs = 30_000): Promise<void> {
  let open = 0;
  await waitFor(
    () => `the ${queue} jobs of bill run ${billRunId} to settle (${open} still open)`,
    async () => {
      const { rows } = await t.app.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND data->>'billRunId' = $2 AND state IN ('created', 'retry', 'active')`,
        [queue, billRunId],
      );
      open = rows[0]!.n;
      return open === 0;
    },
    timeoutMs,
  );
}

export interface ChargeSpec {
  name?: string;
  type: "ONE_TIME" | "RECURRING" | "USAGE";
  price: string;
  currency?: string;
  quantity?: string;
  startDate?: string;
  endDate?: string;
  billingPeriod?: "MONTH" | "QUARTER" | "SEMI_ANNUAL" | "ANNUAL";
  billingTiming?: "IN_ADVANCE" | "IN_ARREARS";
  unitOfMeasure?: string;
}

let counter = 0;

/** An account with one subscription and its charges, created through the service layer. */
export async function seedAccount(
  t: TestApp,
  options: {
    currency?: string;
    billCycleDay?: number;
    billToEmail?: string;
    batch?: number;
    startDate?: string;
    charges: ChargeSpec[];
    invoiceSeparately?: boolean;
  },
) {
  const { createAccount, createSubscription } = await import("../../src/accounts/service.ts");
  counter += 1;
  const account = await createAccount(t.app.db, {
    name: `Customer ${counter}`,
    currency: options.currency ?? "USD",
    billCycleDay: options.billCycleDay ?? 1,
    batch: options.batch ?? 1,
    billToEmail: options.billToEmail ?? `billing${counter}@example.com`,
  });
  const subscription = await createSubscription(t.app.db, {
    accountId: account.id,
    startDate: options.startDate ?? "2026-01-01",
    invoiceSeparately: options.invoiceSeparately ?? false,
    charges: options.charges.map((c, i) => ({ name: c.name ?? `Charge ${i + 1}`, ...c })),
  });
  return { account, subscription };
}
