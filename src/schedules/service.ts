import { z } from "zod";
import type { Pool } from "pg";
import type { Db } from "../db/client.ts";
import { DayOfWeek, RepeatType } from "../generated/prisma/enums.ts";
import { InvalidStateError, NotFoundError, ValidationError } from "../errors.ts";
import { dateOnly, isoDate, isUuid } from "../util.ts";
import { parseInput, type InputOf } from "../validation.ts";
import { assertTargetsExist } from "../billruns/service.ts";
import { checkRunFilters, runOptionFields, scheduledRunOptions, type RunOptions } from "../billruns/options.ts";
import { firstOccurrenceAtOrAfter, localDate, type Recurrence } from "./recurrence.ts";
import { isValidTimeZone } from "./timezone.ts";

const offset = (what: string) => z.number().int().min(-366, `${what} is between -366 and 366 days`).max(366, `${what} is between -366 and 366 days`).default(0);

// The filters and options are those of createBillRun, checked the same way, so that a schedule
// that is accepted creates runs that are.
const createScheduleInput = z
  .object({
    repeatType: z.enum(RepeatType),
    weeklyOnDay: z.enum(DayOfWeek).optional(),
    dayOfMonth: z.number().int().min(1, "dayOfMonth is 1-31").max(31, "dayOfMonth is 1-31").optional(),
    monthlyOnEndOfMonth: z.boolean().default(false),
    runTime: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "runTime is a wall-clock time HH:MM, 00:00 to 23:59"),
    timeZone: z.string().refine(isValidTimeZone, "not an IANA time zone such as Europe/London or America/New_York"),
    repeatFrom: isoDate.optional(),
    repeatTo: isoDate.optional(),
    targetDateOffsetDays: offset("targetDateOffsetDays"),
    invoiceDateOffsetDays: offset("invoiceDateOffsetDays"),
    ...runOptionFields,
  })
  .superRefine((input, ctx) => {
    const issue = (field: string, message: string) => ctx.addIssue({ code: "custom", path: [field], message });
    if (input.repeatType === "WEEKLY" && !input.weeklyOnDay) issue("weeklyOnDay", "a WEEKLY schedule needs weeklyOnDay");
    if (input.repeatType !== "WEEKLY" && input.weeklyOnDay) issue("weeklyOnDay", "weeklyOnDay is only for WEEKLY schedules");
    if (input.repeatType === "MONTHLY") {
      if (input.dayOfMonth === undefined && !input.monthlyOnEndOfMonth) issue("dayOfMonth", "a MONTHLY schedule needs dayOfMonth or monthlyOnEndOfMonth");
      if (input.dayOfMonth !== undefined && input.monthlyOnEndOfMonth) issue("monthlyOnEndOfMonth", "give dayOfMonth or monthlyOnEndOfMonth, not both");
    } else {
      if (input.dayOfMonth !== undefined) issue("dayOfMonth", "dayOfMonth is only for MONTHLY schedules");
      if (input.monthlyOnEndOfMonth) issue("monthlyOnEndOfMonth", "monthlyOnEndOfMonth is only for MONTHLY schedules");
    }
    if (input.repeatFrom && input.repeatTo && input.repeatTo < input.repeatFrom) issue("repeatTo", "repeatTo is before repeatFrom");
    checkRunFilters(input, ctx);
  });

/** createSchedule's input: the recurrence rule, the date offsets and the run options (see `runOptionFields`). */
export type CreateScheduleInput = InputOf<typeof createScheduleInput>;

/** What the schedule services use: Prisma for the schedule row, the pool for the checks in SQL. */
export interface ScheduleServices {
  db: Db;
  pool: Pool;
}

/**
 * Creates an ACTIVE schedule owned by `ownerId`, its next run at the first occurrence from `now`
 * on; returns its id. Raises ValidationError (a rule of `input`, a target that does not exist, or
 * no occurrence left before repeatTo).
 */
