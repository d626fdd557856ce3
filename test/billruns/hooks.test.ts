// Transition hooks (src/billruns/hooks.ts): a registered hook sees every status change of every
// run, inside the transaction that makes it; a hook that fails rolls the change back.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { registerWorkers } from "../../src/billruns/executor.ts";
import { onTransition, type StatusChange } from "../../src/billruns/hooks.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { cancelRun, createRun, deleteRun, postRun } from "./helpers.ts";

interface Seen {
  change: StatusChange;
  /** The run's status and the event, read in the hook's own transaction. */
  statusInside: string | null;
  eventInside: boolean;
  /** The event, read from another session at the same moment. */
  eventOutside: boolean;
}

// `t` has workers: its runs execute. `idle` has none: its runs stay PENDING until acted on.
let t: TestApp;
let idle: TestApp;
let outside: pg.Client;
const seen: Seen[] = [];
let unsubscribe: () => void;

beforeAll(async () => {
  [t, idle] = await Promise.all([createTestApp({ BILLRUN_CHUNK_SIZE: "2" }), createTestApp()]);
  outside = new pg.Client({ connectionString: t.databaseUrl });
  await outside.connect();
  unsubscribe = onTransition("test-recorder", async (sql, change) => {
    // Both apps run this hook (it is the process's); only `t`'s runs are looked at below.
    const inside = await sql.query<{ status: string | null; event: boolean }>(
      "SELECT (SELECT status::text FROM bill_runs WHERE id = $1) AS status, EXISTS (SELECT 1 FROM bill_run_events WHERE id = $2) AS event",
      [change.id, change.eventId],
    );
    const other = await sql.query<{ db: string }>("SELECT current_database() AS db");
    const sameDatabase = other.rows[0]!.db === (await outside.query<{ db: string }>("SELECT current_database() AS db")).rows[0]!.db;
    const fromOutside = sameDatabase ? await outside.query("SELECT 1 FROM bill_run_events WHERE id = $1", [change.eventId]) : null;
    seen.push({
      change,
      statusInside: inside.rows[0]!.status,
      eventInside: inside.rows[0]!.event,
      eventOutside: (fromOutside?.rowCount ?? 0) > 0,
    });
  });
  await registerWorkers(t.app, 2);
});

afterAll(async () => {
  unsubscribe?.();
  await outside?.end();
  await Promise.all([t?.close(), idle?.close()]);
});

async function statusEvents(app: TestApp, billRunId: string) {
  const events = await app.app.pool.query<{ id: string; from_status: string | null; to_status: string; actor_id: string | null }>(
    `SELECT e.id::text, e.from_status, e.to_status, e.actor_id FROM bill_run_events e WHERE e.bill_run_id = $1 AND e.kind = 'STATUS' ORDER BY e.id`,
    [billRunId],
  );
  return events.rows;
}

describe("transition hooks", () => {
  it("see every status change, each inside its transaction, in event order", async () => {
    const { account } = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "10.00" }] });
    const posted = await createRun(t, { targetDate: "2026-01-15", accountIds: [account.id] });
    await waitForStatus(t, posted.id, ["COMPLETED"]);
    expect((await postRun(t, posted.id)).__typename).toBe("BillRun");
    await waitForStatus(t, posted.id, ["POSTED"]);

    const { account: other } = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "5.00" }] });
    const removed = await createRun(t, { targetDate: "2026-01-15", accountIds: [other.id] });
    await waitForStatus(t, removed.id, ["COMPLETED"]);
    expect((await cancelRun(t, removed.id)).__typename).toBe("BillRun");
    await waitForStatus(t, removed.id, ["CANCELED"]);
    expect((await deleteRun(t, removed.id)).__typename).toBe("DeleteBillRunPayload");
    await waitForStatus(t, removed.id, ["GONE"]);

    for (const [run, path] of [
      [posted.id, ["PENDING", "PROCESSING", "COMPLETED", "POST_IN_PROGRESS", "POSTED"]],
      [removed.id, ["PENDING", "PROCESSING", "COMPLETED", "CANCEL_IN_PROGRESS", "CANCELED", "REMOVE_IN_PROGRESS", "REMOVED"]],
    ] as const) {
      const events = await statusEvents(t, run);
      expect(events.map((e) => e.to_status)).toEqual(path);
      const hooked = seen.filter((s) => s.change.id === run);
      // Exactly the recorded events, once each, in order, with what each event says.
      expect(hooked.map((s) => s.change.eventId)).toEqual(events.map((e) => e.id));
      expect(hooked.map((s) => [s.change.from, s.change.to, s.change.actorId])).toEqual(events.map((e) => [e.from_status, e.to_status, e.actor_id]));
      for (const s of hooked) {
        expect(s.eventInside, `event ${s.change.eventId} visible in the hook's transaction`).toBe(true);
        expect(s.eventOutside, `event ${s.change.eventId} not yet committed while the hook ran`).toBe(false);
        // The run already has its new status (a removed run's row is deleted after its last event).
        if (s.change.to !== "REMOVED") expect(s.statusInside).toBe(s.change.to);
      }
    }
    expect(seen.find((s) => s.change.id === posted.id)?.change.billRunNumber).toBe(posted.billRunNumber);
  });

  it("roll the change back when one fails, the hook's own writes with it", async () => {
    const { account } = await seedAccount(idle, { billToEmail: "owner@example.com", charges: [{ type: "ONE_TIME", price: "10.00" }] });
    const run = await createRun(idle, { targetDate: "2026-01-15", accountIds: [account.id] });
    expect(run.status).toBe("PENDING");
    const refuse = onTransition("test-refuse", async (sql, change) => {
      if (change.id !== run.id) return;
      // A write of this hook's own, rolled back with the change.
      await sql.query("UPDATE bill_runs SET error_message = 'written by the failing hook' WHERE id = $1", [change.id]);
      throw new Error("hook refused the change");
    });
    try {
      const refused = await idle.gql<any, unknown>(`mutation($id: ID!) { cancelBillRun(id: $id) { __typename } }`, { id: run.id });
      expect(refused.errors?.length).toBe(1);
    } finally {
      refuse();
    }
    const after = await idle.app.pool.query<{ status: string; error_message: string | null }>("SELECT status, error_message FROM bill_runs WHERE id = $1", [
      run.id,
    ]);
    expect(after.rows[0]).toEqual({ status: "PENDING", error_message: null });
    expect((await statusEvents(idle, run.id)).map((e) => e.to_status)).toEqual(["PENDING"]);

    // Unsubscribed, the same change goes through.
    expect((await cancelRun(idle, run.id)).status).toBe("CANCELED");
    expect((await statusEvents(idle, run.id)).map((e) => e.to_status)).toEqual(["PENDING", "CANCELED"]);
  });
});
