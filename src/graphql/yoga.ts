import { randomUUID } from "node:crypto";
import { createYoga, maskError, type YogaServerInstance } from "graphql-yoga";
import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import type { App } from "../app.ts";
import { authenticate } from "../auth/users.ts";
import type { Context } from "./context.ts";
import { schema } from "./schema.ts";

/** What the server hands to the context factory: an HTTP request, or a WebSocket operation. */
interface ServerContext {
  request?: Request;
  connectionParams?: Record<string, unknown>;
  socket?: { close: (code: number, reason: string) => void; terminate: () => void };
}

export type Yoga = YogaServerInstance<ServerContext, Context>;

export function createGraphQLServer(app: App): Yoga {
  return createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: "/graphql",
    landingPage: false,
    // GraphiQL is bundled (no CDN: the service may run offline) and speaks graphql-ws.
    graphiql: app.config.isDevelopment
      ? { title: "Billrun", subscriptionsProtocol: "WS", defaultQuery: DEFAULT_QUERY }
      : false,
    renderGraphiQL,
    logging: {
      debug: (...args) => app.log.debug(args.map(String).join(" ")),
      info: (...args) => app.log.info(args.map(String).join(" ")),
      warn: (...args) => app.log.warn(args.map(String).join(" ")),
      error: (...args) => app.log.error(args.map(String).join(" ")),
    },
    maskedErrors: { maskError: errorMasker(app) },
    context: async ({ request, connectionParams, socket }): Promise<Context> => {
      const authorization = request?.headers.get("authorization") ?? stringParam(connectionParams?.authorization);
      return {
        app,
        db: app.db,
        user: await authenticate(app.db, authorization),
        requestId: request?.headers.get("x-request-id")?.slice(0, 100) ?? randomUUID(),
        closeConnection: socket
          ? (code, reason) => {
              socket.close(code, reason);
              // A client that does not read would never complete the closing handshake.
              socket.terminate();
            }
          : undefined,
      };
    },
  });
}

/** Unexpected errors reach the caller as "Unexpected error." and the log in full. */
export function errorMasker(app: App) {
  return (error: unknown, message: string, isDev?: boolean): Error => {
    const masked = maskError(error, message, isDev);
    if (masked !== error) app.log.error({ err: error }, "unexpected error");
    return masked;
  };
}

function stringParam(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

const DEFAULT_QUERY = `# Billrun. Add your token under Headers: {"Authorization": "Bearer <token>"}
query Accounts {
  me { email role }
  accounts(first: 5) {
    totalCount
    edges { node { accountNumber name currency billCycleDay } }
  }
}
`;
