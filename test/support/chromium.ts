import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContextOptions, type Page } from "playwright-core";

/** Debian's Chromium, driven through playwright-core. */
export const CHROMIUM = "/usr/bin/chromium";

/** Why browser tests cannot run here, or null. Installs Chromium (as root, with apt) when it is missing. */
export function chromiumUnavailable(): string | null {
  if (existsSync(CHROMIUM)) return null;
  if (process.platform !== "linux" || process.getuid?.() !== 0) return `${CHROMIUM} is missing and installing it needs root (apt-get install chromium)`;
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const update = spawnSync("apt-get", ["update", "-qq"], { env, stdio: "ignore", timeout: 300_000 });
  const install = update.status === 0 ? spawnSync("apt-get", ["install", "-y", "-qq", "chromium"], { env, stdio: "ignore", timeout: 600_000 }) : update;
  if (install.status === 0 && existsSync(CHROMIUM)) return null;
  return `${CHROMIUM} is missing and apt-get could not install it (status ${install.status ?? install.error?.message})`;
}

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const REPO = fileURLToPath(new URL("../../", import.meta.url));
/** Where browser tests leave their screenshots (git-ignored). */
export const ARTIFACTS = path.join(REPO, "test-artifacts");

/**
 * Builds web/ into a fresh temporary directory and returns its path (the caller removes it). Each test file
 * gets a build of its own: what is tested is the current source, and a parallel `npm run build:web` (or
 * another test run) cannot swap the files under its server. Throws with vite's output when the build fails.
 */
export async function buildWeb(): Promise<string> {
  const webRoot = await mkdtemp(path.join(tmpdir(), "billrun-web-"));
  const build = spawnSync(
    process.execPath,
    [path.join(REPO, "node_modules/vite/bin/vite.js"), "build", "--config", "web/vite.config.ts", "--outDir", webRoot, "--emptyOutDir"],
    {
      cwd: REPO,
      encoding: "utf8",
    },
  );
  if (build.status !== 0) throw new Error(`vite build failed:\n${build.stdout}\n${build.stderr}`);
  return webRoot;
}

/** Launches headless Chromium with the test flags. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/**
 * Opens a page with `options` and a default timeout of `timeoutMs` (15 s unless told), pushing its uncaught
 * errors and console errors onto `errors`. The browser logs refused requests (a bad token's 401, a probe's
 * 404) by itself: those are not the app's errors and are left out.
 */
export async function openPage(browser: Browser, errors: string[], options: BrowserContextOptions = {}, timeoutMs = 15_000): Promise<Page> {
  const page = await browser.newPage(options);
  page.setDefaultTimeout(timeoutMs);
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) errors.push(message.text());
  });
  return page;
}

/** Signs the dashboard in with `token` the way a returning user is: the token already in localStorage. */
export async function storeToken(page: Page, origin: string, token: string, pathname = "/"): Promise<void> {
  await page.goto(`${origin}${pathname}`);
  await page.evaluate((value) => localStorage.setItem("billrun.token", value), token);
}

/** Saves a screenshot of `page` as test-artifacts/<name>.png (the whole page unless `fullPage` is false). */
export async function screenshot(page: Page, name: string, fullPage = true): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage });
}
