import { PrismaPg } from "@prisma/adapter-pg";
import type pg from "pg";
import { PrismaClient } from "../generated/prisma/client.ts";

export type Db = PrismaClient;
export { Prisma } from "../generated/prisma/client.ts";

export interface DbOptions {
  /** Called with every SQL statement; tests count them to prove queries stay bounded. */
  onQuery?: (sql: string) => void;
}

/**
 * Prisma on the process's one pg pool (shared with the set-based SQL), so a process holds at
 * most `BILLRUN_DB_POOL_SIZE` connections for both. The pool stays the caller's to end.
 */
export function createDb(pool: pg.Pool, options: DbOptions = {}): PrismaClient {
  const adapter = new PrismaPg(pool);
  if (!options.onQuery) return new PrismaClient({ adapter });
  const client = new PrismaClient({ adapter, log: [{ emit: "event", level: "query" }] });
  const onQuery = options.onQuery;
  client.$on("query", (event) => onQuery(event.query));
  return client;
}
