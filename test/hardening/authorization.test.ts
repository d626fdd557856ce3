import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  getNamedType,
  getNullableType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isScalarType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLObjectType,
} from "graphql";
import { createTestApp, type TestApp } from "../support/app.ts";
import { startHttpServer, type HttpServer } from "../../src/http.ts";
import type { App } from "../../src/app.ts";
import { AccessWatch } from "../../src/auth/access.ts";
import { schema } from "../../src/graphql/schema.ts";
import { codes, databaseFingerprint, wsClient, wsRun } from "./helpers.ts";
import { waitFor } from "../support/wait.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

// ---------------------------------------------------------------------------------------------
// Every root field of the schema, with made-up but well-typed arguments.

const SAMPLE_ID = "00000000-0000-4000-8000-000000000001";

function sample(type: GraphQLInputType): unknown {
  const inner = getNullableType(type);
  if (isListType(inner)) return [sample(inner.ofType)];
  if (isEnumType(inner)) return inner.getValues()[0]!.value;
  if (isInputObjectType(inner)) {
    return Object.fromEntries(
      Object.values(inner.getFields())
        .filter((f) => isNonNullType(f.type))
        .map((f) => [f.name, sample(f.type)]),
    );
  }
  if (isScalarType(inner)) {
    const samples: Record<string, unknown> = {
      ID: SAMPLE_ID,
      String: "sample",
      Int: 1,
      Float: 1.5,
      Boolean: true,
      Date: "2026-01-15",
      DateTime: "2026-01-15T00:00:00.000Z",
      Decimal: "1.00",
    };
    return samples[inner.name] ?? "sample";
  }
  throw new Error(`no sample for ${String(type)}`);
}

/** `mutation($a0: T!) { field(arg: $a0) { __typename } }` with sample variables: only the required arguments. */
function operationFor(kind: "query" | "mutation" | "subscription", field: GraphQLField<unknown, unknown>) {
  const args = field.args.filter((a) => isNonNullType(a.type));
  const declarations = args.map((a, i) => `$a${i}: ${String(a.type)}`).join(", ");
  const call = args.length > 0 ? `(${args.map((a, i) => `${a.name}: $a${i}`).join(", ")})` : "";
  const selection = isLeafType(getNamedType(field.type)) ? "" : " { __typename }";
  const query = `${kind} ${field.name}${declarations ? `(${declarations})` : ""} { ${field.name}${call}${selection} }`;
  const variables = Object.fromEntries(args.map((a, i) => [`a${i}`, sample(a.type)]));
  return { query, variables };
}

// Webhook endpoints name systems outside (URLs may carry a receiver's token): OPERATORs read them.
const OPERATOR_READS = new Set(["webhookEndpoints", "webhookEndpoint", "webhookEventTypes"]);

const fieldsOf = (type: GraphQLObjectType | null | undefined) => Object.values(type?.getFields() ?? {});
const mutations = fieldsOf(schema.getMutationType());
const queries = fieldsOf(schema.getQueryType());

describe("every mutation in the schema", () => {
  it("is listed (the enumeration is not empty)", () => {
    const names = mutations.map((m) => m.name);
    expect(names).toEqual(
      expect.arrayContaining(["createBillRun", "postBillRun", "applyPayment", "createUser", "updateSettings", "revokeApiToken", "createApiToken"]),
    );
    expect(names.length).toBeGreaterThanOrEqual(15);
  });

  it.each(mutations.map((m) => [m.name, m] as const))("%s is FORBIDDEN to a VIEWER and changes nothing", async (_name, field) => {
    const before = await databaseFingerprint(t);
    const { query, variables } = operationFor("mutation", field);
    const result = await t.gql(query, variables, t.tokens.viewer);
    expect(codes(result), JSON.stringify(result)).toEqual(["FORBIDDEN"]);
    expect((result.data as Record<string, unknown> | null)?.[field.name] ?? null).toBeNull();
    expect(await databaseFingerprint(t)).toEqual(before);
  });

  it.each(mutations.map((m) => [m.name, m] as const))("%s is UNAUTHENTICATED without a token", async (_name, field) => {
    const { query, variables } = operationFor("mutation", field);
    expect(codes(await t.gql(query, variables, null))).toEqual(["UNAUTHENTICATED"]);
  });
});

