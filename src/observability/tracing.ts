// OpenTelemetry tracing: off unless OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
// or OTEL_TRACES_EXPORTER) is set. With it off, every helper below works against the API's no-op
// tracer: no span is recorded and nothing is added to job data.
import { context, propagation, SpanKind, SpanStatusCode, trace, type Span } from "@opentelemetry/api";
// Types only: the SDK itself is loaded by startTracing, so a process without tracing never loads it.
import type { SpanExporter, TracerProvider } from "@opentelemetry/sdk-trace";

/** True when the environment asks for traces (an OTLP endpoint, or an exporter other than `none`). */
export function tracingRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  const exporter = env.OTEL_TRACES_EXPORTER?.trim();
  if (exporter === "none" || env.OTEL_SDK_DISABLED === "true") return false;
  return !!(exporter || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

export interface TracingOptions {
  serviceName: string;
  /** Where spans go; default from OTEL_TRACES_EXPORTER: `otlp` (OTLP over HTTP, JSON) or `console`. */
  exporter?: SpanExporter;
  /** Export each span as it ends (tests) instead of in batches. */
  simple?: boolean;
  /** Patch `pg` and `node:http` (needs them not yet imported, or the import hook registered). Default true. */
  instrument?: boolean;
}

export interface Tracing {
  provider: TracerProvider;
  /** Exports what is buffered and stops. */
  shutdown: () => Promise<void>;
}

/**
 * Registers a global tracer provider (W3C trace context, AsyncLocalStorage context) and the pg
 * and HTTP instrumentations. Call it before `pg` is imported: see register.ts.
 */
export async function startTracing(options: TracingOptions): Promise<Tracing> {
  active = true;
  const [{ AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }, { resourceFromAttributes }, sdk] = await Promise.all([
    import("@opentelemetry/context-async-hooks"),
    import("@opentelemetry/core"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/sdk-trace"),
  ]);
  const { BatchSpanProcessor, SimpleSpanProcessor, TracerProvider } = sdk;
  const exporter = options.exporter ?? (await exporterFromEnvironment());
  const processor = options.simple ? new SimpleSpanProcessor({ exporter }) : new BatchSpanProcessor({ exporter });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": process.env.OTEL_SERVICE_NAME?.trim() || options.serviceName }),
    spanProcessors: [processor],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  if (options.instrument !== false) {
    const [{ registerInstrumentations }, { PgInstrumentation }, { HttpInstrumentation }] = await Promise.all([
      import("@opentelemetry/instrumentation"),
      import("@opentelemetry/instrumentation-pg"),
      import("@opentelemetry/instrumentation-http"),
    ]);
    registerInstrumentations({
      tracerProvider: provider,
      instrumentations: [
        // Probes and scrapes would drown the traces that matter.
        new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => UNTRACED_PATHS.has((req.url ?? "").split("?")[0]!) }),
        // Statement text is recorded (with placeholders), never the values bound to it.
        new PgInstrumentation({ enhancedDatabaseReporting: false }),
      ],
    });
  }
  return {
    provider,
    shutdown: async () => {
      active = false;
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

let active = false;

/** Whether startTracing has run in this process (GraphQL spans are set up only then). */
export function tracingActive(): boolean {
  return active;
}

const UNTRACED_PATHS = new Set(["/health", "/ready", "/metrics"]);

async function exporterFromEnvironment(): Promise<SpanExporter> {
  const name = process.env.OTEL_TRACES_EXPORTER?.split(",")[0]?.trim() || "otlp";
  if (name === "console") return new (await import("@opentelemetry/sdk-trace")).ConsoleSpanExporter();
  if (name !== "otlp") throw new Error(`OTEL_TRACES_EXPORTER=${name} is not supported: use otlp, console or none`);
  const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-http");
  // Reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS and _TIMEOUT itself.
  return new OTLPTraceExporter();
}

const tracer = () => trace.getTracer("billrun");

/** The W3C trace context of the active span (`traceparent`, `tracestate`), to carry in a job's data; empty when tracing is off. */
export function traceCarrier(): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

/**
 * Runs a bill-run job inside a span (`job <queue>`) continuing the trace stored in its data
 * (`data.trace`, see traceCarrier), with the run id and chunk as attributes. A failure is
 * recorded on the span and rethrown.
 */
export function inJobSpan<T>(queue: string, data: Record<string, unknown>, work: (span: Span) => Promise<T>): Promise<T> {
  const carrier = typeof data.trace === "object" && data.trace !== null ? (data.trace as Record<string, string>) : {};
  const parent = propagation.extract(context.active(), carrier);
  const attributes: Record<string, string | number> = { "messaging.system": "pg-boss", "messaging.destination.name": queue };
  if (typeof data.billRunId === "string") attributes["billrun.run_id"] = data.billRunId;
  if (typeof data.chunk === "number") attributes["billrun.chunk"] = data.chunk;
  return tracer().startActiveSpan(`job ${queue}`, { kind: SpanKind.CONSUMER, attributes }, parent, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message });
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Adds attributes (account counts, say) to the span of the job in progress, if any. */
export function setJobAttributes(attributes: Record<string, string | number>): void {
  trace.getActiveSpan()?.setAttributes(attributes);
}
