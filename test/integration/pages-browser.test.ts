import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Queue } from "bullmq";
import type { Browser, Page } from "playwright-core";
import { startWeb, type WebHandle } from "../../src/main/start-web.js";
import { FOLD_LINES } from "../../src/ops/run-page.js";
import { closeRedis, createRedis } from "../../src/queue/connection.js";
import { runLinks } from "../../src/runs/run-links.js";
import { createLogger } from "../../src/shared/log.js";
import { createRedactor } from "../../src/shared/redact.js";
import { artifactPath, launchChromium } from "../support/chromium.js";
import { TestOctokit } from "../support/octokit.js";
import { startTestRedis, type TestRedis } from "../support/redis-server.js";
import { recordScriptedRun } from "../support/scripted-run.js";
import { WEBHOOK_SECRET, testEnv } from "../support/test-env.js";

/**
 * Both pages in a real headless Chromium: the run viewer shows a real scripted agent run's steps
 * (reasoning folded, long output folded, unfolding on click, the diff at the end, budgets), follows
 * a run that is still going without a reload, and /admin/queues renders Bull Board's UI with the
 * queues and a job. Screenshots go to test-artifacts/.
 *
 * If Chromium is not installed or cannot run at all, the tests are skipped with a loud message
 * saying why; if it runs but the launch fails, or anything after it, that is a failure.
 */
const launched = await launchChromium();
const browser: Browser | undefined = "browser" in launched ? launched.browser : undefined;
if (!browser) {
  const message = "unavailable" in launched ? launched.unavailable : "unknown";
  console.error(`\n${"!".repeat(78)}\n!! BROWSER TESTS SKIPPED: Chromium could not start.\n!! ${message.replace(/\n/g, "\n!! ")}\n!! Install it with: apt-get install -y chromium\n${"!".repeat(78)}\n`);
}
const describeWithBrowser = browser ? describe : describe.skip;

const ADMIN = { username: "ops", password: "correct-horse-battery" };
const log = createLogger({ level: "silent", redact: createRedactor() });
const runsDir = mkdtempSync(join(tmpdir(), "iquest-runs-browser-"));
const env = testEnv({ RUNS_DIR: runsDir, PUBLIC_URL: "https://bot.example.com", ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password });
const redact = createRedactor([WEBHOOK_SECRET, ADMIN.password]);
const links = runLinks(env, redact);
let redis: TestRedis;
let web: WebHandle;
let base: string;

beforeAll(async () => {
  if (!browser) return;
  redis = await startTestRedis();
  web = await startWeb({ env, log, redact, redis: redis.url, Octokit: TestOctokit });
  base = `http://127.0.0.1:${web.port}`;
}, 30_000);

afterAll(async () => {
  await browser?.close();
  await web?.close();
  await redis?.destroy();
  rmSync(runsDir, { recursive: true, force: true });
});

const localUrl = (jobId: string) => {
  const u = new URL(links.urlFor(jobId)!);
  return `${base}${u.pathname}${u.search}`;
};

async function screenshot(page: Page, name: string) {
  const file = artifactPath(name);
  mkdirSync(dirname(file), { recursive: true });
  await page.screenshot({ path: file, fullPage: true });
}

