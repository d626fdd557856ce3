import type { Server } from "node:http";
import { WebSocketServer } from "ws";
import { useServer } from "graphql-ws/use/ws";
import type { ServerOptions } from "graphql-ws";
import { GraphQLError, type ExecutionArgs } from "graphql";
import type { App } from "../app.ts";
import { authenticate } from "../auth/users.ts";
import type { Yoga } from "./yoga.ts";

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
  const wss = new WebSocketServer({ server: httpServer, path: yoga.graphqlEndpoint });
  const disposable = useServer(
    {
      execute: (args) => (args.rootValue as Enveloped).execute(args),
      subscribe: (args) => (args.rootValue as Enveloped).subscribe(args),
      // An unauthenticated connection is refused at once (close code 4403).
      onConnect: async (ctx) => {
        const user = await authenticate(app.db, stringParam(ctx.connectionParams?.authorization));
        return user !== null;
      },
      // Writes to a client that stops reading pile up in this process: past the cap the
      // connection is closed (4413) and the client resumes with `after`.
      onNext: (ctx) => {
        const socket = (ctx.extra as { socket: import("ws").WebSocket }).socket;
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
          socket: (ctx.extra as { socket: import("ws").WebSocket }).socket,
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
        const errors = validate(args.schema, args.document);
        if (errors.length > 0) return errors;
        return args;
      },
    },
    wss,
  );
  return {
    close: async () => {
      await disposable.dispose();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

function stringParam(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}
