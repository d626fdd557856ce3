import http from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { waitFor } from "../support/wait.ts";

export interface Received {
  webhookId: string;
  type: string;
  body: string;
  payload: { type: string; timestamp: string; data: any };
  signatures: string[];
  /** Which of the receiver's secrets verified it (Standard Webhooks' own verifier). */
  verifiedWith: string[];
  at: number;
}

/**
 * A real HTTP receiver on a free port. Every request is checked with the `standardwebhooks`
 * verifier against each secret it knows; `answer` decides the response (default 200). A request
 * no secret verifies is kept in `unverified` (and answered 400).
 */
export interface TestReceiver {
  url: string;
  port: number;
  /** Requests answered 2xx. */
  received: Received[];
  /** Every verified request, whatever the answer. */
  requests: Received[];
  unverified: { headers: http.IncomingHttpHeaders; body: string }[];
  secrets: string[];
  answer: (
    request: Received,
    count: number,
  ) => { status: number; body?: string; headers?: Record<string, string> } | Promise<{ status: number; body?: string; headers?: Record<string, string> }>;
  /** Stops listening and drops open connections (the receiver is "down"). */
  down: () => Promise<void>;
  /** Listens again on the same port. */
  up: () => Promise<void>;
  waitFor: (predicate: (received: Received[]) => boolean, timeoutMs?: number) => Promise<void>;
  close: () => Promise<void>;
}

export async function startReceiver(secrets: string[] = []): Promise<TestReceiver> {
  const receiver: TestReceiver = {
    url: "",
    port: 0,
    received: [],
    requests: [],
    unverified: [],
    secrets,
    answer: () => ({ status: 200, body: "ok" }),
    down: async () => {},
    up: async () => {},
    waitFor: async () => {},
    close: async () => {},
  };
  let count = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const headers = {
        "webhook-id": String(req.headers["webhook-id"] ?? ""),
        "webhook-timestamp": String(req.headers["webhook-timestamp"] ?? ""),
        "webhook-signature": String(req.headers["webhook-signature"] ?? ""),
      };
      const verifiedWith = receiver.secrets.filter((secret) => {
        try {
          new Webhook(secret).verify(body, headers);
          return true;
        } catch {
          return false;
        }
      });
      if (verifiedWith.length === 0) {
        receiver.unverified.push({ headers: req.headers, body });
        res.writeHead(400).end("bad signature");
        return;
      }
      const payload = JSON.parse(body);
      const entry: Received = {
        webhookId: headers["webhook-id"],
        type: payload.type,
        body,
        payload,
        signatures: headers["webhook-signature"].split(" "),
        verifiedWith,
        at: Date.now(),
      };
      count += 1;
      receiver.requests.push(entry);
      const reply = await receiver.answer(entry, count);
      if (reply.status >= 200 && reply.status < 300) receiver.received.push(entry);
      res.writeHead(reply.status, reply.headers ?? {}).end(reply.body ?? "");
    });
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  await listen(0);
  receiver.port = (server.address() as AddressInfo).port;
  receiver.url = `http://127.0.0.1:${receiver.port}/hooks`;
  receiver.down = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  receiver.up = () => listen(receiver.port);
  receiver.waitFor = async (predicate, timeoutMs = 30_000) => {
    await waitFor(
      () => `the receiver's condition (${receiver.received.length} received)`,
      () => predicate(receiver.received),
      timeoutMs,
    );
  };
  receiver.close = async () => {
    if (server.listening) await receiver.down();
  };
  return receiver;
}
