import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient, type Client, type FormattedExecutionResult } from "graphql-ws";
import WebSocket from "ws";
import { print } from "graphql";
import { createTestApp, type TestApp } from "../support/app.ts";
import { waitFor } from "../support/wait.ts";
import { startHttpServer, type HttpServer } from "../../src/http.ts";
import { HeartbeatDocument, MeDocument } from "../../src/generated/graphql/graphql.ts";

let t: TestApp;
let http: HttpServer;
let wsUrl: string;
const clients: Client[] = [];

beforeAll(async () => {
  t = await createTestApp();
  http = await startHttpServer(t.app, 0);
  wsUrl = http.url.replace(/^http/, "ws");
});
afterAll(async () => {
  for (const client of clients) await client.dispose();
  await http?.close();
  await t?.close();
});

interface Events {
  closed: { code: number; reason: string }[];
  connected: number;
}

function client(token: string | null): { client: Client; events: Events } {
  const events: Events = { closed: [], connected: 0 };
  const c = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    connectionParams: token === null ? {} : { authorization: `Bearer ${token}` },
    on: {
      connected: () => {
        events.connected++;
      },
      closed: (event) => {
        const e = event as { code: number; reason: string };
        events.closed.push({ code: e.code, reason: e.reason });
      },
    },
  });
  clients.push(c);
  return { client: c, events };
}

/** Collects `count` results of an operation, then stops it. Rejects on an error or early completion. */
function take<T>(
  c: Client,
  query: string,
  variables: Record<string, unknown>,
  count: number,
  timeoutMs = 5000,
): Promise<FormattedExecutionResult<T, unknown>[]> {
  return new Promise((resolve, reject) => {
    const results: FormattedExecutionResult<T, unknown>[] = [];
    const timer = setTimeout(() => {
      dispose();
      reject(new Error(`timed out after ${results.length} of ${count} results`));
    }, timeoutMs);
    const dispose = c.subscribe<T>(
      { query, variables },
      {
        next: (value) => {
          results.push(value);
          if (results.length === count) {
            clearTimeout(timer);
            dispose();
            resolve(results);
          }
        },
        error: (error) => {
          clearTimeout(timer);
          reject(error);
        },
        complete: () => {
          clearTimeout(timer);
          if (results.length < count) reject(new Error(`completed after ${results.length} of ${count} results`));
        },
      },
    );
  });
}

/** The single outcome of an operation that should fail: what `error` received. */
function failure(c: Client, query: string, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no error within the timeout")), timeoutMs);
    c.subscribe(
      { query },
      {
        next: (value) => {
          clearTimeout(timer);
          reject(new Error(`unexpected result ${JSON.stringify(value)}`));
        },
        error: (error) => {
          clearTimeout(timer);
          resolve(error);
        },
        complete: () => {
          clearTimeout(timer);
          reject(new Error("completed without an error"));
        },
      },
    );
  });
}

describe("graphql-ws on /graphql", () => {
  it("streams heartbeat ticks: valid ISO timestamps, increasing", async () => {
    const { client: c } = client(t.tokens.viewer);
    const started = Date.now();
    const results = await take<{ heartbeat: string }>(c, print(HeartbeatDocument), { intervalMs: 100 }, 3);
    const ticks = results.map((r) => {
      expect(r.errors).toBeUndefined();
      return r.data!.heartbeat;
    });
    expect(ticks).toHaveLength(3);
    for (const tick of ticks) {
      expect(tick).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect(new Date(tick).toISOString()).toBe(tick);
      expect(Math.abs(Date.parse(tick) - started)).toBeLessThan(10_000);
    }
    const times = ticks.map((tick) => Date.parse(tick));
    // About intervalMs apart (timers may fire late, never much early).
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(90);
    expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(90);
  });

  it("answers a query over the WebSocket as the token's user", async () => {
    const { client: c } = client(t.tokens.operator);
    const [result] = await take<{ me: { email: string; role: string } }>(c, print(MeDocument), {}, 1);
    expect(result!.errors).toBeUndefined();
    expect(result!.data!.me).toMatchObject({ email: "operator@example.com", role: "OPERATOR" });
  });

  it("refuses a connection without a token with close code 4403", async () => {
    const { client: c, events } = client(null);
    const error = (await failure(c, "{ me { email } }")) as { code?: number };
    expect(error.code).toBe(4403);
    expect(events.connected).toBe(0);
    expect(events.closed.map((e) => e.code)).toEqual([4403]);
  });

  it("refuses a connection with an unknown token with close code 4403", async () => {
    const { client: c, events } = client("brt_not_a_real_token_at_all_000000");
    const error = (await failure(c, print(HeartbeatDocument))) as { code?: number };
    expect(error.code).toBe(4403);
    expect(events.connected).toBe(0);
    expect(events.closed.map((e) => e.code)).toEqual([4403]);
  });

  it("returns errors for a syntax error or an invalid operation without closing the connection", async () => {
    const { client: c, events } = client(t.tokens.viewer);
    // Keep a subscription running on the connection throughout.
    const ticks: string[] = [];
    let heartbeatError: unknown = null;
    const stopHeartbeat = c.subscribe<{ heartbeat: string }>(
      { query: print(HeartbeatDocument), variables: { intervalMs: 100 } },
      { next: (r) => ticks.push(r.data!.heartbeat), error: (e) => (heartbeatError = e), complete: () => {} },
    );
    await waitFor("a first tick", () => ticks.length >= 1);

    const syntax = await failure(c, "{ me { email ");
    expect(Array.isArray(syntax)).toBe(true);
    expect((syntax as { message: string }[])[0]!.message).toMatch(/Syntax Error/);

    const invalid = await failure(c, "{ me { noSuchField } }");
    expect(Array.isArray(invalid)).toBe(true);
    expect((invalid as { message: string }[])[0]!.message).toMatch(/noSuchField/);

    // The connection survived: the heartbeat goes on and a query still works, on the same socket.
    const before = ticks.length;
    await waitFor("two more ticks", () => ticks.length >= before + 2);
    const [me] = await take<{ me: { email: string } }>(c, print(MeDocument), {}, 1);
    expect(me!.data!.me.email).toBe("viewer@example.com");
    stopHeartbeat();
    expect(heartbeatError).toBeNull();
    expect(events.connected).toBe(1);
    expect(events.closed).toEqual([]);
  });

  it("refuses an operation the role does not allow with FORBIDDEN, over the WebSocket too", async () => {
    const { client: c } = client(t.tokens.viewer);
    const [result] = await take<unknown>(c, 'mutation { createAccount(input: { name: "WS", currency: "USD", billCycleDay: 1 }) { __typename } }', {}, 1);
    expect(result!.errors?.map((e) => e.extensions?.code)).toEqual(["FORBIDDEN"]);
    expect(await t.app.db.account.count({ where: { name: "WS" } })).toBe(0);
  });
});
