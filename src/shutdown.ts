import type { Logger } from "./log.ts";

/**
 * Runs `stop` on the first SIGTERM or SIGINT, then exits 0 (1 if it failed). A second signal
 * changes nothing (the stop under way already bounds itself by the grace period); if the stop
 * hangs past `deadlineMs` (a database that no longer answers), the process exits 1.
 */
export function onStopSignals(log: Logger, deadlineMs: number, stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const handle = (signal: string) => {
    if (stopping) {
      log.info({ signal }, "already stopping");
      return;
    }
    stopping = true;
    const started = performance.now();
    const deadline = setTimeout(() => {
      log.error({ seconds: Math.round(deadlineMs / 1000) }, "stopping took too long; exiting");
      process.exit(1);
    }, deadlineMs);
    deadline.unref();
    stop(signal).then(
      () => {
        log.info({ ms: Math.round(performance.now() - started) }, "stopped");
        process.exit(0);
      },
      (error: unknown) => {
        log.error({ err: error }, "stopping failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => handle("SIGTERM"));
  process.on("SIGINT", () => handle("SIGINT"));
}
