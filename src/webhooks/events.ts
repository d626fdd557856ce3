// The event types an endpoint may subscribe to, and how a stored webhook event becomes the body
// that is signed and sent.
import { formatAmount } from "../billing/money.ts";

/** Every type an endpoint may subscribe to (SPEC: these names are the contract). */
export const WEBHOOK_EVENT_TYPES = [
  "bill_run.status_changed",
  "bill_run.completed",
  "bill_run.error",
  "bill_run.posted",
  "bill_run.account_failed",
  "invoice.posted",
  "credit_memo.posted",
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** The type of the message sendTestWebhook sends; no endpoint subscribes to it, every endpoint may receive it. */
export const TEST_EVENT_TYPE = "webhook.test";

export function isWebhookEventType(value: string): value is WebhookEventType {
  return (WEBHOOK_EVENT_TYPES as readonly string[]).includes(value);
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Amounts are stored as the database holds them ("20.0000"); the API shows them in the currency's minor units ("20.00"). */
function formatAmounts(data: Json): Json {
  if (Array.isArray(data)) return data.map(formatAmounts);
  if (data === null || typeof data !== "object") return data;
  const currency = typeof data.currency === "string" ? data.currency : null;
  const out: { [key: string]: Json } = {};
  for (const [key, value] of Object.entries(data)) {
    if (currency && (key === "amount" || key === "balance") && typeof value === "string") out[key] = formatAmountSafely(value, currency);
    else out[key] = formatAmounts(value);
  }
  return out;
}

function formatAmountSafely(amount: string, currency: string): string {
  try {
    return formatAmount(amount, currency);
  } catch {
    return amount;
  }
}

/**
 * The body of a webhook: `{ type, timestamp, data }`, `timestamp` being when the event happened
 * (ISO 8601, UTC). The same stored event always renders to the same bytes, so every attempt of
 * a delivery, and every redelivery, sends the same body.
 */
export function renderBody(event: { type: string; data: unknown; createdAt: Date }): string {
  return JSON.stringify({ type: event.type, timestamp: event.createdAt.toISOString(), data: formatAmounts(event.data as Json) });
}
