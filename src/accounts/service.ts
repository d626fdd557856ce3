import { z } from "zod";
import type { Db } from "../db/client.ts";
import type { Account, Charge, Subscription, UsageRecord } from "../generated/prisma/client.ts";
import { AccountStatus, BillingPeriod, BillingTiming, ChargeType } from "../generated/prisma/enums.ts";
import { ConflictError, conflictOnDuplicate, InvalidStateError, NotFoundError, ValidationError } from "../errors.ts";
import { currencyCode, email, normaliseText, parseInput, text, trimmedName, type InputOf } from "../validation.ts";
import { dateOnly, isoDate, isUuid, toIsoDate } from "../util.ts";
import { amountFits, extendedAmount, minorUnits } from "../billing/money.ts";

const decimalString = (what: string) =>
  z
    .string()
    .trim()
    .regex(/^-?\d{1,15}(\.\d{1,8})?$/, `${what} must be a decimal number with at most 15 digits before and 8 after the point`);
const nonNegativeDecimal = (what: string) => decimalString(what).refine((v) => !v.startsWith("-"), `${what} must not be negative`);
const uuid = (what: string) => z.string().refine(isUuid, `${what} is not a valid id`);

const accountFields = {
  name: trimmedName(200),
  currency: currencyCode,
  billCycleDay: z.number().int().min(1, "bill cycle day must be between 1 and 31").max(31, "bill cycle day must be between 1 and 31"),
  batch: z.number().int().min(1, "batch must be between 1 and 50").max(50, "batch must be between 1 and 50"),
  // Only white space or invisible characters: no bill-to contact, as empty.
  billToEmail: z
    .string()
    .transform(normaliseText)
    .pipe(z.union([z.literal(""), email])),
  paymentTermDays: z.number().int().min(0, "payment terms must not be negative").max(3650, "payment terms must be at most 3650 days"),
  status: z.enum(AccountStatus),
};

const createAccountInput = z.object({
  accountNumber: z
    .string()
    .transform(normaliseText)
    .pipe(
      z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/, "account number: letters, digits, - and _, at most 40")
        // The A-00000000 form is the generator's own; a hand-picked one could collide with it later.
        .refine((n) => !/^A-\d{8,}$/.test(n), "numbers of the form A-00000000 are assigned automatically; leave accountNumber out"),
    )
    .optional(),
  name: accountFields.name,
  currency: accountFields.currency,
  billCycleDay: accountFields.billCycleDay,
  batch: accountFields.batch.default(1),
  billToEmail: accountFields.billToEmail.default(""),
  paymentTermDays: accountFields.paymentTermDays.default(30),
  status: accountFields.status.default("ACTIVE"),
});

/** createAccount's input; see `createAccountInput` for the rules and defaults. */
export type CreateAccountInput = InputOf<typeof createAccountInput>;

/**
 * Creates an account; returns it. Raises ValidationError (a rule of `input`), ConflictError (the
 * account number is taken, also when two requests race).
 */
export async function createAccount(db: Db, input: CreateAccountInput): Promise<Account> {
  const data = parseInput(createAccountInput, input);
  if (data.accountNumber && (await db.account.findUnique({ where: { accountNumber: data.accountNumber } }))) {
    throw new ConflictError(`account number ${data.accountNumber} is already taken`);
  }
  return conflictOnDuplicate(db.account.create({ data }), `account number ${data.accountNumber} is already taken`);
}

const updateAccountInput = z.object({
  id: uuid("id"),
  name: accountFields.name.optional(),
  billCycleDay: accountFields.billCycleDay.optional(),
  batch: accountFields.batch.optional(),
  billToEmail: accountFields.billToEmail.optional(),
  paymentTermDays: accountFields.paymentTermDays.optional(),
  status: accountFields.status.optional(),
});

/** updateAccount's input: the account's id and the fields to change. */
export type UpdateAccountInput = InputOf<typeof updateAccountInput>;

/** Changes the fields given; returns the account. Raises ValidationError, NotFoundError. */
export async function updateAccount(db: Db, input: UpdateAccountInput): Promise<Account> {
  const { id, ...changes } = parseInput(updateAccountInput, input);
  const account = await db.account.findUnique({ where: { id } });
  if (!account) throw new NotFoundError(`account ${id} not found`);
  return db.account.update({ where: { id }, data: changes });
}

