// A whole run's log output (npm start on DATABASE_URL with SMTP, a bill run, its email, a stop)
// holds none of the secrets the run used, and a clean stop logs nothing at WARN or above.
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import pg from "pg";
import { SMTPServer } from "smtp-server";
import { afterAll, beforeAll, expect, inject, it } from "vitest";
import { freePort } from "../../src/db/embedded.ts";
import { waitFor } from "../support/wait.ts";
import { cleanUp, spawnService, tempDir, warnings, type Service } from "./service.ts";

const suffix = randomBytes(6).toString("hex");
const role = `lifecycle_${suffix}`;
const secrets = {
  adminToken: `brt_admin_secret_${randomBytes(12).toString("hex")}`,
  databasePassword: `db-secret-${randomBytes(12).toString("hex")}`,
  smtpPassword: `smtp-secret-${randomBytes(12).toString("hex")}`,
  metricsToken: `metrics-secret-${randomBytes(12).toString("hex")}`,
};
let adminUrl: string;
let dir: string;
let smtp: SMTPServer;
let smtpPort: number;
const delivered: string[] = [];
let service: Service | undefined;

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  adminUrl = inject("pgAdminUrl");
  await admin(async (client) => {
    await client.query(`CREATE ROLE ${role} LOGIN PASSWORD '${secrets.databasePassword}'`);
    await client.query(`CREATE DATABASE ${role} OWNER ${role}`);
  });
  smtpPort = await freePort();
  smtp = new SMTPServer({
    disabledCommands: ["STARTTLS"],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === "mailer" && auth.password === secrets.smtpPassword) callback(null, { user: "mailer" });
      else callback(new Error("invalid credentials"));
    },
    onData(stream, session, callback) {
      stream.resume();
      stream.on("end", () => {
        delivered.push(session.envelope.rcptTo.map((r) => r.address).join(","));
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => smtp.listen(smtpPort, "127.0.0.1", resolve));
  dir = tempDir(null);
});

afterAll(async () => {
  await cleanUp([]);
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
  await admin(async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${role} WITH (FORCE)`);
    await client.query(`DROP ROLE IF EXISTS ${role}`);
  });
  await rm(dir, { recursive: true, force: true });
});

it("a run's whole log output holds no secret, and its clean stop no warning", async () => {
  const url = new URL(adminUrl);
  url.username = role;
  url.password = secrets.databasePassword;
  url.pathname = `/${role}`;
  service = spawnService(
    ["start"],
    {
      DATABASE_URL: url.toString(),
      BILLRUN_ADMIN_TOKEN: secrets.adminToken,
      SMTP_URL: `smtp://mailer:${secrets.smtpPassword}@127.0.0.1:${smtpPort}`,
      BILLRUN_DATA_DIR: `${dir}/data`,
      PORT: "0",
      BILLRUN_DEMO_DATA: "false",
      BILLRUN_MAIL_POLL_SECONDS: "0.2",
      BILLRUN_METRICS: "true",
      BILLRUN_METRICS_TOKEN: secrets.metricsToken,
      // Every request and query detail the service may log.
      LOG_LEVEL: "debug",
    },
    null,
    dir,
  );
  const endpoint = (await service.waitFor(/Billrun is running: (http:\/\/\S+)/))[1]!;
  const gql = async (query: string, token = secrets.adminToken) =>
    (await (
      await fetch(endpoint, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ query }),
      })
    ).json()) as { data?: Record<string, { id?: string; status?: string }>; errors?: unknown };

  const created = await gql(`mutation { createBillRun(input: { targetDate: "2026-11-24" }) { ... on BillRun { id } ... on Error { message } } }`);
  const id = created.data!.createBillRun!.id!;
  expect(id).toBeTruthy();
  // The run completes and its email goes out over SMTP, authenticated with the password.
  await waitFor(
    () => `an email delivered:\n${service!.stdout()}`,
    () => delivered.some((to) => to.includes("admin@localhost")),
  );
  // Scrapes, refused and accepted: the metrics token is checked, never written down.
  const metricsUrl = endpoint.replace(/\/graphql$/, "/metrics");
  expect((await fetch(metricsUrl, { headers: { authorization: "Bearer metrics-wrong-0123456789" } })).status).toBe(401);
  const scraped = await fetch(metricsUrl, { headers: { authorization: `Bearer ${secrets.metricsToken}` } });
  expect(scraped.status).toBe(200);
  expect(await scraped.text()).toContain("billrun_accounts_processed_total");
  // A refused token: its attempt is logged, never the token.
  const refused = await gql("{ me { id } }", "brt_wrong_secret_token_0123456789");
  expect(refused.errors).toBeDefined();

  process.kill(service.child.pid!, "SIGTERM");
  const { code } = await service.exited;
  expect(code).toBe(0);
  expect(warnings(service)).toEqual([]);

  const output = service.stdout() + service.stderr();
  expect(output).toContain('"msg":"stopped"');
  for (const secret of [...Object.values(secrets), "brt_wrong_secret_token_0123456789", "metrics-wrong-0123456789"]) expect(output).not.toContain(secret);
  // No connection string with its password, whatever the password.
  expect(output).not.toMatch(/postgres(?:ql)?:\/\/[^:\s"]+:(?!\*\*\*@)[^@\s"]+@/);
}, 180_000);
