// Child process of bench/events.ts: opens N graphql-ws clients, each subscribed to one run's
// status changes, and reports (on stdout, as JSON) when each client received each event.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, token, billRunId, countText, expectedText] = process.argv.slice(2);
const count = Number(countText);
const expected = Number(expectedText);
const receipts: { eventId: string; at: number }[] = [];
let finished = 0;
let subscribed = 0;

for (let i = 0; i < count; i++) {
  const client = createClient({ url: url!, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${token}` } });
  let seen = 0;
  client.on("connected", () => {
    subscribed++;
    if (subscribed === count) process.stderr.write("ready\n");
  });
  client.subscribe<{ billRunStatusChanged: { eventId: string; status: string } }>(
    { query: `subscription($id: ID) { billRunStatusChanged(billRunId: $id) { eventId status } }`, variables: { id: billRunId } },
    {
      next: (result) => {
        receipts.push({ eventId: result.data!.billRunStatusChanged.eventId, at: performance.timeOrigin + performance.now() });
        seen++;
        if (seen === expected) {
          void client.dispose();
          finished++;
          if (finished === count) {
            // Exit only once the pipe has taken everything.
            process.stdout.write(JSON.stringify(receipts), () => process.exit(0));
          }
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
