// "Did you mean ...?" names schema members. With NODE_ENV=production no response carries one,
// whatever the kind of name (field, argument, input field, enum value, type, directive), whether
// it comes from validation or from coercing variables, with or without a token, over HTTP,
// Server-Sent Events and WebSockets.
import { describe, expect, it } from "vitest";
import { type TestApp } from "../support/app.ts";
import { serveTestApp } from "../support/server.ts";
import type { HttpServer } from "../../src/http.ts";
import type { App } from "../../src/app.ts";
import { createGraphQLServer } from "../../src/graphql/yoga.ts";
import { wsClient, wsRun } from "./helpers.ts";

let t: TestApp;
let http: HttpServer & { wsUrl: string };
serveTestApp((app, server) => ((t = app), (http = server)), { env: { NODE_ENV: "production" } });

interface Case {
  kind: string;
  query: string;
  variables?: Record<string, unknown>;
  /** What graphql-js says outside production (proof that the case does draw a hint), or false: it gives none. */
  hint: RegExp | false;
  /** What remains of the message in production. */
  message: RegExp;
}

const CASES: Case[] = [
  {
    kind: "field",
    query: `{ settings { advancedArSettlment } }`,
    hint: /Did you mean "advancedArSettlement"\?/,
    message: /Cannot query field "advancedArSettlment" on type "Settings"\.$/,
  },
  {
    kind: "field of a union (inline fragment hint)",
    query: `mutation { postBillRun(id: "x") { code } }`,
    hint: /Did you mean to use an inline fragment on/,
    message: /Cannot query field "code" on type "PostBillRunResult"\.$/,
  },
  {
    kind: "argument",
    query: `{ billRuns(frist: 1) { totalCount } }`,
    hint: /Did you mean "first" or "last"\?/,
    message: /Unknown argument "frist" on field "Query\.billRuns"\.$/,
  },
  {
    kind: "directive argument",
    query: `{ me @include(iff: true) { role } }`,
    hint: /Did you mean "if"\?/,
    message: /Unknown argument "iff" on directive "@include"\.$/,
  },
  { kind: "directive", query: `{ me @skp(if: true) { role } }`, hint: false, message: /Unknown directive "@skp"\.$/ },
  {
    kind: "enum value (literal)",
    query: `{ billRuns(first: 1, status: [COMPLETE]) { totalCount } }`,
    hint: /Did you mean the enum value "COMPLETED"\?/,
    message: /Value "COMPLETE" does not exist in "BillRunStatus" enum\.$/,
  },
  {
    kind: "enum value (variable)",
    query: `query($s: [BillRunStatus!]) { billRuns(first: 1, status: $s) { totalCount } }`,
    variables: { s: ["COMPLETE"] },
    hint: /Did you mean the enum value "COMPLETED"\?/,
    message: /Value "COMPLETE" does not exist in "BillRunStatus" enum\.$/,
  },
  {
    kind: "input field (literal)",
    query: `mutation { createBillRun(input: { targetDat: "2026-01-01" }) { __typename } }`,
    hint: /Did you mean "targetDate"\?/,
    message: /Field "targetDat" is not defined by type "CreateBillRunInput"\.$/,
  },
  {
    kind: "input field (variable)",
    query: `mutation($i: CreateBillRunInput!) { createBillRun(input: $i) { __typename } }`,
    variables: { i: { targetDate: "2026-01-01", autoPst: true } },
    hint: /Did you mean "autoPost"\?/,
    message: /Field "autoPst" is not defined by type "CreateBillRunInput"\.$/,
  },
  {
    kind: "type (variable definition)",
    query: `query($s: [BillRunStatu!]) { billRuns(first: 1, status: $s) { totalCount } }`,
    hint: /Did you mean "BillRunStatus"/,
    message: /Unknown type "BillRunStatu"\.$/,
  },
  { kind: "type (type condition)", query: `{ me { ... on Usr { role } } }`, hint: /Did you mean "User"\?/, message: /Unknown type "Usr"\.$/ },
  {
    kind: "type (fragment)",
    query: `query { billRuns(first: 1) { edges { node { ...F } } } } fragment F on BillRn { id }`,
    hint: /Did you mean "BillRun"\?/,
    message: /Unknown type "BillRn"\.$/,
  },
  {
    kind: "subscription field",
    query: `subscription { billRunStatusChange { eventId } }`,
    hint: /Did you mean "billRunStatusChanged"\?/,
    message: /Cannot query field "billRunStatusChange" on type "Subscription"\.$/,
  },
];

async function overHttp(query: string, variables: Record<string, unknown> | undefined, token: string | null): Promise<string> {
  const response = await fetch(http.url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return response.text();
}

/** Server-Sent Events (what GraphiQL and graphql-sse use): the stream's text up to its end. */
async function overSse(query: string, variables: Record<string, unknown> | undefined, token: string | null): Promise<string> {
  const response = await fetch(http.url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(10_000),
  });
  return response.text();
}

describe("suggestions with NODE_ENV=production", () => {
  it("are drawn by every case outside production (so the cases below test something)", async () => {
    const development = createGraphQLServer({
      ...t.app,
      config: { ...t.app.config, env: "development", isDevelopment: true, security: { ...t.app.config.security, fieldSuggestions: true } },
    } as App);
    for (const c of CASES) {
      const response = await development.fetch("http://localhost/graphql", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${t.tokens.viewer}` },
        body: JSON.stringify({ query: c.query, variables: c.variables }),
      });
      const text = ((await response.json()) as { errors?: { message: string }[] }).errors?.map((e) => e.message).join("\n");
      if (c.hint) expect(text, c.kind).toMatch(c.hint);
      else expect(text, c.kind).not.toMatch(/Did you mean/);
    }
  });

  for (const token of ["none", "viewer", "admin"] as const) {
    it(`are absent over HTTP and SSE (token: ${token}), the rest of each message kept`, async () => {
      const bearer = token === "none" ? null : t.tokens[token];
      for (const c of CASES) {
        const text = await overHttp(c.query, c.variables, bearer);
        expect(text, c.kind).not.toMatch(/Did you mean/i);
        const body = JSON.parse(text) as { errors?: { message: string }[] };
        expect(body.errors?.map((e) => e.message).join("\n"), c.kind).toMatch(new RegExp(c.message.source, "m"));

        const sse = await overSse(c.query, c.variables, bearer);
        expect(sse, `${c.kind} over SSE`).toContain("event: next");
        expect(sse, `${c.kind} over SSE`).not.toMatch(/Did you mean/i);
      }
    });
  }

  it("are absent over WebSockets", async () => {
    for (const c of CASES) {
      // A client of its own per case: a lazy client closes its socket after an operation's error.
      const client = wsClient(http.wsUrl, t.tokens.viewer);
      try {
        const outcome = await wsRun(client, c.query, c.variables);
        const errors = (outcome.kind === "error" ? outcome.error : outcome.results.flatMap((r) => r.errors ?? [])) as { message: string }[];
        expect(errors.map((e) => e.message).join("\n"), c.kind).toMatch(new RegExp(c.message.source, "m"));
        expect(JSON.stringify(errors), c.kind).not.toMatch(/Did you mean/i);
      } finally {
        await client.dispose();
      }
    }
  });
});
