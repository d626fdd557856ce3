// `npm start` comes back with the same data after every way it can stop: Ctrl-C, SIGTERM,
// kill -9 of node alone (its PostgreSQL lives on), kill -9 of the process group, a reboot.
import { chmod, readFile, rm, stat } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/db/embedded.ts";
import { cleanUp, isAlive, killGroup, postmasterPid, postmastersOn, spawnService, tempDir, variants, warnings, type Service } from "./service.ts";
import { waitFor } from "../support/wait.ts";

const TARGET_DATE = "2026-11-24";

for (const variant of variants()) {
  describe.skipIf(variant.skip !== null)(`npm start as ${variant.label}${variant.skip ? ` (skipped: ${variant.skip})` : ""}`, () => {
    // Demo data once (root); the other variant without it, where only the restart matters.
    const demoData = variant.label === "root";
    const adminToken = variant.label === "root" ? null : "brt_lifecycle_admin_token_0123456789";
    let dir: string;
    let dataDir: string;
    let pgDir: string;
    let port: number;
    let token: string;
    let billRunId: string;
    let runBefore: unknown;
    let service: Service;
    let url: string;

    beforeAll(async () => {
      dir = tempDir(variant.user);
      dataDir = path.join(dir, "data");
      pgDir = path.join(dataDir, "postgres");
      port = await freePort();
    });
    afterAll(async () => {
      await cleanUp(pgDir ? [pgDir] : []);
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    async function start(options: { repairsMode?: boolean } = {}): Promise<Service> {
      const env: Record<string, string> = { BILLRUN_DATA_DIR: dataDir, PORT: String(port), BILLRUN_DEMO_DATA: String(demoData) };
      if (adminToken) env.BILLRUN_ADMIN_TOKEN = adminToken;
      service = spawnService(["start"], env, variant.user, dir);
      const match = await service.waitFor(/Billrun is running: (http:\/\/\S+)/, 300_000);
      url = match[1]!;
      token = adminToken ?? (await readFile(path.join(dataDir, "admin-token"), "utf8")).trim();
      expect(postmastersOn(pgDir)).toHaveLength(1);
      // The traverse grant for "postgres" (root) never touches the data directory itself.
      expect((await stat(pgDir)).mode & 0o777).toBe(0o700);
      expect(service.stdout().includes("removed others' traverse access")).toBe(options.repairsMode ?? false);
      return service;
    }

    async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.json()) as { data?: T; errors?: unknown };
      if (!body.data || body.errors) throw new Error(JSON.stringify(body));
      return body.data;
    }

    const RUN = `query Run($id: ID!) { billRun(id: $id) { id billRunNumber status accountsTotal invoiceCount invoiceTotals { currency amount } } }`;
    async function readRun() {
      return (await gql<{ billRun: { status: string } | null }>(RUN, { id: billRunId })).billRun;
    }

    function nodePid(): number {
      const pid = service.logLines()[0]?.pid;
      if (!pid) throw new Error(`no log line with a pid yet:\n${service.stdout()}`);
      return pid;
    }

    /** A clean stop: the process ends, PostgreSQL with it (no pid file left), nothing at WARN or above. */
    async function expectCleanStop(signal?: NodeJS.Signals) {
      const node = nodePid();
      const { code, signal: npmSignal } = await service.exited;
      // A terminal's Ctrl-C reaches npm too, which then ends by that signal; node exits 0.
      if (signal) expect([0, signal]).toContain(code ?? npmSignal);
      else expect(code).toBe(0);
      await waitFor("node to exit", () => !isAlive(node));
      expect(service.stdout()).toContain('"msg":"stopped"');
      expect(warnings(service)).toEqual([]);
      expect(postmasterPid(pgDir)).toBeNull();
      expect(postmastersOn(pgDir)).toEqual([]);
      // No secret in the run's output: no connection string with its password, no configured token.
      const output = service.stdout() + service.stderr();
      expect(output).not.toMatch(/postgres(?:ql)?:\/\/[^:\s"]+:(?!\*\*\*@)[^@\s"]+@/);
      if (adminToken) expect(output).not.toContain(adminToken);
    }

    it("starts on a fresh data directory, runs a bill run, and stops cleanly on Ctrl-C", async () => {
      const started = Date.now();
      await start();
      const lines = service.logLines();
      const loaded = lines.find((line) => line.msg === "demo data loaded");
      if (demoData) {
        expect(loaded).toBeDefined();
        const initialising = lines.find((line) => String(line.msg).startsWith("initialising PostgreSQL"));
        console.log(
          `first start with demo data: ${Date.now() - started} ms to serve; demo data loaded ${Number(loaded!.time) - Number(initialising?.time ?? started)} ms after initdb began`,
        );
      } else {
        expect(loaded).toBeUndefined();
      }
      const created = await gql<{ createBillRun: { id?: string } }>(
        `mutation { createBillRun(input: { targetDate: "${TARGET_DATE}" }) { ... on BillRun { id } ... on Error { code message } } }`,
      );
      billRunId = created.createBillRun.id!;
      expect(billRunId).toBeTruthy();
      await waitFor("the bill run to complete", async () => (await readRun())?.status === "COMPLETED", 300_000);
      runBefore = await readRun();
      if (demoData) expect((runBefore as { invoiceCount: number }).invoiceCount).toBeGreaterThan(0);

      // Ctrl-C in a terminal: SIGINT to the whole foreground process group (npm and node).
      process.kill(-service.child.pid!, "SIGINT");
      await expectCleanStop("SIGINT");
    }, 600_000);

    it("comes back after Ctrl-C (also on a data directory an earlier version opened to o+x) and stops cleanly on SIGTERM", async () => {
      // Earlier versions granted o+x on the data directory itself; PostgreSQL refuses that.
      await chmod(pgDir, 0o701);
      await start({ repairsMode: true });
      expect(await readRun()).toEqual(runBefore);
      // A supervisor's stop: SIGTERM to the main process (npm), which passes it on.
      process.kill(service.child.pid!, "SIGTERM");
      await expectCleanStop();
    }, 300_000);

    let orphan: number;
    it("refuses a second npm start on the same data directory, then is killed with kill -9 (node alone)", async () => {
      await start();
      expect(await readRun()).toEqual(runBefore);
      const first = service;
      const second = spawnService(["start"], { BILLRUN_DATA_DIR: dataDir, PORT: "0", BILLRUN_DEMO_DATA: "false" }, variant.user, dir);
      const { code } = await second.exited;
      expect(code).not.toBe(0);
      expect(second.stderr()).toMatch(/another Billrun process \(pid \d+\) runs the embedded PostgreSQL/);
      expect(postmastersOn(pgDir)).toHaveLength(1);
      expect(await readRun()).toEqual(runBefore);

      orphan = postmasterPid(pgDir)!;
      process.kill(nodePid(), "SIGKILL");
      await first.exited;
      // Its PostgreSQL lives on, holding the data directory and its port.
      expect(isAlive(orphan)).toBe(true);
    }, 300_000);

    it("comes back after kill -9 of node alone (stopping the PostgreSQL left behind), then is killed with kill -9 of its group", async () => {
      await start();
      expect(service.stdout()).toContain(`stopping the PostgreSQL (pid ${orphan})`);
      expect(isAlive(orphan)).toBe(false);
      expect(postmastersOn(pgDir)).toEqual([postmasterPid(pgDir)]);
      expect(await readRun()).toEqual(runBefore);
      await killGroup(service.child.pid!);
      await service.exited;
    }, 300_000);

    it("comes back after kill -9 of its process group, then goes through a simulated reboot", async () => {
      await start();
      expect(await readRun()).toEqual(runBefore);
      // A reboot: every process gone at once, PostgreSQL's included, its pid file left behind.
      const postmaster = postmasterPid(pgDir)!;
      await killGroup(service.child.pid!);
      await killGroup(postmaster);
      await service.exited;
      expect(postmastersOn(pgDir)).toEqual([]);
      expect(postmasterPid(pgDir)).toBe(postmaster);
    }, 300_000);

    it("comes back after a reboot (PostgreSQL recovers), and stops cleanly on SIGTERM", async () => {
      const logFile = `${pgDir}.log`;
      const before = (await readFile(logFile, "utf8")).length;
      await start();
      const postgresLog = (await readFile(logFile, "utf8")).slice(before);
      expect(postgresLog).toMatch(/not properly shut down; automatic recovery in progress/);
      expect(await readRun()).toEqual(runBefore);
      process.kill(service.child.pid!, "SIGTERM");
      await expectCleanStop();
    }, 300_000);
  });
}
