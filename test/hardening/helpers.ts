import { Writable } from "node:stream";
import pino from "pino";
import { createClient, type Client, type FormattedExecutionResult } from "graphql-ws";
import WebSocket from "ws";
import type { ExecutionResult } from "graphql";
import type { TestApp } from "../support/app.ts";

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  body: ExecutionResult & Record<string, unknown>;
}

/** A POST /graphql in-process (yoga.fetch), JSON unless told otherwise; the body as sent. */
export async function post(t: TestApp, body: unknown, headers: Record<string, string> = {}, token: string | null = t.tokens.admin): Promise<RawResponse> {
  const response = await t.yoga.fetch("http://localhost/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: (typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body)) as BodyInit,
  });
  return toRaw(response);
}

export async function toRaw(response: Response): Promise<RawResponse> {
  const text = await response.text();
  let body: RawResponse["body"];
  try {
    body = JSON.parse(text) as RawResponse["body"];
  } catch {
    body = {} as RawResponse["body"];
  }
  return { status: response.status, headers: response.headers, text, body };
}

/** The `extensions.code` of each top-level error. */
export function codes(result: { errors?: readonly { extensions?: Record<string, unknown> }[] }): unknown[] {
  return (result.errors ?? []).map((e) => e.extensions?.code);
}

export function messages(result: { errors?: readonly { message: string }[] }): string[] {
  return (result.errors ?? []).map((e) => e.message);
}

/**
 * A fingerprint of everything a request could change: the rows of every application table
 * (md5 of their text, in a stable order) and the number of queued jobs.
 */
export async function databaseFingerprint(t: TestApp): Promise<Record<string, string>> {
  const tables = await t.app.pool.query<{ name: string }>(
    `SELECT quote_ident(tablename) AS name FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_prisma_migrations' ORDER BY tablename`,
  );
  const parts = tables.rows.map(
    (r) => `SELECT '${r.name}' AS t, count(*)::text || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') AS v FROM public.${r.name} x`,
  );
  const jobs = await t.app.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM pgboss.job`).catch(() => ({ rows: [{ n: "none" }] }));
  const result = await t.app.pool.query<{ t: string; v: string }>(parts.join(" UNION ALL "));
  return { ...Object.fromEntries(result.rows.map((r) => [r.t, r.v])), "pgboss.job": jobs.rows[0]!.n };
}

/** Replaces the app's logger with one that keeps every line, parsed. */
export function captureLogs(t: TestApp): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  t.app.log = pino({ level: "info" }, stream);
  return lines;
}

export function wsClient(url: string, token: string | null, onClosed?: (event: { code: number; reason: string }) => void): Client {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    connectionParams: token === null ? {} : { authorization: `Bearer ${token}` },
    on: { closed: (event) => onClosed?.(event as { code: number; reason: string }) },
  });
}

export type WsOutcome = { kind: "results"; results: FormattedExecutionResult[] } | { kind: "error"; error: unknown };

/** Runs one operation over graphql-ws to its end: the results it gave, or the error it ended with. */
export function wsRun(client: Client, query: string, variables: Record<string, unknown> = {}, take = 1, timeoutMs = 5000): Promise<WsOutcome> {
  return new Promise((resolve, reject) => {
    const results: FormattedExecutionResult[] = [];
    const timer = setTimeout(() => {
      dispose();
      reject(new Error(`no outcome within ${timeoutMs} ms for ${query.slice(0, 200)}`));
    }, timeoutMs);
    const dispose = client.subscribe(
      { query, variables },
      {
        next: (value) => {
          results.push(value as FormattedExecutionResult);
          if (results.length >= take) {
            clearTimeout(timer);
            dispose();
            resolve({ kind: "results", results });
          }
        },
        error: (error) => {
          clearTimeout(timer);
          resolve({ kind: "error", error });
        },
        complete: () => {
          clearTimeout(timer);
          resolve({ kind: "results", results });
        },
      },
    );
  });
}
