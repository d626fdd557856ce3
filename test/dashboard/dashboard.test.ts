// The dashboard end to end: the built web app, served by the real HTTP server, driven in a real
// headless Chromium (Debian's `chromium`, through playwright-core) against the public API.
import { readFile, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Browser, type Page } from "playwright-core";
import { createTestApp, type TestApp } from "../support/app.ts";
import { seedAccount } from "../support/billing.ts";
import { buildWeb, chromiumUnavailable, launchChromium, openPage, screenshot } from "../support/chromium.ts";
import { registerWorkers, startRun } from "../../src/billruns/executor.ts";
import { cancelBillRun, createBillRun, deleteBillRun } from "../../src/billruns/service.ts";
import { QUEUES } from "../../src/jobs.ts";
import { createSchedule } from "../../src/schedules/service.ts";
import { startHttpServer, type HttpServer } from "../../src/http.ts";

const unavailable = chromiumUnavailable();
if (unavailable) console.warn(`\n  SKIPPING the dashboard browser tests: ${unavailable}\n`);

let t: TestApp;
let http: HttpServer;
let origin: string;
let webRoot: string;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];
let accounts: {
  good: { accountNumber: string }[];
  missingEmail: { accountNumber: string };
  mismatch: { accountNumber: string; subscriptionNumber: string };
};

beforeAll(async () => {
  if (unavailable) return;
  webRoot = await buildWeb();

  t = await createTestApp();
  http = await startHttpServer(t.app, 0, "127.0.0.1", { webRoot });
  origin = new URL(http.url).origin;

  const good = [];
  for (let i = 0; i < 3; i++) good.push(await seedAccount(t, { charges: [{ type: "RECURRING", price: "10.00", billingPeriod: "MONTH" }] }));
  const missingEmail = await seedAccount(t, { billToEmail: "", charges: [{ type: "ONE_TIME", price: "5.00" }] });
  const mismatch = await seedAccount(t, { charges: [{ type: "RECURRING", price: "20.00", billingPeriod: "MONTH", currency: "GBP" }] });
  accounts = {
    good: good.map((g) => g.account),
    missingEmail: missingEmail.account,
    mismatch: { accountNumber: mismatch.account.accountNumber, subscriptionNumber: mismatch.subscription.subscriptionNumber },
  };

  browser = await launchChromium();
  page = await openPage(browser, pageErrors, { viewport: { width: 1366, height: 860 } });
  // Cancel and Delete ask for confirmation.
  page.on("dialog", (dialog) => void dialog.accept());
});

afterAll(async () => {
  await browser?.close();
  await http?.close();
  await t?.close();
  if (webRoot) await rm(webRoot, { recursive: true, force: true });
});

const row = (number: string) => page.locator(`tr[data-number="${number}"]`);