export async function createSchedule(services: ScheduleServices, input: CreateScheduleInput, ownerId: string, now: Date = new Date()): Promise<string> {
  const data = parseInput(createScheduleInput, input);
  // Account numbers are resolved once, here: the schedule keeps the accounts, whatever their numbers become.
  const accountIds = await assertTargetsExist(services.pool, data);
  const repeatFrom = data.repeatFrom ?? localDate(data.timeZone, now);
  if (data.repeatTo && data.repeatTo < repeatFrom) throw new ValidationError("input.repeatTo: repeatTo is before repeatFrom", ["input", "repeatTo"]);
  const rule: Recurrence = {
    repeatType: data.repeatType,
    weeklyOnDay: data.weeklyOnDay ?? null,
    dayOfMonth: data.dayOfMonth ?? null,
    monthlyOnEndOfMonth: data.monthlyOnEndOfMonth,
    runTime: data.runTime,
    timeZone: data.timeZone,
    repeatFrom,
    repeatTo: data.repeatTo ?? null,
  };
  // Occurrences already past when the schedule is made are not run: the first is the next one.
  const next = firstOccurrenceAtOrAfter(rule, now);
  if (!next) throw new ValidationError("input.repeatTo: the schedule has no occurrence left before repeatTo", ["input", "repeatTo"]);
  const created = await services.db.billRunSchedule.create({
    data: {
      ownerId,
      repeatType: data.repeatType,
      weeklyOnDay: data.weeklyOnDay ?? null,
      dayOfMonth: data.dayOfMonth ?? null,
      monthlyOnEndOfMonth: data.monthlyOnEndOfMonth,
      runTime: data.runTime,
      timeZone: data.timeZone,
      repeatFrom: dateOnly(repeatFrom),
      repeatTo: data.repeatTo ? dateOnly(data.repeatTo) : null,
      targetDateOffsetDays: data.targetDateOffsetDays,
      invoiceDateOffsetDays: data.invoiceDateOffsetDays,
      ...scheduledRunOptions(data, accountIds),
      nextRunAt: next.at,
    },
    select: { id: true },
  });
  return created.id;
}

/**
 * ACTIVE → PAUSED: no run is created while paused. Pausing a paused schedule changes nothing.
 * Raises NotFoundError, InvalidStateError (a CANCELED schedule).
 */
export async function pauseSchedule({ pool }: Pick<ScheduleServices, "pool">, id: string): Promise<void> {
  requireUuid(id);
  const paused = await pool.query(
    `UPDATE bill_run_schedules SET status = 'PAUSED', paused_at = now(), next_run_at = NULL, updated_at = now()
      WHERE id = $1 AND status = 'ACTIVE'`,
    [id],
  );
  if (paused.rowCount) return;
  const status = await currentStatus(pool, id);
  if (status === "PAUSED") return;
  throw new InvalidStateError(`the schedule is ${status}; only an ACTIVE schedule can be paused`);
}

/**
 * PAUSED → ACTIVE. Occurrences that fell while it was paused are not made up for: the next run
 * is the first occurrence from now on. Resuming an active schedule changes nothing.
 * Raises NotFoundError, InvalidStateError (a CANCELED schedule).
 */
export async function resumeSchedule({ pool }: Pick<ScheduleServices, "pool">, id: string, now: Date = new Date()): Promise<void> {
  requireUuid(id);
  const row = await readSchedule(pool, id);
  if (!row) throw new NotFoundError(`schedule ${id} not found`);
  if (row.status === "ACTIVE") return;
  if (row.status !== "PAUSED") throw new InvalidStateError(`the schedule is ${row.status}; only a PAUSED schedule can be resumed`);
  const next = firstOccurrenceAtOrAfter(ruleOf(row), now);
  const resumed = await pool.query(
    `UPDATE bill_run_schedules SET status = 'ACTIVE', paused_at = NULL, next_run_at = $2, updated_at = now()
      WHERE id = $1 AND status = 'PAUSED'`,
    [id, next?.at ?? null],
  );
  if (resumed.rowCount) return;
  const status = await currentStatus(pool, id);
  if (status === "ACTIVE") return;
  throw new InvalidStateError(`the schedule is ${status}; only a PAUSED schedule can be resumed`);
}

