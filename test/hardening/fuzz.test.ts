import fc from "fast-check";
import {
  getNamedType,
  getNullableType,
  isEnumType,
  isInputObjectType,
  isLeafType,
  isListType,
  isNonNullType,
  isScalarType,
  isUnionType,
  type GraphQLField,
  type GraphQLInputType,
} from "graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createTestApp, type TestApp } from "../support/app.ts";
import { startServer } from "../support/server.ts";
import { seedAccount } from "../support/billing.ts";
import type { HttpServer } from "../../src/http.ts";
import { schema } from "../../src/graphql/schema.ts";
import { databaseFingerprint, toRaw, wsClient, type RawResponse } from "./helpers.ts";
import type { Client } from "graphql-ws";

/**
 * Thousands of random and hostile requests: the server never crashes, never answers 5xx and
 * never reports an unexpected error for a client's mistake, and the database is unchanged by
 * every request it refused. (A random request that is valid may succeed: then the database
 * moves on to its new state.)
 */

/** HTTP requests per run (WebSocket operations: an eighth of it). FUZZ_RUNS=20000 for a long hunt. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 2500);
/** Each run draws a new seed; a failure prints it, and FUZZ_SEED=<seed> replays that run. */
const SEED = process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {};
/** Two minutes for the default 2500 requests, more for a long hunt. */
const TIMEOUT = 120_000 * Math.max(1, RUNS / 2500);

let t: TestApp;
let http: HttpServer & { wsUrl: string };
let ids: string[] = [];
let baseline: Record<string, string>;

beforeAll(async () => {
  t = await createTestApp();
  http = await startServer(t);
  const seeded = await seedAccount(t, {
    charges: [
      { type: "RECURRING", price: "10.00", billingPeriod: "MONTH" },
      { name: "Usage", type: "USAGE", price: "0.10", billingPeriod: "MONTH", unitOfMeasure: "GB" },
    ],
  });
  // Real ids, so that some random requests name things that exist.
  ids = [seeded.account.id, seeded.subscription.id, ...seeded.subscription.charges.map((c) => c.id)];
  baseline = await databaseFingerprint(t);
});
afterAll(async () => {
  await http?.close();
  await t?.close();
});

// ---------------------------------------------------------------------------------------------
// Hostile values

const hostileInt = fc.oneof(
  fc.integer(),
  fc.constantFrom(2 ** 31, -(2 ** 31) - 1, 2 ** 53, Number.MAX_SAFE_INTEGER + 2, 1e308, -1e308, 0, -1, 1.5, -0, 1e-7),
  fc.integer({ min: -5, max: 60 }),
);

const hostileString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "a\u0000b",
    "\ud800",
    "x\udfff\ud800y",
    "'; DROP TABLE accounts; --",
    '" OR 1=1 --',
    "%s%n%x",
    "${7*7}{{7*7}}",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "\u202eevil",
    "🦄".repeat(300),
    "USD",
    "usd",
    "a@b.co",
    "MONTH",
  ),
  fc.integer({ min: 1_000, max: 150_000 }).map((n) => "x".repeat(n)),
);

const hostileDate = fc.oneof(
  fc.constantFrom(
    "2026-02-30",
    "2026-13-01",
    "0000-01-01",
    "9999-12-31",
    "2026-1-1",
    "2026-01-01T00:00:00Z",
    "",
    "+275760-09-13",
    "2026-02-29",
    "2028-02-29",
    "1899-12-31",
    "2026-01-01\u0000",
    "2026-01-15",
  ),
  fc.date({ noInvalidDate: false }).map((d) => (Number.isNaN(d.getTime()) ? "Invalid Date" : d.toISOString().slice(0, 10))),
  hostileString,
);

const hostileDecimal = fc.oneof(
  fc.constantFrom("1e309", "NaN", "Infinity", "-0", "0", "0.000000001", "99999999999999999999999999", "1,00", " 1.00", "0x10", "1.005", "-1.00", "10.00"),
  fc.double().map(String),
  hostileString,
);

// `ids` is filled in beforeAll, after the arbitraries are built: picked at generation time.
const hostileId = () =>
  fc.oneof(
    fc.nat().map((i) => ids[i % ids.length] ?? "none"),
    fc.uuid(),
    hostileString,
    fc.constant("00000000-0000-0000-0000-000000000000"),
  );

