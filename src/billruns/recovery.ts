import type { App } from "../app.ts";
import { QUEUES } from "../jobs.ts";
import { finishCancel, finishRemove } from "./rollback.ts";
import { findUnfinishedRuns } from "./runs.ts";

/**
 * Picks up what a crash can leave between two transactions: a run whose start, chunks or
 * posting has no job any more, a cancel or delete half done. Every step it re-runs is
 * idempotent, so running it while others work is harmless: a job sent twice finds nothing left
 * to do the second time (pg-boss' standard queues keep both jobs despite the singleton key).
 */
export async function recoverRuns(app: App): Promise<void> {
  const stuck = await findUnfinishedRuns(app.pool);
  for (const run of stuck) {
    if (run.status === "PENDING" || run.status === "PROCESSING") {
      await app.jobs.send(QUEUES.start, { billRunId: run.id }, { singletonKey: run.id });
    } else if (run.status === "POST_IN_PROGRESS") {
      await app.jobs.send(QUEUES.post, { billRunId: run.id }, { singletonKey: run.id });
    } else if (run.status === "CANCEL_IN_PROGRESS") {
      await finishCancel(app, run.id, null);
    } else {
      await finishRemove(app, run.id);
    }
  }
  if (stuck.length > 0) app.log.info({ runs: stuck.length }, "resumed bill runs left unfinished");
}
