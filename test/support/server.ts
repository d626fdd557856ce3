import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createClient, type Client } from "graphql-ws";
import { afterAll, beforeAll } from "vitest";
import WebSocket from "ws";
import { startHttpServer, type HttpServer } from "../../src/http.ts";
import { createTestApp, type TestApp } from "./app.ts";

/** The real HTTP + WebSocket server on a free port. */
export async function startServer(t: TestApp): Promise<HttpServer & { wsUrl: string }> {
  const http = await startHttpServer(t.app, 0, "127.0.0.1");
  return { ...http, wsUrl: http.url.replace(/^http/, "ws") };
}

/**
 * Gives the calling test file a test app (created with `env`, then `prepare`d) and the real server over it:
 * started before the file's tests and handed to `use`, closed after them.
 */
export function serveTestApp(
  use: (t: TestApp, http: HttpServer & { wsUrl: string }) => void,
  options: { env?: Record<string, string>; prepare?: (t: TestApp) => Promise<unknown> } = {},
): void {
  let t: TestApp | undefined;
  let http: (HttpServer & { wsUrl: string }) | undefined;
  beforeAll(async () => {
    t = await createTestApp(options.env);
    await options.prepare?.(t);
    http = await startServer(t);
    use(t, http);
  });
  afterAll(async () => {
    await http?.close();
    await t?.close();
  });
}

export function wsClient(url: string, token: string | null): Client {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
  });
}

/** Collects the results of a subscription until `count` arrived (or it ends). */
export function collect<T>(client: Client, query: string, variables: Record<string, unknown>, count: number, timeoutMs = 30_000) {
  const results: T[] = [];
  const done = new Promise<T[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      dispose();
      reject(new Error(`received ${results.length} of ${count}: ${JSON.stringify(results).slice(0, 2000)}`));
    }, timeoutMs);
    const dispose = client.subscribe<T>(
      { query, variables },
      {
        next: (result) => {
          if (result.errors) {
            clearTimeout(timer);
            dispose();
            reject(new Error(JSON.stringify(result.errors)));
            return;
          }
          results.push(result.data as T);
          if (results.length >= count) {
            clearTimeout(timer);
            dispose();
            resolve(results);
          }
        },
        error: (error) => {
          clearTimeout(timer);
          reject(error);
        },
        complete: () => {
          clearTimeout(timer);
          resolve(results);
        },
      },
    );
  });
  return { results, done };
}

const workerEntry = fileURLToPath(new URL("../../src/worker.ts", import.meta.url));

/** A separate `npm run worker` process on the test database. */
export function spawnWorker(databaseUrl: string, env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [workerEntry], {
    env: { ...process.env, NODE_ENV: "test", DATABASE_URL: databaseUrl, LOG_LEVEL: "error", ...env },
    stdio: ["ignore", "inherit", "inherit"],
  });
}

const serverEntry = fileURLToPath(new URL("../../src/server.ts", import.meta.url));

export interface ApiProcess {
  child: ChildProcess;
  /** http://127.0.0.1:<port>/graphql */
  url: string;
  wsUrl: string;
  /** SIGTERM, then waits for the exit. */
  stop: () => Promise<void>;
}

/**
 * A separate `npm start` API process (no worker, mailer, scheduler or demo data) on the test
 * database, on a free port; resolves once it serves.
 */
export async function spawnApi(databaseUrl: string, dataDir: string, env: Record<string, string> = {}): Promise<ApiProcess> {
  const child = spawn(process.execPath, [serverEntry], {
    env: {
      ...process.env,
      NODE_ENV: "test",
      DATABASE_URL: databaseUrl,
      BILLRUN_DATA_DIR: dataDir,
      PORT: "0",
      HOST: "127.0.0.1",
      BILLRUN_DEMO_DATA: "false",
      BILLRUN_WORKER: "false",
      BILLRUN_MAILER: "false",
      BILLRUN_SCHEDULER: "false",
      LOG_LEVEL: "error",
      ...env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`the API process did not start within 60 s:\n${output}`)), 60_000);
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
      const found = /Billrun is running: (http:\/\/\S+\/graphql)/.exec(output);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]!);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the API process exited before serving:\n${output}`));
    });
  });
  return {
    child,
    url,
    wsUrl: url.replace(/^http/, "ws"),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
