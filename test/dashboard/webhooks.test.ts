// The dashboard's Webhooks page in headless Chromium (Debian's `chromium`): an ADMIN adds an
// endpoint (its secret shown once), sends a test that a real receiver verifies, redelivers it,
// disables the endpoint; an OPERATOR reads the same page without the buttons.
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Browser, type Page } from "playwright-core";
import { createTestApp, type TestApp } from "../support/app.ts";
import { buildWeb, CHROMIUM, launchChromium, openPage, screenshot, storeToken } from "../support/chromium.ts";
import { startHttpServer, type HttpServer } from "../../src/http.ts";
import { startDeliverer, type Deliverer } from "../../src/webhooks/deliverer.ts";
import { startReceiver, type TestReceiver } from "../webhooks/receiver.ts";

// test/dashboard/dashboard.test.ts installs Chromium when it can; without it both files skip.
const unavailable = existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing`;

let t: TestApp;
let http: HttpServer;
let origin: string;
let webRoot: string;
let browser: Browser;
let page: Page;
let receiver: TestReceiver;
let deliverer: Deliverer;
const pageErrors: string[] = [];

beforeAll(async () => {
  if (unavailable) return;
  webRoot = await buildWeb();
  t = await createTestApp({ BILLRUN_WEBHOOK_ALLOW_HTTP: "true", BILLRUN_WEBHOOK_ALLOW_PRIVATE: "true", BILLRUN_WEBHOOK_POLL_SECONDS: "0.05" });
  http = await startHttpServer(t.app, 0, "127.0.0.1", { webRoot });
  origin = new URL(http.url).origin;
  receiver = await startReceiver();
  deliverer = startDeliverer(t.app);
  browser = await launchChromium();
  page = await openPage(browser, pageErrors, { viewport: { width: 1366, height: 860 } });
});

afterAll(async () => {
  await browser?.close();
  await deliverer?.stop();
  await receiver?.close();
  await http?.close();
  await t?.close();
  if (webRoot) await rm(webRoot, { recursive: true, force: true });
});

async function signIn(token: string): Promise<void> {
  await storeToken(page, origin, token, "/webhooks");
  await page.reload();
  await page.getByRole("heading", { name: "Webhooks" }).waitFor();
}

describe.skipIf(unavailable !== null)("dashboard: webhooks", () => {
  it("adds an endpoint, shows its secret once, sends a test the receiver verifies, redelivers it and disables the endpoint", async () => {
    await signIn(t.tokens.admin);
    await page.getByText("No webhook endpoints yet.").waitFor();
    await page.getByLabel("URL").fill(receiver.url);
    await page.getByLabel("Description").fill("ERP");
    await page.getByLabel("bill_run.completed").check();
    await page.getByLabel("invoice.posted").check();
    await page.getByRole("button", { name: "Add endpoint" }).click();
    const secret = (await page.locator("#webhook-secret code").textContent())!;
    expect(secret).toMatch(/^whsec_/);
    receiver.secrets.push(secret);
    const line = page.locator("#webhook-endpoints tbody tr");
    await line.waitFor();
    expect(await line.textContent()).toContain("bill_run.completed, invoice.posted");

    await line.getByRole("button", { name: /Send a test/ }).click();
    await receiver.waitFor((r) => r.length === 1);
    expect(receiver.received[0]!.type).toBe("webhook.test");
    const delivery = page.locator("#webhook-delivery-list tbody tr").first();
    await delivery.waitFor();
    expect(await delivery.textContent()).toContain(receiver.received[0]!.webhookId);
    // Shown as delivered once the page reads it again (after the redelivery below, at the latest).
    await delivery.getByRole("button", { name: /Redeliver/ }).click();
    await receiver.waitFor((r) => r.length === 2);
    expect(receiver.received[1]!.webhookId).toBe(receiver.received[0]!.webhookId);
    await page.getByText(`Event ${receiver.received[0]!.webhookId} queued again.`).waitFor();
    await line.getByRole("button", { name: "Deliveries" }).click();
    await page.locator('#webhook-delivery-list [data-status="SUCCEEDED"]').first().waitFor();
    await screenshot(page, "dashboard-webhooks");

    await line.getByRole("button", { name: /Disable/ }).click();
    await line.locator('[data-status="DISABLED"]').waitFor();
    expect(await line.getByRole("button", { name: /Send a test/ }).isDisabled()).toBe(true);
  });

  it("shows an OPERATOR the endpoints and deliveries without the buttons that change them", async () => {
    await signIn(t.tokens.operator);
    const line = page.locator("#webhook-endpoints tbody tr");
    await line.waitFor();
    expect(await line.getByRole("button", { name: /Send a test|Disable|Enable/ }).count()).toBe(0);
    await line.getByRole("button", { name: "Deliveries" }).click();
    await page.locator("#webhook-delivery-list tbody tr").first().waitFor();
    expect(await page.getByRole("button", { name: /Redeliver/ }).count()).toBe(0);
    expect(await page.getByRole("heading", { name: "Add an endpoint" }).count()).toBe(0);
  });

  it("raised no error in the page", () => {
    expect(pageErrors).toEqual([]);
  });
});
