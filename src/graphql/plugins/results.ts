import type { ExecutionResult } from "graphql";

/** A single result (a query's or mutation's), as opposed to a subscription's stream of them. */
export function isResult(value: unknown): value is ExecutionResult {
  return typeof value === "object" && value !== null && !(Symbol.asyncIterator in value);
}
