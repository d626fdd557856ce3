// GraphiQL as the README describes it: served at /graphql, the token under Headers, and the
// `Watch` subscription showing a run's event, in a real headless Chromium.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Browser, type BrowserContext, type Page } from "playwright-core";
import { createTestApp, type TestApp } from "../support/app.ts";
import { chromiumUnavailable, launchChromium, screenshot } from "../support/chromium.ts";
import { readmeBlocks } from "../support/readme.ts";
import { waitFor } from "../support/wait.ts";
import { startHttpServer, type HttpServer } from "../../src/http.ts";

const unavailable = chromiumUnavailable();
if (unavailable) console.warn(`\n  SKIPPING the GraphiQL browser test: ${unavailable}\n`);

let t: TestApp;
let http: HttpServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  if (unavailable) return;
  t = await createTestApp();
  http = await startHttpServer(t.app, 0, "127.0.0.1");
  browser = await launchChromium();
  // Text goes into GraphiQL's editors as a user pastes it (typing would trigger auto-closing brackets).
  context = await browser.newContext({ viewport: { width: 1366, height: 860 }, permissions: ["clipboard-read", "clipboard-write"] });
  page = await context.newPage();
  page.setDefaultTimeout(15_000);
});
afterAll(async () => {
  await browser?.close();
  await http?.close();
  await t?.close();
});

async function paste(text: string): Promise<void> {
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  await page.evaluate((value) => navigator.clipboard.writeText(value), text);
  await page.keyboard.press("Control+V");
}

async function createRun(): Promise<string> {
  const response = await fetch(http.url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${t.tokens.admin}` },
    body: JSON.stringify({ query: `mutation { createBillRun(input: { targetDate: "2026-11-24" }) { ... on BillRun { billRunNumber } } }` }),
  });
  const body = (await response.json()) as { data: { createBillRun: { billRunNumber: string } } };
  return body.data.createBillRun.billRunNumber;
}

describe.skipIf(unavailable !== null)("GraphiQL in headless Chromium", () => {
  it("runs the README's Watch subscription with the token under Headers and shows the event of a run created meanwhile", async () => {
    const watch = readmeBlocks("graphql").find((block) => /subscription Watch\b/.test(block));
    const headers = readmeBlocks("json").find((block) => /"Authorization"/.test(block));
    expect(watch).toBeDefined();
    expect(headers).toContain("<the admin token>");

    const sockets: string[] = [];
    page.on("websocket", (socket) => sockets.push(socket.url()));
    const subscriptionRequests: { accept: string; authorization: string | undefined }[] = [];
    page.on("request", (request) => {
      const accept = request.headers()["accept"] ?? "";
      if (accept.includes("text/event-stream")) subscriptionRequests.push({ accept, authorization: request.headers()["authorization"] });
    });

    await page.goto(http.url);
    await page.locator(".graphiql-query-editor .monaco-editor").first().click();
    await paste(watch!);
    await page.getByText("Headers", { exact: true }).click();
    await page.locator(".graphiql-editor-tool .monaco-editor").last().click();
    await paste(headers!.replace("<the admin token>", t.tokens.admin));
    await page.getByLabel("Execute query (Ctrl-Enter)").click();

    // Runs are created until one's event shows (the subscription starts once GraphiQL has sent it).
    const created: string[] = [];
    const response = page.locator(".graphiql-response");
    let shown = "";
    await waitFor(
      "a billRunStatusChanged event in the response pane",
      async () => {
        created.push(await createRun());
        shown = (await response.innerText()).replace(/\u00a0/g, " ");
        return /"billRunStatusChanged"/.test(shown);
      },
      20_000,
      250,
    );
    await screenshot(page, "graphiql-watch", false);
    expect(shown).toMatch(/"billRunStatusChanged"/);
    expect(shown).toMatch(/"status":\s*"PENDING"/);
    expect(shown).toMatch(/"previousStatus":\s*null/);
    const number = /"billRunNumber":\s*"([^"]+)"/.exec(shown)?.[1];
    expect(created).toContain(number);
    expect(shown).not.toMatch(/"errors"/);

    // Over Server-Sent Events, with the header set under Headers; no WebSocket was tried.
    expect(subscriptionRequests.length).toBeGreaterThan(0);
    expect(subscriptionRequests.every((r) => r.authorization === `Bearer ${t.tokens.admin}`)).toBe(true);
    expect(sockets).toEqual([]);
  });
});
