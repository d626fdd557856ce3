import type { IncomingMessage, Server } from "node:http";
import { WebSocketServer, type WebSocket } from "ws";
import { CloseCode, handleProtocols, makeServer, type ServerOptions } from "graphql-ws";
import { createSourceEventStream, execute as executeEvent, GraphQLError, type ExecutionArgs, type ExecutionResult } from "graphql";
import type { App } from "../app.ts";
import { authenticateToken } from "../auth/users.ts";
import { errorMasker } from "./plugins/error-masking.ts";
import { operationLimitErrors } from "./plugins/limits.ts";
import { withRequestId } from "./plugins/request-id.ts";
import { stringParam, type Yoga } from "./yoga.ts";
import type { Context } from "./context.ts";
import { normaliseOperationText } from "./plugins/text.ts";
import { Outbox } from "./ws-outbox.ts";
import { Channel, SlowConsumerError, whenRoom } from "../events/channel-iterator.ts";
import { metrics, watchSubscriptions } from "../observability/metrics.ts";

type OperationResult = ReturnType<NonNullable<ServerOptions["execute"]>>;
interface Enveloped {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
}
interface Extra {
  socket: WebSocket;
  outbox: Outbox;
}

/**
 * graphql-ws on the same HTTP server and path as HTTP GraphQL. Each operation is built through
 * yoga.getEnveloped, so authentication, limits and error masking are the same as over HTTP.
 *
 * graphql-ws's `makeServer` runs the protocol over `ws`; what its `use/ws` adapter does
 * differently here is how it sends: without waiting for each write and in batches (see Outbox),
 * which a thousand subscribers of one event need, and within BILLRUN_WS_MAX_BUFFERED_BYTES per
 * connection: producers wait past half of it, a message that passes it drops the connection,
 * and a client that stops reading is dropped by the keep-alive. Dropped clients resume with `after`.
 */
