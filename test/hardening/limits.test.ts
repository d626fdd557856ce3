import { describe, expect, it } from "vitest";
import { type TestApp } from "../support/app.ts";
import { serveTestApp } from "../support/server.ts";
import type { HttpServer } from "../../src/http.ts";
import type { App } from "../../src/app.ts";
import type { Config } from "../../src/config.ts";
import { createGraphQLServer, type Yoga } from "../../src/graphql/yoga.ts";
import { codes, messages, post, toRaw, wsClient, wsRun } from "./helpers.ts";

let t: TestApp;
let http: HttpServer & { wsUrl: string };
serveTestApp((app, server) => ((t = app), (http = server)));

/** A Yoga over the same app and database with other settings (as another process would have). */
function yogaWith(env: Partial<Pick<Config, "env" | "isDevelopment">>, security: Partial<Config["security"]> = {}): Yoga {
  const config = { ...t.app.config, ...env, security: { ...t.app.config.security, ...security } };
  return createGraphQLServer({ ...t.app, config } as App);
}

async function postTo(yoga: Yoga, query: string, variables?: Record<string, unknown>) {
  const response = await yoga.fetch("http://localhost/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", accept: GRAPHQL_RESPONSE, authorization: `Bearer ${t.tokens.viewer}` },
    body: JSON.stringify({ query, variables }),
  });
  return toRaw(response);
}

/**
 * The GraphQL-over-HTTP media type: refused requests answer 400 (yoga answers 200 to clients
 * that accept only application/json, as the spec says).
 */
const GRAPHQL_RESPONSE = "application/graphql-response+json";

const query = (q: string, variables?: Record<string, unknown>) => post(t, { query: q, variables }, { accept: GRAPHQL_RESPONSE }, t.tokens.viewer);

/** `billRun(id) { retriedFrom { retriedFrom { ... { id } } } }`: `levels` fields deep. */
function nested(levels: number): string {
  let inner = "id";
  for (let i = 2; i < levels; i++) inner = `retriedFrom { ${inner} }`;
  return `{ billRun(id: "00000000-0000-0000-0000-000000000000") { ${inner} } }`;
}

describe("query depth (BILLRUN_MAX_DEPTH = 12)", () => {
  it("answers a query 12 fields deep and refuses one 13 deep with a 400 before executing it", async () => {
    const ok = await query(nested(12));
    expect(ok.status).toBe(200);
    expect(ok.body.errors).toBeUndefined();
    expect(ok.body.data).toEqual({ billRun: null });

    const deep = await query(nested(13));
    expect(deep.status).toBe(400);
    expect(deep.body.data).toBeUndefined();
    expect(messages(deep.body)).toEqual([expect.stringMatching(/depth limit of 12 exceeded, found 13/)]);
    expect(codes(deep.body)).toEqual(["GRAPHQL_VALIDATION_FAILED"]);
  });

  it("counts fragments toward the depth", async () => {
    const viaFragments = await query(
      `query { billRun(id: "x") { ...A } } fragment A on BillRun { retriedFrom { ...B } } fragment B on BillRun { retriedFrom { ...C } }
       fragment C on BillRun { retriedFrom { retriedFrom { retriedFrom { retriedFrom { retriedFrom { retriedFrom { retriedFrom { retriedFrom { retriedFrom { id } } } } } } } } } }`,
    );
    expect(viaFragments.status).toBe(400);
    expect(messages(viaFragments.body).join()).toMatch(/depth limit/);
  });
});

