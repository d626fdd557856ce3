import { randomUUID } from "node:crypto";
import pg from "pg";
import type { App } from "../app.ts";
import type { ImportKind, ImportMode } from "./writers.ts";

export type ImportFormat = "CSV" | "NDJSON";

export interface NewImport {
  kind: ImportKind;
  format: ImportFormat;
  mode: ImportMode;
  atomic: boolean;
  fileName: string | null;
  createdById: string;
}

/** The file was larger than allowed; the job is FAILED and its staged part deleted. */
export class ImportTooLargeError extends Error {
  readonly jobId: string;
  constructor(jobId: string, maxBytes: number) {
    super(`the file is larger than ${maxBytes} bytes (BILLRUN_IMPORT_MAX_BYTES)`);
    this.jobId = jobId;
  }
}

/** Advisory-lock class of import jobs: (IMPORT_LOCK, hashtext(job id)) is held by whoever works on a job. */
export const IMPORT_LOCK = 20_451_117;
const CHUNK_BYTES = 1024 * 1024;

/** A connection of its own (not the pool's): its session holds a job's lock until it ends. */
export async function lockConnection(app: App): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: databaseUrlOf(app) });
  // A dropped connection ends the work on it; the query in progress reports the failure.
  client.on("error", () => {});
  await client.connect();
  return client;
}

/** The URL the process's pool connects with (the embedded database's when DATABASE_URL is unset). */
function databaseUrlOf(app: App): string {
  const options = (app.pool as unknown as { options: { connectionString: string } }).options;
  return options.connectionString;
}

/**
 * Creates an import job and stages `file` into it (pieces of 1 MiB in import_job_chunks), never
 * holding more than one piece in memory; the job is QUEUED once the whole file is stored. While
 * the file arrives, the job is RECEIVING and locked by this connection: if this process dies, a
 * runner finds it unlocked and marks it FAILED.
 *
 * Returns the job's id. Throws ImportTooLargeError past `maxBytes` (the job is then FAILED), and
 * whatever reading `file` throws (the job is then FAILED too).
 */
export async function stageImport(app: App, spec: NewImport, file: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, maxBytes: number): Promise<string> {
  const id = randomUUID();
  const client = await lockConnection(app);
  try {
    await client.query("SELECT pg_advisory_lock($1, hashtext($2))", [IMPORT_LOCK, id]);
    await client.query(
      `INSERT INTO import_jobs (id, kind, format, mode, atomic, status, file_name, created_by_id)
       VALUES ($1, $2::"ImportKind", $3::"ImportFormat", $4::"ImportMode", $5, 'RECEIVING', $6, $7)`,
      [id, spec.kind, spec.format, spec.mode, spec.atomic, spec.fileName?.slice(0, 255) ?? null, spec.createdById],
    );
    let seq = 0;
    let size = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      if (pendingBytes === 0) return;
      await client.query("INSERT INTO import_job_chunks (job_id, seq, data) VALUES ($1, $2, $3)", [id, seq++, Buffer.concat(pending, pendingBytes)]);
      pending = [];
      pendingBytes = 0;
    };
    try {
      for await (const piece of file) {
        size += piece.byteLength;
        if (size > maxBytes) throw new ImportTooLargeError(id, maxBytes);
        pending.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
        pendingBytes += piece.byteLength;
        if (pendingBytes >= CHUNK_BYTES) await flush();
      }
      await flush();
    } catch (error) {
      const message = error instanceof ImportTooLargeError ? error.message : "the upload was interrupted; send the file again";
      await client.query("DELETE FROM import_job_chunks WHERE job_id = $1", [id]);
      await client.query(`UPDATE import_jobs SET status = 'FAILED', error_message = $2, finished_at = now() WHERE id = $1`, [id, message]);
      throw error;
    }
    await client.query(`UPDATE import_jobs SET status = 'QUEUED', size_bytes = $2 WHERE id = $1`, [id, size]);
    return id;
  } finally {
    await client.end().catch(() => {});
  }
}