export function attachWebSockets(app: App, httpServer: Server, yoga: Yoga): { close: () => Promise<void> } {
  // A message larger than an HTTP body may be is refused the same way (close code 1009).
  // permessage-deflate stays off: it would cost CPU per message and per connection for the small
  // messages of a live feed.
  const wss = new WebSocketServer({
    server: httpServer,
    path: yoga.graphqlEndpoint,
    maxPayload: app.config.security.maxBodyBytes,
    perMessageDeflate: false,
    handleProtocols,
  });
  // ws passes on the HTTP server's errors (a port in use, say): the HTTP server reports them.
  wss.on("error", (error) => app.log.debug({ err: error }, "WebSocket server error"));
  const server = makeServer<Record<string, unknown> | undefined, Extra>({
    execute: (args) => withRequestId((args.contextValue as Context).requestId, () => (args.rootValue as Enveloped).execute(args)),
    subscribe: (args) => (args.rootValue as { shared: SharedSubscribe }).shared(args) as OperationResult,
    // An unauthenticated connection is refused at once (close code 4403). Each operation is
    // authenticated again (the context factory), and the connection is closed (4403) as soon as
    // its token is revoked or its user disabled or given another role, on whichever process.
    onConnect: async (ctx) => {
      const mark = app.access.mark();
      const auth = await authenticateToken(app.db, stringParam(ctx.connectionParams?.authorization));
      if (auth === null) return false;
      const { socket } = ctx.extra;
      if (socket.readyState !== socket.OPEN) return false;
      const unwatch = app.access.watch(
        {
          tokenId: auth.tokenId,
          userId: auth.user.id,
          role: auth.user.role,
          end: (loss) => {
            socket.close(4403, `Forbidden: ${loss.message}`);
            // A client that does not read would never complete the closing handshake.
            setTimeout(() => socket.terminate(), 1000).unref();
          },
        },
        mark,
      );
      socket.once("close", unwatch);
      socket.once("close", watchSubscriptions(ctx));
      return true;
    },
    onSubscribe: async (ctx, id, payload) => {
      const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
        connectionParams: ctx.connectionParams,
        params: payload,
        socket: ctx.extra.socket,
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
      const outbox = ctx.extra.outbox;
      const prefix = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
      const direct: DirectDelivery = {
        next: (json) => {
          metrics.eventsDelivered.inc();
          outbox.send(`${prefix}${json}}`);
        },
        hasRoom: () => outbox.hasRoom(),
      };
      (args.rootValue as { shared: SharedSubscribe }).shared = sharingSubscribe(subscribe, key, errorMasker(app, requestId), direct);
      const errors = validate(args.schema, args.document);
      if (errors.length > 0) return errors;
      // Shared subscriptions bypass the enveloped subscribe, so the page-size and cost limits are checked here.
      const limitErrors = operationLimitErrors(schema, document, payload.operationName, payload.variables, app.config.security);
      if (limitErrors.length > 0) return limitErrors;
      normaliseOperationText(args);
      return args;
    },
  });

  wss.on("connection", (socket: WebSocket, request: IncomingMessage) => {
    const outbox = new Outbox(socket, request.socket, app.config.wsMaxBufferedBytes, (buffered) => {
      // It could not read a closing frame either: the connection is dropped outright.
      app.log.warn({ buffered }, "dropping a WebSocket that does not keep up");
      metrics.wsDropped.inc({ reason: "slow_consumer" });
      socket.terminate();
    });
    // ws has already closed the connection when it reports a protocol error (e.g. 1009).
    socket.on("error", (error) => app.log.debug({ err: error }, "WebSocket protocol error"));
    // A client that answers no ping within the keep-alive interval is dropped.
    const keepAliveMs = app.config.wsKeepAliveMs;
    let pongTimer: NodeJS.Timeout | null = null;
    const pingTimer = setInterval(() => {
      if (socket.readyState !== socket.OPEN || pongTimer) return;
      pongTimer = setTimeout(() => {
        metrics.wsDropped.inc({ reason: "keepalive_timeout" });
        socket.terminate();
      }, keepAliveMs);
      socket.ping();
    }, keepAliveMs);
    socket.on("pong", () => {
      if (pongTimer) clearTimeout(pongTimer);
      pongTimer = null;
    });

    // What was sent before closing (an error, say) goes out before the closing frame: ws keeps the order.
    const close = (code: number, reason: string) => socket.close(code, reason);
    metrics.wsConnections.inc();
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) => outbox.send(data),
        close,
        onMessage: (handle) =>
          socket.on("message", async (data) => {
            const text = String(data);
            // graphql-ws would take a message only servers send for its own failure (4500):
            // it is the client's mistake.
            if (isServerMessage(text)) return close(CloseCode.BadRequest, "Invalid message received");
            try {
              await handle(text);
            } catch (error) {
              app.log.error({ err: error }, "WebSocket message handling failed");
              close(CloseCode.InternalServerError, "Internal server error");
            }
          }),
      },
      { socket, outbox },
    );
    socket.once("close", (code, reason) => {
      metrics.wsConnections.dec();
      clearInterval(pingTimer);
      if (pongTimer) clearTimeout(pongTimer);
      void closed(code, String(reason));
    });
  });

  return {
    close: async () => {
      for (const socket of wss.clients) socket.close(1001, "Going away");
      const gone = new Promise<void>((resolve) => wss.close(() => resolve()));
      // A client that does not answer the closing handshake is not waited for long.
      const timer = setTimeout(() => {
        for (const socket of wss.clients) socket.terminate();
      }, 2000);
      await gone;
      clearTimeout(timer);
    },
  };
}

const SERVER_MESSAGE_TYPES = new Set(["next", "error", "connection_ack"]);

function isServerMessage(text: string): boolean {
  try {
    const message = JSON.parse(text) as { type?: unknown } | null;
    return typeof message === "object" && message !== null && SERVER_MESSAGE_TYPES.has(message.type as string);
  } catch {
    return false;
  }
}

type SharedSubscribe = (args: ExecutionArgs) => Promise<unknown>;

/** Writes results of one subscription straight to its connection, as graphql-ws `next` messages. */
export interface DirectDelivery {
  next(payloadJson: string): void;
  /** False while the connection holds much unsent: replays wait. */
  hasRoom(): boolean;
}

/** Results waiting for a read (e.g. an event's run) a subscriber may have before it is cut off. */
const BACKLOG_LIMIT = 1_000;

/** Per event object, the serialized result of each distinct (role, operation, variables). */
const sharedPayloads = new WeakMap<object, Map<string, string | Promise<string>>>();

