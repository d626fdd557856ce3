// Turns due schedule occurrences into bill runs. Every process may run a scheduler; each
// occurrence still creates exactly one run:
//  - a scheduler works on a schedule only while it holds the schedule's row lock (others skip it);
//  - the occurrence is recorded under the primary key (schedule, local day): a second claim of the
//    same occurrence is impossible, whatever the code around it does;
//  - the claim, the run's link and the schedule's next occurrence commit together, in a
//    transaction that stays open while createBillRun commits the run itself. A crash after the
//    run committed but before the claim did leaves the occurrence unclaimed with its run already
//    there: the next attempt finds that run (same schedule, same target date) instead of making
//    a second one.
// A scheduler that was down at an occurrence's time creates the latest missed occurrence once
// when it comes back; older missed ones are skipped (see docs/decisions.md). When it runs is a
// pg-boss job: one tick per interval for all processes (see startScheduler).
import { setTimeout as delay } from "node:timers/promises";
import type { App } from "../app.ts";
import { SCHEDULE_QUEUES } from "../jobs.ts";
import { createBillRun, type CreateBillRunInput } from "../billruns/service.ts";
import { transaction } from "../db/sql.ts";
import { AppError } from "../errors.ts";
import { addDays } from "../billing/dates.ts";
import { firstOccurrenceAtOrAfter, lastOccurrenceAtOrBefore, occurrenceAfter } from "./recurrence.ts";
import { ruleOf, SCHEDULE_COLUMNS, type ScheduleRow } from "./service.ts";

export interface SchedulerOptions {
  /** The clock; tests move it by hand. */
  now: () => Date;
  intervalMs: number;
  /** Take part in the pg-boss ticks every intervalMs (default); false: only when tick() is called. */
  poll: boolean;
}

export interface Scheduler {
  /** Creates the runs of every due occurrence now; returns their ids. */
  tick: () => Promise<string[]>;
  stop: () => Promise<void>;
}

const DUE_BATCH = 100;

/** Creates the runs of the occurrences due at `now`, schedule by schedule. */
export async function runDueSchedules(app: App, now: Date): Promise<string[]> {
  const created: string[] = [];
  while (true) {
    const due = await app.pool.query<{ id: string }>(
      `SELECT id FROM bill_run_schedules WHERE status = 'ACTIVE' AND next_run_at <= $1 ORDER BY next_run_at LIMIT $2`,
      [now, DUE_BATCH],
    );
    let progressed = false;
    for (const { id } of due.rows) {
      try {
        const result = await runSchedule(app, id, now);
        if (result.acted) progressed = true;
        if (result.billRunId) created.push(result.billRunId);
      } catch (error) {
        app.log.error({ err: error, scheduleId: id }, "schedule occurrence failed; it is retried at the next tick");
      }
    }
    // A full batch whose schedules other schedulers hold (or that failed) would loop: stop there.
    if (due.rows.length < DUE_BATCH || !progressed) return created;
  }
}