describe("aliases, tokens and directives", () => {
  it("allows 15 aliases and refuses 16", async () => {
    const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: settings { advancedArSettlement }`).join(" ")} }`;
    const ok = await query(aliases(15));
    expect(ok.body.errors).toBeUndefined();
    expect(Object.keys(ok.body.data as object)).toHaveLength(15);
    const refused = await query(aliases(16));
    expect(refused.status).toBe(400);
    expect(messages(refused.body)).toEqual([expect.stringMatching(/Aliases limit of 15 exceeded, found 16/)]);
  });

  it("refuses a document of more than 2000 tokens while parsing it", async () => {
    // `me { id }` repeated: 4 tokens each, merged into one field if it were executed.
    const refused = await query(`{ ${"me { id } ".repeat(600)} }`);
    expect(refused.status).toBe(400);
    expect(messages(refused.body)).toEqual([expect.stringMatching(/Token limit of 2000 exceeded/)]);
    expect(codes(refused.body)).toEqual(["GRAPHQL_PARSE_FAILED"]);
    const ok = await query(`{ ${"me { id } ".repeat(400)} }`);
    expect(ok.body.errors).toBeUndefined();
  });

  it("allows 10 directives and refuses 11", async () => {
    // A directive may appear once per location: spread them over fields.
    const fields = ["id", "name", "role", "createdAt", "__typename", "email"];
    const directives = (n: number) =>
      `{ me { ${fields.map((f, i) => `${f} ${i * 2 < n ? "@include(if: true)" : ""} ${i * 2 + 1 < n ? "@skip(if: false)" : ""}`).join(" ")} } }`;
    const ok = await query(directives(10));
    expect(ok.body.errors).toBeUndefined();
    const refused = await query(directives(11));
    expect(refused.status).toBe(400);
    expect(messages(refused.body)).toEqual([expect.stringMatching(/Directives limit of 10 exceeded, found 11/)]);
  });
});

describe("text PostgreSQL cannot store", () => {
  it("refuses the NUL character in a variable or a literal with a VALIDATION error, and writes nothing", async () => {
    const before = await t.app.db.apiToken.count();
    const create = `mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { __typename } }`;
    const variable = await post(t, { query: create, variables: { input: { label: "a\u0000b" } } }, { accept: GRAPHQL_RESPONSE });
    expect(variable.status).toBe(400);
    expect(variable.body.errors?.map((e) => e.extensions)).toEqual([expect.objectContaining({ code: "VALIDATION", field: ["input", "label"] })]);
    const literal = await post(t, { query: `mutation { createApiToken(input: { label: "a\\u0000b" }) { __typename } }` }, { accept: GRAPHQL_RESPONSE });
    expect(codes(literal.body)).toEqual(["VALIDATION"]);
    // The NUL itself in the query text, in a string and a block string: JSON can carry it there.
    for (const quoted of ['"a\u0000b"', '"""a\u0000b"""']) {
      const raw = await post(t, { query: `mutation { createApiToken(input: { label: ${quoted} }) { __typename } }` }, { accept: GRAPHQL_RESPONSE });
      expect(codes(raw.body)).toEqual(["VALIDATION"]);
    }
    expect(await t.app.db.apiToken.count()).toBe(before);
    // Other control characters are text PostgreSQL stores; the NUL check does not refuse them.
    const tab = await post(t, { query: create, variables: { input: { label: "a\tb" } } }, { accept: GRAPHQL_RESPONSE });
    expect(tab.body.errors).toBeUndefined();
  });

  it("refuses a lone UTF-16 surrogate (not Unicode text) in a variable with a VALIDATION error, and writes nothing", async () => {
    const before = await t.app.db.apiToken.count();
    const create = `mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { __typename } }`;
    for (const label of ["\ud800", "a\udfffb", "\ude00\ud83d"]) {
      const refused = await post(t, { query: create, variables: { input: { label } } }, { accept: GRAPHQL_RESPONSE });
      expect(refused.status).toBe(400);
      expect(refused.body.errors?.map((e) => e.extensions)).toEqual([expect.objectContaining({ code: "VALIDATION", field: ["input", "label"] })]);
    }
    // In a literal the GraphQL parser already refuses it.
    const literal = await post(t, { query: `mutation { createApiToken(input: { label: "a\\ud800b" }) { __typename } }` }, { accept: GRAPHQL_RESPONSE });
    expect(literal.body.errors?.[0]?.message).toMatch(/Invalid Unicode escape sequence/);
    expect(await t.app.db.apiToken.count()).toBe(before);
    // A surrogate pair is one well-formed character, and is stored as it is.
    const emoji = await post(
      t,
      {
        query: `mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { ... on CreateApiTokenPayload { apiToken { label } } } }`,
        variables: { input: { label: "ci \ud83d\ude00" } },
      },
      { accept: GRAPHQL_RESPONSE },
    );
    expect(emoji.body.errors).toBeUndefined();
    expect(emoji.body.data).toEqual({ createApiToken: { apiToken: { label: "ci \ud83d\ude00" } } });
  });
});

