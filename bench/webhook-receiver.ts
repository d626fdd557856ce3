// A fast local webhook receiver for bench/webhooks.ts, in a process of its own: answers 200 at
// once and verifies every signature with the standardwebhooks verifier. Prints its port; on
// "stats" from stdin, prints what it has received.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { Webhook } from "standardwebhooks";

const secret = process.argv[2]!;
const verifier = new Webhook(secret);
let received = 0;
let badSignatures = 0;
const ids = new Set<string>();

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    try {
      verifier.verify(Buffer.concat(chunks).toString("utf8"), req.headers as Record<string, string>);
      received += 1;
      ids.add(String(req.headers["webhook-id"]));
      res.writeHead(200).end();
    } catch {
      badSignatures += 1;
      res.writeHead(400).end();
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: (server.address() as AddressInfo).port })));
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "stats") console.log(JSON.stringify({ received, distinct: ids.size, badSignatures }));
  if (line === "exit") process.exit(0);
});
