import type { Server } from "node:http";
import { WebSocketServer } from "ws";
import { useServer } from "graphql-ws/use/ws";
import type { ServerOptions } from "graphql-ws";
import { createSourceEventStream, execute as executeEvent, GraphQLError, type ExecutionArgs, type ExecutionResult } from "graphql";
import type { WebSocket } from "ws";
import type { App } from "../app.ts";
import { activeTokenHashes, authenticate } from "../auth/users.ts";
import { bearerToken, hashToken } from "../auth/tokens.ts";
import { errorMasker, operationLimitErrors, withRequestId, type Yoga } from "./yoga.ts";
import type { Context } from "./context.ts";

type OperationResult = ReturnType<NonNullable<ServerOptions["execute"]>>;
interface Enveloped {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
}

/**
 * graphql-ws on the same HTTP server and path as HTTP GraphQL. Each operation is built through
 * yoga.getEnveloped, so authentication, limits and error masking are the same as over HTTP.
 */
export function attachWebSockets(app: App, httpServer: Server, yoga: Yoga): { close: () => Promise<void> } {
  // A message larger than an HTTP body may be is refused the same way (close code 1009).
  const wss = new WebSocketServer({ server: httpServer, path: yoga.graphqlEndpoint, maxPayload: app.config.security.maxBodyBytes });
  const watcher = watchRevokedTokens(app);
  // Registered before graphql-ws's own listener, so it sees each socket first.
  wss.on("connection", refuseServerMessages);
  const disposable = useServer(
    {
      execute: (args) => withRequestId((args.contextValue as Context).requestId, () => (args.rootValue as Enveloped).execute(args)),
      subscribe: (args) => (args.rootValue as { shared: SharedSubscribe }).shared(args) as OperationResult,
      // An unauthenticated connection is refused at once (close code 4403). Each operation is
      // authenticated again (the context factory), and open connections are watched for revoked tokens.
      onConnect: async (ctx) => {
        const authorization = stringParam(ctx.connectionParams?.authorization);
        const user = await authenticate(app.db, authorization);
        if (user === null) return false;
        watcher.add((ctx.extra as { socket: WebSocket }).socket, hashToken(bearerToken(authorization)!));
        return true;
      },
      // Writes to a client that stops reading pile up in this process: past the cap the
      // connection is closed (4413) and the client resumes with `after`.
      onNext: (ctx) => {
        const socket = (ctx.extra as { socket: WebSocket }).socket;
        if (socket.bufferedAmount > app.config.wsMaxBufferedBytes) {
          app.log.warn({ buffered: socket.bufferedAmount }, "closing a WebSocket that does not keep up");
          socket.close(4413, "Client too slow: resubscribe with after");
          socket.terminate();
        }
      },
      onSubscribe: async (ctx, _id, payload) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          connectionParams: ctx.connectionParams,
          params: payload,
          socket: (ctx.extra as { socket: WebSocket }).socket,
        });
        let document;
        try {
          document = parse(payload.query);
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        const args: ExecutionArgs = {
          schema,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const { user, requestId } = args.contextValue as Context;
        const key = `${user?.role}\u0000${payload.operationName ?? ""}\u0000${payload.query}\u0000${JSON.stringify(payload.variables ?? {})}`;
        (args.rootValue as { shared: SharedSubscribe }).shared = sharingSubscribe(subscribe, key, errorMasker(app, requestId));
        const errors = validate(args.schema, args.document);
        if (errors.length > 0) return errors;
        // Shared subscriptions bypass the enveloped subscribe, so the page-size and cost limits are checked here.
        const limitErrors = operationLimitErrors(schema, document, payload.operationName, payload.variables, app.config.security);
        if (limitErrors.length > 0) return limitErrors;
        return args;
      },
    },
    wss,
  );
  return {
    close: async () => {
      watcher.stop();
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

const SERVER_MESSAGE_TYPES = new Set(["next", "error", "connection_ack"]);

/**
 * graphql-ws answers a client that sends a message only servers send (`next`, `error`,
 * `connection_ack`) by throwing, which closes the socket as an internal error (4500) and logs
 * one. It is the client's mistake: closed as a bad request (4400) before graphql-ws sees it.
 */
function refuseServerMessages(socket: WebSocket): void {
  const on = socket.on.bind(socket);
  socket.on = ((event: string, listener: (...args: unknown[]) => void) => {
    if (event !== "message") return on(event, listener);
    return on("message", (data: unknown, isBinary: unknown) => {
      if (isServerMessage(data)) {
        socket.close(4400, "Invalid message received");
        return;
      }
      listener(data, isBinary);
    });
  }) as WebSocket["on"];
}

function isServerMessage(data: unknown): boolean {
  try {
    const message = JSON.parse(String(data)) as { type?: unknown } | null;
    return typeof message === "object" && message !== null && SERVER_MESSAGE_TYPES.has(message.type as string);
  } catch {
    return false;
  }
}

/**
 * Closes (4403) every open WebSocket whose token has been revoked, checking all of this
 * process's connections with one query every BILLRUN_WS_REAUTH_SECONDS, whichever process
 * revoked it. (A revoked token's next operation on an open connection fails at once anyway:
 * each operation authenticates again.)
 */
function watchRevokedTokens(app: App) {
  const sockets = new Map<WebSocket, string>();
  let checking = false;
  const check = async () => {
    if (checking || sockets.size === 0) return;
    checking = true;
    try {
      const active = await activeTokenHashes(app.db, [...new Set(sockets.values())]);
      for (const [socket, tokenHash] of sockets) {
        if (active.has(tokenHash)) continue;
        sockets.delete(socket);
        app.log.info("closing a WebSocket whose token was revoked");
        socket.close(4403, "Forbidden: token revoked");
        socket.terminate();
      }
    } catch (error) {
      app.log.warn({ err: error }, "could not check open WebSockets for revoked tokens");
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void check(), app.config.security.wsReauthMs);
  timer.unref();
  return {
    add(socket: WebSocket, tokenHash: string) {
      sockets.set(socket, tokenHash);
      socket.once("close", () => sockets.delete(socket));
    },
    stop() {
      clearInterval(timer);
      sockets.clear();
    },
  };
}

type SharedSubscribe = (args: ExecutionArgs) => Promise<unknown>;

/** Per event object, the result of each distinct (role, operation, variables) already computed. */
const sharedResults = new WeakMap<object, Map<string, Promise<unknown>>>();

/**
 * Like graphql-js `subscribe`, but when many clients run the same subscription with the same
 * variables and role, each event is executed once and the result shared: a thousand dashboards
 * watching one run cost one execution per event, not a thousand. Events are the objects the
 * event loader shares between subscribers, so identity is the key.
 */
function sharingSubscribe(subscribe: Enveloped["subscribe"], key: string, mask: ReturnType<typeof errorMasker>): SharedSubscribe {
  return async (args) => {
    const source = await createSourceEventStream(args);
    // Errors while subscribing take the standard path, so they are masked like any other.
    if (!(Symbol.asyncIterator in source)) return subscribe(args);
    const events = source[Symbol.asyncIterator]();
    const resultFor = (event: unknown) => {
      // graphql-js executes one event of a subscription (the envelop executor would subscribe
      // again); unexpected errors are masked as everywhere else.
      const execute = async (): Promise<ExecutionResult> => {
        const result = await executeEvent({ ...args, rootValue: event });
        if (!result.errors) return result;
        return { ...result, errors: result.errors.map((error) => mask(error, "Unexpected error.") as GraphQLError) };
      };
      if (typeof event !== "object" || event === null) return execute();
      let perEvent = sharedResults.get(event);
      if (!perEvent) sharedResults.set(event, (perEvent = new Map()));
      let result = perEvent.get(key);
      if (!result) perEvent.set(key, (result = execute()));
      return result;
    };
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next() {
        const item = await events.next();
        return item.done ? item : { value: await resultFor(item.value), done: false };
      },
      return: () => events.return?.() ?? Promise.resolve({ value: undefined, done: true }),
      throw: (error: unknown) => events.throw?.(error) ?? Promise.reject(error),
    };
  };
}

function stringParam(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}
