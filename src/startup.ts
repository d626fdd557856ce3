// Start-up failures: one short message that names the cause and the fix, on stderr, and exit 1.
import { createServer } from "node:net";
// pino's own type: log.ts imports this module for its redaction.
import type { Logger } from "pino";

/**
 * A start-up failure we understand: `reason` says what is wrong, `fix` what to do, `details`
 * are the lines of the component that refused (PostgreSQL's FATAL/DETAIL/HINT lines).
 */
export class StartupError extends Error {
  readonly reason: string;
  readonly fix: string;
  readonly details: string[];
  constructor(reason: string, fix: string, details: string[] = []) {
    super(reason);
    this.name = "StartupError";
    this.reason = reason;
    this.fix = fix;
    this.details = details;
  }
}

/** Exit code of a process that could not start. */
export const STARTUP_FAILURE_EXIT_CODE = 1;

/** Environment variables whose values are never printed, even when they are wrong. */
const SECRET_VARIABLE = /TOKEN|SECRET|PASSWORD|DATABASE_URL|SMTP_URL/;

/** One line per bad environment variable: `NAME="value": what is wrong` (secret values left out). */
export function configProblem(name: string, value: string | undefined, problem: string): string {
  const shown = value === undefined || SECRET_VARIABLE.test(name) ? name : `${name}=${JSON.stringify(value)}`;
  return `${shown}: ${problem}`;
}

/** The bad environment values found by `loadConfig`, one line each. */
export class ConfigError extends StartupError {
  constructor(problems: string[]) {
    super(
      problems.length === 1 ? "an environment variable has a bad value" : `${problems.length} environment variables have bad values`,
      'correct or unset it (README, "Configuration", lists every variable with its default)',
      problems,
    );
    this.name = "ConfigError";
  }
}

/** `postgresql://user:secret@host` → `postgresql://user:***@host`, anywhere in a text. */
export function hideUrlPasswords(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/?#\s@]*):[^@/\s]*@/gi, "$1:***@");
}

/** The human text for any start-up failure (a StartupError, or anything else thrown). */
export function describeStartupFailure(error: unknown): string {
  if (error instanceof StartupError) {
    const lines = [`Billrun could not start: ${error.reason}.`];
    if (error.details.length > 0) lines.push(...error.details.map((line) => `    ${line}`));
    lines.push(`  Fix: ${error.fix}.`);
    return hideUrlPasswords(lines.join("\n"));
  }
  const listen = error as NodeJS.ErrnoException & { port?: number };
  if (listen?.syscall === "listen" && listen.code === "EADDRINUSE") {
    return describeStartupFailure(portInUse(listen.port ?? 0, "PORT"));
  }
  if (listen?.syscall === "listen" && listen.code === "EACCES") {
    return describeStartupFailure(new StartupError(`this user may not listen on port ${listen.port} (PORT)`, "choose a port above 1023, e.g. PORT=4000"));
  }
  const text =
    error instanceof Error
      ? `Billrun could not start: ${error.message || error.name}\n${(error.stack ?? "").split("\n").slice(1).join("\n")}`
      : `Billrun could not start: unexpected failure (${String(error)})`;
  return hideUrlPasswords(text);
}

/**
 * Makes every failure until `done()` a start-up failure: the message of describeStartupFailure
 * on stderr (and a fatal log line once a logger is known), then exit 1. Top-level awaits that
 * reject arrive here as uncaught exceptions.
 */
export function guardStartup(): { setLogger: (log: Logger) => void; done: () => void } {
  let logger: Logger | null = null;
  const fail = (error: unknown) => {
    const message = describeStartupFailure(error);
    logger?.fatal({ reason: message.split("\n")[0] }, "start-up failed");
    process.stderr.write(`\n${message}\n\n`);
    process.exit(STARTUP_FAILURE_EXIT_CODE);
  };
  process.on("uncaughtException", fail);
  // A stop asked for before the service runs: exit now; the exit hooks stop an embedded PostgreSQL.
  const interrupted = (signal: NodeJS.Signals) => {
    logger?.info({ signal }, "stopped during start-up");
    process.exit(128 + (signal === "SIGINT" ? 2 : 15));
  };
  process.on("SIGINT", interrupted);
  process.on("SIGTERM", interrupted);
  return {
    setLogger: (log) => {
      logger = log;
    },
    done: () => {
      process.off("uncaughtException", fail);
      process.off("SIGINT", interrupted);
      process.off("SIGTERM", interrupted);
    },
  };
}

export function portInUse(port: number, variable: string): StartupError {
  return new StartupError(`port ${port} (${variable}) is already in use by another program`, `stop that program, or set ${variable} to a free port`);
}

/**
 * Fails fast, before anything slow starts, when another program listens on `port`.
 * Port 0 (any free port) passes. Raises StartupError naming `variable`.
 */
export async function assertPortFree(port: number, host: string, variable: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "EADDRINUSE") reject(portInUse(port, variable));
      else if (error.code === "EACCES") reject(new StartupError(`this user may not listen on port ${port} (${variable})`, "choose a port above 1023"));
      // Anything else (e.g. an address not on this machine) is for the real listen to report.
      else resolve();
    });
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}
