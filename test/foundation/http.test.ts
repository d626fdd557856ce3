import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { print } from "graphql";
import { createTestApp, type TestApp } from "../support/app.ts";
import { startHttpServer, type HttpServer } from "../../src/http.ts";
import { MeDocument } from "../../src/generated/graphql/graphql.ts";

let t: TestApp;
let http: HttpServer;
let origin: string;

beforeAll(async () => {
  t = await createTestApp();
  http = await startHttpServer(t.app, 0);
  origin = new URL(http.url).origin;
});
afterAll(async () => {
  await http?.close();
  await t?.close();
});

describe("the real HTTP server", () => {
  it("listens on an ephemeral port and reports /graphql as its URL", () => {
    expect(http.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/graphql$/);
    expect(new URL(http.url).port).not.toBe("0");
  });

  it("answers /health with 200", async () => {
    const response = await fetch(`${origin}/health`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/application\/json/);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  it("answers /ready with 200 and status ready when the database is migrated", async () => {
    const response = await fetch(`${origin}/ready`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ready" });
  });

  it("serves the dashboard at / (built at install)", async () => {
    const response = await fetch(`${origin}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/text\/html/);
    expect(await response.text()).toContain("Billrun");
  });

  it("serves GraphQL over POST with a bearer token", async () => {
    const response = await fetch(http.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t.tokens.viewer}` },
      body: JSON.stringify({ query: print(MeDocument) }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ data: { me: { email: "viewer@example.com", role: "VIEWER" } } });
  });

  it("serves GraphQL over GET", async () => {
    const url = `${http.url}?query=${encodeURIComponent("{ me { email } }")}`;
    const response = await fetch(url, { headers: { accept: "application/json", authorization: `Bearer ${t.tokens.admin}` } });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { me: { email: "admin@localhost" } } });
  });

  it("answers an unauthenticated request with UNAUTHENTICATED", async () => {
    const response = await fetch(http.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: print(MeDocument) }),
    });
    const body = (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
    expect(body.errors?.map((e) => e.extensions?.code)).toEqual(["UNAUTHENTICATED"]);
  });

  it("serves a self-contained GraphiQL page for a browser", async () => {
    const response = await fetch(http.url, { headers: { accept: "text/html" } });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/text\/html/);
    const html = await response.text();
    expect(html).toContain("<title>Billrun</title>");
    expect(html).toMatch(/renderYogaGraphiQL/);
    // Subscriptions in GraphiQL go over Server-Sent Events, which carry the headers set in it.
    expect(html).toMatch(/"subscriptionsProtocol":"SSE"/);
    // Nothing is fetched from a CDN: the service may run offline.
    expect(html).not.toMatch(/unpkg/i);
    expect(html).not.toMatch(/jsdelivr/i);
    expect(html).not.toMatch(/<script[^>]+src=["']https?:/i);
    expect(html).not.toMatch(/<link[^>]+href=["']https?:/i);
  });
});
