// Delivers the email outbox. Any number of processes may run a mailer on the same database:
// a message is claimed with FOR UPDATE SKIP LOCKED and a lease (status SENDING until
// next_attempt_at), sent, then recorded as SENT. A sender that dies between the SMTP server's
// "250 OK" and that record leaves the claim to expire, and the message is sent again with the
// same Message-ID (<outbox id@billrun>): at-least-once, recognisable duplicates, never lost.
// See docs/decisions.md.
import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import nodemailer, { type NodemailerError, type SendMailOptions } from "nodemailer";
import type { App } from "../app.ts";
import {
  composeInvoiceEmail,
  composeRunStatusEmail,
  composeWebhookDisabledEmail,
  type ComposedEmail,
  type InvoiceEmailData,
  type WebhookDisabledPayload,
} from "./compose.ts";
import type { RunStatusPayload } from "./outbox.ts";
import { documentPdf } from "../documents/cache.ts";

export interface MailerOptions {
  concurrency: number;
  pollIntervalMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  leaseMs: number;
}

export interface Mailer {
  /** Sends every message that is due now; resolves when none is left (failed ones wait for their retry). */
  flush: () => Promise<void>;
  /** Stops taking messages, waits for those being sent, closes the transport. */
  stop: () => Promise<void>;
}

export interface OutboxRow {
  id: string;
  dedupe_key: string;
  kind: "BILL_RUN_STATUS" | "INVOICE" | "WEBHOOK_ENDPOINT_DISABLED";
  to_address: string;
  document_id: string | null;
  payload: RunStatusPayload | WebhookDisabledPayload | null;
  attempts: number;
}

/** The stable Message-ID of an outbox row: a resend after a crash carries the same one. */
export function messageIdOf(outboxId: string): string {
  return `<${outboxId}@billrun>`;
}

interface Transport {
  send: (message: SendMailOptions & { messageId: string }, outboxId: string) => Promise<void>;
  close: () => void;
}

/** SMTP from SMTP_URL; without it, one .eml file per message under the mail directory. */
export function createTransport(app: App, concurrency: number): Transport {
  const { config } = app;
  if (config.smtpUrl) {
    const smtp = nodemailer.createTransport({
      url: config.smtpUrl,
      pool: true,
      maxConnections: concurrency,
      // Bounded, so that a hung server cannot outlast the claim's lease.
      connectionTimeout: 30_000,
      greetingTimeout: 30_000,
      socketTimeout: 60_000,
    });
    return {
      send: async (message) => {
        await smtp.sendMail(message);
      },
      close: () => smtp.close(),
    };
  }
  const stream = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "windows" });
  let dirReady: Promise<unknown> | null = null;
  return {
    send: async (message, outboxId) => {
      dirReady ??= mkdir(config.mailDir, { recursive: true });
      await dirReady;
      const info = await stream.sendMail(message);
      // Named after the outbox row: sending again after a crash rewrites the same file.
      const file = path.join(config.mailDir, `${outboxId}.eml`);
      await writeFile(`${file}.tmp`, info.message as Buffer);
      await rename(`${file}.tmp`, file);
    },
    close: () => stream.close(),
  };
}

/** Claims up to `limit` due messages (PENDING and due, or SENDING with an expired lease). */
export async function claimDue(app: App, limit: number, leaseMs: number): Promise<OutboxRow[]> {
  const claimed = await app.pool.query<OutboxRow>(
    `UPDATE email_outbox o
        SET status = 'SENDING', attempts = o.attempts + 1, next_attempt_at = now() + $2 * interval '1 millisecond'
      WHERE o.id IN (SELECT id FROM email_outbox
                      WHERE status IN ('PENDING', 'SENDING') AND next_attempt_at <= now()
                      ORDER BY priority, next_attempt_at
                      LIMIT $1 FOR UPDATE SKIP LOCKED)
      RETURNING o.id, o.dedupe_key, o.kind, o.to_address, o.document_id, o.payload, o.attempts`,
    [limit, leaseMs],
  );
  return claimed.rows;
}

/**
 * A header's value on one line: inputs refuse line breaks and other control characters in
 * names and addresses already; this keeps any that got into stored data out of the headers.
 */
