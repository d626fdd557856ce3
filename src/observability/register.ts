// Loaded before the application (`node --import ./src/observability/register.ts src/server.ts`,
// which `npm start` and `npm run worker` do): OpenTelemetry can only patch `pg` and `node:http`
// if it is in place before they are first imported. Without OTEL_* configuration it does nothing.
import { register } from "node:module";
import path from "node:path";
import { startTracing, tracingRequested } from "./tracing.ts";

if (tracingRequested()) {
  // ES modules are patched through import-in-the-middle's loader hook, limited to what is instrumented.
  register("@opentelemetry/instrumentation/hook.mjs", import.meta.url, { data: { include: ["pg", "pg-pool", "http", "https", "node:http", "node:https"] } });
  const entry = path.basename(process.argv[1] ?? "", path.extname(process.argv[1] ?? ""));
  const tracing = await startTracing({ serviceName: entry === "worker" ? "billrun-worker" : "billrun" });
  // Spans still buffered are exported on the way out (the entry's SIGTERM handler ends with process exit).
  process.once("beforeExit", () => void tracing.shutdown());
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      // Listening would cancel the signal's default (exit) if the application does not handle it yet.
      const handled = process.listenerCount(signal) > 0;
      void tracing.provider
        .forceFlush()
        .catch(() => {})
        .finally(() => {
          if (!handled) process.kill(process.pid, signal);
        });
    });
  }
}
