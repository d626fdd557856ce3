// Reviewing a run in the dashboard, in headless Chromium against the real server: deep links,
// a document's lines, account search among 10,000, fixing a failed account and retrying without
// leaving the run, confirmations that say what will happen, and the phone-width layout.
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Browser, type Page } from "playwright-core";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount, waitForStatus } from "../support/billing.ts";
import { buildWeb, chromiumUnavailable, launchChromium, openPage, screenshot, storeToken } from "../support/chromium.ts";
import { registerWorkers } from "../../src/billruns/executor.ts";
import { createBillRun } from "../../src/billruns/service.ts";
import { startHttpServer, type HttpServer } from "../../src/http.ts";
import { seedBulkAccounts } from "../support/seed.ts";

const unavailable = chromiumUnavailable();
if (unavailable) console.warn(`\n  SKIPPING the dashboard review tests: ${unavailable}\n`);

let t: TestApp;
let http: HttpServer;
let origin: string;
let webRoot: string;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];
/** The messages of confirm() dialogs, in order; each is accepted unless `dismissNext` is set. */
const dialogs: string[] = [];
let dismissNext = false;
let runId: string;
let runNumber: string;
let failing: { id: string; accountNumber: string };

const nbsp = (text: string | null) => (text ?? "").replace(/\u00a0/g, " ");
const actionButton = (name: string) => page.getByRole("group", { name: "Bill run actions" }).getByRole("button", { name, exact: true });

beforeAll(async () => {
  if (unavailable) return;
  webRoot = await buildWeb();
  t = await createTestApp();
  http = await startHttpServer(t.app, 0, "127.0.0.1", { webRoot });
  origin = new URL(http.url).origin;
  await registerWorkers(t.app, 2);

  // One run to review: two good accounts (one with a quantity of 3), one without a bill-to email.
  const a = await seedAccount(t, { charges: [{ name: "Seats", type: "RECURRING", price: "12.50", quantity: "3", billingPeriod: "MONTH" }] });
  const b = await seedAccount(t, { currency: "EUR", charges: [{ name: "Setup", type: "ONE_TIME", price: "1234.5" }] });
  const c = await seedAccount(t, { billToEmail: "", charges: [{ name: "Setup", type: "ONE_TIME", price: "99.00" }] });
  failing = c.account;
  runId = await createBillRun(t.app, { targetDate: "2026-01-15", accountIds: [a.account.id, b.account.id, c.account.id] }, { createdById: null });
  await waitForStatus(t, runId, ["COMPLETED"]);
  runNumber = (await t.app.db.billRun.findUniqueOrThrow({ where: { id: runId } })).billRunNumber;

  browser = await launchChromium();
  page = await openPage(browser, pageErrors, { viewport: { width: 1280, height: 860 }, locale: "en-US", timezoneId: "America/New_York" });
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void (dismissNext ? dialog.dismiss() : dialog.accept());
    dismissNext = false;
  });
  await storeToken(page, origin, t.tokens.operator);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await http?.close();
  await t?.close();
  if (webRoot) await rm(webRoot, { recursive: true, force: true });
});

