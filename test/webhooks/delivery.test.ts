import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { cancelRun, createRun, dataOf, deleteRun, postRun, type Json } from "../billruns/helpers.ts";
import { registerWorkers } from "../../src/billruns/executor.ts";
import { recordStatusEvent } from "../../src/billruns/transitions.ts";
import { startDeliverer, type Deliverer } from "../../src/webhooks/deliverer.ts";
import { composeWebhookDisabledEmail } from "../../src/notifications/compose.ts";
import { WEBHOOK_EVENT_TYPES } from "../../src/webhooks/events.ts";
import { startReceiver, type TestReceiver } from "./receiver.ts";
import { waitFor } from "../support/wait.ts";
import { createEndpoint, deleteAllEndpoints, deliveries, sendTest } from "./helpers.ts";

let t: TestApp;
let deliverer: Deliverer | null = null;
let receiver: TestReceiver | null = null;

beforeAll(async () => {
  t = await createTestApp({
    BILLRUN_WEBHOOK_ALLOW_HTTP: "true",
    BILLRUN_WEBHOOK_ALLOW_PRIVATE: "true",
    BILLRUN_WEBHOOK_POLL_SECONDS: "0.05",
    BILLRUN_WEBHOOK_RETRY_BASE_SECONDS: "0.1",
    BILLRUN_WEBHOOK_RETRY_MAX_SECONDS: "0.4",
  });
  await registerWorkers(t.app, 2);
});
afterEach(async () => {
  await deliverer?.stop();
  deliverer = null;
  await receiver?.close();
  receiver = null;
  await deleteAllEndpoints(t);
});
afterAll(async () => {
  await t?.close();
});

async function endpointWithReceiver(eventTypes: readonly string[] = WEBHOOK_EVENT_TYPES): Promise<{ id: string; secret: string; receiver: TestReceiver }> {
  receiver = await startReceiver();
  const created = await createEndpoint(t, { url: receiver.url, eventTypes, description: "ERP" });
  expect(created.__typename).toBe("WebhookEndpointSecretPayload");
  expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
  receiver.secrets.push(created.secret);
  return { id: created.webhookEndpoint.id, secret: created.secret, receiver };
}

async function runEvents(billRunId: string): Promise<{ id: string; kind: string; to_status: string | null }[]> {
  return (await t.app.pool.query("SELECT id::text, kind, to_status FROM bill_run_events WHERE bill_run_id = $1 ORDER BY id", [billRunId])).rows;
}