export function headerValue(value: string): string {
  return value.replace(/[\p{Cc}\u2028\u2029]+/gu, " ");
}

/** The message of an outbox row, rendered now; null when what it is about no longer exists. */
export async function composeMessage(app: App, row: OutboxRow): Promise<(SendMailOptions & { messageId: string }) | null> {
  let email: ComposedEmail;
  let attachments: SendMailOptions["attachments"];
  if (row.kind === "BILL_RUN_STATUS") {
    if (!row.payload) return null;
    email = composeRunStatusEmail(row.payload as RunStatusPayload, { publicUrl: app.config.publicUrl });
  } else if (row.kind === "WEBHOOK_ENDPOINT_DISABLED") {
    if (!row.payload) return null;
    email = composeWebhookDisabledEmail(row.payload as WebhookDisabledPayload);
  } else {
    const invoice = row.document_id ? await loadInvoice(app, row.document_id) : null;
    if (!invoice) return null;
    email = composeInvoiceEmail(invoice);
    // Rendered now, from what the invoice is at send time (it is posted, so it no longer changes).
    const rendered = await documentPdf(app, "INVOICE", row.document_id!);
    if (rendered) attachments = [{ filename: `${rendered.data.number}.pdf`, content: rendered.pdf, contentType: "application/pdf" }];
  }
  return {
    from: app.config.emailFrom,
    to: headerValue(row.to_address),
    subject: headerValue(email.subject),
    text: email.text,
    html: email.html,
    ...(attachments ? { attachments } : {}),
    messageId: messageIdOf(row.id),
    headers: { "X-Billrun-Notification": row.dedupe_key },
  };
}

async function loadInvoice(app: App, documentId: string): Promise<InvoiceEmailData | null> {
  const found = await app.pool.query<{
    number: string;
    bill_run_number: string | null;
    account_number: string;
    name: string;
    currency: string;
    amount: string;
    invoice_date: string;
    due_date: string;
  }>(
    `SELECT d.number, r.bill_run_number, a.account_number, a.name, d.currency, d.amount::text AS amount,
            to_char(d.invoice_date, 'YYYY-MM-DD') AS invoice_date, to_char(d.due_date, 'YYYY-MM-DD') AS due_date
       FROM documents d JOIN accounts a ON a.id = d.account_id LEFT JOIN bill_runs r ON r.id = d.bill_run_id
      WHERE d.id = $1 AND d.type = 'INVOICE'`,
    [documentId],
  );
  const doc = found.rows[0];
  if (!doc) return null;
  const items = await app.pool.query<{ charge_name: string; service_start: string; service_end: string; quantity: string; unit_price: string; amount: string }>(
    `SELECT charge_name, to_char(service_start, 'YYYY-MM-DD') AS service_start, to_char(service_end, 'YYYY-MM-DD') AS service_end,
            quantity::text AS quantity, unit_price::text AS unit_price, amount::text AS amount
       FROM document_items WHERE document_id = $1 AND NOT voided ORDER BY position`,
    [documentId],
  );
  return {
    invoiceNumber: doc.number,
    billRunNumber: doc.bill_run_number,
    accountNumber: doc.account_number,
    accountName: doc.name,
    currency: doc.currency,
    amount: doc.amount,
    invoiceDate: doc.invoice_date,
    dueDate: doc.due_date,
    lines: items.rows.map((i) => ({
      chargeName: i.charge_name,
      serviceStart: i.service_start,
      serviceEnd: i.service_end,
      quantity: i.quantity,
      unitPrice: i.unit_price,
      amount: i.amount,
    })),
  };
}

/** The server answered about this message or its recipients, not about the connection or session. */
function aboutThisMessage(error: NodemailerError): boolean {
  return error.command === "RCPT TO" || error.command === "DATA" || error.code === "EENVELOPE";
}

/** A rejection of this very message or recipient; retrying it would get the same answer. */
function isPermanent(error: NodemailerError): boolean {
  return error.permanent === true && aboutThisMessage(error);
}

/** Not about one message: the server is unreachable, refuses us, or times out. */
function isServerProblem(error: NodemailerError): boolean {
  return !aboutThisMessage(error);
}

