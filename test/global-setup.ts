import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres } from "../src/db/embedded.ts";
import { ensureDatabase } from "../src/database.ts";
import { migrate } from "../src/db/migrate.ts";
import PgBoss from "pg-boss";

export const TEMPLATE_DATABASE = "billrun_template";

/**
 * One real PostgreSQL for the whole test run; a migrated template database from which every
 * test file clones its own database, so files run in parallel without seeing each other.
 */
export default async function setup(project: TestProject) {
  const dir = await mkdtemp(path.join(os.tmpdir(), "billrun-test-"));
  const db = await startEmbeddedPostgres({ dataDir: path.join(dir, "pg"), ephemeral: true });
  await ensureDatabase(db.url(), TEMPLATE_DATABASE);
  await migrate(db.url(TEMPLATE_DATABASE));
  // Install pg-boss's schema once in the template, not in every test database.
  const boss = new PgBoss({ connectionString: db.url(TEMPLATE_DATABASE), supervise: false, schedule: false });
  await boss.start();
  await boss.stop({ graceful: false, wait: true });
  project.provide("pgAdminUrl", db.url());
  return async () => {
    await db.stop();
    await rm(dir, { recursive: true, force: true });
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    pgAdminUrl: string;
  }
}