describe("webhook delivery", () => {
  it("sends a run's events, signed, complete and in order: status changes, completion, failed accounts, posting, posted invoices", async () => {
    const { id: endpointId, receiver } = await endpointWithReceiver();
    deliverer = startDeliverer(t.app);
    const good = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "10.005" }] });
    const second = await seedAccount(t, { currency: "JPY", charges: [{ type: "ONE_TIME", price: "1200", currency: "JPY" }] });
    const failing = await seedAccount(t, { billToEmail: "", charges: [{ type: "ONE_TIME", price: "5.00" }] });
    const run = await createRun(t, { targetDate: "2026-02-01", accountIds: [good.account.id, second.account.id, failing.account.id] }, t.tokens.operator);
    await waitForStatus(t, run.id, ["COMPLETED"]);
    expect((await postRun(t, run.id)).__typename).toBe("BillRun");
    await waitForStatus(t, run.id, ["POSTED"]);

    const events = await runEvents(run.id);
    const statusEvents = events.filter((e) => e.kind === "STATUS");
    const alerts = events.filter((e) => e.kind === "ALERT");
    expect(alerts.length).toBeGreaterThan(0);
    const ofRun = (r: { payload: Json }) => (r.payload.data.billRunId ?? r.payload.data.invoice?.billRun?.id) === run.id;
    // PENDING, PROCESSING, COMPLETED, POST_IN_PROGRESS, POSTED + completed + posted + alerts + 2 invoices
    const expected = statusEvents.length + 2 + alerts.length + 2;
    await receiver.waitFor((received) => received.filter(ofRun).length >= expected);
    const received = receiver.received.filter(ofRun);
    expect(received).toHaveLength(expected);
    expect(receiver.unverified).toHaveLength(0);
    expect(new Set(received.map((r) => r.webhookId)).size).toBe(expected);

    // status_changed and account_failed carry the stored bill-run event's id; they arrive in id order.
    const changes = received.filter((r) => r.type === "bill_run.status_changed");
    expect(changes.map((r) => r.webhookId)).toEqual(statusEvents.map((e) => e.id));
    expect(changes.map((r) => r.payload.data.status)).toEqual(statusEvents.map((e) => e.to_status));
    expect(received.filter((r) => r.type === "bill_run.account_failed").map((r) => r.webhookId)).toEqual(alerts.map((e) => e.id));
    // A run's events commit in id order (under the run's row lock), so they arrive in id order.
    // (Posted documents' events are stored by the deliverer, concurrently with the run's last change.)
    const ids = received.filter((r) => r.type.startsWith("bill_run.")).map((r) => BigInt(r.webhookId));
    expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));

    const completed = received.find((r) => r.type === "bill_run.completed")!;
    expect(completed.payload).toMatchObject({
      type: "bill_run.completed",
      data: {
        billRunId: run.id,
        billRunNumber: run.billRunNumber,
        previousStatus: "PROCESSING",
        status: "COMPLETED",
        billRun: { id: run.id, status: "COMPLETED", accountsTotal: 3, invoiceCount: 2, failedAccountCount: 1 },
      },
    });
    expect(completed.payload.data.billRun.invoiceTotals).toEqual([
      { currency: "JPY", amount: "1200" },
      { currency: "USD", amount: "10.01" },
    ]);
    expect(new Date(completed.payload.timestamp).toISOString()).toBe(completed.payload.timestamp);
    expect(received.find((r) => r.type === "bill_run.posted")!.payload.data).toMatchObject({ status: "POSTED", billRun: { status: "POSTED" } });
    expect(received.find((r) => r.type === "bill_run.account_failed")!.payload.data).toMatchObject({
      billRunId: run.id,
      account: { id: failing.account.id, accountNumber: failing.account.accountNumber },
      code: expect.any(String),
      message: expect.any(String),
    });
    const invoices = received.filter((r) => r.type === "invoice.posted").map((r) => r.payload.data.invoice);
    expect(invoices.map((i) => [i.account.id, i.currency, i.amount, i.status]).sort()).toEqual(
      [
        [good.account.id, "USD", "10.01", "POSTED"],
        [second.account.id, "JPY", "1200", "POSTED"],
      ].sort(),
    );
    expect(invoices[0].invoiceNumber).toMatch(/^INV-/);

    // The delivery log says the same, readable by an OPERATOR.
    // Recorded once the receiver has answered (the deliverer records as it goes).
    const log = await waitFor("every delivery recorded", async () => {
      const succeeded = await deliveries(t, endpointId, "SUCCEEDED", t.tokens.operator);
      return succeeded.length >= expected ? succeeded : null;
    });
    expect(log.length).toBe(expected);
    expect(log[0].attempts).toHaveLength(1);
    expect(log[0].attempts[0]).toMatchObject({ httpStatus: 200, error: null, response: "ok" });
  });

  it("announces a run's cancellation and deletion; the last event (REMOVED) still describes the run", async () => {
    const { receiver } = await endpointWithReceiver(["bill_run.status_changed"]);
    deliverer = startDeliverer(t.app);
    const account = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "4.00" }] });
    const run = await createRun(t, { targetDate: "2026-02-01", accountIds: [account.account.id] }, t.tokens.operator);
    await waitForStatus(t, run.id, ["COMPLETED"]);
    expect((await cancelRun(t, run.id)).__typename).toBe("BillRun");
    await waitForStatus(t, run.id, ["CANCELED"]);
    expect((await deleteRun(t, run.id)).__typename).toBe("DeleteBillRunPayload");
    await waitForStatus(t, run.id, ["GONE"]);
    const ofRun = () => receiver.received.filter((r) => r.payload.data.billRunId === run.id);
    await receiver.waitFor(() => ofRun().some((r) => r.payload.data.status === "REMOVED"));
    expect(ofRun().map((r) => r.payload.data.status)).toEqual([
      "PENDING",
      "PROCESSING",
      "COMPLETED",
      "CANCEL_IN_PROGRESS",
      "CANCELED",
      "REMOVE_IN_PROGRESS",
      "REMOVED",
    ]);
    expect(ofRun().at(-1)!.payload.data).toMatchObject({
      previousStatus: "REMOVE_IN_PROGRESS",
      billRunNumber: run.billRunNumber,
      billRun: { id: run.id, invoiceCount: 1 },
    });
  });

  it("keeps every event while the receiver is down and delivers each exactly once per webhook-id when it is back", async () => {
    const { id: endpointId, receiver } = await endpointWithReceiver(["bill_run.status_changed", "invoice.posted"]);
    await receiver.down();
    deliverer = startDeliverer(t.app);
    const accounts = await Promise.all([1, 2, 3, 4].map(() => seedAccount(t, { charges: [{ type: "ONE_TIME", price: "3.00" }] })));
    const run = await createRun(t, { targetDate: "2026-02-01", accountIds: accounts.map((a) => a.account.id), autoPost: true }, t.tokens.operator);
    await waitForStatus(t, run.id, ["POSTED"]);
    // Attempts fail (connection refused) and are retried with the endpoint waiting in between.
    const failing = await waitFor("three failed attempts", async () => {
      const row = (
        await t.app.pool.query("SELECT attempt_count, last_error FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY event_id LIMIT 1", [endpointId])
      ).rows[0];
      return row && row.attempt_count >= 3 ? row : null;
    });
    expect(failing.last_error).toMatch(/ECONNREFUSED/);
    const attempted = (await t.app.pool.query("SELECT count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1 AND attempt_count > 0", [endpointId]))
      .rows[0].n;
    expect(attempted).toBe(1);

    await receiver.up();
    // Every status change, and the four posted invoices (stored by the deliverer after the posting).
    const total = (await runEvents(run.id)).filter((e) => e.kind === "STATUS").length + 4;
    await waitFor(
      "every event queued",
      async () => (await t.app.pool.query("SELECT count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1", [endpointId])).rows[0].n === total,
    );
    await waitFor(
      "every delivery",
      async () =>
        (await t.app.pool.query("SELECT count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'SUCCEEDED'", [endpointId])).rows[0]
          .n === total,
    );
    expect(receiver.received).toHaveLength(total);
    expect(new Set(receiver.received.map((r) => r.webhookId)).size).toBe(total);
    const ids = receiver.received.map((r) => BigInt(r.webhookId));
    expect(ids).toEqual([...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    // The endpoint is no longer failing once the batch lets it go.
    const endpoint = await waitFor("the endpoint to recover", async () => {
      const row = (await t.app.pool.query("SELECT failing_since, status FROM webhook_endpoints WHERE id = $1", [endpointId])).rows[0];
      return row.failing_since === null ? row : null;
    });
    expect(endpoint).toEqual({ failing_since: null, status: "ENABLED" });
  });

  it("retries a 429 (after its Retry-After) and a 500, then succeeds; the webhook-id and body stay the same", async () => {
    const { id: endpointId, receiver } = await endpointWithReceiver();
    receiver.answer = (_r, count) =>
      count === 1
        ? { status: 429, headers: { "retry-after": "1" }, body: "slow down" }
        : count === 2
          ? { status: 500, body: "x".repeat(10_000) }
          : { status: 200, body: "thanks" };
    deliverer = startDeliverer(t.app);
    const queued = await sendTest(t, endpointId);
    expect(queued).toMatchObject({ __typename: "WebhookDelivery", status: "PENDING" });
    await receiver.waitFor((r) => r.length === 1);
    const [delivery] = await waitFor("the delivery to succeed", async () => {
      const log = await deliveries(t, endpointId);
      return log[0]?.status === "SUCCEEDED" ? log : null;
    });
    expect(delivery.attemptCount).toBe(3);
    expect(delivery.attempts.map((a: Json) => a.httpStatus)).toEqual([429, 500, 200]);
    expect(delivery.attempts[0]).toMatchObject({ error: "HTTP 429", response: "slow down" });
    expect(delivery.attempts[1].response).toHaveLength(4096);
    expect(Date.parse(delivery.attempts[1].attemptedAt) - Date.parse(delivery.attempts[0].attemptedAt)).toBeGreaterThanOrEqual(990);
    expect(new Set(receiver.requests.map((r) => r.webhookId))).toEqual(new Set([queued.webhookId]));
    expect(new Set(receiver.requests.map((r) => r.body)).size).toBe(1);
    expect(JSON.parse(delivery.payload)).toMatchObject({ type: "webhook.test", data: { endpointId } });
  });

  it("stops at a 410: that delivery fails at once, the next ones are still sent", async () => {
    const { id: endpointId, receiver } = await endpointWithReceiver();
    receiver.answer = (_r, count) => (count === 1 ? { status: 410, body: "gone" } : { status: 200 });
    deliverer = startDeliverer(t.app);
    const first = await sendTest(t, endpointId);
    const second = await sendTest(t, endpointId);
    await receiver.waitFor((r) => r.some((x) => x.webhookId === second.webhookId));
    const log = await waitFor("both deliveries to finish", async () => {
      const all = await deliveries(t, endpointId);
      return all.every((d: Json) => d.status !== "PENDING") ? all : null;
    });
    const failed = log.find((d: Json) => d.id === first.id);
    expect(failed).toMatchObject({ status: "FAILED", attemptCount: 1, lastHttpStatus: 410, lastError: "HTTP 410" });
    expect(receiver.requests.filter((r) => r.webhookId === first.webhookId)).toHaveLength(1);

    // Redelivery: a new delivery of the same event, same webhook-id.
    const again = await t.gql<Json, unknown>(
      `mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { __typename ... on WebhookDelivery { id webhookId requestedBy { email } } } }`,
      { id: first.id },
    );
    const redelivery = dataOf(again).redeliverWebhook;
    expect(redelivery).toMatchObject({ __typename: "WebhookDelivery", webhookId: first.webhookId, requestedBy: { email: "admin@localhost" } });
    expect(redelivery.id).not.toBe(first.id);
    await receiver.waitFor((r) => r.some((x) => x.webhookId === first.webhookId));
  });

  it("does not follow a redirect: the delivery fails at once and the target is never called", async () => {
    const { id: endpointId, receiver } = await endpointWithReceiver();
    receiver.answer = () => ({ status: 302, headers: { location: "http://169.254.169.254/latest/meta-data" } });
    deliverer = startDeliverer(t.app);
    await sendTest(t, endpointId);
    const [delivery] = await waitFor("the delivery to fail", async () => {
      const log = await deliveries(t, endpointId);
      return log[0]?.status === "FAILED" ? log : null;
    });
    expect(delivery).toMatchObject({ attemptCount: 1, lastHttpStatus: 302 });
    expect(delivery.lastError).toBe("redirect not followed (HTTP 302 to http://169.254.169.254/latest/meta-data)");
    expect(receiver.requests).toHaveLength(1);
  });

  it("rotates the secret: both signatures for 24 hours, then only the new one", async () => {
    const { id: endpointId, secret: oldSecret, receiver } = await endpointWithReceiver();
    deliverer = startDeliverer(t.app);
    const rotated = dataOf(
      await t.gql<Json, unknown>(
        `mutation($id: ID!) { rotateWebhookEndpointSecret(id: $id) { __typename ... on WebhookEndpointSecretPayload { secret webhookEndpoint { id previousSecretExpiresAt } } } }`,
        { id: endpointId },
      ),
    ).rotateWebhookEndpointSecret;
    const newSecret: string = rotated.secret;
    expect(newSecret).not.toBe(oldSecret);
    const expires = Date.parse(rotated.webhookEndpoint.previousSecretExpiresAt) - Date.now();
    expect(expires).toBeGreaterThan(23.9 * 3_600_000);
    expect(expires).toBeLessThanOrEqual(24 * 3_600_000);
    receiver.secrets.push(newSecret);

    const during = await sendTest(t, endpointId);
    await receiver.waitFor((r) => r.some((x) => x.webhookId === during.webhookId));
    const both = receiver.received.find((x) => x.webhookId === during.webhookId)!;
    expect(both.signatures).toHaveLength(2);
    expect(both.verifiedWith.sort()).toEqual([oldSecret, newSecret].sort());

    // A day later the old secret no longer signs.
    await t.app.pool.query("UPDATE webhook_endpoints SET previous_secret_expires_at = now() - interval '1 second' WHERE id = $1", [endpointId]);
    const after = await sendTest(t, endpointId);
    await receiver.waitFor((r) => r.some((x) => x.webhookId === after.webhookId));
    const single = receiver.received.find((x) => x.webhookId === after.webhookId)!;
    expect(single.signatures).toHaveLength(1);
    expect(single.verifiedWith).toEqual([newSecret]);
    // The secret is stored encrypted: not in any column as text.
    const stored = (await t.app.pool.query("SELECT row_to_json(e)::text AS row FROM webhook_endpoints e WHERE id = $1", [endpointId])).rows[0].row;
    expect(stored).not.toContain(newSecret.slice(6));
    expect(stored).not.toContain(oldSecret.slice(6));
  });

  it("disables an endpoint failing for too long and emails its creator", async () => {
    const { id: endpointId, receiver } = await endpointWithReceiver();
    receiver.answer = () => ({ status: 503 });
    await t.app.pool.query("UPDATE webhook_endpoints SET failing_since = now() - interval '6 days' WHERE id = $1", [endpointId]);
    deliverer = startDeliverer(t.app);
    await sendTest(t, endpointId);
    const endpoint = await waitFor("the endpoint to be disabled", async () => {
      const row = (await t.app.pool.query("SELECT status, disabled_reason FROM webhook_endpoints WHERE id = $1", [endpointId])).rows[0];
      return row.status === "DISABLED" ? row : null;
    });
    expect(endpoint.disabled_reason).toMatch(/every delivery failed for 120 hours \(last: HTTP 503\)/);
    const mail = (await t.app.pool.query("SELECT to_address, payload FROM email_outbox WHERE kind = 'WEBHOOK_ENDPOINT_DISABLED'")).rows;
    expect(mail).toHaveLength(1);
    expect(mail[0]).toMatchObject({ to_address: "admin@localhost", payload: { endpointId, url: receiver.url } });
    const email = composeWebhookDisabledEmail(mail[0].payload);
    expect(email.subject).toBe(`Webhook endpoint disabled: ${receiver.url}`);
    expect(email.text).toContain("every delivery failed for 120 hours (last: HTTP 503)");
    const refused = await sendTest(t, endpointId);
    expect(refused).toMatchObject({ __typename: "InvalidStateError", code: "INVALID_STATE" });
  });

  it("announces a posted credit memo as credit_memo.posted, amounts in the currency's minor units", async () => {
    const { receiver } = await endpointWithReceiver(["credit_memo.posted"]);
    deliverer = startDeliverer(t.app);
    const { account } = await seedAccount(t, { currency: "KWD", charges: [{ type: "ONE_TIME", price: "1.00", currency: "KWD" }] });
    const memo = await t.app.pool.query<{ id: string; number: string }>(
      `INSERT INTO documents (id, number, type, status, account_id, currency, amount, balance, invoice_date, due_date)
       VALUES (gen_random_uuid(), 'CM-TEST-1', 'CREDIT_MEMO', 'DRAFT', $1, 'KWD', 2.5, 2.5, '2026-02-01', '2026-02-01') RETURNING id, number`,
      [account.id],
    );
    await t.app.pool.query("UPDATE documents SET status = 'POSTED', posted_at = now() WHERE id = $1", [memo.rows[0]!.id]);
    // Touching it again (a payment, a balance change) announces nothing more.
    await t.app.pool.query("UPDATE documents SET balance = 2 WHERE id = $1", [memo.rows[0]!.id]);
    await receiver.waitFor((r) => r.length >= 1);
    expect(receiver.received[0]!.payload).toMatchObject({
      type: "credit_memo.posted",
      data: {
        creditMemo: {
          id: memo.rows[0]!.id,
          creditMemoNumber: "CM-TEST-1",
          status: "POSTED",
          currency: "KWD",
          amount: "2.500",
          balance: "2.500",
          account: { id: account.id, accountNumber: account.accountNumber },
          billRun: null,
        },
      },
    });
    await deliverer.flush();
    expect((await t.app.pool.query("SELECT count(*)::int AS n FROM webhook_events WHERE document_id = $1", [memo.rows[0]!.id])).rows[0].n).toBe(1);
    expect(receiver.received).toHaveLength(1);
  });

  it("queues nothing for a change that rolled back, and nothing for disabled endpoints", async () => {
    const { id: endpointId } = await endpointWithReceiver();
    const account = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "1.00" }] });
    const run = await createRun(t, { targetDate: "2026-02-01", accountIds: [account.account.id] }, t.tokens.operator);
    const client = await t.app.pool.connect();
    let eventId: string;
    try {
      await client.query("BEGIN");
      eventId = await recordStatusEvent(client, run.id, "PENDING", "PAUSED", null);
      // status_changed takes the bill-run event's id; the rest of the run's events are not counted here.
      expect((await client.query("SELECT count(*)::int AS n FROM webhook_deliveries WHERE event_id = $1", [eventId])).rows[0].n).toBe(1);
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }
    expect((await t.app.pool.query("SELECT count(*)::int AS n FROM webhook_deliveries WHERE event_id = $1", [eventId])).rows[0].n).toBe(0);
    expect((await t.app.pool.query("SELECT count(*)::int AS n FROM webhook_events WHERE id = $1", [eventId])).rows[0].n).toBe(0);
    await waitForStatus(t, run.id, ["COMPLETED"]);
    const disabled = dataOf(
      await t.gql<Json, unknown>(`mutation($id: ID!) { disableWebhookEndpoint(id: $id) { ... on WebhookEndpoint { status disabledReason } } }`, {
        id: endpointId,
      }),
    );
    expect(disabled.disableWebhookEndpoint).toEqual({ status: "DISABLED", disabledReason: "disabled by admin@localhost" });
    const queued = (await t.app.pool.query("SELECT count(*)::int AS n FROM webhook_deliveries")).rows[0].n;
    expect((await postRun(t, run.id)).__typename).toBe("BillRun");
    await waitForStatus(t, run.id, ["POSTED"]);
    expect((await t.app.pool.query("SELECT count(*)::int AS n FROM webhook_deliveries")).rows[0].n).toBe(queued);
  });
});
