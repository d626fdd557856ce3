// A security change (token revoked, role changed, user disabled) made on one API process takes
// effect on another within a second, on its open WebSockets and SSE streams, and nothing
// committed after the change reaches the subscriber. Two real `npm start` processes.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "graphql-ws";
import { createTestApp, type TestApp } from "../support/app.ts";
import { spawnApi, type ApiProcess } from "../support/server.ts";
import { createApiToken, createUser } from "../../src/auth/users.ts";
import { EVENTS_CHANNEL } from "../../src/events/notices.ts";
import { SECURITY_CHANNEL, type SecurityNotice } from "../../src/auth/access.ts";
import { wsClient } from "./helpers.ts";
import { waitFor } from "../support/wait.ts";

let t: TestApp;
let dataDir: string;
let a: ApiProcess;
let b: ApiProcess;

beforeAll(async () => {
  t = await createTestApp();
  dataDir = await mkdtemp(path.join(tmpdir(), "billrun-revocation-"));
  [a, b] = await Promise.all([spawnApi(t.databaseUrl, path.join(dataDir, "a")), spawnApi(t.databaseUrl, path.join(dataDir, "b"))]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await t?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function gql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  token: string,
): Promise<{ data?: T; errors?: { message: string; extensions?: { code?: string } }[] }> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as never;
}

const STATUS_CHANGES = "subscription { billRunStatusChanged { eventId status } }";

/** A WebSocket subscription to every run's status changes: the event ids it got, and how it closed. */
function watchOverWs(url: string, token: string) {
  const eventIds: string[] = [];
  const state = { closeCode: null as number | null, closedAt: 0 };
  const client: Client = wsClient(url, token, (event) => {
    state.closeCode ??= event.code;
    state.closedAt ||= Date.now();
  });
  client.subscribe<{ billRunStatusChanged: { eventId: string } }>(
    { query: STATUS_CHANGES },
    { next: (result) => result.data && eventIds.push(result.data.billRunStatusChanged.eventId), error: () => {}, complete: () => {} },
  );
  return { eventIds, state, dispose: () => client.dispose() };
}

/** The same subscription over Server-Sent Events (as GraphiQL runs it): event ids, the last message, when it ended. */
function watchOverSse(url: string, token: string) {
  const eventIds: string[] = [];
  const messages: { data?: { billRunStatusChanged: { eventId: string } }; errors?: { extensions?: { code?: string } }[] }[] = [];
  const state = { endedAt: 0 };
  const controller = new AbortController();
  const done = (async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: STATUS_CHANGES }),
      signal: controller.signal,
    });
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split("\n").find((line) => line.startsWith("data:"));
        if (!block.startsWith("event: next") || !data) continue;
        const message = JSON.parse(data.slice(5)) as (typeof messages)[number];
        messages.push(message);
        if (message.data) eventIds.push(message.data.billRunStatusChanged.eventId);
      }
    }
    state.endedAt = Date.now();
  })().catch(() => {});
  return { eventIds, messages, state, done, abort: () => controller.abort() };
}

