import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount } from "../support/billing.ts";
import { waitFor } from "../support/wait.ts";
import { startApp, type App } from "../../src/app.ts";
import { createBillRun } from "../../src/billruns/service.ts";
import { createLogger } from "../../src/log.ts";
import { startScheduler, type Scheduler } from "../../src/schedules/scheduler.ts";
import { cancelSchedule, createSchedule, pauseSchedule, resumeSchedule, type CreateScheduleInput } from "../../src/schedules/service.ts";

let t: TestApp;
let ownerId: string;
let clock = new Date("2026-01-01T00:00:00Z");
let scheduler: Scheduler;

beforeAll(async () => {
  // No bill-run workers: the runs a schedule creates stay PENDING, which is all these tests look at.
  t = await createTestApp();
  ownerId = (await t.app.db.user.findUniqueOrThrow({ where: { email: "operator@example.com" } })).id;
  scheduler = startScheduler(t.app, { now: () => clock, poll: false });
});
afterAll(async () => {
  await scheduler?.stop();
  await t?.close();
});
// Each test's schedules stay out of the next one's way.
afterEach(async () => {
  await t.app.pool.query("UPDATE bill_run_schedules SET status = 'CANCELED', next_run_at = NULL");
});

async function schedule(input: CreateScheduleInput, now: string): Promise<string> {
  return createSchedule(t.app, input, ownerId, new Date(now));
}

async function tickAt(iso: string): Promise<string[]> {
  clock = new Date(iso);
  return scheduler.tick();
}

/** Ticks every `stepMinutes` from `from` to `to`; returns [tick time, target date] of each run created. */
async function simulate(from: string, to: string, stepMinutes: number): Promise<[string, string][]> {
  const created: [string, string][] = [];
  for (let at = Date.parse(from); at <= Date.parse(to); at += stepMinutes * 60_000) {
    for (const id of await tickAt(new Date(at).toISOString())) {
      const run = await t.app.db.billRun.findUniqueOrThrow({ where: { id } });
      created.push([new Date(at).toISOString(), run.targetDate.toISOString().slice(0, 10)]);
    }
  }
  return created;
}

async function nextRunAt(id: string): Promise<string | null> {
  const s = await t.app.db.billRunSchedule.findUniqueOrThrow({ where: { id } });
  return s.nextRunAt?.toISOString() ?? null;
}

async function runsOf(scheduleId: string): Promise<string[]> {
  const runs = await t.app.db.billRun.findMany({ where: { scheduleId }, orderBy: { billRunNumber: "asc" } });
  return runs.map((r) => r.targetDate.toISOString().slice(0, 10));
}

