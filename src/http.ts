import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { App } from "./app.ts";
import { pendingMigrations } from "./db/migrate.ts";
import { QUEUES } from "./jobs.ts";
import { requestIdFrom } from "./graphql/plugins/request-id.ts";
import { createGraphQLServer } from "./graphql/yoga.ts";
import { attachWebSockets } from "./graphql/ws.ts";
import { handleDocumentRequest, isDocumentRequest } from "./documents/routes.ts";
import { isMetricsRequest, serveMetrics } from "./observability/http.ts";
import { handleImportRequest, isImportRequest } from "./imports/http.ts";

export interface HttpServer {
  server: Server;
  url: string;
  /** From now on /ready answers 503 ("draining"), while everything else is still served. */
  drain: () => void;
  /**
   * Stops accepting connections, lets requests in flight finish (up to `graceMs`, default 0:
   * cut at once), then closes WebSockets with 1001 (Going away) and the server.
   */
  close: (graceMs?: number) => Promise<void>;
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
  let draining = false;
  let closing = false;
  let inFlight = 0;
  let allDone: (() => void) | null = null;
  const server = createServer((req, res) => {
    // A request on a kept-alive connection during shutdown is served, and its connection closed after.
    if (closing) res.setHeader("connection", "close");
    inFlight += 1;
    res.once("close", () => {
      inFlight -= 1;
      if (inFlight === 0) allDone?.();
    });
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
    if (isMetricsRequest(req)) return serveMetrics(app, req, res, app.config.metrics.port === undefined);
    if (req.url === "/ready") {
      if (draining) return sendJson(res, 503, { status: "draining" });
      readiness(app).then(
        (pending) => sendJson(res, pending.length === 0 ? 200 : 503, pending.length === 0 ? { status: "ready" } : { status: "migrations pending", pending }),
        (error: Error) => sendJson(res, 503, { status: "database unreachable", error: error.message }),
      );
      return;
    }
    if (isDocumentRequest(req)) {
      void handleDocumentRequest(app, req, res);
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
    drain: () => {
      draining = true;
    },
    close: async (graceMs = 0) => {
      draining = true;
      closing = true;
      // Upgraded (WebSocket) connections keep the net server open: it closes after ws.close() below.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Kept-alive connections with no request in flight go now, the others once their response is out.
      server.closeIdleConnections();
      const idle = setInterval(() => server.closeIdleConnections(), 50);
      if (inFlight > 0) {
        app.log.info({ requests: inFlight, graceSeconds: graceMs / 1000 }, "waiting for HTTP requests in flight");
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([new Promise<void>((resolve) => (allDone = resolve)), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
        clearTimeout(timer);
        if (inFlight > 0) app.log.warn({ requests: inFlight }, "HTTP requests still in flight at the end of the grace period were cut off");
      }
      clearInterval(idle);
      await ws.close();
      server.closeAllConnections();
      await closed;
    },
  };
}

/**
 * A worker's probes (`BILLRUN_WORKER_PORT`): /health while the process lives, /ready when the
 * database answers and the job queue (pg-boss's own connections) too; 503 once it is stopping.
 */
export async function startHealthServer(app: App, port: number, host = "0.0.0.0"): Promise<HttpServer> {
  let stopping = false;
  const server = createServer((req, res) => {
    if (req.url === "/health") return sendJson(res, 200, { status: "ok" });
    if (isMetricsRequest(req)) return serveMetrics(app, req, res, app.config.metrics.port === undefined);
    if (req.url !== "/ready") return sendJson(res, 404, { status: "not found" });
    if (stopping) return sendJson(res, 503, { status: "stopping" });
    withTimeout(Promise.all([app.pool.query("SELECT 1"), queueReachable(app)])).then(
      () => sendJson(res, 200, { status: "ready" }),
      (error: Error) => sendJson(res, 503, { status: "unreachable", error: error.message }),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const actualPort = typeof address === "object" && address ? address.port : port;
  return {
    server,
    url: `http://${host === "0.0.0.0" || host === "::" ? "localhost" : host}:${actualPort}`,
    drain: () => {
      stopping = true;
    },
    close: async () => {
      stopping = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** A count of queued chunks through pg-boss's own pool; it answers nothing once pg-boss has stopped. */
async function queueReachable(app: App): Promise<void> {
  const size = await app.jobs.boss.getQueueSize(QUEUES.chunk);
  if (size === null || size === undefined) throw new Error("the job queue is stopped");
}

async function withTimeout<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
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

/**
 * The dashboard's own addresses (web/src/router.ts): each is answered with the app, which then
 * shows the screen, so links in emails and bookmarks work. A page added to the app adds its prefix here.
 */
const APP_PATHS = /^\/(bill-runs|invoices|credit-memos|accounts|schedules|webhooks|imports)(\/[A-Za-z0-9_-]+)*\/?$/;

/** `/` (the app), its screens' paths, and `/assets/...` (its bundled, content-hashed files); everything else is GraphQL's. */
function isDashboardRequest(req: IncomingMessage): boolean {
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  const pathname = (req.url ?? "/").split("?")[0]!;
  return pathname === "/" || pathname === "" || pathname === "/index.html" || pathname.startsWith("/assets/") || APP_PATHS.test(pathname);
}

async function serveDashboard(req: IncomingMessage, res: ServerResponse, webRoot: string, graphqlEndpoint: string): Promise<void> {
  const pathname = decodeURIComponentSafe((req.url ?? "/").split("?")[0]!) ?? "/invalid";
  const relative = pathname === "/" || pathname === "" || APP_PATHS.test(pathname) ? "index.html" : pathname.replace(/^\/+/, "");
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
        .end(
          `<!doctype html><title>Billrun</title><p>The dashboard is not built: run <code>npm run build:web</code>. The API is at <a href="${graphqlEndpoint}">${graphqlEndpoint}</a>.</p>\n`,
        );
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