/** Wrong types and deep nesting, anywhere. */
const wrongType = fc.oneof(
  fc.anything({ maxDepth: 3 }),
  fc.integer({ min: 10, max: 3_000 }).map((depth) => {
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = [value];
    return value;
  }),
  fc.integer({ min: 10, max: 2_000 }).map((depth) => {
    let value: unknown = "x";
    for (let i = 0; i < depth; i++) value = { a: value };
    return value;
  }),
);

/** A value for a GraphQL input type: mostly of the right shape with hostile leaves, sometimes not at all. */
function valueFor(type: GraphQLInputType, depth = 0): fc.Arbitrary<unknown> {
  const inner = getNullableType(type);
  let typed: fc.Arbitrary<unknown>;
  if (isListType(inner)) {
    typed = fc.array(valueFor(inner.ofType, depth + 1), { maxLength: 4 });
  } else if (isEnumType(inner)) {
    typed = fc.oneof(fc.constantFrom(...inner.getValues().map((v) => v.value)), fc.constantFrom("UNKNOWN_VALUE", "pending", ""));
  } else if (isInputObjectType(inner)) {
    const fields = Object.values(inner.getFields());
    typed =
      depth > 4
        ? fc.constant({})
        : fc.record(Object.fromEntries(fields.map((f) => [f.name, valueFor(f.type, depth + 1)])), {
            requiredKeys: fields.filter((f) => isNonNullType(f.type)).map((f) => f.name),
          });
  } else if (isScalarType(inner)) {
    const byName: Record<string, fc.Arbitrary<unknown>> = {
      ID: hostileId(),
      Int: hostileInt,
      Float: fc.oneof(fc.double(), hostileInt),
      Boolean: fc.boolean(),
      String: hostileString,
      Date: hostileDate,
      DateTime: fc.oneof(
        fc.date({ noInvalidDate: false }).map((d) => (Number.isNaN(d.getTime()) ? "nope" : d.toISOString())),
        hostileString,
      ),
      Decimal: hostileDecimal,
    };
    typed = byName[inner.name] ?? hostileString;
  } else {
    typed = fc.anything();
  }
  const nullable = isNonNullType(type) ? fc.constant(null) : fc.constantFrom(null, undefined);
  return fc.oneof({ arbitrary: typed, weight: 16 }, { arbitrary: nullable, weight: 1 }, { arbitrary: wrongType, weight: 1 });
}

// ---------------------------------------------------------------------------------------------
// Hostile operations

interface Operation {
  query: string;
  variables?: unknown;
  operationName?: unknown;
  /** The mutation field it calls, to tell a success (the database may change) from a refusal. */
  mutation?: string;
}

function selectionFor(field: GraphQLField<unknown, unknown>): string {
  const type = getNamedType(field.type);
  if (isLeafType(type)) return "";
  if (isUnionType(type)) return " { __typename ... on Error { code message } }";
  return " { __typename }";
}

/** A call of a root field with all its arguments as variables of hostile values. */
function schemaOperations(kind: "query" | "mutation" | "subscription"): fc.Arbitrary<Operation> {
  const root = kind === "query" ? schema.getQueryType() : kind === "mutation" ? schema.getMutationType() : schema.getSubscriptionType();
  const fields = Object.values(root!.getFields());
  return fc.oneof(
    ...fields.map((field) => {
      const declarations = field.args.map((a, i) => `$a${i}: ${String(a.type)}`).join(", ");
      const call = field.args.length > 0 ? `(${field.args.map((a, i) => `${a.name}: $a${i}`).join(", ")})` : "";
      const query = `${kind}${declarations ? `(${declarations})` : ""} { ${field.name}${call}${selectionFor(field)} }`;
      const variables = fc.record(Object.fromEntries(field.args.map((a, i) => [`a${i}`, valueFor(a.type)])), { requiredKeys: [] });
      return variables.map((v): Operation => ({ query, variables: v, mutation: kind === "mutation" ? field.name : undefined }));
    }),
  );
}

const TOKENS = [
  "{",
  "}",
  "(",
  ")",
  "[",
  "]",
  ":",
  "$",
  "...",
  "@",
  "!",
  "=",
  ",",
  "query",
  "mutation",
  "subscription",
  "fragment",
  "on",
  "me",
  "billRuns",
  "billRun",
  "first",
  "id",
  "edges",
  "node",
  "createBillRun",
  "input",
  '"str"',
  '"""block"""',
  "1",
  "-1",
  "1e400",
  "true",
  "null",
  "__schema",
  "__type",
  "__typename",
  "#",
  "\n",
  "&",
  "|",
  "include",
  "skip",
  "if",
  "\u0000",
  "\ud800",
];

const tokenSoup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 80 }).map((parts): Operation => ({ query: parts.join(" ") }));