describe("when occurrences run", () => {
  it("America/New_York: once a day at 02:30 wall-clock time, 03:00 on the spring-forward day, once on the fall-back day", async () => {
    const spring = await schedule({ repeatType: "DAILY", runTime: "02:30", timeZone: "America/New_York" }, "2026-03-06T12:00:00Z");
    expect(await nextRunAt(spring)).toBe("2026-03-07T07:30:00.000Z");
    expect(await simulate("2026-03-06T12:00:00Z", "2026-03-09T12:00:00Z", 15)).toEqual([
      ["2026-03-07T07:30:00.000Z", "2026-03-07"],
      ["2026-03-08T07:00:00.000Z", "2026-03-08"],
      ["2026-03-09T06:30:00.000Z", "2026-03-09"],
    ]);
    await cancelSchedule(t.app, spring);

    await schedule({ repeatType: "DAILY", runTime: "01:30", timeZone: "America/New_York" }, "2026-10-31T12:00:00Z");
    expect(await simulate("2026-10-31T12:00:00Z", "2026-11-02T12:00:00Z", 15)).toEqual([
      ["2026-11-01T05:30:00.000Z", "2026-11-01"], // the first 01:30 (EDT); the second (EST) creates nothing
      ["2026-11-02T06:30:00.000Z", "2026-11-02"],
    ]);
  });

  it("Europe/London: 01:30 runs at 02:00 BST when skipped, and once when it happens twice", async () => {
    await schedule({ repeatType: "DAILY", runTime: "01:30", timeZone: "Europe/London" }, "2026-03-28T12:00:00Z");
    expect(await simulate("2026-03-28T12:00:00Z", "2026-03-30T12:00:00Z", 15)).toEqual([
      ["2026-03-29T01:00:00.000Z", "2026-03-29"],
      ["2026-03-30T00:30:00.000Z", "2026-03-30"],
    ]);
    await t.app.pool.query("UPDATE bill_run_schedules SET status = 'CANCELED'");
    await schedule({ repeatType: "DAILY", runTime: "01:30", timeZone: "Europe/London" }, "2026-10-24T12:00:00Z");
    expect(await simulate("2026-10-24T12:00:00Z", "2026-10-26T12:00:00Z", 15)).toEqual([
      ["2026-10-25T00:30:00.000Z", "2026-10-25"],
      ["2026-10-26T01:30:00.000Z", "2026-10-26"],
    ]);
  });

  it("MONTHLY on the 31st runs on the last day of shorter months, February of a leap year included", async () => {
    await schedule({ repeatType: "MONTHLY", dayOfMonth: 31, runTime: "06:00", timeZone: "UTC" }, "2026-01-01T00:00:00Z");
    const created = await simulate("2026-01-01T06:00:00Z", "2026-05-31T06:00:00Z", 24 * 60);
    expect(created.map(([, target]) => target)).toEqual(["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]);
    await t.app.pool.query("UPDATE bill_run_schedules SET status = 'CANCELED'");

    await schedule({ repeatType: "MONTHLY", dayOfMonth: 31, runTime: "06:00", timeZone: "UTC" }, "2028-02-01T00:00:00Z");
    const leap = await simulate("2028-02-01T06:00:00Z", "2028-03-01T06:00:00Z", 24 * 60);
    expect(leap).toEqual([["2028-02-29T06:00:00.000Z", "2028-02-29"]]);
  });

  it("creates each run with the schedule's options, dates offset from the occurrence's day, owned by the schedule's owner", async () => {
    const account = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "1.00" }] });
    const id = await schedule(
      {
        repeatType: "WEEKLY",
        weeklyOnDay: "FRIDAY",
        runTime: "18:00",
        timeZone: "Asia/Tokyo",
        targetDateOffsetDays: 3,
        invoiceDateOffsetDays: -1,
        accountIds: [account.account.id],
        chargeTypesToExclude: ["USAGE"],
        autoPost: true,
        autoEmail: true,
        noEmailForZeroAmountInvoice: true,
      },
      "2026-07-01T00:00:00Z",
    );
    expect(await nextRunAt(id)).toBe("2026-07-03T09:00:00.000Z"); // Friday 18:00 JST
    const [runId] = await tickAt("2026-07-03T09:00:00Z");
    const run = await t.app.db.billRun.findUniqueOrThrow({ where: { id: runId! } });
    expect(run).toMatchObject({
      status: "PENDING",
      scheduleId: id,
      createdById: ownerId,
      accountIds: [account.account.id],
      chargeTypesToExclude: ["USAGE"],
      autoPost: true,
      autoEmail: true,
      noEmailForZeroAmountInvoice: true,
    });
    expect(run.targetDate.toISOString().slice(0, 10)).toBe("2026-07-06");
    expect(run.invoiceDate.toISOString().slice(0, 10)).toBe("2026-07-02");
    expect(await nextRunAt(id)).toBe("2026-07-10T09:00:00.000Z");
  });
});

