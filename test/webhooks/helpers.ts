import type { TestApp } from "../support/app.ts";
import { dataOf, type Json } from "../billruns/helpers.ts";

/** createWebhookEndpoint through the API; returns the union member. */
export async function createEndpoint(t: TestApp, input: Record<string, unknown>, token = t.tokens.admin): Promise<Json> {
  const result = await t.gql<Json, unknown>(
    `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
       __typename
       ... on WebhookEndpointSecretPayload { secret webhookEndpoint { id url status eventTypes description createdBy { email } } }
       ... on Error { code message } ... on ValidationError { field } } }`,
    { input },
    token,
  );
  return dataOf(result).createWebhookEndpoint;
}

export async function sendTest(t: TestApp, endpointId: string): Promise<Json> {
  const result = await t.gql<Json, unknown>(
    `mutation($id: ID!) { sendTestWebhook(endpointId: $id) { __typename ... on WebhookDelivery { id webhookId status } ... on Error { code message } } }`,
    { id: endpointId },
  );
  return dataOf(result).sendTestWebhook;
}

export const DELIVERY_FIELDS = `id webhookId eventType status attemptCount lastHttpStatus lastError deliveredAt payload
  attempts { attemptedAt httpStatus durationMs error response }`;

export async function deliveries(t: TestApp, endpointId: string, status?: string, token = t.tokens.admin): Promise<Json[]> {
  const result = await t.gql<Json, unknown>(
    `query($id: ID!, $status: WebhookDeliveryStatus) { webhookEndpoint(id: $id) {
       deliveries(first: 100, status: $status) { totalCount edges { node { ${DELIVERY_FIELDS} } } } } }`,
    { id: endpointId, status },
    token,
  );
  return dataOf(result).webhookEndpoint.deliveries.edges.map((e: Json) => e.node);
}

/** Removes every endpoint (with its deliveries), so one test's endpoints do not receive the next test's events. */
export async function deleteAllEndpoints(t: TestApp): Promise<void> {
  await t.app.pool.query("DELETE FROM webhook_endpoints");
  await t.app.pool.query("DELETE FROM webhook_deliveries");
}
