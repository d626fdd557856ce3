// Short-lived signed links to a document's PDF (Invoice.pdfUrl, CreditMemo.pdfUrl): a browser or
// mail client can open them without the bearer token. The signature is an HMAC-SHA256 over the
// document's kind, id and expiry, keyed by a secret the database made once (settings), so every
// API process signs and checks alike.
import { createHmac, timingSafeEqual } from "node:crypto";
import type { App } from "../app.ts";
import type { DocumentKind } from "./data.ts";

/** How long a link works: long enough to click, short enough that a forwarded one soon dies. */
export const DOCUMENT_LINK_SECONDS = 300;

const PATHS: Record<DocumentKind, string> = { INVOICE: "invoices", CREDIT_MEMO: "credit-memos" };
const secrets = new WeakMap<object, Promise<string>>();

function secretOf(app: Pick<App, "pool">): Promise<string> {
  let secret = secrets.get(app);
  if (!secret) {
    secret = app.pool
      .query<{ document_link_secret: string }>("SELECT document_link_secret FROM settings WHERE id = 1")
      .then((r) => r.rows[0]!.document_link_secret);
    // A failed read is tried again next time rather than remembered.
    secret.catch(() => secrets.delete(app));
    secrets.set(app, secret);
  }
  return secret;
}

function sign(secret: string, type: DocumentKind, id: string, expires: number): string {
  return createHmac("sha256", secret).update(`${type}\n${id}\n${expires}`).digest("base64url");
}

/**
 * `/documents/invoices/{id}.pdf?expires=<unix seconds>&signature=<HMAC>` (prefixed with
 * PUBLIC_URL when it is set), valid for DOCUMENT_LINK_SECONDS from `now`.
 */
export async function signedDocumentUrl(app: Pick<App, "pool" | "config">, type: DocumentKind, id: string, now = Date.now()): Promise<string> {
  const expires = Math.floor(now / 1000) + DOCUMENT_LINK_SECONDS;
  const signature = sign(await secretOf(app), type, id, expires);
  const base = app.config.publicUrl ? app.config.publicUrl.replace(/\/+$/, "") : "";
  return `${base}/documents/${PATHS[type]}/${encodeURIComponent(id)}.pdf?expires=${expires}&signature=${signature}`;
}

/** True when `query` holds an unexpired signature for this document. */
export async function verifyDocumentLink(app: Pick<App, "pool">, type: DocumentKind, id: string, query: URLSearchParams, now = Date.now()): Promise<boolean> {
  const expires = query.get("expires");
  const signature = query.get("signature");
  if (!expires || !signature || !/^\d{1,12}$/.test(expires) || Number(expires) * 1000 < now) return false;
  const expected = Buffer.from(sign(await secretOf(app), type, id, Number(expires)));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
