import { createServer, type Server } from "node:http";
import type { App } from "./app.ts";
import { pendingMigrations } from "./db/migrate.ts";
import { createGraphQLServer } from "./graphql/yoga.ts";
import { attachWebSockets } from "./graphql/ws.ts";

export interface HttpServer {
  server: Server;
  url: string;
  close: () => Promise<void>;
}

/** HTTP + WebSocket GraphQL on one port, plus /health (liveness) and /ready (database and migrations). */
export async function startHttpServer(app: App, port: number, host = "127.0.0.1"): Promise<HttpServer> {
  const yoga = createGraphQLServer(app);
  const server = createServer((req, res) => {
    if (req.url === "/health") return sendJson(res, 200, { status: "ok" });
    if (req.url === "/ready") {
      readiness(app).then(
        (pending) => sendJson(res, pending.length === 0 ? 200 : 503, pending.length === 0 ? { status: "ready" } : { status: "migrations pending", pending }),
        (error: Error) => sendJson(res, 503, { status: "database unreachable", error: error.message }),
      );
      return;
    }
    if (req.url === "/" || req.url === "") {
      res.writeHead(302, { location: yoga.graphqlEndpoint }).end();
      return;
    }
    void yoga.handle(req, res);
  });
  const ws = attachWebSockets(app, server, yoga);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const actualPort = typeof address === "object" && address ? address.port : port;
  const shownHost = host === "0.0.0.0" || host === "::" ? "localhost" : host;
  return {
    server,
    url: `http://${shownHost}:${actualPort}${yoga.graphqlEndpoint}`,
    close: async () => {
      await ws.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function readiness(app: App): Promise<string[]> {
  return pendingMigrations(app.pool);
}

function sendJson(res: import("node:http").ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}
