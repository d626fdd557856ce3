import { GraphQLError, type ExecutionResult } from "graphql";
import type { Plugin } from "graphql-yoga";
import { isResult } from "./results.ts";

/**
 * graphql-js names schema members in its messages ("Did you mean ...?": fields, arguments,
 * input fields, enum values, types, inline fragments), in validation errors and in variable
 * coercion errors alike: a schema map for whoever probes the API. In production every such
 * hint is removed, wherever the error arises: validation (HTTP, SSE and WebSockets all
 * validate through envelop), execution (variable coercion) and subscription set-up.
 */
export function noSuggestions(): Plugin {
  const strip = ({ result, setResult }: { result: unknown; setResult: (result: ExecutionResult) => void }) => {
    if (isResult(result) && result.errors?.some(hasSuggestion)) setResult({ ...result, errors: result.errors.map(withoutSuggestions) });
  };
  return {
    onValidate:
      () =>
      ({ result, setResult }) => {
        const errors = result as readonly GraphQLError[];
        if (errors.some(hasSuggestion)) setResult(errors.map(withoutSuggestions));
      },
    onExecute: () => ({ onExecuteDone: strip }),
    onSubscribe: () => ({ onSubscribeResult: strip }),
  };
}

/** graphql-js appends its hints at the end of a message, always as " Did you mean ...?". */
const SUGGESTION = /\s*Did you mean\b[\s\S]*$/;

/** A hint of graphql-js's own (a resolver's error, whatever its text, is left as it is). */
function hasSuggestion(error: GraphQLError): boolean {
  const own = !error.originalError || error.originalError instanceof GraphQLError;
  return own && SUGGESTION.test(error.message);
}

/** The error without its hint (same locations, path and extensions). */
export function withoutSuggestions(error: GraphQLError): GraphQLError {
  if (!hasSuggestion(error)) return error;
  return new GraphQLError(error.message.replace(SUGGESTION, ""), {
    nodes: error.nodes,
    source: error.nodes ? undefined : error.source,
    positions: error.nodes ? undefined : error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions: error.extensions,
  });
}
