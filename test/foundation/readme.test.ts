// The README's GraphQL examples, run as written against the real server, over the transports
// the README names: whatever it shows must work (and a renamed field breaks this test).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Kind, parse, validate, type OperationDefinitionNode } from "graphql";
import { createClient as createSseClient } from "graphql-sse";
import { type TestApp } from "../support/app.ts";
import { serveTestApp, wsClient } from "../support/server.ts";
import { waitFor } from "../support/wait.ts";
import { README, readmeBlocks } from "../support/readme.ts";
import type { HttpServer } from "../../src/http.ts";
import { loadDemoData } from "../../src/demo/seed.ts";
import { schema } from "../../src/graphql/schema.ts";

let t: TestApp;
let http: HttpServer & { wsUrl: string };
serveTestApp((app, server) => ((t = app), (http = server)), { prepare: (app) => loadDemoData(app.app.db, 30) });

interface Example {
  source: string;
  operation: OperationDefinitionNode;
}

/** Every operation of every ```graphql block, and every subscription written inline (`subscription { ... }`). */
function examples(): Example[] {
  const inline = [...readFileSync(README, "utf8").matchAll(/`(subscription \{[^`]+\})`/g)].map((m) => m[1]!);
  return [...readmeBlocks("graphql"), ...inline].flatMap((source) =>
    parse(source)
      .definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)
      .map((operation) => ({ source, operation })),
  );
}

/** The README's header block, with the admin token in place of its placeholder. */
function readmeHeaders(): Record<string, string> {
  const block = readmeBlocks("json").find((b) => b.includes("Authorization"));
  expect(block).toContain("<the admin token>");
  return JSON.parse(block!.replace("<the admin token>", t.tokens.admin)) as Record<string, string>;
}

async function run(example: Example): Promise<{ data?: Record<string, unknown>; errors?: unknown[] }> {
  const response = await fetch(http.url, {
    method: "POST",
    headers: { "content-type": "application/json", ...readmeHeaders() },
    body: JSON.stringify({ query: example.source, operationName: example.operation.name?.value }),
  });
  return (await response.json()) as never;
}

/** A mutation's result union answered with one of its errors (`... on Error { code message }`). */
function typedErrors(data: Record<string, unknown> | undefined): unknown[] {
  return Object.values(data ?? {}).filter((value) => typeof value === "object" && value !== null && "code" in value);
}

/** The result sink both subscription clients (graphql-ws and graphql-sse) take. */
interface Sink {
  next: (result: { data?: unknown; errors?: unknown }) => void;
  error: (error: unknown) => void;
  complete: () => void;
}

/**
 * Subscribes `client` to `example`, creates runs until a result or an error arrives, expects no error, and
 * disposes of the subscription and the client.
 */
async function expectDelivery(
  client: { subscribe: (payload: { query: string; operationName?: string }, sink: Sink) => () => void; dispose: () => unknown },
  example: Example,
): Promise<void> {
  const received: unknown[] = [];
  const failures: unknown[] = [];
  const dispose = client.subscribe(
    { query: example.source, operationName: example.operation.name?.value },
    { next: (r) => (r.errors ? failures.push(r.errors) : received.push(r.data)), error: (e) => failures.push(e), complete: () => {} },
  );
  try {
    await createRunsUntil(() => received.length > 0 || failures.length > 0);
    expect(failures).toEqual([]);
  } finally {
    dispose();
    await client.dispose();
  }
}

const runMutation = () => examples().find((e) => e.operation.operation === "mutation" && /createBillRun/.test(e.source))!;

/** Creates runs (with the README's own `Run` mutation) until `done` says an event has arrived. */
async function createRunsUntil(done: () => boolean, timeoutMs = 15_000): Promise<void> {
  await waitFor(
    "an event",
    async () => {
      if (done()) return true;
      const created = await run(runMutation());
      expect(created.errors).toBeUndefined();
      return false;
    },
    timeoutMs,
    100,
  );
}

describe("the README's examples", () => {
  it("are found, and every one is valid against the schema", () => {
    const all = examples();
    const names = all.map((e) => e.operation.name?.value ?? `(${e.operation.operation})`);
    expect(names).toEqual(expect.arrayContaining(["Run", "Runs", "Watch", "Monthly", "Schedules"]));
    for (const example of all) expect(validate(schema, parse(example.source)), names[all.indexOf(example)]).toEqual([]);
  });

  it("queries and mutations answer without errors over HTTP, with the README's headers", async () => {
    for (const example of examples().filter((e) => e.operation.operation !== "subscription")) {
      const name = example.operation.name?.value;
      const result = await run(example);
      expect(result.errors, name).toBeUndefined();
      expect(typedErrors(result.data), name).toEqual([]);
      expect(
        Object.values(result.data ?? {}).every((value) => value !== null),
        name,
      ).toBe(true);
    }
    // `Runs` lists the run `Run` created.
    const runs = await run(examples().find((e) => e.operation.name?.value === "Runs")!);
    expect((runs.data as { billRuns: { totalCount: number } }).billRuns.totalCount).toBeGreaterThan(0);
  });

  for (const example of examples().filter((e) => e.operation.operation === "subscription")) {
    const name = example.operation.name?.value ?? example.source;

    it(`subscription ${name} delivers over graphql-ws, with the token in connectionParams`, async () => {
      const client = wsClient(http.wsUrl, t.tokens.admin);
      await expectDelivery(client, example);
    });

    it(`subscription ${name} delivers over Server-Sent Events (graphql-sse, distinct connections), with the README's headers`, async () => {
      const client = createSseClient({ url: http.url, headers: readmeHeaders(), retryAttempts: 0 });
      await expectDelivery(client, example);
    });
  }
});
