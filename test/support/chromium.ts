import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

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

export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