describe("page sizes: first/last within 0..100", () => {
  it("refuses first: 101 with a VALIDATION error naming the argument, as a literal or a variable, before any SQL", async () => {
    t.queries.length = 0;
    const literal = await query(`{ accounts(first: 101) { totalCount } }`);
    expect(literal.status).toBe(400);
    expect(literal.body.data ?? null).toBeNull();
    expect(literal.body.errors).toEqual([
      expect.objectContaining({
        message: "first must be between 0 and 100 (was 101) on accounts",
        extensions: expect.objectContaining({ code: "VALIDATION", field: ["accounts", "first"] }),
      }),
    ]);
    const variable = await query(`query($n: Int) { runs: billRuns(first: $n) { totalCount } }`, { n: 5000 });
    expect(variable.body.errors?.map((e) => e.extensions)).toEqual([expect.objectContaining({ code: "VALIDATION", field: ["runs", "first"] })]);
    // Nothing but the token lookup reached the database.
    expect(t.queries.filter((sql) => !/"api_tokens"|"users"/.test(sql))).toEqual([]);
  });

  it("refuses a nested connection's page size too, and a negative one", async () => {
    const nestedFirst = await query(`{ billRuns(first: 1) { edges { node { invoices(first: 1000) { totalCount } } } } }`);
    expect(nestedFirst.body.errors?.map((e) => e.extensions?.field)).toEqual([["billRuns", "edges", "node", "invoices", "first"]]);
    const negative = await query(`{ accounts(last: -1) { totalCount } }`);
    expect(codes(negative.body)).toEqual(["VALIDATION"]);
  });

  it("answers first: 100 and first: 0", async () => {
    for (const n of [0, 100]) {
      const ok = await query(`query($n: Int) { accounts(first: $n) { totalCount edges { cursor } } }`, { n });
      expect(ok.body.errors).toBeUndefined();
    }
  });
});

describe("connection-aware cost (BILLRUN_MAX_COST = 50000)", () => {
  const runs = (outer: string, inner: string) =>
    `billRuns(${outer}) { edges { node { id invoices(${inner}) { edges { node { id items { id amount chargeName } } } } } } }`;
  const shape = (outer: string, inner: string) => `{ ${runs(outer, inner)} }`;

  it("refuses nested connections of 100 x 100 items and answers the same shape at 10 x 10", async () => {
    const big = await query(shape("first: 100", "first: 100"));
    expect(big.status).toBe(400);
    expect(big.body.errors).toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: "QUERY_TOO_COSTLY", maxCost: 50_000, cost: expect.any(Number) }) }),
    ]);
    // 100 runs x (2 + 100 invoices x (3 + 10 items x 4)) and then some.
    expect((big.body.errors![0]!.extensions as { cost: number }).cost).toBeGreaterThan(400_000);
    const small = await query(shape("first: 10", "first: 10"));
    expect(small.body.errors).toBeUndefined();
  });

  it("reads page sizes from variables (a validation rule cannot) and assumes 20 without first", async () => {
    const withVariables = await query(`query($a: Int, $b: Int) { ${runs("first: $a", "first: $b")} }`, { a: 100, b: 100 });
    expect(codes(withVariables.body)).toEqual(["QUERY_TOO_COSTLY"]);
    const smallVariables = await query(`query($a: Int, $b: Int) { ${runs("first: $a", "first: $b")} }`, { a: 10, b: 10 });
    expect(smallVariables.body.errors).toBeUndefined();
    // Without first: 20 x (20 x 43 + ...) x ... — and a third level tips it over.
    const defaults = await query(`{ billRuns { edges { node { invoices { edges { node { id payments { id invoice { id items { id } } } } } } } } } }`);
    expect(codes(defaults.body)).toEqual(["QUERY_TOO_COSTLY"]);
  });

  it("counts a fragment spread many times at each place it is spread, and stays fast on reused fragments", async () => {
    const started = Date.now();
    // Each fragment spreads the next one eight times: a naive walk would visit 8^8 selections.
    const fragments = Array.from({ length: 8 }, (_, i) =>
      i === 7
        ? `fragment F${i} on BillRun { id }`
        : `fragment F${i} on BillRun { ${Array.from({ length: 8 }, () => `...F${i + 1}`).join(" ")} retriedFrom { ...F${i + 1} } }`,
    );
    const result = await query(`{ billRuns(first: 100) { edges { node { ...F0 } } } } ${fragments.join(" ")}`);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(result.status).toBeLessThan(500);
  });
});

