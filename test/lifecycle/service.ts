// The real `npm start` / `npm run worker` in a process group of its own, as root or as a
// non-root user, with helpers to stop it every way a service gets stopped.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { waitFor } from "../support/wait.ts";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));

export interface RunAs {
  name: string;
  uid: number;
  gid: number;
}

export interface Variant {
  /** "root" or "non-root". */
  label: string;
  /** null: as this process's own user. */
  user: RunAs | null;
  /** Why this variant cannot run here; null when it can. */
  skip: string | null;
}

const isRoot = process.getuid?.() === 0;

function passwdEntries(): { name: string; uid: number; gid: number }[] {
  return readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .map((line) => line.split(":"))
    .filter((f) => f.length > 3)
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) }));
}

/**
 * The users the lifecycle tests run the service as: root (when the tests run as root) and a
 * non-root user (BILLRUN_TEST_USER, else the first regular user, else "nobody"; when the tests
 * themselves run as non-root, that is the current user).
 */
export function variants(): Variant[] {
  if (!isRoot) {
    return [
      { label: "root", user: null, skip: "the tests do not run as root" },
      { label: "non-root", user: null, skip: null },
    ];
  }
  const entries = passwdEntries();
  const wanted = process.env.BILLRUN_TEST_USER;
  const entry = wanted
    ? entries.find((e) => e.name === wanted)
    : (entries.find((e) => e.uid >= 1000 && e.uid < 60000) ?? entries.find((e) => e.name === "nobody"));
  let skip: string | null = null;
  if (!entry) skip = wanted ? `user ${wanted} (BILLRUN_TEST_USER) does not exist` : "this machine has no non-root user (set BILLRUN_TEST_USER)";
  else {
    // The user must be able to read the checkout (a clone under /root is not).
    const probe = spawnSync(process.execPath, ["-e", `require("fs").accessSync(${JSON.stringify(path.join(REPO, "src/server.ts"))})`], {
      uid: entry.uid,
      gid: entry.gid,
    });
    if (probe.status !== 0) skip = `user ${entry.name} cannot read the checkout ${REPO}`;
  }
  return [
    { label: "root", user: null, skip: null },
    { label: "non-root", user: entry ? { name: entry.name, uid: entry.uid, gid: entry.gid } : null, skip },
  ];
}

/** A fresh directory the variant's user owns (and nobody else can read). */
export function tempDir(user: RunAs | null): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "billrun-lifecycle-"));
  if (user) chownSync(dir, user.uid, user.gid);
  return dir;
}

export interface LogLine {
  level: number;
  msg: string;
  pid: number;
  [key: string]: unknown;
}

export interface Service {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  stdout: () => string;
  stderr: () => string;
  /** stdout's pino JSON lines. */
  logLines: () => LogLine[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stdout/stderr text matching `pattern` (rejects on exit or timeout). */
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpMatchArray>;
}

/** Environment of a user's shell: none of the test runner's or npm's own variables. */
function cleanEnv(extra: Record<string, string>, home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    // The runner's and npm's own variables, and every one the service reads: only the test's count.
    if (/^(npm_|VITEST|TEST_|BILLRUN_|(NODE_ENV|NODE_OPTIONS|INIT_CWD|DATABASE_URL|SMTP_URL|PORT|HOST|LOG_LEVEL|EMAIL_FROM|PUBLIC_URL)$)/.test(key)) continue;
    env[key] = value;
  }
  return { ...env, HOME: home, npm_config_cache: path.join(home, ".npm"), npm_config_update_notifier: "false", ...extra };
}

/** Spawns `npm <args>` (start, run worker) in the checkout, in a new process group. */
export function spawnService(args: string[], env: Record<string, string>, user: RunAs | null, home: string): Service {
  const child = spawn("npm", args, {
    cwd: REPO,
    detached: true,
    env: cleanEnv(env, home),
    stdio: ["ignore", "pipe", "pipe"],
    ...(user ? { uid: user.uid, gid: user.gid } : {}),
  });
  spawned.add(child);
  let out = "";
  let err = "";
  const watchers = new Set<() => void>();
  child.stdout!.on("data", (chunk: Buffer) => {
    out += chunk.toString("utf8");
    for (const watch of watchers) watch();
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    err += chunk.toString("utf8");
    for (const watch of watchers) watch();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("close", (code, signal) => {
      spawned.delete(child);
      resolve({ code, signal });
      for (const watch of watchers) watch();
    });
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    logLines: () => parseLogLines(out),
    exited,
    waitFor: (pattern, timeoutMs = 120_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const match = (out + err).match(pattern);
          if (match) {
            done();
            resolve(match);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`npm ${args.join(" ")} ended (${child.exitCode ?? child.signalCode}) before ${pattern}:\n${out}\n${err}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${out}\n${err}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          watchers.delete(check);
        };
        watchers.add(check);
        check();
      }),
  };
}

export function parseLogLines(text: string): LogLine[] {
  return text
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as LogLine);
}

/** Lines at WARN (40) or above. */
export function warnings(service: Service): LogLine[] {
  return service.logLines().filter((line) => line.level >= 40);
}

const spawned = new Set<ChildProcess>();

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The pid in a data directory's postmaster.pid, or null. */
export function postmasterPid(pgDataDir: string): number | null {
  try {
    const pid = Number(readFileSync(path.join(pgDataDir, "postmaster.pid"), "utf8").split("\n")[0]);
    return pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Postmasters (not their children, which may show the same command line) running on `pgDataDir`. */
export function postmastersOn(pgDataDir: string): number[] {
  const found = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (path.basename(argv[0] ?? "") !== "postgres" || argv[1] !== "-D" || argv[2] !== pgDataDir) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      found.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  return [...found].filter(([, ppid]) => !found.has(ppid)).map(([pid]) => pid);
}

/** Every process in process group `pgid`. */
function groupMembers(pgid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid && fields[0] !== "Z") pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** kill -9 of a whole process group, waiting until every member is gone. */
export async function killGroup(pgid: number): Promise<void> {
  try {
    process.kill(-pgid, "SIGKILL");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
  await waitFor(`process group ${pgid} to die`, () => groupMembers(pgid).length === 0);
}

/**
 * Leaves nothing running: every spawned npm group and any postmaster on the given PostgreSQL
 * data directories (their own process groups), killed with SIGKILL. For afterAll.
 */
export async function cleanUp(pgDataDirs: string[]): Promise<void> {
  for (const child of spawned) {
    if (child.pid) await killGroup(child.pid).catch(() => {});
  }
  for (const dir of pgDataDirs) {
    const pids = new Set([...(existsSync(dir) ? postmastersOn(dir) : []), postmasterPid(dir) ?? 0]);
    for (const pid of pids) if (pid > 0 && isAlive(pid) && postmastersOn(dir).includes(pid)) await killGroup(pid).catch(() => {});
  }
}