const deepQuery = fc.integer({ min: 1, max: 60 }).map((depth): Operation => {
  let inner = "id";
  for (let i = 0; i < depth; i++) inner = `retriedFrom { ${inner} }`;
  return { query: `{ billRuns(first: 2) { edges { node { ${inner} } } } }` };
});

const wideQuery = fc.tuple(fc.integer({ min: 1, max: 80 }), fc.integer({ min: 0, max: 30 })).map(([aliases, directives]): Operation => ({
  query: `{ ${Array.from({ length: aliases }, (_, i) => `a${i}: accounts(first: ${i}) { totalCount ${i < directives ? "@include(if: true)" : ""} }`).join(" ")} }`,
}));

const costlyQuery = fc.tuple(fc.integer({ min: -10, max: 10_000 }), fc.integer({ min: 0, max: 200 })).map(([outer, inner]): Operation => ({
  query: `query($o: Int, $i: Int) { billRuns(first: $o) { edges { node { invoices(first: $i) { edges { node { items { id } payments { id } } } } } } } }`,
  variables: { o: outer, i: inner },
}));

const fragmentCycle = fc.constantFrom<Operation>(
  { query: `{ billRuns { edges { node { ...A } } } } fragment A on BillRun { retriedFrom { ...B } } fragment B on BillRun { retriedFrom { ...A } }` },
  { query: `{ ...A } fragment A on Query { ...A }` },
  { query: `query A { me { id } } query A { me { id } }`, operationName: "A" },
  { query: `query A { me { id } } query B { me { id } }` },
  { query: `{ me { id } }`, operationName: "Nope" },
);

const randomText = fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: "binary", maxLength: 300 })).map((query): Operation => ({ query }));

/** Operations: well-formed calls of every root field with hostile variables, and malformed documents of every kind. */
const operation: fc.Arbitrary<Operation> = fc
  .oneof(
    { arbitrary: schemaOperations("mutation"), weight: 6 },
    { arbitrary: schemaOperations("query"), weight: 4 },
    { arbitrary: tokenSoup, weight: 2 },
    { arbitrary: deepQuery, weight: 1 },
    { arbitrary: wideQuery, weight: 1 },
    { arbitrary: costlyQuery, weight: 1 },
    { arbitrary: fragmentCycle, weight: 1 },
    { arbitrary: randomText, weight: 1 },
  )
  .chain((op) =>
    // Now and then, variables or the operation name of the wrong kind altogether.
    fc.oneof(
      { arbitrary: fc.constant(op), weight: 10 },
      { arbitrary: fc.anything({ maxDepth: 2 }).map((variables) => ({ ...op, variables })), weight: 1 },
      { arbitrary: fc.anything({ maxDepth: 1 }).map((operationName) => ({ ...op, operationName })), weight: 1 },
    ),
  );

// ---------------------------------------------------------------------------------------------
// Hostile requests

type Body = { kind: "json"; value: unknown } | { kind: "raw"; bytes: Uint8Array; contentType: string } | { kind: "get"; params: string };

interface HostileRequest {
  body: Body;
  token: "admin" | "operator" | "viewer" | "none" | "garbage";
  via: "server" | "in-process";
  mutation?: string;
}

const encoder = new TextEncoder();

/** Valid JSON around an invalid UTF-8 sequence (a lone continuation byte, an overlong form, 0xFF...). */
const invalidUtf8 = fc
  .tuple(operation, fc.constantFrom([0x80], [0xc3, 0x28], [0xe2, 0x28, 0xa1], [0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]))
  .map(([op, bad]) => {
    const text = JSON.stringify({ query: op.query, variables: { s: "MARK" } });
    const [before, after] = text.split("MARK") as [string, string];
    return new Uint8Array([...encoder.encode(before), ...bad, ...encoder.encode(after)]);
  });

