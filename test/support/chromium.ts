import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";

/**
 * Debian's Chromium (apt-get install chromium; .ci/run installs it) driven by playwright-core,
 * which downloads no browser of its own. The flags keep Chromium off the network it would
 * otherwise call home to, which this machine refuses.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/**
 * `{ unavailable }` only when Chromium truly cannot run here: the binary is missing, or it cannot
 * even print its version. If it runs, a failed launch is a failure of the test (a wrong option,
 * a broken profile), thrown, not skipped: a skip must not hide a bug.
 */
export async function launchChromium(): Promise<{ browser: Browser } | { unavailable: string }> {
  if (!existsSync(CHROMIUM_PATH)) return { unavailable: `${CHROMIUM_PATH} does not exist` };
  const version = spawnSync(CHROMIUM_PATH, ["--headless", "--no-sandbox", "--version"], { encoding: "utf8", timeout: 20_000 });
  if (version.status !== 0) {
    return { unavailable: `${CHROMIUM_PATH} --version failed (exit ${version.status}, ${version.error?.message ?? ""}): ${(version.stderr || "").trim().slice(0, 300)}` };
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    timeout: 30_000,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-sync",
    ],
  });
  return { browser };
}

/** Where screenshots and other test artifacts go (gitignored). */
export function artifactPath(name: string): string {
  return join(new URL("../..", import.meta.url).pathname, "test-artifacts", name);
}
