// Builders for the billing core's tests: small accounts with sensible defaults, and the
// chargedThroughDate moves of a result applied back to the input (as the database would).

import type {
  AccountInput,
  AccountResult,
  ChargeInput,
  ChargeUpdate,
  ProposedDocument,
  ProposedItem,
  RunOptions,
  SubscriptionInput,
  UsageInput,
} from "./types.ts";

/** RECURRING, MONTH, IN_ADVANCE, 30.00 USD from 2026-01-10 — the charge of SPEC example 1. */
export function makeCharge(fields: Partial<ChargeInput> = {}): ChargeInput {
  return {
    id: "charge-1",
    name: "Seat",
    type: "RECURRING",
    currency: "USD",
    price: "30.00",
    quantity: "1",
    startDate: "2026-01-10",
    endDate: null,
    billingPeriod: "MONTH",
    billingTiming: "IN_ADVANCE",
    unitOfMeasure: null,
    chargedThroughDate: null,
    ...fields,
  };
}

export function makeUsageCharge(fields: Partial<ChargeInput> = {}): ChargeInput {
  return makeCharge({
    id: "usage-1",
    name: "API calls",
    type: "USAGE",
    price: "0.10",
    startDate: "2026-01-01",
    billingTiming: null,
    unitOfMeasure: "call",
    ...fields,
  });
}

export function makeSubscription(charges: ChargeInput[], fields: Partial<SubscriptionInput> = {}): SubscriptionInput {
  return {
    id: "sub-1",
    subscriptionNumber: "S-00000001",
    status: fields.cancelledOn ? "CANCELLED" : "ACTIVE",
    startDate: "2026-01-01",
    cancelledOn: null,
    invoiceSeparately: false,
    charges,
    ...fields,
  };
}

/** Account A-00000042, USD, bill cycle day 1, 30-day terms. */
export function makeAccount(subscriptions: SubscriptionInput[], fields: Partial<AccountInput> = {}): AccountInput {
  return {
    id: "account-42",
    accountNumber: "A-00000042",
    currency: "USD",
    billCycleDay: 1,
    billToEmail: "billing@example.com",
    paymentTermDays: 30,
    subscriptions,
    usage: [],
    ...fields,
  };
}

export function usage(quantity: string, usageDate: string, fields: Partial<UsageInput> = {}): UsageInput {
  return { chargeId: "usage-1", quantity, unitOfMeasure: "call", usageDate, ...fields };
}

export function runAt(targetDate: string, fields: Partial<RunOptions> = {}): RunOptions {
  return { targetDate, invoiceDate: targetDate, chargeTypesToExclude: [], ...fields };
}

type Success = Extract<AccountResult, { ok: true }>;
type Failure = Extract<AccountResult, { ok: false }>;

export function expectOk(result: AccountResult): Success {
  if (!result.ok) throw new Error(`expected success, got ${result.failure.code}: ${result.failure.message}`);
  return result;
}

export function expectFailure(result: AccountResult): Failure {
  if (result.ok) throw new Error(`expected a failure, got ${result.documents.length} documents`);
  return result;
}

export function allItems(result: AccountResult): ProposedItem[] {
  return expectOk(result).documents.flatMap((document: ProposedDocument) => document.items);
}

/** [serviceStart, serviceEnd, amount] of each item — compact to assert. */
export function itemSummary(result: AccountResult): [string, string, string][] {
  return allItems(result).map((item) => [item.serviceStart, item.serviceEnd, item.amount]);
}

/** The account as it reads after the result's chargedThroughDate moves are stored. */
export function applyChargeUpdates(account: AccountInput, updates: readonly ChargeUpdate[]): AccountInput {
  if (updates.length === 0) return account;
  const moved = new Map(updates.map((update) => [update.chargeId, update.to]));
  return {
    ...account,
    subscriptions: account.subscriptions.map((subscription) => ({
      ...subscription,
      charges: subscription.charges.map((charge) => (moved.has(charge.id) ? { ...charge, chargedThroughDate: moved.get(charge.id) ?? null } : charge)),
    })),
  };
}