const body: fc.Arbitrary<{ body: Body; mutation?: string }> = fc.oneof(
  {
    arbitrary: operation.map((op) => ({
      body: { kind: "json", value: { query: op.query, variables: op.variables, operationName: op.operationName } } as Body,
      mutation: op.mutation,
    })),
    weight: 14,
  },
  { arbitrary: fc.jsonValue().map((value) => ({ body: { kind: "json", value } as Body })), weight: 1 },
  { arbitrary: fc.uint8Array({ maxLength: 400 }).map((bytes) => ({ body: { kind: "raw", bytes, contentType: "application/json" } as Body })), weight: 1 },
  { arbitrary: invalidUtf8.map((bytes) => ({ body: { kind: "raw", bytes, contentType: "application/json" } as Body })), weight: 1 },
  {
    arbitrary: fc
      .tuple(
        fc.string({ maxLength: 200 }),
        fc.constantFrom(
          "text/plain",
          "application/graphql",
          "multipart/form-data; boundary=x",
          "application/x-www-form-urlencoded",
          "application/json; charset=latin1",
          "application/xml",
          "",
        ),
      )
      .map(([text, contentType]) => ({ body: { kind: "raw", bytes: encoder.encode(text), contentType } as Body })),
    weight: 1,
  },
  {
    arbitrary: operation.map((op) => ({
      body: {
        kind: "get",
        params: new URLSearchParams({ query: op.query, ...(op.variables !== undefined ? { variables: JSON.stringify(op.variables) ?? "" } : {}) }).toString(),
      } as Body,
    })),
    weight: 1,
  },
);

const request: fc.Arbitrary<HostileRequest> = fc
  .record({
    body,
    token: fc.constantFrom("admin", "admin", "operator", "viewer", "none", "garbage"),
    via: fc.constantFrom("server", "in-process"),
  })
  .map(({ body, token, via }) => ({ body: body.body, mutation: body.mutation, token, via }) as HostileRequest);

async function send(r: HostileRequest): Promise<RawResponse> {
  const headers: Record<string, string> = {};
  if (r.token === "garbage") headers.authorization = "Bearer brt_garbage";
  else if (r.token !== "none") headers.authorization = `Bearer ${t.tokens[r.token]}`;
  const base = r.via === "server" ? http.url : "http://localhost/graphql";
  let url = base;
  let init: RequestInit;
  if (r.body.kind === "get") {
    url = `${base}?${r.body.params}`;
    init = { method: "GET", headers: { ...headers, accept: "application/json", "x-graphql-yoga-csrf": "1" } };
  } else if (r.body.kind === "json") {
    init = { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify(r.body.value) ?? "null" };
  } else {
    init = { method: "POST", headers: { ...headers, ...(r.body.contentType ? { "content-type": r.body.contentType } : {}) }, body: r.body.bytes as BodyInit };
  }
  const response = r.via === "server" ? await fetch(url, init) : await t.yoga.fetch(url, init);
  return toRaw(response);
}

const ERROR_TYPES = new Set(["ValidationError", "NotFoundError", "InvalidStateError", "ConflictError"]);

/** The mutation went through (so the database may have changed) when its field holds a non-error result. */
function succeeded(response: RawResponse, mutation: string | undefined): boolean {
  if (!mutation) return false;
  const value = (response.body.data as Record<string, { __typename?: string } | null> | null | undefined)?.[mutation];
  return !!value && !ERROR_TYPES.has(value.__typename ?? "");
}

function expectHandled(response: RawResponse, context: unknown): void {
  const where = JSON.stringify(context).slice(0, 400);
  expect(response.status, where).toBeLessThan(500);
  // A GraphQL answer (or yoga's JSON refusal), except for the bare HTTP refusals of a media type
  // (415) or method (405) that is not GraphQL at all, or of a URL too long for Node (431, 414).
  if (![405, 414, 415, 431].includes(response.status)) {
    expect(response.body, `${where} → ${response.status} ${response.text.slice(0, 300)}`).toSatisfy((b: object) => "data" in b || "errors" in b);
  }
  // A client's mistake is never an unexpected (masked) error.
  expect(response.text, where).not.toContain("Unexpected error.");
}

describe("fuzzing over HTTP (the real server and in-process)", () => {
  it(
    "survives thousands of random and hostile requests: no 5xx, no unexpected error, no change from a refused request",
    async () => {
      let requests = 0;
      let successes = 0;
      const started = Date.now();
      await fc.assert(
        fc.asyncProperty(request, async (r) => {
          requests++;
          const response = await send(r);
          expectHandled(response, r);
          if (succeeded(response, r.mutation)) {
            successes++;
            baseline = await databaseFingerprint(t);
          } else if (r.mutation || requests % 25 === 0) {
            expect(await databaseFingerprint(t), JSON.stringify(r).slice(0, 600)).toEqual(baseline);
          }
        }),
        { numRuns: RUNS, endOnFailure: true, ...SEED },
      );
      // Some random requests are valid enough to succeed, most are refused.
      console.log(`fuzz: ${requests} HTTP requests in ${Date.now() - started} ms, ${successes} mutations succeeded`);
      expect(successes).toBeLessThan(requests / 2);
      expect((await fetch(`${new URL(http.url).origin}/health`)).status).toBe(200);
      expect((await fetch(`${new URL(http.url).origin}/ready`)).status).toBe(200);
    },
    TIMEOUT,
  );
});

