import { writeFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import type { Config } from "./config.ts";
import type { EmbeddedDatabase } from "./db/embedded.ts";
import { migrate } from "./db/migrate.ts";
import type { Logger } from "./log.ts";

export interface Database {
  url: string;
  embedded: EmbeddedDatabase | null;
}

/**
 * DATABASE_URL when set; otherwise a PostgreSQL under the data directory, started by this
 * process and stopped with it. Either way the migrations are applied before anything runs.
 */
export async function openDatabase(config: Config, log: Logger): Promise<Database> {
  let url = config.databaseUrl;
  let embedded: EmbeddedDatabase | null = null;
  if (!url) {
    const { startEmbeddedPostgres } = await import("./db/embedded.ts");
    embedded = await startEmbeddedPostgres({
      dataDir: path.join(config.dataDir, "postgres"),
      port: process.env.BILLRUN_PG_PORT ? Number(process.env.BILLRUN_PG_PORT) : undefined,
      log: (line) => log.info(line),
    });
    await ensureDatabase(embedded.url(), "billrun");
    url = embedded.url("billrun");
    // `npm run worker` processes on this machine find the embedded database here.
    await writeFile(path.join(config.dataDir, "database-url"), `${url}\n`, { mode: 0o600 });
    log.info({ port: embedded.port }, "embedded PostgreSQL started");
  }
  // The migration lock is a session's: through a transaction-mode pooler it could be left held.
  const sessionUrl = config.databaseUrl && config.databaseListenUrl ? config.databaseListenUrl : url;
  const applied = await migrate(sessionUrl, (line) => log.info(line));
  if (applied.length > 0) log.info({ applied }, "migrations applied");
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
