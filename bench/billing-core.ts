// Benchmark of the pure billing core: 100,000 accounts × 2 subscriptions × 2 charges built in
// memory, billed with billAccount for a target date that bills 1–3 periods per charge.
// Run: ./node_modules/.bin/node bench/billing-core.ts   (or import { main } from a bench runner)

import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { billAccount, formatDate, parseDate, prepareRun } from "../src/billing/index.ts";
import type { AccountInput, ChargeInput, RunOptions, SubscriptionInput, UsageInput } from "../src/billing/index.ts";

const ACCOUNT_COUNT = 100_000;
const TARGET_DATE = "2026-04-01";

/** Deterministic pseudo-random numbers (mulberry32), so every run bills the same data. */
function randomGenerator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function charge(fields: Partial<ChargeInput> & Pick<ChargeInput, "id" | "name" | "type" | "startDate">): ChargeInput {
  return {
    currency: "USD",
    price: "10.00",
    quantity: "1",
    endDate: null,
    billingPeriod: null,
    billingTiming: null,
    unitOfMeasure: null,
    chargedThroughDate: null,
    ...fields,
  };
}

function buildAccount(index: number, random: () => number): AccountInput {
  const id = `acc-${index}`;
  const billCycleDay = 1 + Math.floor(random() * 31);
  // Starts between 2026-02-01 and 2026-03-30: 1–3 periods per charge are due by 2026-04-01.
  const startDate = formatDate(parseDate("2026-02-01") + Math.floor(random() * 58));
  const price = `${5 + Math.floor(random() * 200)}.${String(Math.floor(random() * 100)).padStart(2, "0")}`;
  const usage: UsageInput[] = [];

  const first: SubscriptionInput = {
    id: `${id}-s1`,
    subscriptionNumber: `S-${index}-1`,
    status: "ACTIVE",
    startDate,
    cancelledOn: null,
    invoiceSeparately: false,
    charges: [
      charge({
        id: `${id}-c1`,
        name: "Seats",
        type: "RECURRING",
        startDate,
        price,
        quantity: String(1 + Math.floor(random() * 20)),
        billingPeriod: "MONTH",
        billingTiming: random() < 0.5 ? "IN_ADVANCE" : "IN_ARREARS",
      }),
      charge({ id: `${id}-c2`, name: "Setup", type: "ONE_TIME", startDate, price: "99.00" }),
    ],
  };

  const withUsage = random() < 0.3;
  const second: SubscriptionInput = {
    id: `${id}-s2`,
    subscriptionNumber: `S-${index}-2`,
    status: "ACTIVE",
    startDate,
    cancelledOn: null,
    invoiceSeparately: index % 10 === 0,
    charges: [
      charge({
        id: `${id}-c3`,
        name: "Platform",
        type: "RECURRING",
        startDate,
        price: "300.00",
        billingPeriod: "QUARTER",
        billingTiming: "IN_ADVANCE",
      }),
      withUsage
        ? charge({ id: `${id}-c4`, name: "API calls", type: "USAGE", startDate, price: "0.002", billingPeriod: "MONTH", unitOfMeasure: "call" })
        : charge({ id: `${id}-c4`, name: "Support", type: "RECURRING", startDate, price: "49.00", billingPeriod: "MONTH", billingTiming: "IN_ARREARS" }),
    ],
  };
  if (withUsage) {
    for (let r = 0; r < 4; r += 1) {
      usage.push({
        chargeId: `${id}-c4`,
        quantity: String(Math.floor(random() * 10_000)),
        unitOfMeasure: "call",
        usageDate: formatDate(parseDate(startDate) + Math.floor(random() * 60)),
      });
    }
  }

  return {
    id,
    accountNumber: `A-${String(index).padStart(8, "0")}`,
    currency: "USD",
    billCycleDay,
    billToEmail: `billing+${index}@example.com`,
    paymentTermDays: 30,
    subscriptions: [first, second],
    usage,
  };
}

export function buildAccounts(count: number, seed = 42): AccountInput[] {
  const random = randomGenerator(seed);
  return Array.from({ length: count }, (_, index) => buildAccount(index, random));
}

interface RunFigures {
  seconds: number;
  accountsPerSecond: number;
  items: number;
  documents: number;
  failures: number;
}

function timeRun(accounts: readonly AccountInput[], options: RunOptions): RunFigures {
  const run = prepareRun(options);
  let items = 0;
  let documents = 0;
  let failures = 0;
  const started = performance.now();
  for (const account of accounts) {
    const result = billAccount(account, run);
    if (!result.ok) {
      failures += 1;
      continue;
    }
    documents += result.documents.length;
    for (const document of result.documents) items += document.items.length;
  }
  const seconds = (performance.now() - started) / 1000;
  return { seconds, accountsPerSecond: accounts.length / seconds, items, documents, failures };
}

export async function main(): Promise<RunFigures[]> {
  const buildStarted = performance.now();
  const accounts = buildAccounts(ACCOUNT_COUNT);
  console.log(
    `billing-core: built ${accounts.length.toLocaleString("en")} accounts × 2 subscriptions × 2 charges in ${((performance.now() - buildStarted) / 1000).toFixed(2)} s`,
  );
  const options: RunOptions = { targetDate: TARGET_DATE, invoiceDate: TARGET_DATE, chargeTypesToExclude: [] };
  const figures: RunFigures[] = [];
  for (let round = 1; round <= 2; round += 1) {
    const run = timeRun(accounts, options);
    figures.push(run);
    console.log(
      `billing-core run ${round}: ${Math.round(run.accountsPerSecond).toLocaleString("en")} accounts/s, ` +
        `${run.seconds.toFixed(3)} s total, ${run.items.toLocaleString("en")} items, ` +
        `${run.documents.toLocaleString("en")} documents, ${run.failures} failures`,
    );
  }
  const best = figures.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  console.log(
    JSON.stringify({
      bench: "billing-core",
      accounts: accounts.length,
      seconds: Number(best.seconds.toFixed(3)),
      accountsPerSecond: Math.round(best.accountsPerSecond),
      documents: best.documents,
      items: best.items,
      failures: best.failures,
    }),
  );
  return figures;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === import.meta.filename) {
  await main();
}
