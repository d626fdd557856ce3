import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { dataOf, type Json } from "../billruns/helpers.ts";
import { startDeliverer } from "../../src/webhooks/deliverer.ts";
import { encryptSecret, generateSecret, secretKey } from "../../src/webhooks/secrets.ts";
import { startReceiver, type TestReceiver } from "./receiver.ts";
import { waitFor } from "../support/wait.ts";
import { createEndpoint, deliveries, sendTest } from "./helpers.ts";
import { captureLogs } from "../hardening/helpers.ts";

let t: TestApp;
let receiver: TestReceiver;

beforeAll(async () => {
  // The defaults a user gets for addresses (private ones refused), http allowed for the local receiver.
  t = await createTestApp({ BILLRUN_WEBHOOK_ALLOW_HTTP: "true", BILLRUN_WEBHOOK_POLL_SECONDS: "0.05" });
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
  await t?.close();
});

describe("webhook endpoint security", () => {
  it.each([
    ["https://127.0.0.1/hooks", /127\.0\.0\.1.*loopback, private/],
    ["https://localhost:8443/hooks", /localhost resolves to .*loopback, private/],
    ["https://[::1]/hooks", /::1.*loopback, private/],
    ["https://169.254.169.254/latest/meta-data", /169\.254\.169\.254/],
    ["https://10.0.0.7/hooks", /10\.0\.0\.7/],
    ["https://192.168.1.20/hooks", /192\.168\.1\.20/],
    ["https://[fd00:ec2::254]/", /fd00:ec2::254/],
    ["https://[::ffff:127.0.0.1]/", /loopback, private/],
    ["ftp://example.com/hooks", /https/],
    ["https://user:pass@8.8.8.8/hooks", /user name or password/],
    ["not a url", /absolute URL/],
  ])("refuses %s at creation", async (url, message) => {
    const result = await createEndpoint(t, { url, eventTypes: ["bill_run.completed"] });
    expect(result).toMatchObject({ __typename: "ValidationError", code: "VALIDATION", field: ["input", "url"] });
    expect(result.message).toMatch(message);
    expect((await t.app.pool.query("SELECT count(*)::int AS n FROM webhook_endpoints")).rows[0].n).toBe(0);
  });

  it("refuses unknown event types, naming the offending entry", async () => {
    const result = await createEndpoint(t, { url: "https://8.8.8.8/hooks", eventTypes: ["bill_run.completed", "bill_run.exploded"] });
    expect(result).toMatchObject({ __typename: "ValidationError", field: ["input", "eventTypes", "1"] });
    const none = await createEndpoint(t, { url: "https://8.8.8.8/hooks", eventTypes: [] });
    expect(none).toMatchObject({ __typename: "ValidationError", field: ["input", "eventTypes"] });
  });

  it("lets an ADMIN manage endpoints and an OPERATOR only read them", async () => {
    const denied = await t.gql<Json, unknown>(
      `mutation { createWebhookEndpoint(input: { url: "https://8.8.8.8/x", eventTypes: ["bill_run.completed"] }) { __typename } }`,
      undefined,
      t.tokens.operator,
    );
    expect(denied.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    const viewer = await t.gql<Json, unknown>(`{ webhookEndpoints(first: 5) { totalCount } }`, undefined, t.tokens.viewer);
    expect(viewer.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    const created = await createEndpoint(t, { url: "https://8.8.8.8/hooks", eventTypes: ["bill_run.completed"], description: "warehouse" });
    expect(created.webhookEndpoint).toMatchObject({
      url: "https://8.8.8.8/hooks",
      status: "ENABLED",
      description: "warehouse",
      createdBy: { email: "admin@localhost" },
    });
    const listed = dataOf(
      await t.gql<Json, unknown>(
        `{ webhookEndpoints(first: 5) { totalCount edges { node { id url eventTypes } } } webhookEventTypes }`,
        undefined,
        t.tokens.operator,
      ),
    );
    expect(listed.webhookEndpoints.totalCount).toBe(1);
    expect(listed.webhookEventTypes).toContain("credit_memo.posted");
    const update = await t.gql<Json, unknown>(
      `mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: { eventTypes: ["invoice.posted", "bill_run.error"] }) { __typename ... on WebhookEndpoint { eventTypes url } } }`,
      { id: created.webhookEndpoint.id },
    );
    expect(dataOf(update).updateWebhookEndpoint).toEqual({
      __typename: "WebhookEndpoint",
      eventTypes: ["bill_run.error", "invoice.posted"],
      url: "https://8.8.8.8/hooks",
    });
    const deleted = await t.gql<Json, unknown>(
      `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { __typename ... on DeleteWebhookEndpointPayload { id } } }`,
      {
        id: created.webhookEndpoint.id,
      },
    );
    expect(dataOf(deleted).deleteWebhookEndpoint).toEqual({ __typename: "DeleteWebhookEndpointPayload", id: created.webhookEndpoint.id });
    const again = await t.gql<Json, unknown>(`mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { __typename ... on Error { code } } }`, {
      id: created.webhookEndpoint.id,
    });
    expect(dataOf(again).deleteWebhookEndpoint).toEqual({ __typename: "NotFoundError", code: "NOT_FOUND" });
  });

  it("refuses at delivery an address that became private (a name resolving to loopback, an IP literal): nothing reaches it", async () => {
    // Saved while it looked public (as a DNS name can, then change): written straight to the table.
    const logs = captureLogs(t);
    const key = await secretKey(t.app.config);
    const ids: string[] = [];
    const secrets: string[] = [];
    for (const url of [`http://localhost:${receiver.port}/hooks`, receiver.url]) {
      const secret = generateSecret();
      secrets.push(secret);
      const row = await t.app.pool.query<{ id: string }>(
        "INSERT INTO webhook_endpoints (url, event_types, secret_ciphertext) VALUES ($1, $2, $3) RETURNING id",
        [url, ["bill_run.completed"], encryptSecret(key, secret)],
      );
      ids.push(row.rows[0]!.id);
    }
    const deliverer = startDeliverer(t.app);
    try {
      for (const id of ids) await sendTest(t, id);
      for (const id of ids) {
        const [delivery] = await waitFor("the delivery to be refused", async () => {
          const log = await deliveries(t, id);
          return log[0]?.status === "FAILED" ? log : null;
        });
        expect(delivery.attemptCount).toBe(1);
        expect(delivery.lastError).toMatch(/^refused: .*(localhost resolves to 127\.0\.0\.1|127\.0\.0\.1 is a loopback)/);
        expect(delivery.attempts[0]).toMatchObject({ httpStatus: null });
      }
    } finally {
      await deliverer.stop();
    }
    expect(receiver.requests).toHaveLength(0);
    expect(receiver.unverified).toHaveLength(0);
    // Each refusal is logged, without the endpoint's secret.
    const text = JSON.stringify(logs);
    expect(logs.filter((l) => l.msg === "webhook refused; not retried")).toHaveLength(2);
    for (const secret of secrets) expect(text).not.toContain(secret.slice(6));
  });
});