/**
 * Like graphql-js `subscribe`, but when many clients run the same subscription with the same
 * variables and role, each event is executed and serialized once and the text shared: a
 * thousand dashboards watching one run cost one execution per event, not a thousand. Events are
 * the objects the event loader shares between subscribers, so identity is the key.
 *
 * Results go straight to the connection (`direct`), in order, as the event is published: a
 * live event reaches a thousand subscribers in one synchronous pass, without a thousand async
 * tasks. graphql-ws still runs the subscription's life: it hears of its end, or its failure.
 * (Its own `next` would serialize the shared result again for each subscriber, behind several
 * awaits: about a third more CPU per delivery, see docs/decisions.md.)
 */
function sharingSubscribe(subscribe: Enveloped["subscribe"], key: string, mask: ReturnType<typeof errorMasker>, direct: DirectDelivery): SharedSubscribe {
  return async (args) => {
    const source = await withRequestId((args.contextValue as Context).requestId, () => createSourceEventStream(args));
    // Errors while subscribing, and streams of another kind, take the standard path.
    if (!(source instanceof Channel)) return subscribe(args);
    const payloadOf = (event: unknown): string | Promise<string> => {
      // graphql-js executes one event of a subscription (the envelop executor would subscribe again).
      const execute = () => serialize(() => executeEvent({ ...args, rootValue: event }), mask);
      if (typeof event !== "object" || event === null) return execute();
      let perEvent = sharedPayloads.get(event);
      if (!perEvent) sharedPayloads.set(event, (perEvent = new Map()));
      let payload = perEvent.get(key);
      if (payload === undefined) {
        payload = execute();
        perEvent.set(key, payload);
        // Subscribers served after it resolves get the text itself, without waiting a turn.
        if (typeof payload !== "string") void payload.then((text) => perEvent.set(key, text));
      }
      return payload;
    };
    return deliverDirectly(source as Channel<unknown>, payloadOf, direct, mask);
  };
}

/**
 * Pipes a subscription's events to its connection: written at once when the result is ready,
 * otherwise (it needs a read) after the results before it. The iterator given to graphql-ws
 * yields nothing; it ends when the stream ends, once everything before the end is written.
 */
export function deliverDirectly(
  source: Channel<unknown>,
  payloadOf: (event: unknown) => string | Promise<string>,
  direct: DirectDelivery,
  mask: ReturnType<typeof errorMasker>,
): AsyncIterableIterator<never> {
  let stopped = false;
  let backlog = 0;
  let written: Promise<void> = Promise.resolve();
  source.pipeTo(
    (event) => {
      const payload = backlog === 0 ? payloadOf(event) : null;
      if (typeof payload === "string") return direct.next(payload);
      if (++backlog > BACKLOG_LIMIT) return source.overflow();
      const ready = payload ?? payloadOf(event);
      written = written.then(async () => {
        try {
          const text = await ready;
          // Results that waited for a read come out together: they wait for the connection's
          // room as a replay does, or a burst of them would drop a client that reads.
          await whenRoom(direct.hasRoom, () => stopped);
          if (!stopped) direct.next(text);
        } finally {
          backlog--;
        }
      });
    },
    () => backlog < BACKLOG_LIMIT / 2 && direct.hasRoom(),
  );
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      let failure: unknown = null;
      await source.next().catch((error: unknown) => (failure = error));
      await written.catch(() => {});
      // A stream failure reaches the client as graphql-ws's error message: masked like any other.
      if (failure) throw failure instanceof SlowConsumerError ? failure : mask(failure, "Unexpected error.");
      return { value: undefined as never, done: true };
    },
    return: () => {
      stopped = true;
      return source.return() as Promise<IteratorResult<never>>;
    },
    throw: (error: unknown) => {
      stopped = true;
      source.fail(error);
      return Promise.reject(error);
    },
  };
}

/** A result as graphql-ws sends it, with unexpected errors masked as everywhere else. */
function serialize(execute: () => ExecutionResult | Promise<ExecutionResult>, mask: ReturnType<typeof errorMasker>): string | Promise<string> {
  const text = (result: ExecutionResult) =>
    JSON.stringify(result.errors ? { ...result, errors: result.errors.map((error) => mask(error, "Unexpected error.")) } : result);
  const failed = (error: unknown) => text({ errors: [mask(error, "Unexpected error.") as GraphQLError] });
  try {
    const result = execute();
    return result instanceof Promise ? result.then(text, failed) : text(result);
  } catch (error) {
    return failed(error);
  }
}
