import { randomUUID } from "node:crypto";
import { createYoga, type YogaServerInstance } from "graphql-yoga";
import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import type { App } from "../app.ts";
import { authenticateToken } from "../auth/users.ts";
import type { Context } from "./context.ts";
import { schema } from "./schema.ts";
import { endOnAccessLoss } from "./plugins/access-loss.ts";
import { armorLimits } from "./plugins/armor.ts";
import { csrfPrevention } from "./plugins/csrf.ts";
import { errorMasker } from "./plugins/error-masking.ts";
import { noIntrospection } from "./plugins/introspection.ts";
import { connectionLimits } from "./plugins/limits.ts";
import { useLiteralErrorPaths } from "./plugins/literals.ts";
import { currentRequestId, useRequestId } from "./plugins/request-id.ts";
import { noSuggestions } from "./plugins/suggestions.ts";
import { useNormalisedText } from "./plugins/text.ts";
import { observabilityPlugins } from "../observability/graphql.ts";

/** What the server hands to the context factory: an HTTP request, or a WebSocket operation. */
interface ServerContext {
  request?: Request;
  connectionParams?: Record<string, unknown>;
  socket?: { close: (code: number, reason: string) => void; terminate: () => void };
}

export type Yoga = YogaServerInstance<ServerContext, Context>;

export function createGraphQLServer(app: App): Yoga {
  const limits = app.config.security;
  return createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: "/graphql",
    landingPage: false,
    // GraphiQL is bundled (no CDN: the service may run offline). It runs subscriptions over
    // Server-Sent Events on this URL, which carry the headers set in its Headers tab (its
    // WebSocket transport would take connection params only, never those headers).
    graphiql: app.config.isDevelopment ? { title: "Billrun", subscriptionsProtocol: "SSE", defaultQuery: DEFAULT_QUERY } : false,
    renderGraphiQL,
    logging: {
      debug: (...args) => app.log.debug(args.map(String).join(" ")),
      info: (...args) => app.log.info(args.map(String).join(" ")),
      warn: (...args) => app.log.warn(args.map(String).join(" ")),
      error: (...args) => app.log.error(args.map(String).join(" ")),
    },
    // Stack traces reach the caller only in development proper (never in test or production).
    maskedErrors: { maskError: errorMasker(app), isDev: app.config.env === "development" },
    maxRequestBodySize: limits.maxBodyBytes,
    cors: limits.corsOrigins ? { origin: limits.corsOrigins, methods: ["GET", "POST"], credentials: false } : undefined,
    plugins: [
      useRequestId(),
      ...observabilityPlugins(app.config),
      csrfPrevention(),
      armorLimits(limits),
      ...(limits.fieldSuggestions ? [] : [noSuggestions()]),
      ...(limits.introspection ? [] : [noIntrospection()]),
      connectionLimits(limits),
      endOnAccessLoss(app),
      useNormalisedText(),
      // Last, so that it wraps whatever validation the plugins above set up.
      useLiteralErrorPaths(),
    ],
    context: async ({ request, connectionParams, socket }): Promise<Context> => {
      const authorization = request?.headers.get("authorization") ?? stringParam(connectionParams?.authorization);
      const accessMark = app.access.mark();
      const auth = await authenticateToken(app.db, authorization);
      return {
        app,
        db: app.db,
        user: auth?.user ?? null,
        tokenId: auth?.tokenId,
        accessMark,
        requestId: currentRequestId() ?? randomUUID(),
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

export function stringParam(value: unknown): string | null {
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