describe.skipIf(unavailable !== null)("dashboard in headless Chromium", () => {
  it("serves the app at / and its assets, leaving /graphql, /health and /ready alone", async () => {
    const index = await fetch(`${origin}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toContain("text/html");
    const html = await index.text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${origin}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("content-type")).toContain("text/javascript");
    expect(asset.headers.get("cache-control")).toContain("immutable");
    // Nothing outside the build is reachable, and nothing is loaded from elsewhere.
    expect((await fetch(`${origin}/assets/..%2F..%2Fpackage.json`)).status).toBe(404);
    expect((await fetch(`${origin}/assets/missing.js`)).status).toBe(404);
    expect(html).not.toMatch(/https?:\/\//);
    for (const file of await readdir(path.join(webRoot, "assets"))) {
      if (file.endsWith(".js") || file.endsWith(".css")) {
        const text = await (await fetch(`${origin}/assets/${file}`)).text();
        expect(text).not.toMatch(/(src|href|url)\s*[=(]\s*["'`]?https?:\/\//);
      }
    }
    expect((await fetch(`${origin}/health`)).status).toBe(200);
    expect((await fetch(`${origin}/ready`)).status).toBe(200);
    const graphql = await fetch(`${origin}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t.tokens.viewer}` },
      body: JSON.stringify({ query: "{ me { email } }" }),
    });
    expect(await graphql.json()).toEqual({ data: { me: { email: "viewer@example.com" } } });
  });

  it("asks for a token once, refuses a bad one, and keeps a good one in local storage", async () => {
    await page.goto(`${origin}/`);
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    await page.getByLabel("API token").fill("brt_not_a_real_token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("That token was not accepted").waitFor();

    await page.getByLabel("API token").fill(t.tokens.operator);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Bill runs" }).waitFor();
    await page.getByText("No bill runs yet.").waitFor();
    expect(await page.evaluate(() => localStorage.getItem("billrun.token"))).toBe(t.tokens.operator);
    await page.getByText("operator@example.com (OPERATOR)").waitFor();
    // Survives a reload without asking again.
    await page.reload();
    await page.getByRole("heading", { name: "Bill runs" }).waitFor();
  });

  it("shows the API's ValidationError next to the form field it names", async () => {
    await page.getByRole("link", { name: "New bill run" }).first().click();
    await page.getByRole("heading", { name: "New bill run" }).waitFor();
    await page.getByLabel("Specific accounts").check();
    await page.getByLabel("Accounts", { exact: true }).fill("NOPE-42");
    await page.getByLabel("Accounts", { exact: true }).press("Enter");
    await page.getByRole("list", { name: "Chosen accounts" }).getByText("NOPE-42").waitFor();
    await page.getByRole("button", { name: "Create bill run" }).click();
    const fieldError = page.locator("#error-accountNumbers");
    // The field is named in words, not as a path.
    await fieldError.getByText("account number NOPE-42 does not exist").waitFor();
    expect(await page.getByLabel("Accounts", { exact: true }).getAttribute("aria-invalid")).toBe("true");
    // The field's error is part of its accessible description.
    expect(await page.getByLabel("Accounts", { exact: true }).getAttribute("aria-describedby")).toContain("error-accountNumbers");
    expect(await page.getByRole("alert").filter({ hasText: "The bill run was not created" }).count()).toBe(1);
    // At most two excluded charge types: the third box is disabled.
    await page.getByLabel("One-time").check();
    await page.getByLabel("Usage").check();
    expect(await page.getByLabel("Recurring").isDisabled()).toBe(true);
    await page.getByRole("link", { name: "Back to bill runs" }).click();
    await page.getByRole("heading", { name: "Bill runs" }).waitFor();
  });

  it("creates a run from the form and follows it live, without reload, to COMPLETED with the alert icon", async () => {
    await page.evaluate(() => ((window as unknown as { noReload: boolean }).noReload = true));
    await page.getByRole("link", { name: "New bill run" }).first().click();
    await page.getByRole("heading", { name: "New bill run" }).waitFor();
    await page.getByLabel("Target date").fill("2026-02-01");
    await page.getByLabel("Invoice date").fill("2026-02-03");
    await page.getByRole("button", { name: "Create bill run" }).click();

    // No worker yet: the run waits, PENDING, in the list.
    const notice = await page.getByText(/Bill run BR-\d+ created\./).textContent();
    const number = /BR-\d+/.exec(notice!)![0];
    await row(number).locator('[data-status="PENDING"]').waitFor();
    expect(await row(number).textContent()).toContain("2026-02-03");

    // Its detail page shows the progress bar while it waits for a worker.
    await row(number).getByRole("link", { name: number }).click();
    await page.getByRole("heading", { name: `Bill run ${number}` }).waitFor();
    await page.getByRole("progressbar").waitFor();
    await page.getByText("Pending: waiting for a worker").waitFor();
    await page.getByRole("link", { name: "← Bill runs" }).click();
    await row(number).locator('[data-status="PENDING"]').waitFor();

    // A worker starts: the row turns COMPLETED through billRunStatusChanged, with the alert icon.
    await registerWorkers(t.app, 2);
    await row(number).locator('[data-status="COMPLETED"]').waitFor({ timeout: 30_000 });
    await row(number).getByRole("img", { name: "has errors" }).waitFor();
    const cells = (await row(number).locator("td").allTextContents()).map((c) => c.replace(/\u00a0/g, " "));
    expect(cells).toEqual(["Completed", "2026-02-01", "2026-02-03", "5 / 5", "3", "0", "2", "USD 60.00"]);

    // A run created elsewhere appears in the list, live.
    const created = await t.gql(`mutation { createBillRun(input: { targetDate: "2026-03-01" }) { ... on BillRun { billRunNumber } } }`, {}, t.tokens.operator);
    const second = (created.data as { createBillRun: { billRunNumber: string } }).createBillRun.billRunNumber;
    await row(second).locator('[data-status="COMPLETED"]').waitFor({ timeout: 30_000 });
    expect(await page.locator("tbody tr").first().getAttribute("data-number")).toBe(second); // newest first

    // Filters: "has errors" keeps both; "Posted" keeps none.
    await page.getByRole("checkbox", { name: "Has errors" }).check();
    await row(number).waitFor();
    await page.getByLabel("Status").selectOption("POSTED");
    await page.getByText("No bill runs match these filters.").waitFor();
    await page.getByLabel("Status").selectOption("");
    await page.getByRole("checkbox", { name: "Has errors" }).uncheck();
    await row(number).waitFor();

    await screenshot(page, "dashboard-list");
    expect(await page.evaluate(() => (window as unknown as { noReload?: boolean }).noReload)).toBe(true);
  });

  it("opens the run, lists each failed account with its reason, refuses a cancel with the API's message, and posts it", async () => {
    const number = (await page.locator("tbody tr").last().getAttribute("data-number"))!;
    await row(number).getByRole("link", { name: number }).click();
    await page.getByRole("heading", { name: `Bill run ${number}` }).waitFor();
    await page.locator('[data-counter="failed"]').getByText("2").waitFor();

    await page.getByRole("tab", { name: /Failed accounts or subscriptions/ }).click();
    const panel = page.getByRole("tabpanel", { name: /Failed accounts or subscriptions/ });
    const missing = panel.locator("tr", { hasText: accounts.missingEmail.accountNumber });
    await missing.waitFor();
    expect(await missing.textContent()).toContain("MISSING_BILL_TO_CONTACT");
    const mismatch = panel.locator("tr", { hasText: accounts.mismatch.accountNumber });
    expect(await mismatch.textContent()).toContain("CURRENCY_MISMATCH");
    expect(await mismatch.textContent()).toContain(accounts.mismatch.subscriptionNumber);
    expect(await mismatch.textContent()).toMatch(/GBP/);
    for (const good of accounts.good) expect(await panel.getByText(good.accountNumber).count()).toBe(0);

    await screenshot(page, "dashboard-detail");

    // Allowed actions for COMPLETED with failures: Post, Cancel, Retry; not Delete.
    const button = (name: string) => page.getByRole("group", { name: "Bill run actions" }).getByRole("button", { name, exact: true });
    expect(await button("Post").isEnabled()).toBe(true);
    expect(await button("Cancel").isEnabled()).toBe(true);
    expect(await button("Retry failed accounts").isEnabled()).toBe(true);
    expect(await button("Delete").isDisabled()).toBe(true);

    // Cancel is allowed by status, but the later run billed these accounts further: the API refuses.
    await button("Cancel").click();
    const refusal = page.getByRole("alert").filter({ hasText: "Cancel refused" });
    await refusal.waitFor();
    expect(await refusal.textContent()).toMatch(new RegExp(`was billed again after bill run ${number}; cancel the later run first`));

    // Post: POST_IN_PROGRESS, then POSTED live.
    await button("Post").click();
    await page.locator(".head-status [data-status=POSTED]").waitFor({ timeout: 30_000 });
    expect(await button("Post").isDisabled()).toBe(true);
    expect(await button("Cancel").isDisabled()).toBe(true);
    expect(await button("Retry failed accounts").isEnabled()).toBe(true);

    // History: who did what, and when; reachable with the keyboard (arrow keys between tabs).
    await page.getByRole("tab", { name: /Failed accounts/ }).focus();
    await page.keyboard.press("ArrowRight");
    const history = page.getByRole("tabpanel", { name: "History" });
    await history.getByText("operator@example.com").first().waitFor();
    const lines = await history.locator("tbody tr").allTextContents();
    expect(lines.map((l) => l.replace(/\s+/g, " "))).toEqual([
      expect.stringMatching(/^\(new\)Pendingoperator@example\.com/),
      expect.stringMatching(/^PendingProcessingsystem/),
      expect.stringMatching(/^ProcessingCompletedsystem/),
      expect.stringMatching(/^CompletedPostingoperator@example\.com/),
      expect.stringMatching(/^PostingPostedsystem/),
    ]);

    await screenshot(page, "dashboard-detail-posted");

    await page.getByRole("tab", { name: /Invoices/ }).click();
    const invoices = page.getByRole("tabpanel", { name: /Invoices/ });
    await invoices.locator("tbody tr").filter({ hasText: "POSTED" }).nth(2).waitFor();
    expect(await invoices.locator("tbody tr").count()).toBe(3);
  });

  it("downloads an invoice's PDF and the run's CSV exports with the token", async () => {
    const invoices = page.getByRole("tabpanel", { name: /Invoices/ });
    const first = invoices.locator("tbody tr").first();
    const invoiceNumber = (await first.locator("th").textContent())!.trim();
    const [pdf] = await Promise.all([page.waitForEvent("download"), first.getByRole("button", { name: `Download PDF of ${invoiceNumber}` }).click()]);
    expect(pdf.suggestedFilename()).toBe(`${invoiceNumber}.pdf`);
    const pdfBytes = await readFile((await pdf.path())!);
    expect(pdfBytes.subarray(0, 5).toString("latin1")).toBe("%PDF-");

    const [csv] = await Promise.all([page.waitForEvent("download"), invoices.getByRole("button", { name: "Export CSV", exact: true }).click()]);
    expect(csv.suggestedFilename()).toMatch(/^BR-\d+-invoices\.csv$/);
    const lines = (await readFile((await csv.path())!, "utf8"))
      .replace(/^\uFEFF/, "")
      .trim()
      .split("\r\n");
    expect(lines[0]).toBe("id,invoiceNumber,account.accountNumber,account.name,currency,amount,balance,status,invoiceDate,dueDate,postedAt");
    expect(lines).toHaveLength(4);
    expect(lines.some((l) => l.includes(invoiceNumber))).toBe(true);

    await page.getByRole("tab", { name: /Failed accounts/ }).click();
    const failed = page.getByRole("tabpanel", { name: /Failed accounts/ });
    const [failedCsv] = await Promise.all([page.waitForEvent("download"), failed.getByRole("button", { name: "Export CSV" }).click()]);
    const failedText = await readFile((await failedCsv.path())!, "utf8");
    expect(failedText).toContain(accounts.mismatch.subscriptionNumber);
    expect(failedText).toContain("MISSING_BILL_TO_CONTACT");
    await page.getByRole("tab", { name: /Invoices/ }).click();
  });

  it("lists schedules with their next run, and pauses and resumes one", async () => {
    const created = await t.gql(
      `mutation { createBillRunSchedule(input: { repeatType: MONTHLY, dayOfMonth: 15, runTime: "06:30", timeZone: "Europe/London", repeatFrom: "2030-01-01" }) {
        __typename ... on BillRunSchedule { id nextRunAt } ... on Error { message } } }`,
      {},
      t.tokens.operator,
    );
    const schedule = (created.data as { createBillRunSchedule: { __typename: string; id: string; nextRunAt: string } }).createBillRunSchedule;
    expect(schedule.__typename).toBe("BillRunSchedule");

    await page.getByRole("link", { name: "Schedules" }).click();
    await page.getByRole("heading", { name: "Schedules" }).waitFor();
    const line = page.locator(`tr[data-id="${schedule.id}"]`);
    await line.waitFor();
    expect(await line.textContent()).toContain("Monthly, on day 15");
    expect(await line.locator(`[data-next-run] time`).getAttribute("datetime")).toBe(schedule.nextRunAt);
    expect(await line.locator("[data-next-run]").textContent()).toContain("2030");

    await line.getByRole("button", { name: /Pause/ }).click();
    await line.locator('[data-status="PAUSED"]').waitFor();
    expect(await line.locator("[data-next-run]").textContent()).toBe("—");
    await line.getByRole("button", { name: /Resume/ }).click();
    await line.locator('[data-status="ACTIVE"]').waitFor();
    expect(await line.locator("[data-next-run] time").getAttribute("datetime")).toBe(schedule.nextRunAt);
  });

  it("pauses a PENDING scheduled run and resumes it, following it live to COMPLETED", async () => {
    // Start workers off for a moment: the run stays PENDING until the page pauses it.
    await t.app.jobs.boss.offWork(QUEUES.start);
    let runId: string;
    try {
      const ownerId = (await t.app.db.user.findUniqueOrThrow({ where: { email: "operator@example.com" } })).id;
      const scheduleId = await createSchedule(t.app, { repeatType: "DAILY", runTime: "09:00", timeZone: "UTC", repeatFrom: "2040-01-01" }, ownerId);
      const { account } = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "7.00" }] });
      runId = await createBillRun(t.app, { targetDate: "2026-01-15", accountIds: [account.id] }, { createdById: null, scheduleId });

      // The address of older versions (#/runs/<id>) still opens the run.
      await page.goto(`${origin}/#/runs/${runId}`);
      await page.waitForURL(`${origin}/bill-runs/${runId}`);
      const button = (name: string) => page.getByRole("group", { name: "Bill run actions" }).getByRole("button", { name, exact: true });
      await page.locator(".head-status [data-status=PENDING]").waitFor();
      expect(await button("Pause").isEnabled()).toBe(true);
      expect(await button("Resume").isDisabled()).toBe(true);
      await button("Pause").click();
      await page.locator(".head-status [data-status=PAUSED]").waitFor();
      expect(await button("Pause").isDisabled()).toBe(true);
      expect(await button("Resume").isEnabled()).toBe(true);
      expect(await button("Cancel").isEnabled()).toBe(true);
    } finally {
      await t.app.jobs.boss.work<{ billRunId: string }>(QUEUES.start, { pollingIntervalSeconds: t.app.config.jobs.pollingIntervalSeconds }, ([job]) =>
        startRun(t.app, job!.data.billRunId),
      );
    }
    await page.getByRole("group", { name: "Bill run actions" }).getByRole("button", { name: "Resume", exact: true }).click();
    await page.locator(".head-status [data-status=COMPLETED]").waitFor({ timeout: 30_000 });
    expect((await t.app.db.billRun.findUniqueOrThrow({ where: { id: runId! } })).invoiceCount).toBe(1);
  });

  it("drops a deleted run from the list live: its last events have no run any more", async () => {
    await page.goto(`${origin}/bill-runs`);
    await page.getByRole("heading", { name: "Bill runs" }).waitFor();
    const { account } = await seedAccount(t, { charges: [{ type: "ONE_TIME", price: "3.00" }] });
    const id = await createBillRun(t.app, { targetDate: "2026-01-20", accountIds: [account.id] }, { createdById: null });
    const number = (await t.app.db.billRun.findUniqueOrThrow({ where: { id } })).billRunNumber;
    await row(number).locator('[data-status="COMPLETED"]').waitFor({ timeout: 30_000 });
    await cancelBillRun(t.app, id, null);
    await row(number).locator('[data-status="CANCELED"]').waitFor();
    await deleteBillRun(t.app, id, null);
    await row(number).waitFor({ state: "detached" });
  });

  it("raised no error in the page", () => {
    expect(pageErrors).toEqual([]);
  });
});
