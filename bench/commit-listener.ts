// Child process of bench/events.ts: timestamps each status change when PostgreSQL delivers its
// NOTIFY (i.e. at commit), one JSON line per change on stdout. It runs in a process of its own,
// idle otherwise, so that a busy API process cannot delay the reference time.
import pg from "pg";
import { EVENTS_CHANNEL, type Notice } from "../src/events/notices.ts";

const listener = new pg.Client({ connectionString: process.argv[2] });
await listener.connect();
listener.on("notification", (note) => {
  const at = performance.timeOrigin + performance.now();
  const notice = JSON.parse(note.payload!) as Notice;
  if (notice.kind === "STATUS") process.stdout.write(`${JSON.stringify({ id: notice.id, billRunId: notice.billRunId, to: notice.to, at })}\n`);
});
await listener.query(`LISTEN ${EVENTS_CHANNEL}`);
process.stderr.write("ready\n");
process.on("SIGTERM", () => void listener.end().then(() => process.exit(0)));