const chargeInput = z
  .object({
    name: trimmedName(100),
    type: z.enum(ChargeType),
    currency: currencyCode.optional(),
    price: decimalString("price"),
    quantity: nonNegativeDecimal("quantity").default("1"),
    startDate: isoDate.optional(),
    endDate: isoDate.optional(),
    billingPeriod: z.enum(BillingPeriod).optional(),
    billingTiming: z.enum(BillingTiming).optional(),
    unitOfMeasure: trimmedName(40).optional(),
  })
  .superRefine((c, ctx) => {
    if (c.type === "ONE_TIME" && (c.billingPeriod || c.billingTiming)) {
      ctx.addIssue({ code: "custom", path: ["billingPeriod"], message: "a ONE_TIME charge has no billing period or timing" });
    }
    if (c.type !== "ONE_TIME" && !c.billingPeriod) {
      ctx.addIssue({ code: "custom", path: ["billingPeriod"], message: `a ${c.type} charge needs a billing period` });
    }
    if (c.type === "USAGE" && c.billingTiming && c.billingTiming !== "IN_ARREARS") {
      ctx.addIssue({ code: "custom", path: ["billingTiming"], message: "usage is always billed in arrears" });
    }
    if (c.type === "USAGE" && !c.unitOfMeasure) {
      ctx.addIssue({ code: "custom", path: ["unitOfMeasure"], message: "a USAGE charge needs a unit of measure" });
    }
    if (c.type !== "USAGE" && c.unitOfMeasure) {
      ctx.addIssue({ code: "custom", path: ["unitOfMeasure"], message: "only USAGE charges have a unit of measure" });
    }
  });

const createSubscriptionInput = z
  .object({
    accountId: uuid("accountId"),
    subscriptionNumber: z
      .string()
      .transform(normaliseText)
      .pipe(
        z
          .string()
          .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/, "subscription number: letters, digits, - and _, at most 40")
          .refine((n) => !/^S-\d{8,}$/.test(n), "numbers of the form S-00000000 are assigned automatically; leave subscriptionNumber out"),
      )
      .optional(),
    startDate: isoDate,
    invoiceSeparately: z.boolean().default(false),
    charges: z.array(chargeInput).min(1, "a subscription needs at least one charge").max(100, "at most 100 charges"),
  })
  .superRefine((s, ctx) => {
    const seen = new Set<string>();
    s.charges.forEach((c, i) => {
      if (seen.has(c.name)) ctx.addIssue({ code: "custom", path: ["charges", i, "name"], message: `charge name "${c.name}" is used twice` });
      seen.add(c.name);
      const start = c.startDate ?? s.startDate;
      if (start < s.startDate) ctx.addIssue({ code: "custom", path: ["charges", i, "startDate"], message: "a charge cannot start before its subscription" });
      if (c.endDate && c.endDate <= start) ctx.addIssue({ code: "custom", path: ["charges", i, "endDate"], message: "end date must be after the start date" });
    });
  });

export type SubscriptionWithCharges = Subscription & { charges: Charge[] };

/** createSubscription's input: the account, the start date and the charges. */
export type CreateSubscriptionInput = InputOf<typeof createSubscriptionInput>;

/**
 * Creates an ACTIVE subscription with its charges (in the order given); returns it with them.
 * Raises ValidationError (a rule of `input`, or a charge whose price × quantity an item could not
 * hold), NotFoundError (no such account), ConflictError (the subscription number is taken).
 */
export async function createSubscription(db: Db, input: CreateSubscriptionInput): Promise<SubscriptionWithCharges> {
  const data = parseInput(createSubscriptionInput, input);
  const account = await db.account.findUnique({ where: { id: data.accountId } });
  if (!account) throw new NotFoundError(`account ${data.accountId} not found`);
  data.charges.forEach((c, i) => {
    // Proration only shrinks an item, so a charge whose price × quantity fits bills items that fit.
    if (!amountFits(extendedAmount(c.price, c.quantity, account.currency), minorUnits(account.currency))) {
      const field = ["input", "charges", String(i), "quantity"];
      throw new ValidationError(`${field.join(".")}: price × quantity must be less than 10^20 (the largest amount an item can hold)`, field);
    }
  });
  if (data.subscriptionNumber && (await db.subscription.findUnique({ where: { subscriptionNumber: data.subscriptionNumber } }))) {
    throw new ConflictError(`subscription number ${data.subscriptionNumber} is already taken`);
  }
  const created = db.subscription.create({
    data: {
      accountId: account.id,
      subscriptionNumber: data.subscriptionNumber,
      startDate: dateOnly(data.startDate),
      invoiceSeparately: data.invoiceSeparately,
      charges: {
        create: data.charges.map((c, position) => ({
          position,
          name: c.name,
          type: c.type,
          currency: c.currency ?? account.currency,
          price: c.price,
          quantity: c.quantity,
          startDate: dateOnly(c.startDate ?? data.startDate),
          endDate: c.endDate ? dateOnly(c.endDate) : null,
          billingPeriod: c.billingPeriod ?? null,
          billingTiming: c.type === "RECURRING" ? (c.billingTiming ?? "IN_ADVANCE") : c.type === "USAGE" ? "IN_ARREARS" : null,
          unitOfMeasure: c.unitOfMeasure ?? null,
        })),
      },
    },
    include: { charges: { orderBy: { position: "asc" } } },
  });
  return conflictOnDuplicate(created, `subscription number ${data.subscriptionNumber} is already taken`);
}

