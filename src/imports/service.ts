import { setTimeout as delay } from "node:timers/promises";
import type { App } from "../app.ts";
import type { ImportJob } from "../generated/prisma/client.ts";
import type { Context } from "../graphql/context.ts";
import { NotFoundError, ValidationError } from "../errors.ts";
import { ImportTooLargeError, stageImport, type ImportFormat } from "./staging.ts";
import { wakeImportRunners } from "./runner.ts";
import type { ImportKind, ImportMode } from "./writers.ts";

export interface ImportArgs {
  file: File;
  format: ImportFormat;
  mode?: ImportMode | null;
  atomic?: boolean | null;
}

/**
 * Stores an uploaded file as a new import job of `kind` for the caller, queues it and returns
 * it (QUEUED): a runner imports it in the background. Throws ValidationError when the file
 * exceeds BILLRUN_IMPORT_MAX_BYTES.
 */
export async function startImport(ctx: Context, kind: ImportKind, args: ImportArgs): Promise<ImportJob> {
  // Yoga's multipart parser hands over its own File implementation: recognise it by its methods.
  const file = args.file as { stream?: unknown; arrayBuffer?: unknown } | null;
  if (!file || typeof file !== "object" || typeof file.stream !== "function" || typeof file.arrayBuffer !== "function") {
    throw new ValidationError("file: must be an uploaded file; send the request as multipart/form-data (GraphQL multipart request specification)", ["file"]);
  }
  let id: string;
  try {
    id = await stageImport(
      ctx.app,
      { kind, format: args.format, mode: args.mode ?? "CREATE", atomic: args.atomic ?? false, fileName: args.file.name || null, createdById: ctx.user!.id },
      args.file.stream() as unknown as AsyncIterable<Uint8Array>,
      ctx.app.config.imports.maxBytes,
    );
  } catch (error) {
    if (error instanceof ImportTooLargeError) throw new ValidationError(`file: ${error.message}`, ["file"]);
    throw error;
  }
  wakeImportRunners();
  return ctx.db.importJob.findUniqueOrThrow({ where: { id } });
}

export interface ImportProgress {
  id: string;
  status: ImportJob["status"];
  rowsTotal: number;
  rowsImported: number;
  rowsSkipped: number;
  rowsRejected: number;
  sizeBytes: bigint;
  bytesDone: bigint;
}

const FINISHED = new Set(["COMPLETED", "FAILED"]);

/**
 * A job's counters at once, then whenever they change (read every `intervalMs`), ending with the
 * final ones. Throws NotFoundError for an unknown job.
 */
export async function importProgressFeed(app: App, id: string, intervalMs = 250): Promise<AsyncGenerator<ImportProgress>> {
  const read = () =>
    app.db.importJob.findUnique({
      where: { id },
      select: { id: true, status: true, rowsTotal: true, rowsImported: true, rowsSkipped: true, rowsRejected: true, sizeBytes: true, bytesDone: true },
    });
  const first = await read();
  if (!first) throw new NotFoundError(`import job ${id} not found`);
  return (async function* feed() {
    let last = first;
    yield last;
    while (!FINISHED.has(last.status)) {
      await delay(intervalMs);
      const next = await read();
      if (!next) return;
      if (next.status !== last.status || next.rowsTotal !== last.rowsTotal || next.bytesDone !== last.bytesDone) yield next;
      last = next;
    }
  })();
}
