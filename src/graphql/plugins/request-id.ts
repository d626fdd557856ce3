import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import type { Plugin } from "graphql-yoga";

const requestIds = new AsyncLocalStorage<string>();

/** The id of the HTTP request (or WebSocket operation) being handled, for log lines. */
export function currentRequestId(): string | undefined {
  return requestIds.getStore();
}

export function withRequestId<T>(requestId: string, work: () => T): T {
  return requestIds.run(requestId, work);
}

/** A caller's `x-request-id` when it is a sane token (it goes into logs), else a fresh one. */
export function requestIdFrom(header: string | null | undefined): string {
  return header && /^[A-Za-z0-9._:-]{1,128}$/.test(header) ? header : randomUUID();
}

/** Every request runs with its id in scope (for the log lines of masked errors) and answers with it in `x-request-id`. */
export function useRequestId(): Plugin {
  return {
    instrumentation: {
      request: ({ request }, wrapped) => requestIds.run(requestIdFrom(request.headers.get("x-request-id")), wrapped),
    },
    onResponse({ response }) {
      const id = currentRequestId();
      if (id && !response.headers.has("x-request-id")) response.headers.set("x-request-id", id);
    },
  };
}