describe("fuzzing over WebSockets", () => {
  /** An operation's outcome: results, an error, or still running after `ms` (a live subscription). */
  function outcome(client: Client, op: Operation, ms = 300): Promise<{ kind: string; value?: unknown }> {
    return new Promise((resolve) => {
      let settled = false;
      const finish = (value: { kind: string; value?: unknown }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        dispose();
        resolve(value);
      };
      const timer = setTimeout(() => finish({ kind: "running" }), ms);
      const dispose = client.subscribe(
        { query: op.query, variables: op.variables as Record<string, unknown> },
        {
          next: (value) => finish({ kind: "next", value }),
          error: (error) => finish({ kind: "error", value: error }),
          complete: () => finish({ kind: "complete" }),
        },
      );
    });
  }

  const wsOperation = fc.oneof(
    { arbitrary: schemaOperations("subscription"), weight: 3 },
    { arbitrary: schemaOperations("mutation"), weight: 3 },
    { arbitrary: schemaOperations("query"), weight: 2 },
    { arbitrary: tokenSoup, weight: 1 },
    { arbitrary: deepQuery, weight: 1 },
    { arbitrary: costlyQuery, weight: 1 },
  );

  it(
    "answers hostile operations on open connections without closing them, crashing or changing the database",
    async () => {
      const closed: number[] = [];
      const clients = {
        admin: wsClient(http.wsUrl, t.tokens.admin, (e) => closed.push(e.code)),
        viewer: wsClient(http.wsUrl, t.tokens.viewer, (e) => closed.push(e.code)),
      };
      try {
        await fc.assert(
          fc.asyncProperty(wsOperation, fc.constantFrom("admin", "viewer") as fc.Arbitrary<"admin" | "viewer">, async (op, who) => {
            const result = await outcome(clients[who], op);
            const text = JSON.stringify(result.value ?? null) ?? "";
            expect(text, op.query).not.toContain("Unexpected error.");
            // The socket stays open: an error list is an answer, a close code would be a crash of the
            // protocol. (1000 is the lazy client closing an idle connection itself.)
            expect(
              closed.filter((code) => code !== 1000),
              op.query,
            ).toEqual([]);
            const data = (result.value as { data?: Record<string, { __typename?: string } | null> } | undefined)?.data;
            const value = op.mutation ? data?.[op.mutation] : undefined;
            if (value && !ERROR_TYPES.has(value.__typename ?? "")) baseline = await databaseFingerprint(t);
            else if (op.mutation) expect(await databaseFingerprint(t), op.query).toEqual(baseline);
          }),
          { numRuns: Math.ceil(RUNS / 8), endOnFailure: true, ...SEED },
        );
      } finally {
        await clients.admin.dispose();
        await clients.viewer.dispose();
      }
    },
    TIMEOUT,
  );

  it("closes sockets that break the protocol, and nothing else", async () => {
    const garbage = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.uint8Array({ maxLength: 200 }),
      fc.constantFrom(
        '{"type":"subscribe"}',
        '{"type":"subscribe","id":"1","payload":{"query":1}}',
        '{"type":"connection_init","payload":"x"}',
        '{"type":"ping","payload":[]}',
        '{"type":"next","id":"1","payload":{}}',
      ),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(garbage, { minLength: 1, maxLength: 5 }), fc.boolean(), async (messages, initFirst) => {
        const socket = new WebSocket(http.wsUrl, "graphql-transport-ws");
        await new Promise((resolve, reject) => {
          socket.once("open", resolve);
          socket.once("error", reject);
        });
        const closed = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
        if (initFirst) socket.send(JSON.stringify({ type: "connection_init", payload: { authorization: `Bearer ${t.tokens.viewer}` } }));
        for (const message of messages) socket.send(message);
        const code = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(-1), 300))]);
        // Closed with a graphql-ws 44xx code (bad message, unauthorized...), or still open: never an internal error.
        expect(code === -1 || (code >= 4400 && code < 4500) || code === 1000 || code === 1009, `closed with ${code}`).toBe(true);
        socket.terminate();
      }),
      { numRuns: Math.ceil(RUNS / 16), ...SEED },
    );
    expect((await fetch(`${new URL(http.url).origin}/health`)).status).toBe(200);
    expect(await databaseFingerprint(t)).toEqual(baseline);
  }, 60_000);
});
