import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import type { Client } from "graphql-ws";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { collect, startServer, wsClient } from "../support/server.ts";
import { registerWorkers } from "../../src/billruns/executor.ts";
import { recoverRuns } from "../../src/billruns/recovery.ts";
import { transition } from "../../src/billruns/transitions.ts";
import { transaction } from "../../src/db/sql.ts";
import { cancelBillRun, createBillRun, deleteBillRun } from "../../src/billruns/service.ts";
import { deleteRun } from "../billruns/helpers.ts";
import { waitFor } from "../support/wait.ts";

// Events outlive the run they describe: a deleted run keeps its history, which ends with
// REMOVE_IN_PROGRESS → REMOVED, and a client resuming with `after` receives exactly what a
// connected client received.

let t: TestApp;
let server: Awaited<ReturnType<typeof startServer>>;

beforeAll(async () => {
  t = await createTestApp();
  await registerWorkers(t.app, 2);
  server = await startServer(t);
});
afterAll(async () => {
  await server.close();
  await t.close();
});

const STATUS = `subscription($id: ID, $after: String) {
  billRunStatusChanged(billRunId: $id, after: $after) { eventId billRunId billRunNumber previousStatus status at billRun { id status } }
}`;
const ALERTS = `subscription($id: ID, $after: String) {
  billRunAlert(billRunId: $id, after: $after) { eventId billRunId billRunNumber code message account { accountNumber } billRun { id } }
}`;

type Change = {
  eventId: string;
  billRunId: string;
  billRunNumber: string;
  previousStatus: string | null;
  status: string;
  at: string;
  billRun: { id: string; status: string } | null;
};
type StatusEvent = { billRunStatusChanged: Change };

const until = (condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000) => waitFor(what, condition, timeoutMs, 20);

/** Subscribes and keeps every result until disposed; resolves `subscribed` once the server listens. */
async function watch<T>(client: Client, query: string, variables: Record<string, unknown>) {
  const results: T[] = [];
  const errors: unknown[] = [];
  let completed = false;
  const before = t.app.events.subscriberCount;
  const dispose = client.subscribe<T>(
    { query, variables },
    { next: (r) => (r.errors ? errors.push(r.errors) : results.push(r.data as T)), error: (e) => errors.push(e), complete: () => (completed = true) },
  );
  await until(() => t.app.events.subscriberCount > before, "the subscription to listen");
  return { results, errors, isCompleted: () => completed, dispose };
}

/** A COMPLETED run canceled (COMPLETED → CANCEL_IN_PROGRESS → CANCELED), ready to be deleted. */
async function canceledRun(options: { billToEmail?: string } = {}) {
  const { account } = await seedAccount(t, { billToEmail: options.billToEmail, charges: [{ type: "ONE_TIME", price: "10.00" }] });
  const id = await createBillRun(t.app, { targetDate: "2026-02-01", accountIds: [account.id] }, { createdById: null });
  await waitForStatus(t, id, ["COMPLETED"]);
  await cancelBillRun(t.app, id, null);
  const run = await t.app.db.billRun.findUniqueOrThrow({ where: { id } });
  // Notices reach this process a moment after the commit: a subscriber without `after` that
  // starts before they arrive would receive them, as they are news to this process.
  const last = await t.app.db.billRunEvent.findFirstOrThrow({ where: { billRunId: id }, orderBy: { id: "desc" } });
  await until(() => t.app.events.latestEventId >= last.id, "this process to hear of the cancel");
  return { id, number: run.billRunNumber, account };
}

const withoutRun = ({ billRun: _run, ...rest }: Change) => rest;

