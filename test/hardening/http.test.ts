import { createServer, type Server, type Socket } from "node:net";
import { request as httpRequest } from "node:http";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createTestApp, type TestApp } from "../support/app.ts";
import { startServer } from "../support/server.ts";
import { startHttpServer, type HttpServer } from "../../src/http.ts";
import type { App } from "../../src/app.ts";
import { captureLogs, codes, databaseFingerprint, post, toRaw, wsClient, wsRun } from "./helpers.ts";
import { waitFor } from "../support/wait.ts";

let t: TestApp;
let http: HttpServer & { wsUrl: string };
let origin: string;

beforeAll(async () => {
  t = await createTestApp();
  http = await startServer(t);
  origin = new URL(http.url).origin;
});
afterAll(async () => {
  await http?.close();
  await t?.close();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("CSRF prevention", () => {
  const mutation = `mutation { createAccount(input: { name: "Forged", currency: "USD", billCycleDay: 1 }) { __typename } }`;

  it.each([
    ["text/plain", (q: string) => JSON.stringify({ query: q })],
    ["application/x-www-form-urlencoded", (q: string) => `query=${encodeURIComponent(q)}`],
    [
      "multipart/form-data; boundary=x",
      (q: string) => `--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n${JSON.stringify({ query: q })}\r\n--x--\r\n`,
    ],
  ])("refuses a POST a browser may send cross-site without a preflight (%s) with 403, executing nothing", async (contentType, body) => {
    const before = await databaseFingerprint(t);
    const response = await fetch(http.url, { method: "POST", headers: { "content-type": contentType }, body: body(mutation) });
    expect(response.status).toBe(403);
    const json = (await response.json()) as { errors: { message: string; extensions: { code: string } }[] };
    expect(json.errors.map((e) => e.extensions.code)).toEqual(["CSRF_PREVENTED"]);
    expect(await databaseFingerprint(t)).toEqual(before);
  });

  it("refuses a GET without a preflight-forcing header, and serves it with one", async () => {
    const url = `${http.url}?query=${encodeURIComponent("{ settings { advancedArSettlement } }")}`;
    const bare = await fetch(url, { headers: { accept: "application/json" } });
    expect(bare.status).toBe(403);
    const withCsrfHeader = await fetch(url, { headers: { accept: "application/json", "x-graphql-yoga-csrf": "1" } });
    // It got past CSRF prevention; without a token it is then unauthenticated (401).
    expect(withCsrfHeader.status).toBe(401);
    expect(codes((await withCsrfHeader.json()) as never)).toEqual(["UNAUTHENTICATED"]);
    const withToken = await fetch(url, { headers: { accept: "application/json", authorization: `Bearer ${t.tokens.viewer}` } });
    expect(await withToken.json()).toEqual({ data: { settings: { advancedArSettlement: false } } });
  });

  it("serves JSON POSTs, GraphiQL to a browser, and graphql-ws", async () => {
    const json = await fetch(http.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t.tokens.viewer}` },
      body: JSON.stringify({ query: "{ me { role } }" }),
    });
    expect(await json.json()).toEqual({ data: { me: { role: "VIEWER" } } });
    const page = await fetch(http.url, { headers: { accept: "text/html" } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("<title>Billrun</title>");
    const client = wsClient(http.wsUrl, t.tokens.viewer);
    expect(await wsRun(client, "{ me { role } }")).toEqual({ kind: "results", results: [{ data: { me: { role: "VIEWER" } } }] });
    await client.dispose();
  });
});

describe("request body size (BILLRUN_MAX_BODY_BYTES = 1 MiB)", () => {
  const padded = (bytes: number) => JSON.stringify({ query: "{ me { role } }", variables: { pad: "x".repeat(bytes) } });

  it("answers a body just under the limit", async () => {
    const response = await fetch(http.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t.tokens.viewer}` },
      body: padded(1024 * 1024 - 100),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { me: { role: "VIEWER" } } });
  });

  it("refuses a larger body with 413, whether its length is declared or it is streamed in chunks", async () => {
    const declared = await fetch(http.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t.tokens.viewer}` },
      body: padded(1024 * 1024),
    });
    expect(declared.status).toBe(413);
    expect(codes((await declared.json()) as never)).toEqual(["REQUEST_ENTITY_TOO_LARGE"]);

    // Chunked (no content-length), on a connection of its own: the server answers before the
    // client has finished sending, so the connection is not reusable afterwards.
    const status = await new Promise<number>((resolve, reject) => {
      const request = httpRequest(http.url, {
        method: "POST",
        agent: false,
        headers: { "content-type": "application/json", authorization: `Bearer ${t.tokens.viewer}`, "transfer-encoding": "chunked" },
      });
      request.on("response", (response) => {
        response.resume();
        resolve(response.statusCode!);
      });
      request.on("error", reject);
      const chunk = padded(256 * 1024);
      let sent = 0;
      const write = () => {
        while (sent < 8) {
          sent++;
          if (!request.write(chunk)) return void request.once("drain", write);
        }
        request.end();
      };
      write();
    });
    expect(status).toBe(413);
  });

  it("closes a WebSocket that sends a message over the limit (1009), and only that one", async () => {
    const socket = new WebSocket(http.wsUrl, "graphql-transport-ws");
    await new Promise((resolve) => socket.once("open", resolve));
    const closed = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
    socket.send("x".repeat(1024 * 1024 + 1));
    expect(await closed).toBe(1009);
    const client = wsClient(http.wsUrl, t.tokens.viewer);
    expect((await wsRun(client, "{ me { role } }")).kind).toBe("results");
    await client.dispose();
  });
});

describe("hostile WebSocket input (found by the fuzz suite)", () => {
  it("answers a typed error thrown outside a result union (a subscription's bad argument) with its code, not as unexpected", async () => {
    const client = wsClient(http.wsUrl, t.tokens.viewer);
    const outcome = await wsRun(client, `subscription { billRunStatusChanged(after: "not-an-event-id") { eventId } }`);
    await client.dispose();
    expect(outcome).toMatchObject({
      kind: "results",
      results: [{ errors: [{ message: "after must be an eventId received earlier", extensions: { code: "VALIDATION", field: ["after"] } }] }],
    });
  });

  it("closes a socket that sends a message only servers send with 4400 (bad request), not 4500 (internal error)", async () => {
    for (const type of ["next", "error", "connection_ack"]) {
      const socket = new WebSocket(http.wsUrl, "graphql-transport-ws");
      await new Promise((resolve) => socket.once("open", resolve));
      const closed = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
      socket.send(JSON.stringify({ type, id: "1", payload: type === "error" ? [] : {} }));
      expect(await closed).toBe(4400);
    }
  });
});

describe("request ids and masked errors", () => {
  it("answers every request with an x-request-id, the caller's when it is sane", async () => {
    const fresh = await fetch(`${origin}/health`);
    expect(fresh.headers.get("x-request-id")).toMatch(UUID);
    const given = await fetch(http.url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "client-trace.42", authorization: `Bearer ${t.tokens.viewer}` },
      body: JSON.stringify({ query: "{ me { role } }" }),
    });
    expect(given.headers.get("x-request-id")).toBe("client-trace.42");
    const insane = await fetch(`${origin}/health`, { headers: { "x-request-id": `a"b{${"c".repeat(300)}` } });
    expect(insane.headers.get("x-request-id")).toMatch(UUID);
    // In-process (yoga.fetch) too.
    expect((await post(t, { query: "{ me { role } }" })).headers.get("x-request-id")).toMatch(UUID);
  });

  it("masks an unexpected error as 'Unexpected error.' and logs it in full with the request's id, over HTTP and WebSockets", async () => {
    const logs = captureLogs(t);
    // A real failure, not a mock: the table the resolver reads is gone.
    await t.app.pool.query(`ALTER TABLE settings RENAME TO settings_gone`);
    try {
      const response = await fetch(http.url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${t.tokens.viewer}` },
        body: JSON.stringify({ query: "{ settings { advancedArSettlement } }" }),
      });
      const raw = await toRaw(response);
      const requestId = response.headers.get("x-request-id");
      expect(requestId).toMatch(UUID);
      expect(raw.body.errors).toEqual([expect.objectContaining({ message: "Unexpected error.", extensions: { code: "INTERNAL_SERVER_ERROR" } })]);
      // Nothing about the cause reaches the caller.
      expect(raw.text).not.toMatch(/settings_gone|relation|does not exist|prisma|stack/i);
      const logged = logs.filter((l) => l.msg === "unexpected error");
      expect(logged).toHaveLength(1);
      expect(logged[0]).toMatchObject({ level: 50, requestId, err: expect.objectContaining({ message: expect.stringMatching(/settings/) }) });
      // The access log line carries the same id.
      await waitFor("the request's log line", () => logs.some((l) => l.msg === "request" && l.requestId === requestId));
      expect(logs.find((l) => l.msg === "request" && l.requestId === requestId)).toMatchObject({ method: "POST", path: "/graphql", status: 200 });

      const client = wsClient(http.wsUrl, t.tokens.viewer);
      const outcome = await wsRun(client, "{ settings { advancedArSettlement } }");
      await client.dispose();
      expect(outcome).toMatchObject({ kind: "results", results: [{ errors: [{ message: "Unexpected error." }] }] });
      const wsLogged = logs.filter((l) => l.msg === "unexpected error");
      expect(wsLogged).toHaveLength(2);
      expect(wsLogged[1]!.requestId).toMatch(UUID);
      expect(wsLogged[1]!.requestId).not.toBe(requestId);
    } finally {
      await t.app.pool.query(`ALTER TABLE settings_gone RENAME TO settings`);
    }
  });
});

describe("/ready", () => {
  const sockets = new Set<Socket>();
  let blackhole: Server;
  const secondServers: HttpServer[] = [];
  const pools: pg.Pool[] = [];

  beforeAll(async () => {
    // Accepts connections and never answers: a database host that hangs.
    blackhole = createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => blackhole.listen(0, "127.0.0.1", resolve));
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    for (const server of secondServers) await server.close();
    for (const pool of pools) await pool.end().catch(() => {});
    await new Promise((resolve) => blackhole.close(resolve));
  });

  /** Another API process, the same in every way except that its database is `url`. */
  async function serverWithDatabase(url: string): Promise<string> {
    const pool = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 5000 });
    pool.on("error", () => {});
    pools.push(pool);
    const server = await startHttpServer({ ...t.app, pool } as App, 0);
    secondServers.push(server);
    return new URL(server.url).origin;
  }

  it("answers 200 while the database is reachable and migrated", async () => {
    const response = await fetch(`${origin}/ready`);
    expect(response.status).toBe(200);
  });

  it("answers 503 'database unreachable' when the database refuses connections, while /health stays 200", async () => {
    const bad = await serverWithDatabase("postgres://billrun:x@127.0.0.1:1/billrun");
    const ready = await fetch(`${bad}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: "database unreachable" });
    expect((await fetch(`${bad}/health`)).status).toBe(200);
  });

  it("answers 503 within a few seconds when the database does not answer at all", async () => {
    const address = blackhole.address() as { port: number };
    const hung = await serverWithDatabase(`postgres://billrun:x@127.0.0.1:${address.port}/billrun`);
    const started = Date.now();
    const ready = await fetch(`${hung}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: "database unreachable", error: expect.stringMatching(/no answer/) });
    expect(Date.now() - started).toBeLessThan(6000);
  });
});