describe.skipIf(unavailable !== null)("the dashboard as a review workspace", () => {
  it("answers every screen's address with the app, and leaves the API's paths alone", async () => {
    for (const address of [
      `/bill-runs/${runId}`,
      `/bill-runs/${runId}/failed`,
      "/bill-runs/new",
      "/invoices/x",
      "/credit-memos/x",
      "/accounts",
      "/accounts/x",
      "/schedules/x",
    ]) {
      const response = await fetch(`${origin}${address}`);
      expect(response.status, address).toBe(200);
      expect(response.headers.get("content-type")).toContain("text/html");
    }
    expect((await fetch(`${origin}/bill-runs/../package.json`)).status).not.toBe(200);
    expect((await fetch(`${origin}/nowhere`)).headers.get("content-type") ?? "").not.toContain("text/html");
  });

  it("opens the run from the email's link (/bill-runs/<id>), with times in the user's zone and amounts per currency", async () => {
    await page.goto(`${origin}/bill-runs/${runId}`);
    await page.getByRole("heading", { name: `Bill run ${runNumber}` }).waitFor();
    await page.locator(".head-status [data-status=COMPLETED]").waitFor();
    const totals = nbsp(await page.locator('[data-counter="totals"]').textContent());
    expect(totals).toContain("EUR 1,234.50");
    expect(totals).toContain("USD 37.50");
    // Times name their zone; the run took a measured while.
    expect(await page.locator(".summary .details").textContent()).toMatch(/EST|EDT|GMT-[45]/);
    expect(await page.locator(".summary .details").textContent()).toContain("America/New_York");
    await page
      .locator('[data-counter="duration"]')
      .getByText(/accounts\/s/)
      .waitFor();
  });

  it("opens an invoice from the run and shows its lines, totals and balance; back returns to the run", async () => {
    const invoices = page.getByRole("tabpanel", { name: /Invoices/ });
    const usd = invoices.locator("tbody tr").filter({ hasText: "USD 37.50" });
    await usd.waitFor();
    await usd.getByRole("link", { name: /^INV-/ }).click();
    await page.getByRole("heading", { name: /^Invoice INV-/ }).waitFor();
    const line = page.locator("table.lines tbody tr").first();
    expect((await line.locator("th, td").allTextContents()).map(nbsp)).toEqual([
      "Seats",
      expect.stringMatching(/^S-/),
      "2026-01-01 – 2026-01-31",
      "3",
      "USD 12.50",
      "USD 37.50",
    ]);
    expect(nbsp(await page.locator("[data-total]").textContent())).toBe("USD 37.50");
    expect(nbsp(await page.locator("[data-balance]").textContent())).toBe("USD 37.50");
    await page.getByText("No payments.").waitFor();
    await page.getByRole("link", { name: runNumber, exact: true }).waitFor();
    await screenshot(page, "review-invoice");
    await page.goBack();
    await page.getByRole("heading", { name: `Bill run ${runNumber}` }).waitFor();
    await page.goForward();
    await page.getByRole("heading", { name: /^Invoice INV-/ }).waitFor();
    await page.goBack();
    await page.getByRole("heading", { name: `Bill run ${runNumber}` }).waitFor();
  });

  it("filters the run's invoices by amount and sorts them by amount", async () => {
    const invoices = page.getByRole("tabpanel", { name: /Invoices/ });
    await invoices.locator("tbody tr").nth(1).waitFor();
    await page.getByLabel("Sort by").selectOption("AMOUNT_DESC");
    await page.getByLabel("Amount from").fill("100");
    await page.getByRole("button", { name: "Apply" }).click();
    await invoices.locator("tbody tr").filter({ hasText: "EUR 1,234.50" }).waitFor();
    await expect.poll(() => invoices.locator("tbody tr").count()).toBe(1);
    await page.getByLabel("Amount from").fill("");
    await page.getByRole("button", { name: "Apply" }).click();
    await invoices.locator("tbody tr").nth(1).waitFor();
    expect((await invoices.locator("tbody tr td:nth-of-type(3)").allTextContents()).map(nbsp)).toEqual(["EUR 1,234.50", "USD 37.50"]);
  });

  it("filters the run's invoices by account (number or name), and the runs by target date", async () => {
    const invoices = page.getByRole("tabpanel", { name: /Invoices/ });
    const eur = await t.app.db.document.findFirstOrThrow({ where: { billRunId: runId, currency: "EUR" }, include: { account: true } });
    await page.getByLabel("Account", { exact: true }).fill(eur.account.accountNumber);
    await page.getByRole("button", { name: "Apply" }).click();
    await expect.poll(() => invoices.locator("tbody tr").count()).toBe(1);
    expect(nbsp(await invoices.locator("tbody tr").textContent())).toContain("EUR 1,234.50");
    await page.getByLabel("Account", { exact: true }).fill("no such customer");
    await page.getByRole("button", { name: "Apply" }).click();
    await invoices.getByText('No account matches "no such customer".').waitFor();
    await page.getByLabel("Account", { exact: true }).fill("");
    await page.getByRole("button", { name: "Apply" }).click();
    await expect.poll(() => invoices.locator("tbody tr").count()).toBe(2);

    await page.goto(`${origin}/bill-runs?from=2026-01-16`);
    await page.getByText("No bill runs match these filters.").waitFor();
    await page.getByLabel("Target date from").fill("2026-01-15");
    await page.locator(`tr[data-id="${runId}"]`).waitFor();
    expect(page.url()).toBe(`${origin}/bill-runs?from=2026-01-15`);
    await page.getByLabel("to", { exact: true }).fill("2026-01-14");
    await page.getByText("No bill runs match these filters.").waitFor();
    await page.goto(`${origin}/bill-runs/${runId}`);
    await page.getByRole("heading", { name: `Bill run ${runNumber}` }).waitFor();
  });

  it("fixes a failed account's email from the Failed tab, comes back and retries, staying on the run", async () => {
    await page.getByRole("tab", { name: /Failed accounts/ }).click();
    await page.waitForURL(`${origin}/bill-runs/${runId}/failed`);
    const panel = page.getByRole("tabpanel", { name: /Failed accounts/ });
    await panel.getByRole("link", { name: failing.accountNumber }).click();
    await page.getByRole("heading", { name: new RegExp(`^Account ${failing.accountNumber}`) }).waitFor();
    // Its failure is listed with the run it happened in.
    await page.locator("table.failures").getByText("MISSING_BILL_TO_CONTACT").waitFor();

    // Edit in place, with the keyboard: a bad address is refused next to the field.
    await page.getByRole("button", { name: "Edit bill-to email" }).click();
    const email = page.getByRole("textbox", { name: "Bill-to email", exact: true });
    await email.fill("not an email");
    await email.press("Enter");
    await page.locator("#edit-error").getByText("not a valid email address").waitFor();
    await email.fill("ap@fixed.example");
    await email.press("Enter");
    await page.getByText("Bill-to email saved.").waitFor();
    expect((await t.app.db.account.findUniqueOrThrow({ where: { id: failing.id } })).billToEmail).toBe("ap@fixed.example");

    await page.getByRole("link", { name: "← Back to the failed accounts" }).click();
    await page.waitForURL(`${origin}/bill-runs/${runId}/failed`);
    await page.getByRole("tab", { name: /Failed accounts/, selected: true }).waitFor();

    await actionButton("Retry failed accounts").click();
    expect(dialogs.at(-1)).toContain(`Create a new bill run for the 1 failed account of ${runNumber}`);
    const retryLink = page.locator("[data-retry-run]");
    await retryLink.waitFor();
    // Still on the run under review.
    expect(page.url()).toBe(`${origin}/bill-runs/${runId}/failed`);
    await page.getByRole("heading", { name: `Bill run ${runNumber}` }).waitFor();
    const retryId = (await retryLink.getAttribute("data-retry-run"))!;
    const retryNumber = (await retryLink.textContent())!;
    await waitForStatus(t, retryId, ["COMPLETED"]);
    await screenshot(page, "review-retry");
    await retryLink.click();
    await page.getByRole("heading", { name: `Bill run ${retryNumber}` }).waitFor();
    expect(page.url()).toBe(`${origin}/bill-runs/${retryId}`);
    await page
      .getByText(`Retry of${runNumber}`)
      .or(page.getByRole("link", { name: runNumber }))
      .first()
      .waitFor();
    await page.locator('[data-counter="failed"]').getByText("0").waitFor();
    await page.goBack();
    await page.getByRole("heading", { name: `Bill run ${runNumber}` }).waitFor();
  });

  it("asks before posting, saying what will be posted; declined, nothing happens; accepted, the banner ends on POSTED", async () => {
    await page.locator(".head-status [data-status=COMPLETED]").waitFor();
    dismissNext = true;
    await actionButton("Post").click();
    expect(nbsp(dialogs.at(-1)!)).toMatch(/^Post 2 invoices totalling EUR 1,234.50 and 1 other currency\?/);
    expect((await t.app.db.billRun.findUniqueOrThrow({ where: { id: runId } })).status).toBe("COMPLETED");
    expect(await actionButton("Post").isEnabled()).toBe(true);

    await actionButton("Post").click();
    await page.locator(".head-status [data-status=POSTED]").waitFor({ timeout: 30_000 });
    await page.locator("#action-message").getByText(`${runNumber} posted: 2 invoices.`).waitFor();
    expect(await actionButton("Post").isDisabled()).toBe(true);
    expect(await actionButton("Cancel").isDisabled()).toBe(true);
  });

  it("shows a run that changed under the operator instead of failing", async () => {
    const { account } = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "4.00" }] });
    const id = await createBillRun(t.app, { targetDate: "2026-01-15", accountIds: [account.id] }, { createdById: null });
    await waitForStatus(t, id, ["COMPLETED"]);
    // This page hears no live event for a while (the WebSocket's results are held back), as when
    // another operator acts between a refresh and a click.
    let hold = false;
    await page.routeWebSocket(/\/graphql$/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((message) => server.send(message));
      server.onMessage((message) => {
        if (!(hold && typeof message === "string" && message.includes('"type":"next"'))) ws.send(message);
      });
    });
    await page.goto(`${origin}/bill-runs/${id}`);
    await page.locator(".head-status [data-status=COMPLETED]").waitFor();
    hold = true;
    await t.gql(`mutation($id: ID!) { cancelBillRun(id: $id) { __typename } }`, { id }, t.tokens.admin);
    await waitForStatus(t, id, ["CANCELED"]);
    expect(await actionButton("Post").isEnabled()).toBe(true);
    await actionButton("Post").click();
    await page
      .locator("#action-message")
      .getByText(/Post was not done: BR-\d+ changed meanwhile and is now Canceled/)
      .waitFor();
    hold = false;
    await page.unrouteAll();
    await page.locator(".head-status [data-status=CANCELED]").waitFor();
    expect(await actionButton("Delete").isEnabled()).toBe(true);
  });

  it("finds an account by part of its name among 10,000, with suggestions as one types", async () => {
    await seedBulkAccounts(t.app.pool, 10_000, { prefix: "BULK" });
    await t.app.pool.query(`UPDATE accounts SET name = 'Quixotic Widgets Ltd', bill_to_email = 'ap@quixotic.example' WHERE account_number = 'BULK-00007777'`);
    await page.goto(`${origin}/accounts`);
    await page.getByRole("heading", { name: "Accounts" }).waitFor();
    const box = page.getByLabel("Find an account");
    await box.pressSequentially("xotic wid");
    const results = page.getByRole("list", { name: "Matching accounts" });
    await results.locator('[data-account="BULK-00007777"]').waitFor();
    expect(await results.locator("li").count()).toBe(1);
    await screenshot(page, "review-account-search");
    // The address keeps the search; the keyboard opens the account.
    expect(page.url()).toContain("/accounts?q=xotic%20wid");
    await results.getByRole("link").focus();
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Account BULK-00007777 · Quixotic Widgets Ltd" }).waitFor();
    await page.getByText("Charged through").first().waitFor();
  });

  it("creates a run for accounts chosen by name, with suggestions", async () => {
    await page.goto(`${origin}/bill-runs/new`);
    await page.getByLabel("Specific accounts").check();
    const box = page.getByLabel("Accounts", { exact: true });
    await box.pressSequentially("Quixotic");
    // The suggestion (a datalist option) appears; taking it adds the account by its number.
    await page.locator('#account-options option[value="BULK-00007777 · Quixotic Widgets Ltd"]').waitFor({ state: "attached" });
    await box.fill("BULK-00007777 · Quixotic Widgets Ltd");
    await page.getByRole("list", { name: "Chosen accounts" }).locator('[data-account="BULK-00007777"]').waitFor();
    await page.getByLabel("Target date").fill("2026-01-15");
    await page.getByRole("button", { name: "Create bill run" }).click();
    const notice = await page.getByText(/Bill run BR-\d+ created\./).textContent();
    const number = /BR-\d+/.exec(notice!)![0];
    const run = await t.app.db.billRun.findFirstOrThrow({ where: { billRunNumber: number } });
    const account = await t.app.db.account.findUniqueOrThrow({ where: { accountNumber: "BULK-00007777" } });
    expect(run.accountIds).toEqual([account.id]);
  });

  it("creates, edits, pauses, resumes and cancels a schedule, showing every option", async () => {
    await page.goto(`${origin}/schedules`);
    await page.getByRole("button", { name: "New schedule" }).click();
    const form = page.getByRole("form", { name: "New schedule" });
    await form.getByLabel("Repeats").selectOption("MONTHLY");
    await form.getByLabel("Day of month (monthly)").fill("15");
    await form.getByLabel("Run time").fill("06:30");
    await form.getByLabel("Time zone").fill("Europe/London");
    await form.getByLabel("From", { exact: true }).fill("2031-01-01");
    await form.getByLabel("Post automatically").check();
    await form.getByLabel("One-time").check();
    await form.getByRole("button", { name: "Create schedule" }).click();
    await page.getByText("Schedule created.").waitFor();
    const first = page.locator("tr", { hasText: "06:30 Europe/London" });
    await first.waitFor();
    const options = await first.locator("[data-options]").textContent();
    expect(options).toContain("Auto-post: yes");
    expect(options).toContain("Excluded: one-time");
    expect(options).toContain("Accounts: batches all; bill cycle day all");
    expect(await first.textContent()).toContain("Monthly, on day 15");
    const oldId = (await first.getAttribute("data-id"))!;

    await first.getByRole("button", { name: /^Edit/ }).click();
    const edit = page.getByRole("form", { name: "Edit schedule" });
    expect(await edit.getByLabel("Day of month (monthly)").inputValue()).toBe("15");
    await edit.getByLabel("Run time").fill("07:45");
    await edit.getByRole("button", { name: "Save schedule" }).click();
    await page.getByText("Schedule saved (as a new schedule; the old one is canceled).").waitFor();
    await page.locator(`tr[data-id="${oldId}"] [data-status="CANCELED"]`).waitFor();
    const edited = page.locator("tr", { hasText: "07:45 Europe/London" });
    expect(await edited.locator("[data-options]").textContent()).toContain("Auto-post: yes");

    await edited.getByRole("button", { name: /^Pause/ }).click();
    await edited.locator('[data-status="PAUSED"]').waitFor();
    await edited.getByRole("button", { name: /^Resume/ }).click();
    await edited.locator('[data-status="ACTIVE"]').waitFor();
    await edited.getByRole("button", { name: /^Cancel/ }).click();
    expect(dialogs.at(-1)).toContain("Cancel the schedule");
    await edited.locator('[data-status="CANCELED"]').waitFor();
  });

  it("works with the keyboard alone: from the list to a run, across its tabs, to a failed account and back", async () => {
    const focused = () =>
      page.evaluate(() => ({
        text: document.activeElement?.textContent?.trim() ?? "",
        role: document.activeElement?.getAttribute("role"),
        tag: document.activeElement?.tagName,
      }));
    /** Presses Tab until `wanted` holds for the focused element (at most 80 times). */
    async function tabTo(wanted: (f: Awaited<ReturnType<typeof focused>>) => boolean, key = "Tab"): Promise<void> {
      for (let i = 0; i < 80; i++) {
        await page.keyboard.press(key);
        if (wanted(await focused())) return;
      }
      throw new Error(`focus never reached the element; it is on ${JSON.stringify(await focused())}`);
    }
    await page.goto(`${origin}/bill-runs`);
    await page.locator(`tr[data-id="${runId}"]`).waitFor();
    await tabTo((f) => f.text === runNumber);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: `Bill run ${runNumber}` }).waitFor();
    expect((await focused()).tag).toBe("H1");
    await tabTo((f) => f.role === "tab");
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowRight");
    await page.getByRole("tab", { name: /Failed accounts/, selected: true }).waitFor();
    expect(page.url()).toBe(`${origin}/bill-runs/${runId}/failed`);
    await tabTo((f) => f.text === failing.accountNumber);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: new RegExp(`^Account ${failing.accountNumber}`) }).waitFor();
    await tabTo((f) => f.text === "← Back to the failed accounts", "Shift+Tab");
    await page.keyboard.press("Enter");
    await page.getByRole("tab", { name: /Failed accounts/, selected: true }).waitFor();
    expect(page.url()).toBe(`${origin}/bill-runs/${runId}/failed`);
  });

  it("fits a 390 px wide phone without horizontal scrolling, header included", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const invoice = await t.app.db.document.findFirstOrThrow({ where: { billRunId: runId, type: "INVOICE" } });
    const screens = [
      `/bill-runs`,
      `/bill-runs/${runId}`,
      `/bill-runs/${runId}/failed`,
      `/invoices/${invoice.id}`,
      `/accounts/${failing.id}`,
      "/accounts?q=quixotic",
      "/bill-runs/new",
      "/schedules",
    ];
    for (const screen of screens) {
      await page.goto(`${origin}${screen}`);
      await page.locator("main h1").first().waitFor();
      await page.waitForLoadState("networkidle");
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow, screen).toBeLessThanOrEqual(0);
      const signOut = await page.getByRole("button", { name: "Sign out" }).boundingBox();
      expect(signOut!.x + signOut!.width, screen).toBeLessThanOrEqual(390);
    }
    await page.goto(`${origin}/bill-runs/${runId}`);
    await page.getByRole("heading", { name: `Bill run ${runNumber}` }).waitFor();
    await screenshot(page, "review-mobile-run");
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  it("raised no error in the page", () => {
    expect(pageErrors).toEqual([]);
  });
});