export function backoffMs(attempts: number, options: Pick<MailerOptions, "retryBaseMs" | "retryMaxMs">): number {
  const delay = Math.min(options.retryMaxMs, options.retryBaseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 30));
  return Math.round(delay * (0.8 + Math.random() * 0.4));
}

export function startMailer(app: App, overrides: Partial<MailerOptions> = {}): Mailer {
  const options: MailerOptions = { ...app.config.mail, ...overrides };
  const transport = createTransport(app, options.concurrency);
  const log = app.log.child({ component: "mailer" });
  let stopping = false;
  // While the server is unreachable every lane waits, instead of failing message after message.
  let pausedUntil = 0;
  let serverFailures = 0;
  const stopped = new AbortController();
  const sleep = (ms: number) => delay(ms, undefined, { signal: stopped.signal }).catch(() => {});

  async function record(row: OutboxRow, error: unknown): Promise<void> {
    if (!error) {
      serverFailures = 0;
      await app.pool.query("UPDATE email_outbox SET status = 'SENT', sent_at = now(), last_error = NULL WHERE id = $1 AND status = 'SENDING'", [row.id]);
      return;
    }
    const e = error as NodemailerError;
    const reason = String(e.response ?? e.message ?? e).slice(0, 1000);
    if (isPermanent(e)) {
      log.error({ id: row.id, to: row.to_address, reason }, "email rejected for good; not retried");
      await app.pool.query("UPDATE email_outbox SET status = 'FAILED', last_error = $2 WHERE id = $1 AND status = 'SENDING'", [row.id, reason]);
      return;
    }
    const delay = backoffMs(row.attempts, options);
    if (isServerProblem(e)) {
      serverFailures += 1;
      pausedUntil = Math.max(pausedUntil, Date.now() + backoffMs(serverFailures, options));
    }
    log.warn({ id: row.id, attempts: row.attempts, retryInMs: delay, reason }, "email not sent; will retry");
    await app.pool.query(
      `UPDATE email_outbox SET status = 'PENDING', last_error = $2, next_attempt_at = now() + $3 * interval '1 millisecond'
        WHERE id = $1 AND status = 'SENDING'`,
      [row.id, reason, delay],
    );
  }

  /** Claims, sends and records one message; false when none was due. */
  async function sendOne(): Promise<boolean> {
    const [row] = await claimDue(app, 1, options.leaseMs);
    if (!row) return false;
    let message: Awaited<ReturnType<typeof composeMessage>>;
    try {
      message = await composeMessage(app, row);
    } catch (error) {
      // Probably the database: leave the claim to expire and try again then.
      log.error({ err: error, id: row.id }, "email could not be composed");
      throw error;
    }
    if (!message) {
      await app.pool.query("UPDATE email_outbox SET status = 'FAILED', last_error = $2 WHERE id = $1", [row.id, "what the email was about no longer exists"]);
      return true;
    }
    let failure: unknown = null;
    try {
      await transport.send(message, row.id);
    } catch (error) {
      failure = error ?? new Error("send failed");
    }
    await record(row, failure);
    return true;
  }

  // What the lanes are sending now: flush waits for it too.
  const inFlight = new Set<Promise<boolean>>();

  async function lane(): Promise<void> {
    while (!stopping) {
      try {
        const wait = pausedUntil - Date.now();
        if (wait > 0) {
          await sleep(wait);
          continue;
        }
        const sending = sendOne();
        inFlight.add(sending);
        const sent = await sending.finally(() => inFlight.delete(sending));
        if (!sent) await sleep(options.pollIntervalMs);
      } catch (error) {
        if (stopping) break;
        log.error({ err: error }, "mailer failed; retrying");
        await sleep(options.pollIntervalMs);
      }
    }
  }

  const lanes = Array.from({ length: options.concurrency }, () => lane());
  log.debug({ transport: app.config.smtpUrl ? "smtp" : "file", concurrency: options.concurrency }, "mailer started");

  return {
    flush: async () => {
      while (Date.now() >= pausedUntil && (await sendOne()));
      await Promise.allSettled([...inFlight]);
    },
    stop: async () => {
      stopping = true;
      stopped.abort();
      await Promise.all(lanes);
      transport.close();
    },
  };
}
