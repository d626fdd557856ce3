import { usePrometheus } from "@graphql-yoga/plugin-prometheus";
import { useOpenTelemetry } from "@envelop/opentelemetry";
import { trace } from "@opentelemetry/api";
import type { Plugin } from "graphql-yoga";
import type { Config } from "../config.ts";
import { registry } from "./metrics.ts";
import { tracingActive } from "./tracing.ts";

/**
 * GraphQL operation metrics (count, duration, errors by operation name and type) when metrics
 * are on, and a span per operation when tracing is on. Variables and results never go into a
 * span: they may hold customer data.
 */
export function observabilityPlugins(config: Config): Plugin[] {
  const plugins: Plugin[] = [];
  if (config.metrics.enabled) {
    plugins.push(
      usePrometheus({
        registry,
        // /metrics is served by http.ts, behind its token.
        endpoint: false,
        skipIntrospection: true,
        // Error paths would make a series per list index.
        labels: { path: false },
        metrics: {
          graphql_envelop_request: "billrun_graphql_operations_total",
          graphql_envelop_request_duration: "billrun_graphql_operation_duration_seconds",
          graphql_envelop_error_result: "billrun_graphql_errors_total",
          graphql_envelop_request_time_summary: false,
          graphql_envelop_phase_parse: false,
          graphql_envelop_phase_validate: false,
          graphql_envelop_phase_context: false,
          graphql_envelop_phase_execute: false,
          graphql_envelop_phase_subscribe: false,
          graphql_envelop_deprecated_field: false,
          graphql_envelop_schema_change: false,
          graphql_envelop_execute_resolver: false,
          graphql_yoga_http_duration: false,
        },
      }) as Plugin,
    );
  }
  if (tracingActive()) {
    plugins.push(
      useOpenTelemetry(
        { resolvers: false, variables: false, result: false, document: true },
        trace.getTracerProvider() as never,
        undefined,
        undefined,
        "billrun",
      ) as Plugin,
    );
  }
  return plugins;
}
