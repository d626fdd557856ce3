import { SMTPServer } from "smtp-server";
import { freePort } from "../../src/db/embedded.ts";
import { waitFor } from "../support/wait.ts";

/** A message as a real SMTP server received it, with the parts tests look at decoded. */
export interface ReceivedMail {
  /** Envelope recipients (RCPT TO): who the message was actually delivered to. */
  rcptTo: string[];
  mailFrom: string;
  raw: string;
  headers: Map<string, string>;
  subject: string;
  messageId: string;
  text: string;
  html: string;
  /** Parts with a file name (Content-Disposition: attachment), decoded to bytes. */
  attachments: { filename: string; contentType: string; content: Buffer }[];
}

export interface TestSmtp {
  port: number;
  url: string;
  received: ReceivedMail[];
  /** Listens again on the same port after stop(). */
  start: () => Promise<void>;
  stop: () => Promise<void>;
  /** Resolves with the received messages once `predicate` holds for them. */
  waitFor: (predicate: (received: ReceivedMail[]) => boolean, timeoutMs?: number) => Promise<ReceivedMail[]>;
}

/** A real SMTP server (the smtp-server package) on a free port, keeping what it receives. */
export async function startTestSmtp(options: { rejectRecipient?: (address: string) => boolean } = {}): Promise<TestSmtp> {
  const port = await freePort();
  const received: ReceivedMail[] = [];
  let server: SMTPServer | null = null;

  const start = () =>
    new Promise<void>((resolve, reject) => {
      server = new SMTPServer({
        authOptional: true,
        disabledCommands: ["STARTTLS"],
        logger: false,
        closeTimeout: 100,
        onRcptTo(address, _session, callback) {
          if (options.rejectRecipient?.(address.address)) {
            return callback(Object.assign(new Error("mailbox unavailable"), { responseCode: 550 }));
          }
          callback();
        },
        onData(stream, session, callback) {
          const chunks: Buffer[] = [];
          stream.on("data", (chunk: Buffer) => chunks.push(chunk));
          stream.on("end", () => {
            const raw = Buffer.concat(chunks).toString("utf8");
            received.push({
              ...parseMessage(raw),
              raw,
              rcptTo: session.envelope.rcptTo.map((r) => r.address),
              mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
            });
            callback();
          });
        },
      });
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });

  const stop = () =>
    new Promise<void>((resolve) => {
      if (!server) return resolve();
      const s = server;
      server = null;
      s.close(() => resolve());
    });

  await start();
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    received,
    start,
    stop,
    waitFor: async (predicate, timeoutMs = 30_000) => {
      const describe = () => `the SMTP server's condition; received ${received.length}: ${received.map((m) => `${m.rcptTo} ${m.subject}`).join("; ")}`;
      await waitFor(describe, () => predicate(received), timeoutMs);
      return received;
    },
  };
}

function splitHeaders(raw: string): { headers: Map<string, string>; body: string } {
  const at = raw.indexOf("\r\n\r\n");
  const head = at >= 0 ? raw.slice(0, at) : raw;
  const body = at >= 0 ? raw.slice(at + 4) : "";
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r\n[ \t]+/g, " ").split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, body };
}

function decodeBody(body: string, encoding: string | undefined): string {
  switch ((encoding ?? "7bit").toLowerCase()) {
    case "quoted-printable": {
      const bytes = body.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/gi, (_, hex: string) => `%${hex}`);
      // Decode the percent escapes as UTF-8, keeping literal percent signs.
      return decodeURIComponent(bytes.replace(/%(?![0-9A-F]{2})/gi, "%25"));
    }
    case "base64":
      return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
    default:
      return body;
  }
}

/** RFC 2047 encoded words, as nodemailer writes non-ASCII or long headers. */
function decodeHeader(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, "?==?")
    .replace(/=\?([^?]+)\?([QB])\?([^?]*)\?=/gi, (_, _charset: string, kind: string, text: string) =>
      kind.toUpperCase() === "B" ? Buffer.from(text, "base64").toString("utf8") : decodeBody(text.replace(/_/g, " "), "quoted-printable"),
    );
}

type Part = { headers: Map<string, string>; body: string };

/** The leaf parts of a MIME entity, depth first (multipart/mixed holding multipart/alternative and attachments). */
function leafParts(part: Part): Part[] {
  const type = part.headers.get("content-type") ?? "text/plain";
  const boundary = /^multipart\//i.test(type) ? /boundary="?([^";]+)"?/i.exec(type)?.[1] : undefined;
  if (!boundary) return [part];
  return part.body
    .split(`--${boundary}`)
    .slice(1)
    .filter((p) => !p.startsWith("--"))
    .flatMap((p) => leafParts(splitHeaders(p.replace(/^\r\n/, ""))));
}

function parseMessage(raw: string): Omit<ReceivedMail, "raw" | "rcptTo" | "mailFrom"> {
  const { headers, body } = splitHeaders(raw);
  let text = "";
  let html = "";
  const attachments: ReceivedMail["attachments"] = [];
  for (const part of leafParts({ headers, body })) {
    const partType = part.headers.get("content-type") ?? "text/plain";
    const disposition = part.headers.get("content-disposition") ?? "";
    const filename = /filename="?([^";]+)"?/i.exec(disposition)?.[1];
    if (filename) {
      const encoded = part.body.replace(/\r\n$/, "");
      const encoding = (part.headers.get("content-transfer-encoding") ?? "").toLowerCase();
      const content = encoding === "base64" ? Buffer.from(encoded.replace(/\s+/g, ""), "base64") : Buffer.from(decodeBody(encoded, encoding), "utf8");
      attachments.push({ filename: decodeHeader(filename), contentType: partType.split(";")[0]!.trim(), content });
      continue;
    }
    const content = decodeBody(part.body.replace(/\r\n$/, ""), part.headers.get("content-transfer-encoding"));
    if (partType.startsWith("text/plain")) text = content.replace(/\r\n/g, "\n");
    if (partType.startsWith("text/html")) html = content.replace(/\r\n/g, "\n");
  }
  return {
    headers,
    subject: decodeHeader(headers.get("subject") ?? ""),
    messageId: headers.get("message-id") ?? "",
    text,
    html,
    attachments,
  };
}