describeWithBrowser("the run viewer in Chromium", () => {
  test("shows a scripted run's steps; reasoning and long output fold and unfold; the diff comes last", async () => {
    await recordScriptedRun({ links, jobId: "fix-browser", redact, private: false });
    const page = await browser!.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    try {
      const res = await page.goto(localUrl("fix-browser"));
      expect(res?.status()).toBe(200);
      await expect(page.title()).resolves.toContain("fix for #12");
      const steps = page.locator("section.step");
      await expect(steps.count()).resolves.toBe(6);
      await expect(steps.locator("h3 .tool-name").allTextContents()).resolves.toEqual([
        "str_replace_editor",
        "execute_bash",
        "execute_bash",
        "str_replace_editor",
        "execute_bash",
        "submit",
      ]);
      await expect(page.locator("#status .state").textContent()).resolves.toBe("submitted");
      await expect(page.locator(".budget").first().textContent()).resolves.toMatch(/Steps\s+6 of 20/);
      await expect(steps.first().locator("h3 .timing").textContent()).resolves.toMatch(/\d+(\.\d)? (ms|s) \(model .*, tool .*\)/);

      // Reasoning starts folded: its text is in the page but not visible until clicked.
      const reasoning = steps.nth(1).locator("details.reasoning");
      await expect(reasoning.locator("pre").isVisible()).resolves.toBe(false);
      await reasoning.locator("summary").click();
      await expect(reasoning.locator("pre").isVisible()).resolves.toBe(true);
      await expect(reasoning.locator("pre").textContent()).resolves.toBe("Reproduce the failure first.");

      // 200 lines of `seq` output are folded behind a summary with a preview.
      const long = steps.nth(2).locator("details.observation");
      await expect(long.count()).resolves.toBe(1);
      await expect(long.locator("summary").textContent()).resolves.toMatch(/Output: \d+ lines/);
      await expect(long.locator("pre.output").isVisible()).resolves.toBe(false);
      await long.locator("summary").click();
      await expect(long.locator("pre.output").isVisible()).resolves.toBe(true);
      const text = (await long.locator("pre.output").textContent()) ?? "";
      expect(text.split("\n").length).toBeGreaterThan(FOLD_LINES);
      expect(text).toMatch(/^1\n2\n3\n/);
      await long.locator("summary").click();
      await expect(long.locator("pre.output").isVisible()).resolves.toBe(false);
      // Short output is shown as is.
      await expect(steps.nth(0).locator(".observation pre").isVisible()).resolves.toBe(true);

      // The diff is the last section, coloured by line.
      const diff = page.locator("#diff");
      await expect(diff.locator(".del").allTextContents()).resolves.toContain("-  return a - b;");
      await expect(diff.locator(".add").allTextContents()).resolves.toContain("+  return a + b;");
      const last = await page.evaluate(() => document.querySelector("main")!.lastElementChild!.id);
      expect(last).toBe("diff");
      await reasoning.locator("summary").click(); // fold it again for the picture
      await long.locator("summary").click(); // and show the unfolded output
      await screenshot(page, "run-viewer.png");
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  }, 60_000);

  test("a run still going gains its steps on the open page without a reload", async () => {
    let markStarted: () => void = () => {};
    const started = new Promise<void>((r) => (markStarted = r));
    const run = recordScriptedRun({ links, jobId: "fix-live", redact, private: false, delayMs: 700, onStarted: markStarted });
    await started;
    const page = await browser!.newPage();
    try {
      let navigations = 0;
      page.on("framenavigated", () => navigations++);
      await page.goto(localUrl("fix-live"));
      const before = await page.locator("section.step").count();
      expect(before).toBeLessThan(6);
      await expect(page.locator("#live").textContent()).resolves.toMatch(/Live/);
      await run;
      await page.waitForFunction(() => document.querySelectorAll("section.step").length === 6, undefined, { timeout: 20_000 });
      await page.waitForFunction(() => document.querySelector("#status .state")?.textContent === "submitted", undefined, { timeout: 10_000 });
      await page.waitForFunction(() => document.querySelectorAll("#diff .add").length > 0, undefined, { timeout: 15_000 });
      expect(navigations).toBe(1); // the first load only: the steps came by the live script
      const numbers = await page.locator("section.step").evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-step"))));
      expect(numbers).toEqual([1, 2, 3, 4, 5, 6]);
      await screenshot(page, "run-viewer-live.png");
    } finally {
      await page.close();
    }
  }, 60_000);

  test("a private run shows nothing to the link alone", async () => {
    await recordScriptedRun({ links, jobId: "fix-secret-repo", redact, private: true });
    const context = await browser!.newContext();
    const page = await context.newPage();
    try {
      // Headless Chromium has no login dialog: a 401 with a Basic challenge ends the navigation.
      await expect(page.goto(localUrl("fix-secret-repo"))).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
      const res = await context.request.get(localUrl("fix-secret-repo"));
      expect(res.status()).toBe(401);
      expect(await res.text()).not.toContain("section");
    } finally {
      await context.close();
    }
    // With the login, the same link shows the run.
    const admin = await browser!.newContext({ httpCredentials: ADMIN });
    try {
      const page = await admin.newPage();
      expect((await page.goto(localUrl("fix-secret-repo")))?.status()).toBe(200);
      await expect(page.locator("section.step").count()).resolves.toBe(6);
    } finally {
      await admin.close();
    }
  }, 60_000);
});

describeWithBrowser("/admin/queues in Chromium", () => {
  test("Bull Board renders the job queues and a waiting job, behind the login", async () => {
    const connection = createRedis(redis.url, "plain");
    const queue = new Queue("fix", { connection, prefix: env.QUEUE_PREFIX });
    await queue.add("fix", { kind: "fix", repo: "octo/calc", issueNumber: 12 }, { jobId: "fix-in-the-board" });
    const context = await browser!.newContext({ httpCredentials: ADMIN });
    // The board asks Google for its fonts; this machine has no Internet, so answer at once.
    await context.route(/fonts\.(googleapis|gstatic)\.com/, (route) => route.fulfill({ status: 200, body: "" }));
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    try {
      const res = await page.goto(`${base}/admin/queues`);
      expect(res?.status()).toBe(200);
      expect(page.url()).toBe(`${base}/admin/queues/`);
      for (const name of ["fix", "review", "upgrade"]) {
        await page.getByText(name, { exact: true }).first().waitFor({ timeout: 20_000 });
      }
      await page.goto(`${base}/admin/queues/queue/fix?status=waiting`);
      await page.getByText("fix-in-the-board").first().waitFor({ timeout: 20_000 });
      await screenshot(page, "admin-queues.png");
      expect(errors).toEqual([]);
    } finally {
      await context.close();
      await queue.close();
      await closeRedis(connection);
    }
    // And without the login, nothing.
    const anonymous = await browser!.newContext();
    try {
      const page = await anonymous.newPage();
      await expect(page.goto(`${base}/admin/queues/`)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
      expect((await anonymous.request.get(`${base}/admin/queues/`)).status()).toBe(401);
    } finally {
      await anonymous.close();
    }
  }, 90_000);
});