describe("lifecycle", () => {
  it("creates nothing while paused, and does not make up the paused occurrences when resumed", async () => {
    const id = await schedule({ repeatType: "DAILY", runTime: "09:00", timeZone: "UTC" }, "2026-04-01T00:00:00Z");
    expect(await tickAt("2026-04-01T09:00:00Z")).toHaveLength(1);
    await pauseSchedule(t.app, id);
    expect(await nextRunAt(id)).toBeNull();
    expect(await simulate("2026-04-02T09:00:00Z", "2026-04-04T09:00:00Z", 12 * 60)).toEqual([]);

    await resumeSchedule(t.app, id, new Date("2026-04-04T12:00:00Z"));
    expect(await nextRunAt(id)).toBe("2026-04-05T09:00:00.000Z");
    expect(await tickAt("2026-04-04T12:00:00Z")).toEqual([]);
    expect(await tickAt("2026-04-05T09:00:00Z")).toHaveLength(1);
    expect(await runsOf(id)).toEqual(["2026-04-01", "2026-04-05"]);
  });

  it("creates nothing once canceled", async () => {
    const id = await schedule({ repeatType: "DAILY", runTime: "09:00", timeZone: "UTC" }, "2026-04-01T00:00:00Z");
    await cancelSchedule(t.app, id);
    expect(await nextRunAt(id)).toBeNull();
    expect(await simulate("2026-04-01T09:00:00Z", "2026-04-03T09:00:00Z", 12 * 60)).toEqual([]);
    await expect(resumeSchedule(t.app, id)).rejects.toMatchObject({ code: "INVALID_STATE" });
  });

  it("ends after repeatTo", async () => {
    const id = await schedule(
      { repeatType: "DAILY", runTime: "10:00", timeZone: "UTC", repeatFrom: "2026-05-10", repeatTo: "2026-05-12" },
      "2026-05-01T00:00:00Z",
    );
    expect(await nextRunAt(id)).toBe("2026-05-10T10:00:00.000Z");
    const created = await simulate("2026-05-09T10:00:00Z", "2026-05-20T10:00:00Z", 12 * 60);
    expect(created.map(([, target]) => target)).toEqual(["2026-05-10", "2026-05-11", "2026-05-12"]);
    expect(await nextRunAt(id)).toBeNull();
  });

  it("creates the missed run once when the scheduler comes back after downtime: only the latest occurrence", async () => {
    const id = await schedule({ repeatType: "DAILY", runTime: "09:00", timeZone: "UTC" }, "2026-06-01T00:00:00Z");
    expect(await tickAt("2026-06-01T09:00:00Z")).toHaveLength(1);
    // Down from before 06-02 09:00 until 06-05 15:00.
    expect(await tickAt("2026-06-05T15:00:00Z")).toHaveLength(1);
    expect(await tickAt("2026-06-05T15:00:30Z")).toEqual([]);
    expect(await tickAt("2026-06-06T08:59:59Z")).toEqual([]);
    expect(await runsOf(id)).toEqual(["2026-06-01", "2026-06-05"]);
    expect(await nextRunAt(id)).toBe("2026-06-06T09:00:00.000Z");
    // Down at 09:00 only: the run comes when the scheduler does.
    expect(await tickAt("2026-06-06T09:47:00Z")).toHaveLength(1);
    expect(await runsOf(id)).toEqual(["2026-06-01", "2026-06-05", "2026-06-06"]);
  });
});

describe("exactly one run per occurrence", () => {
  it("with two scheduler processes racing over the same occurrences", async () => {
    const other: App = await startApp(t.app.config, t.databaseUrl, createLogger("silent"));
    const racer = startScheduler(other, { now: () => clock, poll: false });
    try {
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push(await schedule({ repeatType: "DAILY", runTime: "09:00", timeZone: "UTC" }, "2026-08-01T00:00:00Z"));
      for (let day = 1; day <= 4; day++) {
        clock = new Date(`2026-08-0${day}T09:00:00Z`);
        const results = await Promise.all([scheduler.tick(), racer.tick(), scheduler.tick(), racer.tick()]);
        expect(results.flat()).toHaveLength(4);
      }
      for (const id of ids) expect(await runsOf(id)).toEqual(["2026-08-01", "2026-08-02", "2026-08-03", "2026-08-04"]);
      const occurrences = await t.app.pool.query<{ n: number; runs: number }>(
        "SELECT count(*)::int AS n, count(DISTINCT bill_run_id)::int AS runs FROM bill_run_schedule_occurrences WHERE schedule_id = ANY($1::uuid[])",
        [ids],
      );
      expect(occurrences.rows[0]).toEqual({ n: 16, runs: 16 });
      // The database itself refuses a second claim of an occurrence.
      await expect(
        t.app.pool.query("INSERT INTO bill_run_schedule_occurrences (schedule_id, occurrence_date, scheduled_at) VALUES ($1, '2026-08-01', now())", [ids[0]]),
      ).rejects.toMatchObject({ code: "23505" });
    } finally {
      await racer.stop();
      await other.close();
    }
  });

  it("after a crash between creating the run and recording the occurrence, the next attempt adopts that run", async () => {
    const id = await schedule({ repeatType: "DAILY", runTime: "09:00", timeZone: "UTC" }, "2026-09-01T00:00:00Z");
    // What a crashed scheduler left: the run committed, its claim rolled back with the process.
    const orphan = await createBillRun(t.app, { targetDate: "2026-09-01" }, { createdById: ownerId, scheduleId: id });
    expect(await tickAt("2026-09-01T09:00:00Z")).toEqual([orphan]);
    expect(await runsOf(id)).toEqual(["2026-09-01"]);
    const occurrence = await t.app.pool.query("SELECT bill_run_id FROM bill_run_schedule_occurrences WHERE schedule_id = $1", [id]);
    expect(occurrence.rows).toEqual([{ bill_run_id: orphan }]);
    expect(await nextRunAt(id)).toBe("2026-09-02T09:00:00.000Z");
  });

  it("polls on its own with the real clock", async () => {
    const now = new Date();
    const runTime = new Date(now.getTime() + 60_000).toISOString().slice(11, 16);
    const id = await schedule({ repeatType: "DAILY", runTime, timeZone: "UTC" }, now.toISOString());
    const due = await nextRunAt(id);
    const polling = startScheduler(t.app, { now: () => new Date(Date.parse(due!) + 1000), intervalMs: 50 });
    try {
      await waitFor("the due occurrence's run", async () => (await runsOf(id)).length > 0, 5000);
    } finally {
      await polling.stop();
    }
    expect(await runsOf(id)).toHaveLength(1);
  });
});