describe("the same limits over WebSockets", () => {
  it("refuses an over-deep query, an over-large page and an over-costly subscription on an open connection", async () => {
    const client = wsClient(http.wsUrl, t.tokens.viewer);
    try {
      const deep = await wsRun(client, nested(13));
      expect(deep.kind).toBe("error");
      expect(JSON.stringify((deep as { error: unknown }).error)).toMatch(/depth limit of 12/);

      const page = await wsRun(client, `subscription { billRunStatusChanged { billRun { failedAccounts(first: 101) { totalCount } } } }`);
      expect(page.kind).toBe("error");
      expect((page as { error: { extensions?: { code?: string } }[] }).error.map((e) => e.extensions?.code)).toEqual(["VALIDATION"]);

      const costly = await wsRun(
        client,
        `subscription($n: Int) { billRunStatusChanged { billRun { invoices(first: $n) { edges { node { billRun {
           invoices(first: $n) { edges { node { id items { id amount } } } } } } } } } } }`,
        { n: 100 },
      );
      expect(costly.kind).toBe("error");
      expect((costly as { error: { extensions?: { code?: string } }[] }).error.map((e) => e.extensions?.code)).toEqual(["QUERY_TOO_COSTLY"]);

      // The connection is still good.
      const me = await wsRun(client, "{ me { role } }");
      expect(me).toEqual({ kind: "results", results: [{ data: { me: { role: "VIEWER" } } }] });
    } finally {
      await client.dispose();
    }
  });
});

describe("field suggestions", () => {
  const typo = `{ settings { advancedArSettlment } }`;
  const badEnum = [`query($s: [BillRunStatus!]) { billRuns(status: $s) { totalCount } }`, { s: ["POSTD"] }] as const;

  it("are given in development", async () => {
    const dev = await query(typo);
    expect(messages(dev.body).join()).toMatch(/Did you mean "advancedArSettlement"\?/);
    const variable = await query(...badEnum);
    expect(messages(variable.body).join()).toMatch(/Did you mean the enum value "POSTED"/);
  });

  it("are hidden in production, in validation errors and in variable errors alike", async () => {
    const production = yogaWith({ env: "production", isDevelopment: false }, { fieldSuggestions: false, introspection: false });
    const typoed = await postTo(production, typo);
    expect(messages(typoed.body).join()).toMatch(/Cannot query field "advancedArSettlment" on type "Settings"/);
    expect(typoed.text).not.toMatch(/Did you mean|advancedArSettlement"/);
    const variable = await postTo(production, ...badEnum);
    expect(messages(variable.body).join()).toMatch(/Value "POSTD" does not exist in "BillRunStatus" enum/);
    expect(variable.text).not.toMatch(/Did you mean|POSTED/);
  });
});

describe("introspection (BILLRUN_INTROSPECTION)", () => {
  const introspect = `{ __schema { queryType { name } } }`;

  it("is on in development and off in production by default", async () => {
    const { loadConfig } = await import("../../src/config.ts");
    expect(loadConfig({ NODE_ENV: "development" }).security.introspection).toBe(true);
    expect(loadConfig({ NODE_ENV: "production" }).security.introspection).toBe(false);
    expect(loadConfig({ NODE_ENV: "production", BILLRUN_INTROSPECTION: "true" }).security.introspection).toBe(true);
    expect(loadConfig({ NODE_ENV: "development", BILLRUN_INTROSPECTION: "false" }).security.introspection).toBe(false);
    expect(loadConfig({ NODE_ENV: "production" }).security.fieldSuggestions).toBe(false);

    const on = await query(introspect);
    expect(on.body).toEqual({ data: { __schema: { queryType: { name: "Query" } } } });
  });

  it("when off, refuses __schema and __type but still answers __typename", async () => {
    const off = yogaWith({}, { introspection: false });
    for (const q of [introspect, `{ __type(name: "BillRun") { name } }`]) {
      const refused = await postTo(off, q);
      expect(refused.status).toBe(400);
      expect(messages(refused.body).join()).toMatch(/introspection has been disabled/);
    }
    const typename = await postTo(off, `{ __typename settings { __typename } }`);
    expect(typename.body).toEqual({ data: { __typename: "Query", settings: { __typename: "Settings" } } });
  });
});
