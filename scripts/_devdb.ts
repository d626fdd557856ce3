import { startEmbeddedPostgres } from "../src/db/embedded.ts";
const db = await startEmbeddedPostgres({ dataDir: "/tmp/devpg/data", port: 55432, ephemeral: true, log: console.log });
console.log(db.url());
const keepAlive = setInterval(() => {}, 1 << 30);
// The postmaster runs in a process group of its own: Ctrl-C reaches only this process, which stops it.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    clearInterval(keepAlive);
    void db.stop().then(() => process.exit(0));
  });
}
