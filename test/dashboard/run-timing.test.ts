// The run page's Timing block (BillRun.metrics), in the built dashboard, in headless Chromium.
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Browser } from "playwright-core";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { buildWeb, chromiumUnavailable, launchChromium, storeToken } from "../support/chromium.ts";
import { registerWorkers, type Workers } from "../../src/billruns/executor.ts";
import { startHttpServer, type HttpServer } from "../../src/http.ts";

const unavailable = chromiumUnavailable();
if (unavailable) console.warn(`\n  SKIPPING the run timing browser test: ${unavailable}\n`);

let t: TestApp;
let workers: Workers;
let http: HttpServer;
let webRoot: string;
let browser: Browser;

beforeAll(async () => {
  if (unavailable) return;
  webRoot = await buildWeb();
  t = await createTestApp();
  workers = await registerWorkers(t.app, 1);
  http = await startHttpServer(t.app, 0, "127.0.0.1", { webRoot });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await http?.close();
  await workers?.stop(0);
  await t?.close();
  if (webRoot) await rm(webRoot, { recursive: true, force: true });
});

describe.skipIf(unavailable !== null)("run page", () => {
  it("shows the run's wall time, phases and throughput", async () => {
    for (let i = 0; i < 3; i++) await seedAccount(t, { charges: [{ type: "RECURRING", price: "10.00", billingPeriod: "MONTH" }] });
    const created = await t.gql<any, unknown>(`mutation { createBillRun(input: { targetDate: "2026-02-01" }) { ... on BillRun { id } } }`);
    const id: string = created.data.createBillRun.id;
    await waitForStatus(t, id, ["COMPLETED"]);

    const page = await browser.newPage();
    page.setDefaultTimeout(15_000);
    const origin = new URL(http.url).origin;
    await storeToken(page, origin, t.tokens.viewer);
    await page.goto(`${origin}/bill-runs/${encodeURIComponent(id)}`);
    const block = page.getByRole("region", { name: "Timing" });
    await block.locator('[data-metric="processing"]').filter({ hasNotText: "—" }).waitFor();
    const text = async (key: string) => (await block.locator(`[data-metric="${key}"]`).textContent())!;
    expect(await text("processing")).toMatch(/^\d+ (ms|s)$/);
    expect(await text("waiting")).toMatch(/^\d+ (ms|s)$/);
    expect(await text("wall")).toMatch(/^\d+ (ms|s)$/);
    expect(await text("posting")).toBe("—");
    expect(await text("accounts-per-second")).toMatch(/^[\d.,]+\/s$/);
    expect(await text("documents-per-second")).toMatch(/^[\d.,]+\/s$/);
    await page.close();
  });
});