describe("every query in the schema", () => {
  const readable = queries.filter((q) => !OPERATOR_READS.has(q.name));
  it.each(readable.map((q) => [q.name, q] as const))("%s is UNAUTHENTICATED without a token and readable by a VIEWER", async (_name, field) => {
    const { query, variables } = operationFor("query", field);
    expect(codes(await t.gql(query, variables, null))).toContain("UNAUTHENTICATED");
    const asViewer = await t.gql(query, variables, t.tokens.viewer);
    expect(codes(asViewer)).not.toContain("FORBIDDEN");
    expect(codes(asViewer)).not.toContain("UNAUTHENTICATED");
  });

  it.each([...OPERATOR_READS].map((name) => [name, queries.find((q) => q.name === name)!] as const))(
    "%s is FORBIDDEN to a VIEWER and readable by an OPERATOR",
    async (_name, field) => {
      const { query, variables } = operationFor("query", field);
      expect(codes(await t.gql(query, variables, t.tokens.viewer))).toEqual(["FORBIDDEN"]);
      expect(codes(await t.gql(query, variables, t.tokens.operator))).toEqual([]);
    },
  );
});

// ---------------------------------------------------------------------------------------------

describe("users reachable from other types", () => {
  let runId: string;
  beforeAll(async () => {
    const created = await t.gql<{ createBillRun: { id: string } }, unknown>(
      `mutation { createBillRun(input: { targetDate: "2026-01-01", batches: [49] }) { ... on BillRun { id } } }`,
      {},
      t.tokens.operator,
    );
    runId = created.data!.createBillRun.id;
  });

  const RUN = `query($id: ID!) { billRun(id: $id) { createdBy { id name role email } statusHistory { by { name email } } } }`;

  it("shows a VIEWER names and roles but no one else's email; OPERATORs and ADMINs see emails", async () => {
    const asViewer = await t.gql<{ billRun: { createdBy: Record<string, unknown>; statusHistory: { by: Record<string, unknown> }[] } }, unknown>(
      RUN,
      { id: runId },
      t.tokens.viewer,
    );
    expect(asViewer.errors).toBeUndefined();
    expect(asViewer.data!.billRun.createdBy).toMatchObject({ name: "Olivia Operator", role: "OPERATOR", email: null });
    expect(asViewer.data!.billRun.statusHistory[0]!.by).toEqual({ name: "Olivia Operator", email: null });
    for (const token of [t.tokens.operator, t.tokens.admin]) {
      const seen = await t.gql<{ billRun: { createdBy: { email: string } } }, unknown>(RUN, { id: runId }, token);
      expect(seen.data!.billRun.createdBy.email).toBe("operator@example.com");
    }
    // Their own, a VIEWER does see.
    expect((await t.gql<{ me: { email: string } }, unknown>(`{ me { email } }`, {}, t.tokens.viewer)).data!.me.email).toBe("viewer@example.com");
  });

  it("hides emails from a VIEWER in subscriptions too (whose results are shared by role)", async () => {
    const server = await startHttpServer(t.app, 0);
    const wsUrl = server.url.replace(/^http/, "ws");
    try {
      const subscription = `subscription($id: ID!) { billRunStatusChanged(billRunId: $id, after: "0") { billRun { createdBy { name email } } } }`;
      for (const [token, email] of [
        [t.tokens.viewer, null],
        [t.tokens.operator, "operator@example.com"],
      ] as const) {
        const client = wsClient(wsUrl, token);
        const outcome = await wsRun(client, subscription, { id: runId });
        await client.dispose();
        expect(outcome).toEqual({
          kind: "results",
          results: [{ data: { billRunStatusChanged: { billRun: { createdBy: { name: "Olivia Operator", email } } } } }],
        });
      }
    } finally {
      await server.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------

const CREATE_TOKEN = `mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) {
  __typename ... on CreateApiTokenPayload { token apiToken { id label user { email } revokedAt } } ... on Error { code message } } }`;
const REVOKE_TOKEN = `mutation($id: ID!) { revokeApiToken(id: $id) { __typename ... on ApiToken { id revokedAt } ... on Error { code message } } }`;
const TOKENS = `query($userId: ID, $all: Boolean) { apiTokens(userId: $userId, includeRevoked: $all, first: 100) { totalCount edges { node { id label revokedAt user { email } } } } }`;

type Created = { __typename: string; token: string; apiToken: { id: string; label: string; user: { email: string }; revokedAt: string | null } };

async function createToken(input: Record<string, unknown>, token: string): Promise<Created> {
  const result = await t.gql<{ createApiToken: Created }, unknown>(CREATE_TOKEN, { input }, token);
  expect(result.errors).toBeUndefined();
  return result.data!.createApiToken;
}

async function revoke(id: string, token: string) {
  const result = await t.gql<{ revokeApiToken: { __typename: string; id?: string; revokedAt?: string } }, unknown>(REVOKE_TOKEN, { id }, token);
  expect(result.errors).toBeUndefined();
  return result.data!.revokeApiToken;
}

const whoAmI = async (token: string) => {
  const result = await t.gql<{ me: { email: string } | null }, unknown>(`{ me { email } }`, {}, token);
  return result.errors ? (codes(result)[0] as string) : result.data!.me!.email;
};

describe("API tokens", () => {
  it("lets an OPERATOR create a token for themself (not for others) and an ADMIN for anyone", async () => {
    const own = await createToken({ label: "CI pipeline" }, t.tokens.operator);
    expect(own).toMatchObject({
      __typename: "CreateApiTokenPayload",
      apiToken: { label: "CI pipeline", user: { email: "operator@example.com" }, revokedAt: null },
    });
    expect(await whoAmI(own.token)).toBe("operator@example.com");

    const adminId = (await t.app.db.user.findUniqueOrThrow({ where: { email: "admin@localhost" } })).id;
    expect(await createToken({ label: "escalate", userId: adminId }, t.tokens.operator)).toMatchObject({ __typename: "NotFoundError" });

    const viewerId = (await t.app.db.user.findUniqueOrThrow({ where: { email: "viewer@example.com" } })).id;
    const forViewer = await createToken({ label: "dashboard", userId: viewerId }, t.tokens.admin);
    expect(await whoAmI(forViewer.token)).toBe("viewer@example.com");
  });

  it("lists your own tokens; only an ADMIN lists another user's, or everyone's", async () => {
    const mine = await t.gql<{ apiTokens: { totalCount: number; edges: { node: { user: { email: string } } }[] } }, unknown>(TOKENS, {}, t.tokens.viewer);
    expect(mine.errors).toBeUndefined();
    expect(mine.data!.apiTokens.totalCount).toBeGreaterThanOrEqual(1);
    expect(new Set(mine.data!.apiTokens.edges.map((e) => e.node.user.email))).toEqual(new Set(["viewer@example.com"]));

    const adminId = (await t.app.db.user.findUniqueOrThrow({ where: { email: "admin@localhost" } })).id;
    expect(codes(await t.gql(TOKENS, { userId: adminId }, t.tokens.operator))).toEqual(["FORBIDDEN"]);

    const everyone = await t.gql<{ apiTokens: { edges: { node: { user: { email: string } } }[] } }, unknown>(TOKENS, {}, t.tokens.admin);
    expect(new Set(everyone.data!.apiTokens.edges.map((e) => e.node.user.email))).toEqual(
      new Set(["admin@localhost", "operator@example.com", "viewer@example.com"]),
    );
  });

  it("revokes a token at once over HTTP; an OPERATOR only their own, an ADMIN anyone's", async () => {
    const own = await createToken({ label: "laptop" }, t.tokens.operator);
    expect(await whoAmI(own.token)).toBe("operator@example.com");
    const revoked = await revoke(own.apiToken.id, t.tokens.operator);
    expect(revoked).toMatchObject({ __typename: "ApiToken", id: own.apiToken.id, revokedAt: expect.any(String) });
    expect(await whoAmI(own.token)).toBe("UNAUTHENTICATED");
    // Revoking again changes nothing.
    expect(await revoke(own.apiToken.id, t.tokens.operator)).toEqual(revoked);
    // Listed with includeRevoked only.
    const listed = await t.gql<{ apiTokens: { edges: { node: { id: string } }[] } }, unknown>(TOKENS, {}, t.tokens.operator);
    expect(listed.data!.apiTokens.edges.map((e) => e.node.id)).not.toContain(own.apiToken.id);
    const all = await t.gql<{ apiTokens: { edges: { node: { id: string } }[] } }, unknown>(TOKENS, { all: true }, t.tokens.operator);
    expect(all.data!.apiTokens.edges.map((e) => e.node.id)).toContain(own.apiToken.id);

    const adminToken = await createToken({ label: "admin spare" }, t.tokens.admin);
    expect(await revoke(adminToken.apiToken.id, t.tokens.operator)).toMatchObject({ __typename: "NotFoundError" });
    expect(await whoAmI(adminToken.token)).toBe("admin@localhost");

    const operatorSpare = await createToken({ label: "spare" }, t.tokens.operator);
    expect((await revoke(operatorSpare.apiToken.id, t.tokens.admin)).__typename).toBe("ApiToken");
    expect(await whoAmI(operatorSpare.token)).toBe("UNAUTHENTICATED");
    expect(await revoke("not-an-id", t.tokens.admin)).toMatchObject({ __typename: "NotFoundError" });
  });
});

describe("revoked tokens on open WebSockets", () => {
  /** This process's server, with the periodic check of open connections every `reauthMs`. */
  async function serverWithReauth(reauthMs: number): Promise<HttpServer & { wsUrl: string }> {
    const config = { ...t.app.config, security: { ...t.app.config.security, wsReauthMs: reauthMs } };
    const server = await startHttpServer({ ...t.app, config } as App, 0);
    return { ...server, wsUrl: server.url.replace(/^http/, "ws") };
  }

  it("closes an open connection (4403) as soon as its token is revoked, without waiting for the periodic check", async () => {
    const server = await serverWithReauth(3_600_000);
    const created = await createToken({ label: "ws" }, t.tokens.operator);
    const closed: number[] = [];
    const client = wsClient(server.wsUrl, created.token, (e) => closed.push(e.code));
    const ticks: unknown[] = [];
    try {
      expect(await wsRun(client, "{ me { role } }")).toEqual({ kind: "results", results: [{ data: { me: { role: "OPERATOR" } } }] });
      client.subscribe({ query: "subscription { heartbeat(intervalMs: 100) }" }, { next: (v) => ticks.push(v), error: () => {}, complete: () => {} });
      await waitFor("a first tick", () => ticks.length >= 1);
      await revoke(created.apiToken.id, t.tokens.operator);
      await waitFor("the socket to close", () => closed.length > 0, 1000);
      expect(closed).toEqual([4403]);
      // Connecting again with it is refused.
      const again = await wsRun(client, "{ me { role } }");
      expect(again).toMatchObject({ kind: "error", error: { code: 4403 } });
    } finally {
      await client.dispose();
      await server.close();
    }
  });

  it("is also checked periodically: a revocation whose notice was missed closes the connection within BILLRUN_WS_REAUTH_SECONDS", async () => {
    // A process whose watch hears no notice at all, and checks every 100 ms.
    const deaf = new AccessWatch(t.app.db, t.app.log, 100);
    const config = { ...t.app.config, security: { ...t.app.config.security, wsReauthMs: 100 } };
    const started = await startHttpServer({ ...t.app, config, access: deaf } as App, 0);
    const server = { ...started, wsUrl: started.url.replace(/^http/, "ws") };
    const created = await createToken({ label: "ws-missed" }, t.tokens.operator);
    const closed: number[] = [];
    const client = wsClient(server.wsUrl, created.token, (e) => closed.push(e.code));
    const ticks: unknown[] = [];
    try {
      client.subscribe({ query: "subscription { heartbeat(intervalMs: 100) }" }, { next: (v) => ticks.push(v), error: () => {}, complete: () => {} });
      await waitFor("a first tick", () => ticks.length >= 1);
      // Straight in the database: no announcement, as if this process had not been listening.
      await t.app.pool.query("UPDATE api_tokens SET revoked_at = now() WHERE id = $1", [created.apiToken.id]);
      await waitFor("the socket to close", () => closed.length > 0, 3000);
      expect(closed).toEqual([4403]);
    } finally {
      await client.dispose();
      await server.close();
      deaf.stop();
    }
  });

  it("watches an SSE subscription while it is open, forgets it once its client leaves, and ends it with UNAUTHENTICATED on revocation", async () => {
    const server = await serverWithReauth(3_600_000);
    const created = await createToken({ label: "sse" }, t.tokens.operator);
    const before = t.app.access.size;
    const open = async (signal: AbortSignal) => {
      const response = await fetch(server.url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${created.token}` },
        body: JSON.stringify({ query: "subscription { heartbeat(intervalMs: 100) }" }),
        signal,
      });
      return response.body!.getReader();
    };
    try {
      const leaving = new AbortController();
      const first = await open(leaving.signal);
      await first.read();
      expect(t.app.access.size).toBe(before + 1);
      leaving.abort();
      await waitFor("the access cache back to its size", () => t.app.access.size === before);

      const second = await open(new AbortController().signal);
      await second.read();
      expect(t.app.access.size).toBe(before + 1);
      await revoke(created.apiToken.id, t.tokens.operator);
      let text = "";
      const decoder = new TextDecoder();
      for (let chunk = await second.read(); !chunk.done; chunk = await second.read()) text += decoder.decode(chunk.value);
      expect(text).toMatch(/"code":"UNAUTHENTICATED"/);
      expect(text).toMatch(/"code":"UNAUTHENTICATED"\}\}\]\}\n\nevent: complete\ndata:\n\n$/);
      expect(t.app.access.size).toBe(before);
    } finally {
      await server.close();
    }
  });

  it("closes an open connection (4403) and ends its running subscriptions once its token is revoked", async () => {
    const server = await serverWithReauth(100);
    const created = await createToken({ label: "ws-live" }, t.tokens.operator);
    const closed: number[] = [];
    const client = wsClient(server.wsUrl, created.token, (e) => closed.push(e.code));
    const ticks: unknown[] = [];
    let ended: unknown = null;
    try {
      client.subscribe(
        { query: "subscription { heartbeat(intervalMs: 100) }" },
        { next: (v) => ticks.push(v), error: (e) => (ended = e), complete: () => (ended = "complete") },
      );
      await waitFor("two ticks", () => ticks.length >= 2);
      // Another connection with a valid token is left alone.
      const bystander = wsClient(server.wsUrl, t.tokens.viewer);
      const bystanderTicks: unknown[] = [];
      bystander.subscribe(
        { query: "subscription { heartbeat(intervalMs: 100) }" },
        { next: (v) => bystanderTicks.push(v), error: () => {}, complete: () => {} },
      );
      await waitFor("a bystander tick", () => bystanderTicks.length >= 1);

      await revoke(created.apiToken.id, t.tokens.admin);
      await waitFor("the socket to close", () => closed.length > 0, 3000);
      expect(closed).toEqual([4403]);
      expect(ended).not.toBeNull();
      const seen = bystanderTicks.length;
      await waitFor("two more bystander ticks", () => bystanderTicks.length >= seen + 2);
      await bystander.dispose();
    } finally {
      await client.dispose();
      await server.close();
    }
  });
});
