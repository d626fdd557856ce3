import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import type { Config } from "./config.ts";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "./db/embedded.ts";
import { migrate } from "./db/migrate.ts";
import type { Logger } from "./log.ts";
import { StartupError } from "./startup.ts";

export interface Database {
  url: string;
  embedded: EmbeddedDatabase | null;
}

/** Where a process's database URL came from; it decides what a failure message advises. */
export type DatabaseSource = "DATABASE_URL" | "announced";

/**
 * DATABASE_URL when set; otherwise a PostgreSQL under the data directory, started by this
 * process and stopped with it. Either way the migrations are applied before anything runs.
 * Raises StartupError when the database cannot be started or reached (cause and fix).
 */
export async function openDatabase(config: Config, log: Logger, source: DatabaseSource = "DATABASE_URL"): Promise<Database> {
  let url = config.databaseUrl;
  let embedded: EmbeddedDatabase | null = null;
  try {
    if (!url) {
      const started = await startEmbeddedPostgres({
        dataDir: path.join(config.dataDir, "postgres"),
        port: process.env.BILLRUN_PG_PORT ? Number(process.env.BILLRUN_PG_PORT) : undefined,
        log: (line) => log.info(line),
        onUnexpectedExit: (line) => log.error(line),
      });
      // `npm run worker` processes on this machine find the embedded database here while it runs.
      const announced = path.join(config.dataDir, "database-url");
      embedded = {
        ...started,
        stop: async () => {
          await rm(announced, { force: true });
          await started.stop();
        },
      };
      await ensureDatabase(embedded.url(), "billrun");
      url = embedded.url("billrun");
      await writeFile(announced, `${url}\n`, { mode: 0o600 });
      log.info({ port: embedded.port }, "embedded PostgreSQL started");
    } else {
      await checkConnection(url, source);
    }
    // The migration lock is a session's: through a transaction-mode pooler it could be left held.
    const sessionUrl = config.databaseUrl && config.databaseListenUrl ? config.databaseListenUrl : url;
    const applied = await migrate(sessionUrl, (line) => log.info(line));
    if (applied.length > 0) log.info({ applied }, "migrations applied");
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
  return { url, embedded };
}

export async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}

/** Connects once to `url`; a failure becomes a StartupError naming the cause (never the password). */
async function checkConnection(url: string, source: DatabaseSource): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (error) {
    throw connectionFailure(error, url, source);
  } finally {
    await client.end().catch(() => {});
  }
}

function connectionFailure(error: unknown, url: string, source: DatabaseSource): StartupError {
  const e = error as (pg.DatabaseError & { errors?: Error[] }) | undefined;
  let where = "the database";
  try {
    const parsed = new URL(url);
    where = `the database ${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
  } catch {
    // an unparsable URL still gets a message
  }
  const pgLines = e?.severity ? [`${e.severity}: ${e.message}`, ...(e.detail ? [`DETAIL: ${e.detail}`] : []), ...(e.hint ? [`HINT: ${e.hint}`] : [])] : [];
  const announced = source === "announced";
  const setting = announced ? "the database-url file" : "DATABASE_URL";
  switch (e?.code) {
    case "28P01":
    case "28000":
      return new StartupError(
        `${where} refused the user or password in ${setting}`,
        `correct the user and password in ${setting} (postgresql://USER:PASSWORD@HOST:PORT/DATABASE)`,
        pgLines,
      );
    case "3D000":
      return new StartupError(`${where} does not exist`, `create it (CREATE DATABASE), or correct the database name in ${setting}`, pgLines);
    case "53300":
      return new StartupError(`${where} accepts no more connections`, "raise max_connections or stop some clients", pgLines);
    case "57P03":
      return new StartupError(`${where} is starting up or shutting down`, "start again in a moment", pgLines);
  }
  const network = ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ECONNRESET"];
  const reason = e?.code ?? "";
  const timedOut = /timeout/i.test(e?.message ?? "");
  if (network.includes(reason) || timedOut) {
    const detail = [`${reason || "timeout"}: ${e?.message || e?.errors?.map((inner) => inner.message).join("; ") || ""}`];
    return announced
      ? new StartupError(
          `the embedded PostgreSQL of npm start (announced in the database-url file) does not answer`,
          "start `npm start` in the same directory first, or set DATABASE_URL",
          detail,
        )
      : new StartupError(`${where} (DATABASE_URL) cannot be reached`, "check that PostgreSQL runs there and that DATABASE_URL names its host and port", detail);
  }
  return new StartupError(`${where} refused the connection`, `check ${setting}`, pgLines.length > 0 ? pgLines : [String(e?.message ?? error)]);
}
