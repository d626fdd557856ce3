// What a bill run is asked to do: which accounts it targets, its dates and its flags. One
// definition for createBillRun, schedules (which store all but the dates and make runs from
// them), retries (which copy them from the run they retry) and the executor (which reads them).
import { z } from "zod";
import { ChargeType } from "../generated/prisma/enums.ts";
import { isUuid } from "../util.ts";

/** A run's options as a run stores them: a list left out is empty, billCycleDay left out is null. */
export interface RunOptions {
  /** YYYY-MM-DD: bill what is due up to this day. */
  targetDate: string;
  /** YYYY-MM-DD: the documents' date. */
  invoiceDate: string;
  /** Account batches (1-50), sorted, once each; empty: every batch. */
  batches: number[];
  billCycleDay: number | null;
  /** Specific accounts (ids, once each); empty: not filtered by account. */
  accountIds: string[];
  /** Specific subscriptions (ids, once each); empty: not filtered by subscription. */
  subscriptionIds: string[];
  /** At most two charge types, left for a later run. */
  chargeTypesToExclude: ChargeType[];
  autoPost: boolean;
  autoEmail: boolean;
  noEmailForZeroAmountInvoice: boolean;
}

/** The options a schedule keeps for the runs it makes: all but the dates, which each occurrence gives. */
export type ScheduledRunOptions = Omit<RunOptions, "targetDate" | "invoiceDate">;

// A malformed id is reported on the list (not as `accountIds.0`), quoting it: the usual mistake is
// an account number typed where an id belongs, and the message says where numbers go.
const ids = (what: "account" | "subscription") =>
  z
    .array(z.string())
    .max(10_000, `at most 10000 ${what}s`)
    .superRefine((list, ctx) => {
      const index = list.findIndex((value) => !isUuid(value));
      if (index < 0) return;
      const bad = String(list[index]);
      const hint = what === "account" ? " (to name accounts by number, use accountNumbers)" : "";
      ctx.addIssue({ code: "custom", message: `${JSON.stringify(bad.slice(0, 60))} is not ${what === "account" ? "an" : "a"} ${what} id${hint}` });
    })
    .transform((list) => [...new Set(list)]);

/**
 * The input fields of a run's targeting and flags (all but the dates), shared by createBillRun and
 * createBillRunSchedule so that an accepted schedule makes valid runs. Objects using them refine
 * with `checkRunFilters`. `accountNumbers` is input only: it is resolved to `accountIds`.
 */
export const runOptionFields = {
  batches: z
    .array(z.number().int().min(1, "batches are 1-50").max(50, "batches are 1-50"))
    .max(50)
    .transform((list) => [...new Set(list)].sort((a, b) => a - b))
    .optional(),
  billCycleDay: z.number().int().min(1, "bill cycle day must be between 1 and 31").max(31, "bill cycle day must be between 1 and 31").optional(),
  accountIds: ids("account").optional(),
  accountNumbers: z
    .array(z.string().trim().min(1, "an account number must not be empty").max(40, "an account number has at most 40 characters"))
    .max(10_000, "at most 10000 account numbers")
    .transform((list) => [...new Set(list)])
    .optional(),
  subscriptionIds: ids("subscription").optional(),
  chargeTypesToExclude: z
    .array(z.enum(ChargeType))
    .transform((list) => [...new Set(list)])
    .refine((list) => list.length <= 2, "at most two charge types can be excluded")
    .optional(),
  autoPost: z.boolean().default(false),
  autoEmail: z.boolean().default(false),
  noEmailForZeroAmountInvoice: z.boolean().default(false),
};

/** Targeting and flags as parsed from an input (lists left out are absent). */
export type RunOptionInput = z.output<z.ZodObject<typeof runOptionFields>>;

type RunFilters = Pick<RunOptionInput, "batches" | "billCycleDay" | "accountIds" | "accountNumbers" | "subscriptionIds">;

/** One kind of filter per run: batches/bill cycle day, or accounts, or subscriptions; no empty lists. */
export function checkRunFilters(input: RunFilters, ctx: z.RefinementCtx): void {
  const issue = (field: string, message: string) => ctx.addIssue({ code: "custom", path: [field], message });
  const byGroup = (input.batches?.length ?? 0) > 0 || input.billCycleDay !== undefined;
  const byAccount = (input.accountIds?.length ?? 0) > 0 || (input.accountNumbers?.length ?? 0) > 0;
  const bySubscription = (input.subscriptionIds?.length ?? 0) > 0;
  if (byAccount && bySubscription) issue("subscriptionIds", "give accountIds or subscriptionIds, not both");
  if (byGroup && (byAccount || bySubscription)) {
    const field = !byAccount ? "subscriptionIds" : (input.accountIds?.length ?? 0) > 0 ? "accountIds" : "accountNumbers";
    issue(field, "filter by batches/billCycleDay or by specific accounts/subscriptions, not both");
  }
  if (input.accountIds && input.accountIds.length === 0) issue("accountIds", "an empty list targets no account; leave it out to target all");
  if (input.accountNumbers && input.accountNumbers.length === 0) issue("accountNumbers", "an empty list targets no account; leave it out to target all");
  if (input.subscriptionIds && input.subscriptionIds.length === 0) issue("subscriptionIds", "an empty list targets nothing; leave it out to target all");
}

/**
 * The stored form of parsed targeting and flags: absent lists empty, an absent billCycleDay null.
 * `accountIds` are the resolved accounts (those of `accountIds` and `accountNumbers`).
 */
export function scheduledRunOptions(input: RunOptionInput, accountIds: string[] | undefined): ScheduledRunOptions {
  return {
    batches: input.batches ?? [],
    billCycleDay: input.billCycleDay ?? null,
    accountIds: accountIds ?? [],
    subscriptionIds: input.subscriptionIds ?? [],
    chargeTypesToExclude: input.chargeTypesToExclude ?? [],
    autoPost: input.autoPost,
    autoEmail: input.autoEmail,
    noEmailForZeroAmountInvoice: input.noEmailForZeroAmountInvoice,
  };
}
