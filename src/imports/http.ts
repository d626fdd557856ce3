import type { IncomingMessage, ServerResponse } from "node:http";
import type { App } from "../app.ts";
import { authenticate, hasRole } from "../auth/users.ts";
import { ImportTooLargeError, stageImport, type ImportFormat } from "./staging.ts";
import { wakeImportRunners } from "./runner.ts";
import type { ImportKind, ImportMode } from "./writers.ts";

const KINDS: Record<string, ImportKind> = { accounts: "ACCOUNTS", subscriptions: "SUBSCRIPTIONS", usage: "USAGE" };

/**
 * The streaming import endpoint's requests: `/imports/{accounts|subscriptions|usage}` whatever the
 * method, and any POST under `/imports`. A GET of another `/imports/...` path is the dashboard's
 * (its Import page and each job's page).
 */
export function isImportRequest(req: IncomingMessage): boolean {
  const path = (req.url ?? "").split("?")[0] ?? "";
  if (/^\/imports\/(accounts|subscriptions|usage)\/?$/.test(path)) return true;
  return req.method === "POST" && (path === "/imports" || path.startsWith("/imports/"));
}

function send(res: ServerResponse, status: number, body: unknown, close = false): void {
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "application/json", ...(close ? { connection: "close" } : {}) }).end(JSON.stringify(body));
}

const refuse = (res: ServerResponse, status: number, code: string, message: string, close = false) =>
  send(res, status, { errors: [{ message, extensions: { code } }] }, close);

/**
 * `POST /imports/{accounts|subscriptions|usage}?format=csv|ndjson&mode=create|upsert&atomic=true`
 * with `Authorization: Bearer <token>` (OPERATOR or ADMIN) and the file as the body. The body is
 * streamed into the job's staged copy (never held whole in memory) up to BILLRUN_IMPORT_MAX_BYTES,
 * not BILLRUN_MAX_BODY_BYTES. Answers 202 with `{ importJob: { id, status } }` once the file is
 * stored; follow it with the `importJob` query or the `importJobProgress` subscription.
 */
export async function handleImportRequest(app: App, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const url = new URL(req.url ?? "/", "http://localhost");
    const kind = KINDS[url.pathname.replace(/^\/imports\/?/, "").replace(/\/$/, "")];
    if (!kind) return refuse(res, 404, "NOT_FOUND", "POST /imports/accounts, /imports/subscriptions or /imports/usage", true);
    if (req.method !== "POST") {
      res.setHeader("allow", "POST");
      return refuse(res, 405, "METHOD_NOT_ALLOWED", "send the file with POST", true);
    }
    const user = await authenticate(app.db, req.headers.authorization);
    if (!user) return refuse(res, 401, "UNAUTHENTICATED", "a valid bearer token is required", true);
    if (!hasRole(user, "OPERATOR")) return refuse(res, 403, "FORBIDDEN", "your role does not allow this operation", true);

    const format = parseFormat(url.searchParams.get("format"), req.headers["content-type"]);
    if (!format) return refuse(res, 400, "VALIDATION", "format: give ?format=csv or ?format=ndjson", true);
    const modeParam = (url.searchParams.get("mode") ?? "create").toUpperCase();
    if (modeParam !== "CREATE" && modeParam !== "UPSERT") return refuse(res, 400, "VALIDATION", "mode: create or upsert", true);
    if (kind === "USAGE" && modeParam === "UPSERT")
      return refuse(res, 400, "VALIDATION", "mode: usage is imported in create mode (a usageId makes a record sent again a no-op)", true);
    const atomicParam = (url.searchParams.get("atomic") ?? "false").toLowerCase();
    if (atomicParam !== "true" && atomicParam !== "false") return refuse(res, 400, "VALIDATION", "atomic: true or false", true);

    const maxBytes = app.config.imports.maxBytes;
    if (Number(req.headers["content-length"]) > maxBytes) {
      return refuse(res, 413, "REQUEST_ENTITY_TOO_LARGE", `the file is larger than ${maxBytes} bytes (BILLRUN_IMPORT_MAX_BYTES)`, true);
    }
    const fileName = url.searchParams.get("fileName");
    let id: string;
    try {
      id = await stageImport(
        app,
        { kind, format, mode: modeParam as ImportMode, atomic: atomicParam === "true", fileName, createdById: user.id },
        req,
        maxBytes,
      );
    } catch (error) {
      if (error instanceof ImportTooLargeError) {
        return send(res, 413, { errors: [{ message: error.message, extensions: { code: "REQUEST_ENTITY_TOO_LARGE", importJobId: error.jobId } }] }, true);
      }
      // The client went away mid-upload: the job is already marked FAILED.
      if (req.destroyed || req.readableAborted) return;
      throw error;
    }
    // The job as accepted (QUEUED), read before a runner is woken to take it.
    const job = await app.db.importJob.findUniqueOrThrow({
      where: { id },
      select: { id: true, kind: true, format: true, mode: true, atomic: true, status: true, sizeBytes: true },
    });
    wakeImportRunners();
    send(res, 202, { importJob: { ...job, sizeBytes: Number(job.sizeBytes) } });
  } catch (error) {
    app.log.error({ err: error, requestId: req.headers["x-request-id"] }, "import upload failed");
    refuse(res, 500, "INTERNAL_SERVER_ERROR", "Unexpected error.", true);
  }
}

function parseFormat(param: string | null, contentType: string | undefined): ImportFormat | null {
  const value = (param ?? "").toLowerCase();
  if (value === "csv") return "CSV";
  if (value === "ndjson" || value === "jsonl") return "NDJSON";
  if (value !== "") return null;
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (type === "text/csv") return "CSV";
  if (type === "application/x-ndjson" || type === "application/jsonl") return "NDJSON";
  return null;
}
