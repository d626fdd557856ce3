import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../support/app.ts";
import { collect, startServer, wsClient } from "../support/server.ts";
import type { HttpServer } from "../../src/http.ts";
import { startImportRunner, type ImportRunner } from "../../src/imports/runner.ts";
import { csv, finished, importAndWait } from "./helpers.ts";

// A body limit of 16 KiB for requests, 4 MiB for import files.
const MAX_BODY = 16 * 1024;
const MAX_IMPORT = 4 * 1024 * 1024;

let t: TestApp;
let runner: ImportRunner;
let http: HttpServer & { wsUrl: string };
let origin: string;

beforeAll(async () => {
  t = await createTestApp({ BILLRUN_MAX_BODY_BYTES: String(MAX_BODY), BILLRUN_IMPORT_MAX_BYTES: String(MAX_IMPORT) });
  runner = startImportRunner(t.app, { pollMs: 100 });
  http = await startServer(t);
  origin = new URL(http.url).origin;
  await importAndWait(t, "ACCOUNTS", "CSV", csv("accountNumber,name,currency,billCycleDay", "ST-1,Streamer,USD,1"));
  await importAndWait(
    t,
    "SUBSCRIPTIONS",
    "CSV",
    csv(
      "subscriptionNumber,accountNumber,startDate,chargeName,chargeType,price,billingPeriod,unitOfMeasure",
      "ST-S1,ST-1,2026-01-01,Events,USAGE,0.01,MONTH,event",
    ),
  );
});
afterAll(async () => {
  await http?.close();
  await runner?.stop();
  await t?.close();
});

/** A usage file of `rows` rows, streamed in pieces (never built as one string). */
function usageBody(rows: number): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i === 0) controller.enqueue(encoder.encode("subscriptionNumber,chargeName,quantity,unitOfMeasure,usageDate,usageId\n"));
      let piece = "";
      for (let n = 0; n < 1000 && i < rows; n++, i++)
        piece += `ST-S1,Events,${(i % 97) + 1}.5,event,2026-01-${String((i % 28) + 1).padStart(2, "0")},stream-${i}\n`;
      if (piece) controller.enqueue(encoder.encode(piece));
      if (i >= rows) controller.close();
    },
  });
}

const post = (path: string, body: BodyInit | ReadableStream<Uint8Array>, token: string | null, headers: Record<string, string> = {}) =>
  fetch(`${origin}${path}`, {
    method: "POST",
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body,
    duplex: "half",
  } as RequestInit);

describe("POST /imports/{kind}", () => {
  it("takes a streamed file far larger than the request body limit, which GraphQL refuses", async () => {
    const rows = 30_000; // about 1.5 MB: 90 times BILLRUN_MAX_BODY_BYTES
    const response = await post("/imports/usage?format=csv", usageBody(rows), t.tokens.operator);
    expect(response.status).toBe(202);
    const { importJob } = (await response.json()) as { importJob: { id: string; status: string; sizeBytes: number } };
    // Accepted: queued, or already taken by a runner polling at that moment.
    expect(["QUEUED", "RUNNING"]).toContain(importJob.status);
    expect(importJob.sizeBytes).toBeGreaterThan(50 * MAX_BODY);

    // Live progress over graphql-ws until the job ends.
    const client = wsClient(http.wsUrl, t.tokens.viewer);
    const feed = collect<{ importJobProgress: { status: string; rowsImported: number; progress: number } }>(
      client,
      `subscription($id: ID!) { importJobProgress(id: $id) { importJobId status rowsTotal rowsImported rowsRejected progress } }`,
      { id: importJob.id },
      Number.MAX_SAFE_INTEGER,
    );
    const job = await finished(t, importJob.id);
    expect(job).toMatchObject({ status: "COMPLETED", rowsTotal: rows, rowsImported: rows, rowsRejected: 0 });
    const updates = await feed.done;
    await client.dispose();
    expect(updates.at(-1)!.importJobProgress).toMatchObject({ status: "COMPLETED", rowsImported: rows, progress: 1 });
    expect(await t.app.db.usageRecord.count({ where: { usageId: { startsWith: "stream-" } } })).toBe(rows);
    // The staged copy is gone once imported.
    expect(await t.app.db.importJobChunk.count({ where: { jobId: importJob.id } })).toBe(0);

    // The same file again: every record is already there.
    const again = await post("/imports/usage?format=csv", usageBody(rows), t.tokens.operator);
    const second = await finished(t, ((await again.json()) as { importJob: { id: string } }).importJob.id);
    expect(second).toMatchObject({ status: "COMPLETED", rowsImported: 0, rowsSkipped: rows });
    expect(await t.app.db.usageRecord.count({ where: { usageId: { startsWith: "stream-" } } })).toBe(rows);

    // The GraphQL endpoint keeps its limit.
    const graphql = await fetch(http.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t.tokens.operator}` },
      body: "x".repeat(MAX_BODY + 1),
    });
    expect(graphql.status).toBe(413);
  });

  it("refuses a file over BILLRUN_IMPORT_MAX_BYTES with 413, and marks its job FAILED", async () => {
    const response = await post("/imports/usage?format=csv", usageBody(100_000), t.tokens.operator);
    expect(response.status).toBe(413);
    const body = (await response.json()) as { errors: { extensions: { importJobId: string } }[] };
    const job = await t.app.db.importJob.findUniqueOrThrow({ where: { id: body.errors[0]!.extensions.importJobId } });
    expect(job.status).toBe("FAILED");
    expect(job.errorMessage).toMatch(/BILLRUN_IMPORT_MAX_BYTES/);
    expect(await t.app.db.importJobChunk.count({ where: { jobId: job.id } })).toBe(0);
  });

  it("needs a token of an OPERATOR or ADMIN, a known kind and a format", async () => {
    const jobs = await t.app.db.importJob.count();
    const body = () => csv("accountNumber,name,currency,billCycleDay", "NO-1,No,USD,1");
    expect((await post("/imports/accounts?format=csv", body(), null)).status).toBe(401);
    expect((await post("/imports/accounts?format=csv", body(), "brt_not_a_real_token")).status).toBe(401);
    expect((await post("/imports/accounts?format=csv", body(), t.tokens.viewer)).status).toBe(403);
    expect((await post("/imports/invoices?format=csv", body(), t.tokens.operator)).status).toBe(404);
    expect((await post("/imports/accounts", body(), t.tokens.operator)).status).toBe(400);
    expect((await post("/imports/accounts?format=csv&mode=merge", body(), t.tokens.operator)).status).toBe(400);
    expect((await fetch(`${origin}/imports/accounts`, { headers: { authorization: `Bearer ${t.tokens.operator}` } })).status).toBe(405);
    expect(await t.app.db.importJob.count()).toBe(jobs);
    expect(await t.app.db.account.count({ where: { accountNumber: "NO-1" } })).toBe(0);

    const ok = await post("/imports/accounts?mode=upsert", body(), t.tokens.admin, { "content-type": "text/csv" });
    expect(ok.status).toBe(202);
    const job = await finished(t, ((await ok.json()) as { importJob: { id: string } }).importJob.id);
    expect(job).toMatchObject({ status: "COMPLETED", rowsImported: 1, mode: "UPSERT", format: "CSV" });
  });
});
