import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { App } from "./app.ts";
import { pendingMigrations } from "./db/migrate.ts";
import { createGraphQLServer, requestIdFrom } from "./graphql/yoga.ts";
import { attachWebSockets } from "./graphql/ws.ts";
import { handleImportRequest, isImportRequest } from "./imports/http.ts";

export interface HttpServer {
  server: Server;
  url: string;
  close: () => Promise<void>;
}

export interface HttpOptions {
  /** The built dashboard served at `/`; default web/dist (tests serve a build of their own). */
  webRoot?: string;
}

/**
 * HTTP + WebSocket GraphQL on one port, plus /health (liveness), /ready (database and
 * migrations) and the dashboard at / (the built web app and its /assets).
 */
export async function startHttpServer(app: App, port: number, host = "127.0.0.1", options: HttpOptions = {}): Promise<HttpServer> {
  const webRoot = path.resolve(options.webRoot ?? DEFAULT_WEB_ROOT) + path.sep;
  const yoga = createGraphQLServer(app);
  const server = createServer((req, res) => {
    // One id per request, the caller's when it sent a sane one: in the response, in yoga's
    // context (masked errors are logged with it) and in the access log line.
    const requestId = requestIdFrom(headerValue(req.headers["x-request-id"]));
    req.headers["x-request-id"] = requestId;
    res.setHeader("x-request-id", requestId);
    const started = performance.now();
    res.once("finish", () => {
      app.log.info(
        { requestId, method: req.method, path: req.url?.split("?")[0]?.slice(0, 200), status: res.statusCode, ms: Math.round(performance.now() - started) },
        "request",
      );
    });
    // Import files are streamed to storage under a limit of their own (BILLRUN_IMPORT_MAX_BYTES).
    if (isImportRequest(req)) return void handleImportRequest(app, req, res);
    // A body declared too large is refused before a byte of it is read, and the connection
    // closed (the client may still be sending it). Streamed bodies are counted by yoga (413 too).
    if (Number(req.headers["content-length"]) > app.config.security.maxBodyBytes) {
      res.setHeader("connection", "close");
      return sendJson(res, 413, { errors: [{ message: "Request body too large", extensions: { code: "REQUEST_ENTITY_TOO_LARGE" } }] });
    }
    if (req.url === "/health") return sendJson(res, 200, { status: "ok" });
    if (req.url === "/ready") {
      readiness(app).then(
        (pending) => sendJson(res, pending.length === 0 ? 200 : 503, pending.length === 0 ? { status: "ready" } : { status: "migrations pending", pending }),
        (error: Error) => sendJson(res, 503, { status: "database unreachable", error: error.message }),
      );
      return;
    }
    if (isDashboardRequest(req)) {
      void serveDashboard(req, res, webRoot, yoga.graphqlEndpoint);
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

const READY_TIMEOUT_MS = 3000;

/** Pending migrations; rejects when the database does not answer (within READY_TIMEOUT_MS). */
async function readiness(app: App): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from the database within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
  });
  try {
    // pendingMigrations takes an unreadable migrations table for "none applied": ask the database first.
    await Promise.race([app.pool.query("SELECT 1"), timeout]);
    return await Promise.race([pendingMigrations(app.pool), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function sendJson(res: import("node:http").ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

// --- the dashboard (web/, built by `npm run build:web` into web/dist/) ----------------------

const DEFAULT_WEB_ROOT = fileURLToPath(new URL("../web/dist/", import.meta.url));
const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
};

/** `/` (the app) and `/assets/...` (its bundled, content-hashed files); everything else is GraphQL's. */
function isDashboardRequest(req: IncomingMessage): boolean {
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  const pathname = (req.url ?? "/").split("?")[0]!;
  return pathname === "/" || pathname === "" || pathname === "/index.html" || pathname.startsWith("/assets/");
}

async function serveDashboard(req: IncomingMessage, res: ServerResponse, webRoot: string, graphqlEndpoint: string): Promise<void> {
  const pathname = decodeURIComponentSafe((req.url ?? "/").split("?")[0]!) ?? "/invalid";
  const relative = pathname === "/" || pathname === "" ? "index.html" : pathname.replace(/^\/+/, "");
  const file = path.resolve(webRoot, relative);
  // Only files under web/dist, and only the kinds the build makes.
  if (!file.startsWith(webRoot) || !CONTENT_TYPES[path.extname(file)]) {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("Not found\n");
    return;
  }
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch {
    if (relative === "index.html") {
      res
        .writeHead(503, { "content-type": "text/html; charset=utf-8" })
        .end(`<!doctype html><title>Billrun</title><p>The dashboard is not built: run <code>npm run build:web</code>. The API is at <a href="${graphqlEndpoint}">${graphqlEndpoint}</a>.</p>\n`);
    } else {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("Not found\n");
    }
    return;
  }
  res.writeHead(200, {
    "content-type": CONTENT_TYPES[path.extname(file)]!,
    "content-length": body.length,
    // Assets are content-hashed: cached for good. The page itself is always revalidated.
    "cache-control": relative === "index.html" ? "no-cache" : "public, max-age=31536000, immutable",
    "x-content-type-options": "nosniff",
  });
  res.end(req.method === "HEAD" ? undefined : body);
}

function decodeURIComponentSafe(value: string): string | null {
  try {
    return decodeURIComponent(value);
  } catch {
    return null;
  }
}
