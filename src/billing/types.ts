// Plain data in and out of the billing core. Dates are 'YYYY-MM-DD' strings; amounts,
// prices and quantities are decimal strings (never binary floats).

export type ChargeType = "ONE_TIME" | "RECURRING" | "USAGE";
export type BillingPeriod = "MONTH" | "QUARTER" | "SEMI_ANNUAL" | "ANNUAL";
export type BillingTiming = "IN_ADVANCE" | "IN_ARREARS";

export interface ChargeInput {
  id: string;
  name: string;
  type: ChargeType;
  currency: string;
  /** May be negative (a recurring credit). */
  price: string;
  /** ≥ 0 */
  quantity: string;
  startDate: string;
  /** Exclusive; null = evergreen. */
  endDate: string | null;
  /** RECURRING and USAGE only. */
  billingPeriod: BillingPeriod | null;
  /** RECURRING only; null means IN_ADVANCE. */
  billingTiming: BillingTiming | null;
  /** USAGE only. */
  unitOfMeasure: string | null;
  /** Exclusive end of what has been billed; null = nothing billed yet. */
  chargedThroughDate: string | null;
}

export interface UsageInput {
  chargeId: string;
  quantity: string;
  unitOfMeasure: string;
  usageDate: string;
}

export interface SubscriptionInput {
  id: string;
  subscriptionNumber: string;
  status: "ACTIVE" | "CANCELLED";
  startDate: string;
  /** Service ends the day before. */
  cancelledOn: string | null;
  invoiceSeparately: boolean;
  charges: ChargeInput[];
}

export interface AccountInput {
  id: string;
  accountNumber: string;
  currency: string;
  /** 1–31 */
  billCycleDay: number;
  billToEmail: string | null;
  paymentTermDays: number;
  subscriptions: SubscriptionInput[];
  /** Usage records of the account's USAGE charges (records of other charges are ignored). */
  usage: UsageInput[];
}

export interface RunOptions {
  targetDate: string;
  invoiceDate: string;
  chargeTypesToExclude: ChargeType[];
  /** When set, only these subscriptions are billed. */
  subscriptionIds?: string[];
}

export interface ProposedItem {
  chargeId: string;
  subscriptionId: string;
  chargeName: string;
  chargeType: ChargeType;
  /** CREDIT = a cancellation credit (reversal of service billed in advance). */
  kind: "CHARGE" | "CREDIT";
  serviceStart: string;
  /** Exclusive; for ONE_TIME equal to serviceStart. */
  serviceEnd: string;
  quantity: string;
  unitPrice: string;
  /** Signed, rounded to the currency's minor units. */
  amount: string;
}

export interface ProposedDocument {
  type: "INVOICE" | "CREDIT_MEMO";
  /** Set for the document of an invoiceSeparately subscription; null for the account's own. */
  subscriptionId: string | null;
  currency: string;
  /** Signed sum of the items. */
  total: string;
  /** Absolute value of total. */
  amount: string;
  invoiceDate: string;
  dueDate: string;
  items: ProposedItem[];
}

export interface ChargeUpdate {
  chargeId: string;
  from: string | null;
  /** The new chargedThroughDate. */
  to: string;
}

export interface SubscriptionFailure {
  subscriptionId: string;
  code: "CURRENCY_MISMATCH" | "USAGE_RATING_ERROR" | "AMOUNT_OUT_OF_RANGE";
  message: string;
}

export interface AccountFailure {
  /** AMOUNT_OUT_OF_RANGE: an item or a document whose amount cannot be stored (see money.ts). */
  code: "MISSING_BILL_TO_CONTACT" | "CURRENCY_MISMATCH" | "USAGE_RATING_ERROR" | "AMOUNT_OUT_OF_RANGE";
  message: string;
  subscriptions: SubscriptionFailure[];
}

export type AccountResult =
  { accountId: string; ok: true; documents: ProposedDocument[]; chargeUpdates: ChargeUpdate[] } | { accountId: string; ok: false; failure: AccountFailure };
