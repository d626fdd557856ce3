// The document routes, beside GraphQL on the same port and with the same bearer tokens:
//   GET /documents/invoices/{id}.pdf, GET /documents/credit-memos/{id}.pdf
//   GET /exports/bill-runs/{id}/{invoices|items|credit-memos|failed-accounts}.csv
// Any role may download (a VIEWER reads everything); no valid token is a 401. A PDF may also be
// fetched with the short-lived signed link the API gives as `pdfUrl`, without a token.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { App } from "../app.ts";
import { authenticate } from "../auth/users.ts";
import { documentPdf } from "./cache.ts";
import { billRunNumber, isExportName, writeExport } from "./csv.ts";
import type { DocumentKind } from "./data.ts";
import { verifyDocumentLink } from "./links.ts";

const PDF_PATH = /^\/documents\/(invoices|credit-memos)\/([^/]+)\.pdf$/;
const CSV_PATH = /^\/exports\/bill-runs\/([^/]+)\/([a-z-]+)\.csv$/;

/** True for the paths these routes answer (whatever the method), so the caller leaves them alone. */
export function isDocumentRequest(req: IncomingMessage): boolean {
  const pathname = (req.url ?? "/").split("?")[0]!;
  return pathname.startsWith("/documents/") || pathname.startsWith("/exports/");
}

function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  res
    .writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers })
    .end(JSON.stringify({ errors: [{ message, extensions: { code } }] }));
}

/** A path segment decoded; a malformed escape names nothing (ids are UUIDs), so it becomes "". */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return "";
  }
}

/** A file name for Content-Disposition: document and run numbers are ASCII already; anything else becomes "_". */
function attachment(filename: string): string {
  return `attachment; filename="${filename.replace(/[^A-Za-z0-9._-]/g, "_")}"`;
}

/**
 * Answers a request for which `isDocumentRequest` holds: the PDF or CSV, or a JSON error
 * (401 UNAUTHENTICATED, 404 NOT_FOUND, 405, 500 INTERNAL_SERVER_ERROR logged with the request id).
 * Never rejects.
 */
export async function handleDocumentRequest(app: App, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const requestId = String(req.headers["x-request-id"] ?? "");
  try {
    if (req.method !== "GET" && req.method !== "HEAD") {
      return sendError(res, 405, "METHOD_NOT_ALLOWED", "Use GET.", { allow: "GET, HEAD" });
    }
    const [pathname = "/", search = ""] = (req.url ?? "/").split("?", 2);
    const query = new URLSearchParams(search);
    const pdf = PDF_PATH.exec(pathname);
    const pdfType: DocumentKind | null = pdf ? (pdf[1] === "invoices" ? "INVOICE" : "CREDIT_MEMO") : null;
    // A signed link (Invoice.pdfUrl) stands in for the token, for that one PDF, until it expires.
    if (pdf && query.has("signature")) {
      const id = decodeSegment(pdf[2]!);
      if (!(await verifyDocumentLink(app, pdfType!, id, query))) {
        return sendError(res, 401, "UNAUTHENTICATED", "This link has expired or is not valid: ask the API for a new pdfUrl.");
      }
      return await sendPdf(app, req, res, pdfType!, id);
    }
    const user = await authenticate(app.db, req.headers.authorization);
    if (!user) {
      return sendError(res, 401, "UNAUTHENTICATED", "A valid bearer token is required.", { "www-authenticate": 'Bearer realm="billrun"' });
    }
    if (pdf) return await sendPdf(app, req, res, pdfType!, decodeSegment(pdf[2]!));
    const csv = CSV_PATH.exec(pathname);
    if (csv && isExportName(csv[2]!)) return await sendCsv(app, req, res, decodeSegment(csv[1]!), csv[2]);
    return sendError(res, 404, "NOT_FOUND", "No such document or export.");
  } catch (error) {
    app.log.error({ err: error, requestId }, "document request failed");
    if (!res.headersSent) sendError(res, 500, "INTERNAL_SERVER_ERROR", "Unexpected error.");
    else res.destroy();
  }
}

async function sendPdf(app: App, req: IncomingMessage, res: ServerResponse, type: DocumentKind, id: string): Promise<void> {
  const rendered = await documentPdf(app, type, id);
  if (!rendered) return sendError(res, 404, "NOT_FOUND", `No ${type === "INVOICE" ? "invoice" : "credit memo"} ${id}.`);
  const etag = `"${rendered.hash}"`;
  const headers = {
    "content-type": "application/pdf",
    "content-disposition": attachment(`${rendered.data.number}.pdf`),
    etag,
    // A draft changes until it is posted: always revalidate (cheap, by ETag).
    "cache-control": "private, no-cache",
    "x-content-type-options": "nosniff",
  };
  if (req.headers["if-none-match"] === etag) {
    res.writeHead(304, headers).end();
    return;
  }
  res.writeHead(200, { ...headers, "content-length": rendered.pdf.length });
  res.end(req.method === "HEAD" ? undefined : rendered.pdf);
}

async function sendCsv(app: App, req: IncomingMessage, res: ServerResponse, billRunId: string, name: Parameters<typeof writeExport>[2]): Promise<void> {
  const number = await billRunNumber(app, billRunId);
  if (!number) return sendError(res, 404, "NOT_FOUND", `No bill run ${billRunId}.`);
  res.writeHead(200, {
    "content-type": "text/csv; charset=utf-8",
    "content-disposition": attachment(`${number}-${name}.csv`),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  try {
    await writeExport(app, billRunId, name, res);
  } catch (error) {
    // Headers are gone: the client sees a cut transfer, not a short file that looks whole.
    if (!res.destroyed && !res.writableFinished) {
      app.log.error({ err: error, requestId: req.headers["x-request-id"], billRunId, export: name }, "export failed");
      res.destroy();
    }
  }
}
