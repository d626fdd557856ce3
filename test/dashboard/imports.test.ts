// The dashboard's Import page in headless Chromium: a file chosen, sent, followed live, then its rejected rows.
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Browser, type Page } from "playwright-core";
import { createTestApp, type TestApp } from "../support/app.ts";
import { buildWeb, CHROMIUM, launchChromium, openPage, screenshot } from "../support/chromium.ts";
import { startHttpServer, type HttpServer } from "../../src/http.ts";
import { startImportRunner, type ImportRunner } from "../../src/imports/runner.ts";

const unavailable = existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing (the dashboard test installs it)`;
if (unavailable) console.warn(`\n  SKIPPING the import page browser test: ${unavailable}\n`);

let t: TestApp;
let runner: ImportRunner;
let http: HttpServer;
let origin: string;
let webRoot: string;
let files: string;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  if (unavailable) return;
  webRoot = await buildWeb();
  t = await createTestApp();
  runner = startImportRunner(t.app, { pollMs: 100 });
  http = await startHttpServer(t.app, 0, "127.0.0.1", { webRoot });
  origin = new URL(http.url).origin;
  files = await mkdtemp(path.join(tmpdir(), "billrun-import-files-"));
  browser = await launchChromium();
  page = await openPage(browser, pageErrors, { viewport: { width: 1366, height: 900 } }, 20_000);
});

afterAll(async () => {
  await browser?.close();
  await http?.close();
  await runner?.stop();
  await t?.close();
  if (webRoot) await rm(webRoot, { recursive: true, force: true });
  if (files) await rm(files, { recursive: true, force: true });
});

describe.skipIf(unavailable !== null)("the Import page", () => {
  it("sends a chosen file, shows its progress and then its rejected rows", async () => {
    const rows = ["accountNumber,name,currency,billCycleDay"];
    for (let i = 0; i < 3000; i++) rows.push(`WEB-${i},Web customer ${i},${i === 1234 ? "XYZ" : "USD"},${i === 2345 ? 40 : 1}`);
    const file = path.join(files, "customers.csv");
    await writeFile(file, rows.join("\n") + "\n");

    await page.goto(`${origin}/`);
    await page.getByLabel("API token").fill(t.tokens.operator);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Bill runs" }).waitFor();
    await page.getByRole("link", { name: "Import" }).click();
    await page.getByRole("heading", { name: "Import", exact: true }).waitFor();
    await page.getByText("No imports yet.").waitFor();

    await page.getByLabel("Kind").selectOption("accounts");
    await page.getByLabel("File").setInputFiles(file);
    await page.getByRole("button", { name: "Import" }).click();
    await page.getByRole("heading", { name: "Accounts from customers.csv" }).waitFor();
    await page.locator('#import-detail [data-status="COMPLETED"]').waitFor({ timeout: 30_000 });
    await page.getByText("3000 rows read: 2998 imported, 0 already there, 2 rejected").waitFor();
    await page.getByRole("heading", { name: "Rejected rows (2)" }).waitFor();
    const cells = await page.locator("#import-errors tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
    expect(cells).toEqual([
      ["1236", "currency", "VALIDATION", expect.stringContaining("unknown currency code")],
      ["2347", "billCycleDay", "VALIDATION", expect.stringContaining("between 1 and 31")],
    ]);
    await page.locator('section[aria-labelledby="recent-imports"] tr[data-id]').first().waitFor();
    await screenshot(page, "dashboard-import");
    expect(await t.app.db.account.count({ where: { accountNumber: { startsWith: "WEB-" } } })).toBe(2998);
  });

  it("raised no error in the page", () => {
    expect(pageErrors).toEqual([]);
  });
});
