import { startEmbeddedPostgres } from "../src/db/embedded.ts";
const db = await startEmbeddedPostgres({ dataDir: "/tmp/devpg/data", port: 55432, ephemeral: true, log: console.log });
console.log(db.url());
setInterval(() => {}, 1 << 30);
