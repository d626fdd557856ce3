import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTracing, type Tracing } from "../../src/observability/tracing.ts";
import type { TestApp } from "../support/app.ts";
import type { Workers } from "../../src/billruns/executor.ts";
import { seedBulkAccounts } from "../support/seed.ts";
import { waitForStatus } from "../support/billing.ts";
import { waitFor } from "../support/wait.ts";

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let t: TestApp;
let workers: Workers;

beforeAll(async () => {
  // Tracing first, as the --import entry does: the GraphQL server is built with its plugin.
  tracing = await startTracing({ serviceName: "billrun-test", exporter, simple: true, instrument: false });
  const { createTestApp } = await import("../support/app.ts");
  const { registerWorkers } = await import("../../src/billruns/executor.ts");
  t = await createTestApp({ BILLRUN_CHUNK_SIZE: "10" });
  workers = await registerWorkers(t.app, 2);
});
afterAll(async () => {
  await workers?.stop(0);
  await t?.close();
  await tracing?.shutdown();
});

const spanId = (span: ReadableSpan) => span.spanContext().spanId;
const parentId = (span: ReadableSpan) => span.parentSpanContext?.spanId;

describe("traces", () => {
  it("follow a run from the createBillRun mutation to its start job and to every chunk job", async () => {
    await seedBulkAccounts(t.app.pool, 35, { prefix: "T" });
    exporter.reset();
    const created = await t.gql<any, unknown>(
      `mutation TracedCreate($input: CreateBillRunInput!) { createBillRun(input: $input) { __typename ... on BillRun { id } } }`,
      { input: { targetDate: "2026-02-01" } },
    );
    expect(created.errors).toBeUndefined();
    const billRunId: string = created.data.createBillRun.id;
    await waitForStatus(t, billRunId, ["COMPLETED"]);
    // The last job span ends after the run's status changed.
    const spans = await waitFor("four chunk job spans", async () => {
      const finished = exporter.getFinishedSpans();
      return finished.filter((s) => s.name === "job billrun-chunk").length === 4 ? finished : undefined;
    });

    const operation = spans.find((s) => s.name === "mutation.TracedCreate");
    expect(operation, spans.map((s) => s.name).join(", ")).toBeDefined();
    expect(operation!.attributes["graphql.execute.operationName"]).toBe("TracedCreate");
    // Variables never go into a span.
    expect(JSON.stringify(operation!.attributes)).not.toContain("2026-02-01");

    const start = spans.filter((s) => s.name === "job billrun-start");
    expect(start).toHaveLength(1);
    expect(start[0]!.spanContext().traceId).toBe(operation!.spanContext().traceId);
    expect(parentId(start[0]!)).toBe(spanId(operation!));
    expect(start[0]!.attributes["billrun.run_id"]).toBe(billRunId);

    const chunks = spans.filter((s) => s.name === "job billrun-chunk");
    for (const chunk of chunks) {
      expect(chunk.spanContext().traceId).toBe(operation!.spanContext().traceId);
      expect(parentId(chunk)).toBe(spanId(start[0]!));
      expect(chunk.attributes["billrun.run_id"]).toBe(billRunId);
    }
    expect(chunks.map((c) => c.attributes["billrun.chunk"]).sort()).toEqual([0, 1, 2, 3]);
    expect(chunks.map((c) => c.attributes["billrun.accounts"]).sort()).toEqual([10, 10, 10, 5]);
  });
});
