import { GraphQLError } from "graphql";
import { maskError } from "graphql-yoga";
import type { App } from "../../app.ts";
import { AppError, ValidationError } from "../../errors.ts";
import { currentRequestId } from "./request-id.ts";

/**
 * Unexpected errors reach the caller as "Unexpected error." and the log in full, with the
 * request id. An error the caller can act on (NOT_FOUND, VALIDATION...) thrown where no result
 * union catches it (a subscription's arguments, say) is a top-level error with its code: it is
 * the caller's mistake, not ours.
 */
export function errorMasker(app: App, requestId?: string) {
  return (error: unknown, message: string, isDev?: boolean): Error => {
    const original = error instanceof GraphQLError ? error.originalError : error;
    if (original instanceof AppError) {
      return new GraphQLError(original.message, {
        nodes: error instanceof GraphQLError ? error.nodes : undefined,
        path: error instanceof GraphQLError ? error.path : undefined,
        extensions: { code: original.code, ...(original instanceof ValidationError ? { field: original.field } : {}) },
      });
    }
    const masked = maskError(error, message, isDev);
    if (masked !== error) app.log.error({ err: error, requestId: requestId ?? currentRequestId() }, "unexpected error");
    return masked;
  };
}