/** Runs created one after another on process A, each committing a status event, until stopped. */
function eventStream() {
  let running = true;
  const loop = (async () => {
    while (running) {
      const result = await gql(a.url, `mutation { createBillRun(input: { targetDate: "2026-03-01" }) { __typename } }`, {}, t.tokens.admin);
      if (result.errors) throw new Error(JSON.stringify(result.errors));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** Every NOTIFY of both channels, in the order PostgreSQL delivers them: commit order. */
async function commitOrder() {
  const client = new pg.Client({ connectionString: t.databaseUrl });
  const heard: ({ eventId: string } | { security: SecurityNotice })[] = [];
  client.on("notification", (note) => {
    if (!note.payload) return;
    if (note.channel === SECURITY_CHANNEL) heard.push({ security: JSON.parse(note.payload) as SecurityNotice });
    else if (note.channel === EVENTS_CHANNEL) {
      const notice = JSON.parse(note.payload) as { kind: string; id?: string };
      if (notice.kind !== "PROGRESS") heard.push({ eventId: notice.id! });
    }
  });
  await client.connect();
  await client.query(`LISTEN ${EVENTS_CHANNEL}; LISTEN ${SECURITY_CHANNEL}`);
  return {
    /** The event ids committed before the first security notice that `matches`. */
    committedBefore(matches: (notice: SecurityNotice) => boolean): Set<string> {
      const at = heard.findIndex((entry) => "security" in entry && matches(entry.security));
      if (at < 0) throw new Error("the security change was not announced");
      return new Set(heard.slice(0, at).flatMap((entry) => ("eventId" in entry ? [entry.eventId] : [])));
    },
    close: () => client.end(),
  };
}

describe("security changes across two API processes", () => {
  it("a token revoked on A closes its WebSocket (4403) and ends its SSE stream on B within 1 s; nothing committed after the revocation is delivered", async () => {
    const watcher = await createUser(t.app.db, { email: "watcher@example.com", name: "Wanda Watcher", role: "VIEWER" });
    const watcherAdmin = await t.app.db.user.findUniqueOrThrow({ where: { email: "admin@localhost" } });
    const spare = await createApiToken(t.app.db, watcherAdmin, { label: "spare", userId: watcher.user.id });
    const revokedToken = await t.app.db.apiToken.findFirstOrThrow({ where: { userId: watcher.user.id, label: "initial" } });
    const order = await commitOrder();

    const ws = watchOverWs(b.wsUrl, watcher.token);
    const sse = watchOverSse(b.url, watcher.token);
    // The same user's other token, on the same process, is left alone.
    const bystander = watchOverWs(b.wsUrl, spare.token);
    const stream = eventStream();
    try {
      await waitFor("five events on every stream", () => ws.eventIds.length >= 5 && sse.eventIds.length >= 5 && bystander.eventIds.length >= 5, 20_000);

      const revokedAt = Date.now();
      const revoked = await gql<{ revokeApiToken: { revokedAt: string } }>(
        a.url,
        `mutation($id: ID!) { revokeApiToken(id: $id) { ... on ApiToken { revokedAt } } }`,
        { id: revokedToken.id },
        t.tokens.admin,
      );
      expect(revoked.data?.revokeApiToken.revokedAt).toEqual(expect.any(String));
      await waitFor("both streams to end", () => ws.state.closeCode !== null && sse.state.endedAt > 0, 1000);
      expect(ws.state.closeCode).toBe(4403);
      expect(ws.state.closedAt - revokedAt).toBeLessThan(1000);
      expect(sse.state.endedAt - revokedAt).toBeLessThan(1000);
      expect(sse.messages.at(-1)?.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");

      // Events go on after it (the bystander sees them)...
      const seen = bystander.eventIds.length;
      await waitFor("five more bystander events", () => bystander.eventIds.length >= seen + 5, 10_000);
      await stream.stop();
      // ...but none committed after the revocation reached the revoked token.
      const before = order.committedBefore((n) => n.kind === "TOKEN_REVOKED" && n.tokenId === revokedToken.id);
      expect(bystander.eventIds.some((id) => !before.has(id))).toBe(true);
      expect(ws.eventIds.filter((id) => !before.has(id))).toEqual([]);
      expect(sse.eventIds.filter((id) => !before.has(id))).toEqual([]);
      expect(bystander.state.closeCode).toBeNull();

      // The token is refused on B from then on, over HTTP too.
      const me = await gql(b.url, "{ me { role } }", {}, watcher.token);
      expect(me.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    } finally {
      await stream.stop().catch(() => {});
      sse.abort();
      await Promise.all([ws.dispose(), bystander.dispose(), order.close()]);
    }
  });

  it("a role lowered on A closes the user's WebSockets and SSE streams on B within 1 s; they reconnect with the new role", async () => {
    const lowered = await createUser(t.app.db, { email: "demoted@example.com", name: "Dee Moted", role: "OPERATOR" });
    const ws = watchOverWs(b.wsUrl, lowered.token);
    const sse = watchOverSse(b.url, lowered.token);
    const stream = eventStream();
    try {
      await waitFor("an event on both streams", () => ws.eventIds.length >= 1 && sse.eventIds.length >= 1, 20_000);
      const changedAt = Date.now();
      const changed = await gql<{ updateUser: { role: string } }>(
        a.url,
        `mutation($id: ID!) { updateUser(input: { id: $id, role: VIEWER }) { ... on User { role } } }`,
        { id: lowered.user.id },
        t.tokens.admin,
      );
      expect(changed.data?.updateUser.role).toBe("VIEWER");
      await waitFor("both streams to end", () => ws.state.closeCode !== null && sse.state.endedAt > 0, 1000);
      expect(ws.state.closeCode).toBe(4403);
      expect(ws.state.closedAt - changedAt).toBeLessThan(1000);
      expect(sse.messages.at(-1)?.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    } finally {
      await stream.stop();
      sse.abort();
      await ws.dispose();
    }
    const again = watchOverWs(b.wsUrl, lowered.token);
    try {
      const created = await gql(b.url, `mutation { createBillRun(input: { targetDate: "2026-03-01" }) { __typename } }`, {}, lowered.token);
      expect(created.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
      // Runs are created until one reaches it (its subscription starts once it has connected).
      await waitFor(
        "an event on the new stream",
        async () => {
          await gql(a.url, `mutation { createBillRun(input: { targetDate: "2026-03-01" }) { __typename } }`, {}, t.tokens.admin);
          return again.eventIds.length >= 1;
        },
        5000,
      );
      expect(again.state.closeCode).toBeNull();
    } finally {
      await again.dispose();
    }
  });

  it("a user disabled on A loses every connection on B within 1 s and every request; enabled again, their token works", async () => {
    const user = await createUser(t.app.db, { email: "leaver@example.com", name: "Lee Ver", role: "VIEWER" });
    const ws = watchOverWs(b.wsUrl, user.token);
    const sse = watchOverSse(b.url, user.token);
    const stream = eventStream();
    const update = (disabled: boolean) =>
      gql<{ updateUser: { disabledAt: string | null } }>(
        a.url,
        `mutation($id: ID!, $d: Boolean) { updateUser(input: { id: $id, disabled: $d }) { ... on User { disabledAt } } }`,
        { id: user.user.id, d: disabled },
        t.tokens.admin,
      );
    try {
      await waitFor("an event on both streams", () => ws.eventIds.length >= 1 && sse.eventIds.length >= 1, 20_000);
      const disabledAt = Date.now();
      expect((await update(true)).data?.updateUser.disabledAt).toEqual(expect.any(String));
      await waitFor("both streams to end", () => ws.state.closeCode !== null && sse.state.endedAt > 0, 1000);
      expect(ws.state.closeCode).toBe(4403);
      expect(ws.state.closedAt - disabledAt).toBeLessThan(1000);
      expect(sse.messages.at(-1)?.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
      expect((await gql(b.url, "{ me { role } }", {}, user.token)).errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    } finally {
      await stream.stop();
      sse.abort();
      await ws.dispose();
    }
    expect((await update(false)).data?.updateUser.disabledAt).toBeNull();
    expect((await gql(b.url, "{ me { role } }", {}, user.token)).data).toEqual({ me: { role: "VIEWER" } });
  });

  it("refuses to demote or disable the last enabled ADMIN", async () => {
    const admin = await t.app.db.user.findUniqueOrThrow({ where: { email: "admin@localhost" } });
    for (const change of ["role: OPERATOR", "disabled: true"]) {
      const refused = await gql<{ updateUser: { __typename: string; code: string } }>(
        a.url,
        `mutation($id: ID!) { updateUser(input: { id: $id, ${change} }) { __typename ... on Error { code message } } }`,
        { id: admin.id },
        t.tokens.admin,
      );
      expect(refused.data?.updateUser).toMatchObject({ __typename: "InvalidStateError", code: "INVALID_STATE" });
    }
    expect((await gql(a.url, "{ me { role } }", {}, t.tokens.admin)).data).toEqual({ me: { role: "ADMIN" } });
  });
});