/**
 * ACTIVE or PAUSED → CANCELED, for good. Runs it already created are not touched. Raises
 * NotFoundError, InvalidStateError (already CANCELED).
 */
export async function cancelSchedule({ pool }: Pick<ScheduleServices, "pool">, id: string): Promise<void> {
  requireUuid(id);
  const canceled = await pool.query(
    `UPDATE bill_run_schedules SET status = 'CANCELED', canceled_at = now(), next_run_at = NULL, updated_at = now()
      WHERE id = $1 AND status IN ('ACTIVE', 'PAUSED')`,
    [id],
  );
  if (canceled.rowCount) return;
  const status = await currentStatus(pool, id);
  throw new InvalidStateError(`the schedule is ${status}; it cannot be canceled again`);
}

export interface ScheduleRow {
  id: string;
  status: "ACTIVE" | "PAUSED" | "CANCELED";
  owner_id: string;
  repeat_type: Recurrence["repeatType"];
  weekly_on_day: Recurrence["weeklyOnDay"];
  day_of_month: number | null;
  monthly_on_end_of_month: boolean;
  run_time: string;
  time_zone: string;
  repeat_from: string;
  repeat_to: string | null;
  target_date_offset_days: number;
  invoice_date_offset_days: number;
  batches: number[];
  bill_cycle_day: number | null;
  account_ids: string[];
  subscription_ids: string[];
  charge_types_to_exclude: RunOptions["chargeTypesToExclude"];
  auto_post: boolean;
  auto_email: boolean;
  no_email_for_zero_amount_invoice: boolean;
  next_run_at: Date | null;
}

export const SCHEDULE_COLUMNS = `id, status, owner_id, repeat_type, weekly_on_day, day_of_month, monthly_on_end_of_month, run_time,
  time_zone, to_char(repeat_from, 'YYYY-MM-DD') AS repeat_from, to_char(repeat_to, 'YYYY-MM-DD') AS repeat_to,
  target_date_offset_days, invoice_date_offset_days, batches, bill_cycle_day, account_ids::text[] AS account_ids,
  subscription_ids::text[] AS subscription_ids, charge_types_to_exclude::text[] AS charge_types_to_exclude,
  auto_post, auto_email, no_email_for_zero_amount_invoice, next_run_at`;

/** A schedule's row (dates as YYYY-MM-DD), or null when there is none of that id. */
export async function readSchedule(sql: Pick<Pool, "query">, id: string): Promise<ScheduleRow | null> {
  const found = await sql.query<ScheduleRow>(`SELECT ${SCHEDULE_COLUMNS} FROM bill_run_schedules WHERE id = $1`, [id]);
  return found.rows[0] ?? null;
}

/** The recurrence rule a schedule's row holds. */
export function ruleOf(row: ScheduleRow): Recurrence {
  return {
    repeatType: row.repeat_type,
    weeklyOnDay: row.weekly_on_day,
    dayOfMonth: row.day_of_month,
    monthlyOnEndOfMonth: row.monthly_on_end_of_month,
    runTime: row.run_time,
    timeZone: row.time_zone,
    repeatFrom: row.repeat_from,
    repeatTo: row.repeat_to,
  };
}

async function currentStatus(pool: Pool, id: string): Promise<string> {
  const found = await pool.query<{ status: string }>("SELECT status FROM bill_run_schedules WHERE id = $1", [id]);
  if (!found.rows[0]) throw new NotFoundError(`schedule ${id} not found`);
  return found.rows[0].status;
}

function requireUuid(id: string): void {
  if (!isUuid(id)) throw new NotFoundError(`schedule ${id} not found`);
}