describe("ticks as pg-boss jobs", () => {
  const tickJobs = async () =>
    (
      await t.app.pool.query<{ state: string; singleton_on: Date | null; retry_count: number }>(
        "SELECT state::text AS state, singleton_on, retry_count FROM pgboss.job WHERE name = 'schedule-tick' ORDER BY created_on",
      )
    ).rows;

  it("two schedulers (each with its own app and connections) offering a tick every second make one tick job per second between them", async () => {
    await t.app.pool.query("DELETE FROM pgboss.job WHERE name LIKE 'schedule-tick%'");
    const other: App = await startApp(t.app.config, t.databaseUrl, createLogger("silent"));
    const first = startScheduler(t.app, { intervalMs: 1000 });
    const second = startScheduler(other, { intervalMs: 1000 });
    try {
      await waitFor("three completed ticks", async () => (await tickJobs()).filter((j) => j.state === "completed").length >= 3);
    } finally {
      await Promise.all([first.stop(), second.stop()]);
      await other.close();
    }
    const jobs = await tickJobs();
    // One job per one-second slot, whichever process offered it first; the other's offer was refused.
    expect(new Set(jobs.map((j) => j.singleton_on?.toISOString())).size).toBe(jobs.length);
    expect(jobs.every((j) => j.singleton_on !== null && j.retry_count === 0)).toBe(true);
  });

  it("a tick left running by a process that died does not hold up the next ones", async () => {
    await t.app.pool.query("DELETE FROM pgboss.job WHERE name LIKE 'schedule-tick%'");
    const boss = t.app.jobs.boss;
    // What a process killed mid-tick leaves: this second's tick job, taken and never finished.
    const abandoned = await boss.send("schedule-tick", {}, { singletonKey: "tick", singletonSeconds: 1 });
    expect(abandoned).toBeTruthy();
    expect(await boss.fetch("schedule-tick")).toHaveLength(1);
    const now = new Date();
    const runTime = new Date(now.getTime() + 60_000).toISOString().slice(11, 16);
    const id = await schedule({ repeatType: "DAILY", runTime, timeZone: "UTC" }, now.toISOString());
    const due = await nextRunAt(id);
    const survivor = startScheduler(t.app, { now: () => new Date(Date.parse(due!) + 1000), intervalMs: 1000 });
    try {
      await waitFor("the run of the due occurrence", async () => (await runsOf(id)).length === 1);
    } finally {
      await survivor.stop();
    }
    // pg-boss records a finished job's completion after its handler returns, without waiting for
    // it: the survivor's ticks leave `active` shortly after stop(). The abandoned one never does.
    const active = async () =>
      (await t.app.pool.query<{ id: string }>("SELECT id FROM pgboss.job WHERE name = 'schedule-tick' AND state = 'active'")).rows.map((r) => r.id);
    await waitFor("the survivor's ticks completed", async () => (await active()).length === 1);
    expect(await active()).toEqual([abandoned]);
  });

  it("retries a tick that fails, then dead-letters it", async () => {
    await t.app.pool.query("DELETE FROM pgboss.job WHERE name LIKE 'schedule-tick%'");
    let calls = 0;
    const failing = startScheduler(t.app, {
      intervalMs: 1000,
      now: () => {
        calls += 1;
        throw new Error("clock unavailable");
      },
    });
    try {
      await waitFor(
        "a dead-lettered tick",
        async () => ((await t.app.pool.query("SELECT 1 FROM pgboss.job WHERE name = 'schedule-tick-dead'")).rowCount ?? 0) >= 1,
      );
    } finally {
      await failing.stop();
    }
    const [first] = await tickJobs();
    // The first attempt and its two retries, all failed; later intervals' ticks are jobs of their own.
    expect(first).toMatchObject({ state: "failed", retry_count: 2 });
    expect(calls).toBeGreaterThanOrEqual(3);
  });
});