/** Handles one due schedule, if no other scheduler is; `acted` when its next occurrence moved on. */
async function runSchedule(app: App, scheduleId: string, now: Date): Promise<{ acted: boolean; billRunId: string | null }> {
  return transaction(app.pool, async (sql) => {
    // NO KEY UPDATE, not UPDATE: the run createBillRun inserts references this row (a key-share lock).
    const locked = await sql.query<ScheduleRow>(
      `SELECT ${SCHEDULE_COLUMNS} FROM bill_run_schedules
        WHERE id = $1 AND status = 'ACTIVE' AND next_run_at <= $2
        FOR NO KEY UPDATE SKIP LOCKED`,
      [scheduleId, now],
    );
    const schedule = locked.rows[0];
    if (!schedule) return { acted: false, billRunId: null };
    const rule = ruleOf(schedule);

    // The latest occurrence that has come: after downtime, older missed ones are not run.
    const latest = lastOccurrenceAtOrBefore(rule, now);
    if (!latest || latest.at.getTime() < schedule.next_run_at!.getTime()) {
      // next_run_at no longer matches the rule (e.g. the time-zone database changed): realign.
      const next = firstOccurrenceAtOrAfter(rule, now);
      await sql.query("UPDATE bill_run_schedules SET next_run_at = $2, updated_at = now() WHERE id = $1", [scheduleId, next?.at ?? null]);
      return { acted: true, billRunId: null };
    }
    const next = occurrenceAfter(rule, latest);

    let billRunId: string | null = null;
    const claimed = await sql.query(
      `INSERT INTO bill_run_schedule_occurrences (schedule_id, occurrence_date, scheduled_at)
       VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
      [scheduleId, latest.date, latest.at],
    );
    if (claimed.rowCount) {
      const targetDate = addDays(latest.date, schedule.target_date_offset_days);
      const invoiceDate = addDays(latest.date, schedule.invoice_date_offset_days);
      const earlier = await sql.query<{ id: string }>(
        `SELECT id FROM bill_runs WHERE schedule_id = $1 AND target_date = $2 AND retried_from_id IS NULL LIMIT 1`,
        [scheduleId, targetDate],
      );
      let error: string | null = null;
      if (earlier.rows[0]) {
        billRunId = earlier.rows[0].id;
      } else {
        try {
          billRunId = await createBillRun(app, runInput(schedule, targetDate, invoiceDate), {
            createdById: schedule.owner_id,
            scheduleId,
          });
        } catch (e) {
          // A rule the run refuses (say, its filters name something gone) fails every time: record
          // it on the occurrence and go on with the next one. Anything else is retried.
          if (!(e instanceof AppError)) throw e;
          error = e.message;
          app.log.error({ scheduleId, occurrence: latest.date, reason: e.message }, "scheduled bill run could not be created");
        }
      }
      await sql.query("UPDATE bill_run_schedule_occurrences SET bill_run_id = $3, error = $4 WHERE schedule_id = $1 AND occurrence_date = $2", [
        scheduleId,
        latest.date,
        billRunId,
        error,
      ]);
    }
    await sql.query("UPDATE bill_run_schedules SET next_run_at = $2, last_run_at = $3, updated_at = now() WHERE id = $1", [
      scheduleId,
      next?.at ?? null,
      latest.at,
    ]);
    if (billRunId) app.log.info({ scheduleId, occurrence: latest.date, billRunId }, "scheduled bill run created");
    return { acted: true, billRunId };
  });
}

function runInput(s: ScheduleRow, targetDate: string, invoiceDate: string): CreateBillRunInput {
  return {
    targetDate,
    invoiceDate,
    batches: s.batches.length > 0 ? s.batches : undefined,
    billCycleDay: s.bill_cycle_day ?? undefined,
    accountIds: s.account_ids.length > 0 ? s.account_ids : undefined,
    subscriptionIds: s.subscription_ids.length > 0 ? s.subscription_ids : undefined,
    chargeTypesToExclude: s.charge_types_to_exclude.length > 0 ? s.charge_types_to_exclude : undefined,
    autoPost: s.auto_post,
    autoEmail: s.auto_email,
    noEmailForZeroAmountInvoice: s.no_email_for_zero_amount_invoice,
  };
}

/**
 * Ticks every `intervalMs` through pg-boss until stopped: each process with a scheduler offers a
 * tick job every interval, under one throttle key, so all of them together make one job per
 * interval (`singletonSeconds`, at least 1 s), which whichever of them fetches it first runs.
 * A tick that throws is retried with backoff, then dead-lettered (and logged); a tick whose
 * process dies is retried once it expires, while the next intervals' ticks run meanwhile.
 * With `poll: false`, nothing is offered or taken: only `tick()` runs the schedules.
 */
export function startScheduler(app: App, options: Partial<SchedulerOptions> = {}): Scheduler {
  const now = options.now ?? (() => new Date());
  const intervalMs = options.intervalMs ?? app.config.scheduler.intervalMs;
  const log = app.log.child({ component: "scheduler" });
  const { boss } = app.jobs;
  const stopped = new AbortController();
  let running: Promise<string[]> = Promise.resolve([]);
  // One tick at a time per process, whether from a job or a caller.
  const tick = () => (running = running.catch(() => []).then(() => runDueSchedules(app, now())));
  const workerIds: string[] = [];
  const loop = (async () => {
    if (options.poll === false) return;
    const slotSeconds = Math.max(1, Math.round(intervalMs / 1000));
    // The process whose offer made the job takes it at once (notifyWorker); polling is only for
    // retries and for ticks offered by a process that died, so it need not be faster than ticks.
    const pollingIntervalSeconds = Math.max(0.5, intervalMs / 1000);
    try {
      workerIds.push(
        await boss.work(SCHEDULE_QUEUES.tick, { pollingIntervalSeconds }, async () => {
          // Fetched as this process stops: failed, so that another process retries it.
          if (stopped.signal.aborted) throw new Error("scheduler stopping");
          await tick().catch((error: unknown) => {
            log.error({ err: error }, "schedule tick failed; pg-boss retries it");
            throw error;
          });
        }),
        await boss.work(SCHEDULE_QUEUES.dead, { pollingIntervalSeconds }, async ([job]) => {
          log.error({ jobId: job!.id }, "schedule tick failed every retry; the next tick runs the due schedules");
        }),
      );
      while (!stopped.signal.aborted) {
        try {
          const sent = await app.jobs.send(SCHEDULE_QUEUES.tick, {}, { singletonKey: "tick", singletonSeconds: slotSeconds });
          // This interval's tick is ours: take it now rather than at the next poll.
          if (sent) boss.notifyWorker(workerIds[0]!);
        } catch (error) {
          log.error({ err: error }, "schedule tick could not be queued; trying again at the next interval");
        }
        await delay(intervalMs, undefined, { signal: stopped.signal }).catch(() => {});
      }
    } catch (error) {
      if (!stopped.signal.aborted) log.error({ err: error }, "scheduler could not start taking ticks");
    }
  })();
  return {
    tick,
    stop: async () => {
      stopped.abort();
      await loop;
      for (const id of workerIds) await boss.offWork({ id });
      await running.catch(() => {});
    },
  };
}
