// Subscriptions over Server-Sent Events get what every other request gets: authentication,
// the query limits, CSRF prevention and error masking.
import { describe, expect, it } from "vitest";
import { type TestApp } from "../support/app.ts";
import { serveTestApp } from "../support/server.ts";
import type { HttpServer } from "../../src/http.ts";

let t: TestApp;
let http: HttpServer & { wsUrl: string };
serveTestApp((app, server) => ((t = app), (http = server)));

/** The `event: next` results of a stream that ends by itself (or the first `take` of them). */
async function stream(init: { method?: string; query: string; token?: string | null; headers?: Record<string, string> }, take = Infinity) {
  const headers: Record<string, string> = { accept: "text/event-stream", ...(init.token ? { authorization: `Bearer ${init.token}` } : {}), ...init.headers };
  const controller = new AbortController();
  const url = init.method === "GET" ? `${http.url}?query=${encodeURIComponent(init.query)}` : http.url;
  const response = await fetch(url, {
    method: init.method ?? "POST",
    headers: init.method === "GET" ? headers : { ...headers, "content-type": "application/json" },
    body: init.method === "GET" ? undefined : JSON.stringify({ query: init.query }),
    signal: AbortSignal.any([controller.signal, AbortSignal.timeout(10_000)]),
  });
  const results: { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] }[] = [];
  if (!response.headers.get("content-type")?.includes("text/event-stream")) return { status: response.status, results, body: await response.text() };
  let text = "";
  const decoder = new TextDecoder();
  const reader = response.body!.getReader();
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
    text += decoder.decode(chunk.value, { stream: true });
    for (let end = text.indexOf("\n\n"); end >= 0; end = text.indexOf("\n\n")) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const data = block
        .split("\n")
        .find((line) => line.startsWith("data:"))
        ?.slice(5)
        .trim();
      if (block.startsWith("event: next") && data) results.push(JSON.parse(data) as (typeof results)[number]);
    }
    if (results.length >= take) break;
  }
  controller.abort();
  return { status: response.status, results, body: "" };
}

describe("subscriptions over Server-Sent Events", () => {
  it("deliver with a valid token, over POST and GET", async () => {
    for (const method of ["POST", "GET"]) {
      const ok = await stream({ method, query: "subscription { heartbeat(intervalMs: 100) }", token: t.tokens.viewer }, 2);
      expect(ok.results, method).toHaveLength(2);
      expect(
        ok.results.every((r) => typeof (r.data as { heartbeat: string }).heartbeat === "string"),
        method,
      ).toBe(true);
    }
  });

  it("are refused without a valid token (UNAUTHENTICATED), and the stream ends", async () => {
    for (const token of [null, "brt_not_a_token"]) {
      const refused = await stream({ query: "subscription { heartbeat(intervalMs: 100) }", token });
      expect(refused.results).toHaveLength(1);
      expect(refused.results[0]!.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    }
  });

  it("are held to the page-size and cost limits before anything runs", async () => {
    const tooBig = await stream({ query: "subscription { billRunStatusChanged { billRun { invoices(first: 101) { totalCount } } } }", token: t.tokens.viewer });
    expect(tooBig.results[0]!.errors?.[0]?.extensions?.code).toBe("VALIDATION");
    const costly = await stream({
      query: `subscription { billRunStatusChanged { billRun { invoices(first: 100) { edges { node { billRun {
                invoices(first: 100) { edges { node { id items { id amount } } } } } } } } } } }`,
      token: t.tokens.viewer,
    });
    expect(costly.results[0]!.errors?.[0]?.extensions?.code).toBe("QUERY_TOO_COSTLY");
  });

  it("a GET without Authorization (what a cross-site page could send) is refused as CSRF", async () => {
    const forged = await stream({ method: "GET", query: "subscription { heartbeat }", token: null });
    expect(forged.status).toBe(403);
    expect(JSON.stringify(forged.results) + forged.body).toMatch(/CSRF_PREVENTED/);
  });
});