describe("a deleted run in the event history", () => {
  it("is resumed with after exactly as a connected client saw it: the same ids, no gap, ending with REMOVED", async () => {
    const connectedClient = wsClient(server.wsUrl, t.tokens.viewer);
    const connected = await watch<StatusEvent>(connectedClient, STATUS, {});

    const run = await canceledRun();
    const ofRun = () => connected.results.map((r) => r.billRunStatusChanged).filter((e) => e.billRunId === run.id);
    await until(() => ofRun().some((e) => e.status === "CANCELED"), "CANCELED to reach the connected client");
    // The client that disconnects here saw CANCELED last.
    const lastSeen = ofRun().at(-1)!;
    expect(lastSeen.status).toBe("CANCELED");

    expect(await deleteBillRun(t.app, run.id, null)).toEqual({ id: run.id, billRunNumber: run.number });
    await until(() => ofRun().some((e) => e.status === "REMOVED"), "REMOVED to reach the connected client");

    const resumedClient = wsClient(server.wsUrl, t.tokens.viewer);
    const resumed = await watch<StatusEvent>(resumedClient, STATUS, { after: lastSeen.eventId });
    await until(() => resumed.results.length >= 2, "the resumed client to get the removal");
    await Promise.all([connectedClient.dispose(), resumedClient.dispose()]);

    const tail = resumed.results.map((r) => r.billRunStatusChanged);
    const seenLive = ofRun().filter((e) => BigInt(e.eventId) > BigInt(lastSeen.eventId));
    expect(tail.map(withoutRun)).toEqual(seenLive.map(withoutRun));
    expect(tail.map((e) => [e.previousStatus, e.status, e.billRunNumber, e.billRun])).toEqual([
      ["CANCELED", "REMOVE_IN_PROGRESS", run.number, null],
      ["REMOVE_IN_PROGRESS", "REMOVED", run.number, null],
    ]);
    // No gap: every id the run ever had, in order, is what the two clients together received.
    const stored = await t.app.db.billRunEvent.findMany({ where: { billRunId: run.id, kind: "STATUS" }, orderBy: { id: "asc" } });
    expect(ofRun().map((e) => e.eventId)).toEqual(stored.map((e) => e.id.toString()));
    expect(stored.map((e) => e.toStatus)).toEqual(["PENDING", "PROCESSING", "COMPLETED", "CANCEL_IN_PROGRESS", "CANCELED", "REMOVE_IN_PROGRESS", "REMOVED"]);
    expect(await t.app.db.billRun.findUnique({ where: { id: run.id } })).toBeNull();
  });

  it("replays a deleted run's whole history by its id, then completes", async () => {
    const run = await canceledRun();
    await deleteBillRun(t.app, run.id, null);
    const client = wsClient(server.wsUrl, t.tokens.viewer);
    // `collect` resolves on completion with what arrived; it would time out if the feed stayed open.
    const history = (await collect<StatusEvent>(client, STATUS, { id: run.id, after: "0" }, 100).done).map((r) => r.billRunStatusChanged);
    expect(history.map((e) => e.status)).toEqual(["PENDING", "PROCESSING", "COMPLETED", "CANCEL_IN_PROGRESS", "CANCELED", "REMOVE_IN_PROGRESS", "REMOVED"]);
    expect(new Set(history.map((e) => e.billRunNumber))).toEqual(new Set([run.number]));
    expect(history.every((e) => e.billRun === null && e.billRunId === run.id)).toBe(true);

    // Without `after`: the removal alone (what is true of the run now), then the end.
    const removal = await collect<StatusEvent>(client, STATUS, { id: run.id }, 100).done;
    expect(removal.map((r) => withoutRun(r.billRunStatusChanged))).toEqual([withoutRun(history.at(-1)!)]);

    // Resuming from the removal itself: nothing more, and the feed ends at once.
    expect(await collect<StatusEvent>(client, STATUS, { id: run.id, after: history.at(-1)!.eventId }, 100).done).toEqual([]);
    // Resuming in the middle gives the rest, to the end.
    const rest = await collect<StatusEvent>(client, STATUS, { id: run.id, after: history[3]!.eventId }, 100).done;
    expect(rest.map((r) => r.billRunStatusChanged.eventId)).toEqual(history.slice(4).map((e) => e.eventId));
    await client.dispose();
  });

  it("ends a live subscription to one run when the run is deleted, after delivering the removal", async () => {
    const run = await canceledRun();
    const client = wsClient(server.wsUrl, t.tokens.viewer);
    const live = await watch<StatusEvent>(client, STATUS, { id: run.id });
    await deleteBillRun(t.app, run.id, null);
    await until(live.isCompleted, "the run's feed to complete");
    expect(live.errors).toEqual([]);
    expect(live.results.map((r) => r.billRunStatusChanged.status)).toEqual(["REMOVE_IN_PROGRESS", "REMOVED"]);
    await client.dispose();
  });

  it("keeps a deleted run's alerts: replayed by run id with its number, then the feed completes", async () => {
    const run = await canceledRun({ billToEmail: "" });
    const client = wsClient(server.wsUrl, t.tokens.viewer);
    const live = await watch<{ billRunAlert: { code: string } }>(client, ALERTS, { id: run.id });
    await deleteBillRun(t.app, run.id, null);
    await until(live.isCompleted, "the run's alert feed to complete at its deletion");
    expect(live.results).toEqual([]);

    const alerts = (await collect<{ billRunAlert: Record<string, unknown> }>(client, ALERTS, { id: run.id, after: "0" }, 100).done).map((r) => r.billRunAlert);
    expect(alerts).toEqual([
      {
        eventId: expect.any(String),
        billRunId: run.id,
        billRunNumber: run.number,
        code: "MISSING_BILL_TO_CONTACT",
        message: expect.any(String),
        account: { accountNumber: run.account.accountNumber },
        billRun: null,
      },
    ]);
    // Without `after`, nothing is left to come: it completes at once rather than stay silent.
    expect(await collect(client, ALERTS, { id: run.id }, 100).done).toEqual([]);
    await client.dispose();
  });

  it("answers NOT_FOUND for a run id that never existed, on every feed; a deleted run's progress says it was deleted", async () => {
    const client = wsClient(server.wsUrl, t.tokens.viewer);
    const unknown = randomUUID();
    for (const query of [STATUS, ALERTS, `subscription($id: ID!) { billRunProgress(billRunId: $id) { accountsProcessed } }`]) {
      await expect(collect(client, query, { id: unknown }, 1, 10_000).done).rejects.toThrow(/"code":"NOT_FOUND"/);
    }
    const run = await canceledRun();
    await deleteBillRun(t.app, run.id, null);
    await expect(
      collect(client, `subscription($id: ID!) { billRunProgress(billRunId: $id) { accountsProcessed } }`, { id: run.id }, 1, 10_000).done,
    ).rejects.toThrow(new RegExp(`"message":"bill run ${run.id} was deleted \\(event \\d+\\)".*"code":"NOT_FOUND"`));
    await client.dispose();
  });

  it("leaves the tombstone also when recovery finishes a delete that a crash interrupted", async () => {
    const run = await canceledRun();
    // The first of the delete's two transactions committed; the process died before the second.
    await transaction(t.app.pool, (sql) => transition(sql, run.id, "beginRemove", {}));
    await t.app.pool.query("UPDATE bill_runs SET updated_at = now() - interval '2 minutes' WHERE id = $1", [run.id]);
    await recoverRuns(t.app);
    expect(await t.app.db.billRun.findUnique({ where: { id: run.id } })).toBeNull();
    const last = await t.app.db.billRunEvent.findFirstOrThrow({ where: { billRunId: run.id }, orderBy: { id: "desc" } });
    expect(last).toMatchObject({ kind: "STATUS", fromStatus: "REMOVE_IN_PROGRESS", toStatus: "REMOVED", billRunNumber: run.number, actorId: null });
  });

  it("refuses, in the database, an event for a run that does not exist", async () => {
    await expect(
      t.app.pool.query(`INSERT INTO bill_run_events (bill_run_id, kind, code, message) VALUES ($1, 'ALERT', 'X', 'x')`, [randomUUID()]),
    ).rejects.toMatchObject({
      code: "23503",
    });
  });

  it("says a deleted run was deleted, with its number, when asked to act on it again", async () => {
    const run = await canceledRun();
    expect(await deleteRun(t, run.id)).toEqual({ __typename: "DeleteBillRunPayload", id: run.id, billRunNumber: run.number });
    expect(await deleteRun(t, run.id)).toEqual({
      __typename: "NotFoundError",
      code: "NOT_FOUND",
      message: `bill run ${run.number} (${run.id}) was deleted`,
    });
    const cancel = await t.gql<any, unknown>(`mutation($id: ID!) { cancelBillRun(id: $id) { __typename ... on Error { code message } } }`, { id: run.id });
    expect(cancel.data.cancelBillRun).toEqual({ __typename: "NotFoundError", code: "NOT_FOUND", message: `bill run ${run.number} (${run.id}) was deleted` });
  });
});
