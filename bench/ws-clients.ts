// Child process of bench/events.ts: opens N graphql-ws clients, each subscribed to the status
// changes of every run, and reports (on stdout, as JSON) when each client received each event.
// A client is done when it has seen `runs` runs reach POSTED.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, token, countText, runsText] = process.argv.slice(2);
const count = Number(countText);
const runs = Number(runsText);
const receipts: { eventId: string; at: number }[] = [];
let finished = 0;
let connected = 0;
const clients: ReturnType<typeof createClient>[] = [];

for (let i = 0; i < count; i++) {
  const client = createClient({ url: url!, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${token}` } });
  clients.push(client);
  let posted = 0;
  client.on("connected", () => {
    if (++connected === count) process.stderr.write("ready\n");
  });
  client.subscribe<{ billRunStatusChanged: { eventId: string; status: string } }>(
    { query: `subscription { billRunStatusChanged { eventId status } }` },
    {
      next: (result) => {
        const change = result.data!.billRunStatusChanged;
        receipts.push({ eventId: change.eventId, at: performance.timeOrigin + performance.now() });
        // Clients disconnect only once all have received everything: closing sockets while
        // others still wait for the last event would slow its delivery to them.
        if (change.status === "POSTED" && ++posted === runs && ++finished === count) {
          for (const each of clients) void each.dispose();
          // Exit only once the pipe has taken everything.
          process.stdout.write(JSON.stringify(receipts), () => process.exit(0));
        }
      },
      error: (error) => {
        process.stderr.write(`client error: ${JSON.stringify(error)}\n`);
        process.exit(1);
      },
      complete: () => {},
    },
  );
}
