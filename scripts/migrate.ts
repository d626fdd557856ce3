// Applies the migrations to DATABASE_URL, or to the embedded PostgreSQL under the data directory.
import { loadConfig } from "../src/config.ts";
import { openDatabase } from "../src/database.ts";
import { createLogger } from "../src/log.ts";
import { guardStartup } from "../src/startup.ts";

guardStartup();
const config = loadConfig();
const database = await openDatabase(config, createLogger(config.logLevel));
console.log(`database is up to date: ${database.url.replace(/:[^:@/]*@/, ":***@")}`);
await database.embedded?.stop();