const cancelSubscriptionInput = z.object({ subscriptionId: uuid("subscriptionId"), cancelledOn: isoDate });

/** cancelSubscription's input: the subscription and the day its service ends (exclusive). */
export type CancelSubscriptionInput = InputOf<typeof cancelSubscriptionInput>;

/**
 * ACTIVE → CANCELLED as of `cancelledOn`; returns the subscription. Raises ValidationError (a date
 * before the start), NotFoundError, InvalidStateError (already cancelled, also when two race).
 */
export async function cancelSubscription(db: Db, input: CancelSubscriptionInput): Promise<Subscription> {
  const data = parseInput(cancelSubscriptionInput, input);
  const subscription = await db.subscription.findUnique({ where: { id: data.subscriptionId } });
  if (!subscription) throw new NotFoundError(`subscription ${data.subscriptionId} not found`);
  if (dateOnly(data.cancelledOn) < subscription.startDate) {
    throw new ValidationError("cancelledOn: a subscription cannot be cancelled before it starts", ["input", "cancelledOn"]);
  }
  // Conditional update: two concurrent cancellations cannot both succeed.
  const updated = await db.subscription.updateMany({
    where: { id: subscription.id, status: "ACTIVE" },
    data: { status: "CANCELLED", cancelledOn: dateOnly(data.cancelledOn) },
  });
  if (updated.count === 0) throw new InvalidStateError(`subscription ${subscription.subscriptionNumber} is already cancelled`);
  return db.subscription.findUniqueOrThrow({ where: { id: subscription.id } });
}

const recordUsageInput = z
  .object({
    subscriptionId: uuid("subscriptionId"),
    chargeId: uuid("chargeId").optional(),
    chargeName: text(100).optional(),
    quantity: nonNegativeDecimal("quantity"),
    unitOfMeasure: trimmedName(40),
    usageDate: isoDate,
  })
  .refine((u) => (u.chargeId === undefined) !== (u.chargeName === undefined), {
    message: "give either chargeId or chargeName",
    path: ["chargeName"],
  });

/** recordUsage's input: the subscription, its USAGE charge (by id or name), quantity, unit and day. */
export type RecordUsageInput = InputOf<typeof recordUsageInput>;

/**
 * Records usage on a USAGE charge; returns the record. Raises ValidationError (a rule of `input`,
 * not a USAGE charge, a day before the charge starts, an amount an item could not hold),
 * NotFoundError (no such charge on the subscription), InvalidStateError (the day is already billed).
 */
export async function recordUsage(db: Db, input: RecordUsageInput): Promise<UsageRecord> {
  const data = parseInput(recordUsageInput, input);
  const charge = await db.charge.findFirst({
    where: { subscriptionId: data.subscriptionId, ...(data.chargeId ? { id: data.chargeId } : { name: data.chargeName }) },
    include: { subscription: { select: { account: { select: { currency: true } } } } },
  });
  if (!charge) throw new NotFoundError(`no charge ${data.chargeId ?? `"${data.chargeName}"`} on subscription ${data.subscriptionId}`);
  if (charge.type !== "USAGE") {
    throw new ValidationError(`charge "${charge.name}" is a ${charge.type} charge, not a USAGE charge`, ["input", data.chargeId ? "chargeId" : "chargeName"]);
  }
  const currency = charge.subscription.account.currency;
  if (!amountFits(extendedAmount(charge.price.toFixed(), data.quantity, currency), minorUnits(currency))) {
    throw new ValidationError(`input.quantity: quantity × the charge's price must be less than 10^20 (the largest amount an item can hold)`, [
      "input",
      "quantity",
    ]);
  }
  const usageDate = dateOnly(data.usageDate);
  if (usageDate < charge.startDate) {
    throw new ValidationError(`usageDate: charge "${charge.name}" starts on ${toIsoDate(charge.startDate)}`, ["input", "usageDate"]);
  }
  // Usage for a period already billed would never be rated: refuse it rather than lose it.
  if (charge.chargedThroughDate && usageDate < charge.chargedThroughDate) {
    throw new InvalidStateError(`usage before ${toIsoDate(charge.chargedThroughDate)} is already billed for charge "${charge.name}"`);
  }
  return db.usageRecord.create({
    data: { subscriptionId: charge.subscriptionId, chargeId: charge.id, quantity: data.quantity, unitOfMeasure: data.unitOfMeasure, usageDate },
  });
}

/** The input rules of the mutations above, for bulk import to apply the same ones row by row. */
export const inputSchemas = { createAccountInput, updateAccountInput, createSubscriptionInput, recordUsageInput } as const;
