import { GraphQLError, type ExecutionResult } from "graphql";
import type { Plugin } from "graphql-yoga";
import type { App } from "../../app.ts";
import type { Context } from "../context.ts";
import { isResult } from "./results.ts";

/**
 * A subscription served over HTTP (Server-Sent Events) is watched like a WebSocket: when its
 * token is revoked, or its user disabled or given another role, it ends at once with one last
 * error result (UNAUTHENTICATED or FORBIDDEN) and nothing after it. (WebSocket connections are
 * watched whole, in ws.ts.)
 */
export function endOnAccessLoss(app: App): Plugin {
  return {
    onSubscribe({ args }) {
      const context = args.contextValue as unknown as Context;
      // Over WebSockets the connection is watched; without a user the subscription was refused.
      if (context.closeConnection || !context.user || !context.tokenId) return;
      const { user, tokenId, accessMark } = context;
      return {
        onSubscribeResult({ result, setResult }) {
          if (isResult(result)) return;
          const stream = endable(result as AsyncIterableIterator<ExecutionResult>);
          const unwatch = app.access.watch(
            {
              tokenId,
              userId: user.id,
              role: user.role,
              end: (loss) => stream.end({ errors: [new GraphQLError(`Subscription ended: ${loss.message}.`, { extensions: { code: loss.code } })] }),
            },
            accessMark ?? app.access.mark(),
          );
          stream.finally(unwatch);
          setResult(stream.iterator);
        },
      };
    },
  };
}

/**
 * `source`, with a way to end it from outside: `end(last)` makes the iterator yield `last` and
 * finish, whatever the source was about to yield, and releases the source.
 */
function endable<T>(source: AsyncIterableIterator<T>) {
  let ended: { last: T; sent: boolean } | null = null;
  let wake: (() => void) | null = null;
  const woken = () => new Promise<void>((resolve) => (wake = resolve));
  const cleanups: (() => void)[] = [];
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    for (const cleanup of cleanups) cleanup();
  };
  const afterEnd = (): IteratorResult<T> => {
    if (ended && !ended.sent) {
      ended.sent = true;
      return { value: ended.last, done: false };
    }
    finish();
    return { value: undefined, done: true };
  };
  const iterator: AsyncIterableIterator<T> = {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      if (ended) return afterEnd();
      const interrupted = woken();
      const result = await Promise.race([source.next(), interrupted.then(() => null)]);
      if (ended || result === null) return afterEnd();
      if (result.done) finish();
      return result;
    },
    async return() {
      ended ??= { last: undefined as T, sent: true };
      finish();
      await source.return?.();
      return { value: undefined, done: true };
    },
    async throw(error: unknown) {
      finish();
      await source.return?.();
      throw error;
    },
  };
  return {
    iterator,
    end(last: T) {
      if (ended) return;
      ended = { last, sent: false };
      wake?.();
      void source.return?.();
    },
    finally(cleanup: () => void) {
      if (finished) cleanup();
      else cleanups.push(cleanup);
    },
  };
}
