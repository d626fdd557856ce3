import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { freePort } from "../../src/db/embedded.ts";

// Tests that start processes wait on them with the one condition-wait helper.
export { waitFor } from "./wait.ts";

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A real `npm start` / `npm run worker` process, with its pino log parsed as it comes. */
export interface Proc {
  name: string;
  child: ChildProcess;
  /** The API's port, or the worker's health port. */
  port: number;
  lines: LogLine[];
  /** Resolves with the exit code (null when a signal ended it) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first log line that `match` accepts (rejects after `timeoutMs`). */
  waitForLog: (match: (line: LogLine) => boolean, timeoutMs?: number) => Promise<LogLine>;
}

const ENTRIES = {
  api: fileURLToPath(new URL("../../src/server.ts", import.meta.url)),
  worker: fileURLToPath(new URL("../../src/worker.ts", import.meta.url)),
};

/**
 * Spawns `node src/server.ts` (kind "api") or `node src/worker.ts` (kind "worker", with its
 * health server) on a free port, with `env` over the defaults a user gets.
 */
export async function startProcess(name: string, kind: "api" | "worker", env: Record<string, string>): Promise<Proc> {
  const port = await freePort();
  const child = spawn(process.execPath, [ENTRIES[kind]], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LOG_LEVEL: "info",
      HOST: "127.0.0.1",
      ...(kind === "api" ? { PORT: String(port), BILLRUN_WORKER: "false" } : { BILLRUN_WORKER_PORT: String(port) }),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: LogLine[] = [];
  const waiters = new Set<(line: LogLine) => void>();
  const take = (text: string) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
      if (typeof line.level !== "number") return;
    } catch {
      return; // the start-up banner, not a log line
    }
    lines.push(line);
    for (const waiter of waiters) waiter(line);
  };
  createInterface({ input: child.stdout! }).on("line", take);
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on("line", (text) => {
    stderr.push(text);
    if (process.env.TEST_LOG_LEVEL) console.error(`[${name}] ${text}`);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  void exited.then(({ code }) => {
    if (code && code !== 0) console.error(`[${name}] exited with ${code}:\n${stderr.join("\n")}`);
  });
  return {
    name,
    child,
    port,
    lines,
    exited,
    waitForLog: (match, timeoutMs = 30_000) =>
      new Promise<LogLine>((resolve, reject) => {
        const found = lines.find(match);
        if (found) return resolve(found);
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`${name}: no matching log line within ${timeoutMs} ms`));
        }, timeoutMs);
        const waiter = (line: LogLine) => {
          if (!match(line)) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(line);
        };
        waiters.add(waiter);
      }),
  };
}

/** GET a probe; the status code, or 0 when nothing answers. */
export async function probe(port: number, path: "/health" | "/ready"): Promise<number> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5_000) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

const TICKS_PER_SECOND = 100; // Linux's USER_HZ

async function statFields(pid: number): Promise<string[] | null> {
  const { readFile } = await import("node:fs/promises");
  const text = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => null);
  // Fields after the command name (which may hold spaces), from field 3 (state) on.
  return text ? text.slice(text.lastIndexOf(")") + 2).split(" ") : null;
}

/** CPU seconds a live process has used (Linux /proc; null elsewhere). */
export async function cpuSeconds(pid: number): Promise<number | null> {
  const f = await statFields(pid);
  return f ? (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND : null;
}

/**
 * CPU seconds the PostgreSQL server on this machine has used so far: the postmaster's exited
 * children (backends come and go) plus its live ones. Null when /proc cannot tell (not Linux,
 * or a server elsewhere).
 */
export async function postgresCpuSeconds(pool: import("pg").Pool): Promise<number | null> {
  const { readdir } = await import("node:fs/promises");
  const backend = await pool.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
  const own = await statFields(backend.rows[0]!.pid);
  if (!own) return null;
  const postmaster = Number(own[1]);
  const main = await statFields(postmaster);
  if (!main) return null;
  let total = (Number(main[11]) + Number(main[12]) + Number(main[13]) + Number(main[14])) / TICKS_PER_SECOND;
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const f = await statFields(Number(entry));
    if (f && Number(f[1]) === postmaster) total += (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
  }
  return total;
}
