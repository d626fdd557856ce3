import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { timingSafeEqual, createHash } from "node:crypto";
import type { App } from "../app.ts";
import { renderMetrics } from "./metrics.ts";

export function isMetricsRequest(req: IncomingMessage): boolean {
  return (req.url ?? "").split("?")[0] === "/metrics";
}

/**
 * `GET /metrics`: 404 when metrics are off (or `here` is false: they live on their own port),
 * 401 without the bearer token when BILLRUN_METRICS_TOKEN is set, else the Prometheus text.
 */
export function serveMetrics(app: App, req: IncomingMessage, res: ServerResponse, here = true): void {
  const { enabled, token } = app.config.metrics;
  if (!enabled || !here) {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("Not found\n");
    return;
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" }).end("Method not allowed\n");
    return;
  }
  if (token !== undefined && !bearerMatches(req.headers.authorization, token)) {
    res.writeHead(401, { "www-authenticate": 'Bearer realm="metrics"', "content-type": "text/plain; charset=utf-8" }).end("Unauthorized\n");
    return;
  }
  renderMetrics(app).then(
    ({ contentType, body }) => {
      res.writeHead(200, { "content-type": contentType, "cache-control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : body);
    },
    (error: unknown) => {
      app.log.error({ err: error }, "metrics could not be collected");
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
      res.end("Metrics could not be collected\n");
    },
  );
}

/** Compares digests, so the time taken says nothing about the token. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  if (!match) return false;
  const digest = (value: string) => createHash("sha256").update(value).digest();
  return timingSafeEqual(digest(match[1]!), digest(token));
}

export interface MetricsServer {
  url: string;
  close: () => Promise<void>;
}

/** `/metrics` alone on a port of its own (BILLRUN_METRICS_PORT); everything else is 404. */
export async function startMetricsServer(app: App, port: number, host = "0.0.0.0"): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    if (isMetricsRequest(req)) return serveMetrics(app, req, res);
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("Not found\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const actualPort = typeof address === "object" && address ? address.port : port;
  return {
    url: `http://${host === "0.0.0.0" || host === "::" ? "localhost" : host}:${actualPort}/metrics`,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
