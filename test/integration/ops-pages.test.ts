import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { appendFileSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Queue } from "bullmq";
import { startWeb, type WebHandle } from "../../src/main/start-web.js";
import { closeRedis, createRedis } from "../../src/queue/connection.js";
import { runLinks } from "../../src/runs/run-links.js";
import { createLogger } from "../../src/shared/log.js";
import { createRedactor } from "../../src/shared/redact.js";
import { TestOctokit } from "../support/octokit.js";
import { startTestRedis, type TestRedis } from "../support/redis-server.js";
import { recordScriptedRun } from "../support/scripted-run.js";
import { WEBHOOK_SECRET, testEnv } from "../support/test-env.js";

/**
 * The pages over real HTTP from the real web process (startWeb): the run viewer's access rules,
 * redaction and headers, its live-update endpoint, and /admin/queues's authentication. The
 * browser side is in pages-browser.test.ts.
 */
const ADMIN = { username: "ops", password: "correct-horse-battery" };
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString("base64")}`;
const log = createLogger({ level: "silent", redact: createRedactor() });
const runsDir = mkdtempSync(join(tmpdir(), "iquest-runs-"));
let redis: TestRedis;
let web: WebHandle;
let webNoAdmin: WebHandle;
let base: string;
let baseNoAdmin: string;
const env = testEnv({ RUNS_DIR: runsDir, PUBLIC_URL: "https://bot.example.com", ADMIN_USERNAME: ADMIN.username, ADMIN_PASSWORD: ADMIN.password });
const redact = createRedactor([WEBHOOK_SECRET, ADMIN.password]);
const links = runLinks(env, redact);

beforeAll(async () => {
  redis = await startTestRedis();
  web = await startWeb({ env, log, redact, redis: redis.url, Octokit: TestOctokit });
  base = `http://127.0.0.1:${web.port}`;
  const plain = testEnv({ RUNS_DIR: runsDir, QUEUE_PREFIX: env.QUEUE_PREFIX });
  webNoAdmin = await startWeb({ env: plain, log, redis: redis.url, Octokit: TestOctokit });
  baseNoAdmin = `http://127.0.0.1:${webNoAdmin.port}`;
  await recordScriptedRun({ links, jobId: "fix-public", redact, private: false });
  await recordScriptedRun({ links, jobId: "fix-private", redact, private: true });
}, 60_000);

afterAll(async () => {
  await web?.close();
  await webNoAdmin?.close();
  await redis?.destroy();
  rmSync(runsDir, { recursive: true, force: true });
});

const path = (jobId: string) => new URL(links.urlFor(jobId)!).pathname + new URL(links.urlFor(jobId)!).search;

describe("run links", () => {
  test("the card link holds an HMAC token of the job id under the public URL; the trajectory lives in RUNS_DIR", () => {
    const url = new URL(links.urlFor("fix-abc")!);
    expect(url.origin + url.pathname).toBe("https://bot.example.com/runs/fix-abc");
    expect(url.searchParams.get("t")).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(links.pathFor("fix-abc")).toBe(join(runsDir, "fix-abc.jsonl"));
    expect(links.verify("fix-abc", url.searchParams.get("t"))).toBe(true);
    expect(links.verify("fix-abd", url.searchParams.get("t"))).toBe(false);
    // Another webhook secret, another key: old links stop working when the secret rotates.
    expect(runLinks({ ...env, WEBHOOK_SECRET: "rotated-secret-value" }).tokenFor("fix-abc")).not.toBe(url.searchParams.get("t"));
    expect(runLinks({ DATA_DIR: "/d" }).urlFor("fix-abc")).toBeUndefined();
    expect(() => links.pathFor("../etc/passwd")).toThrow(/not a job id/);
  });
});

describe("/runs/<job id>", () => {
  test("a public repository's run opens with the link alone", async () => {
    const res = await fetch(base + path("fix-public"));
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain("fix for #12");
    expect(html.match(/class="step[ "]/g)).toHaveLength(6);
    expect(html).toContain('id="diff"');
    expect(html).toContain("+  return a + b;");
    expect(res.headers.get("content-security-policy")).toMatch(/default-src 'none'; script-src 'nonce-/);
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  test("a private repository's run asks for the admin login even with a valid link", async () => {
    const res = await fetch(base + path("fix-private"));
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Basic realm=/);
    expect(await res.text()).not.toContain("fix for #12");
    const authed = await fetch(base + path("fix-private"), { headers: { authorization: basic(ADMIN.username, ADMIN.password) } });
    expect(authed.status).toBe(200);
    // Without admin credentials configured, a private run is never shown.
    const noAdmin = await fetch(baseNoAdmin + path("fix-private"));
    expect(noAdmin.status).toBe(403);
    expect(await noAdmin.text()).toMatch(/private repository/);
  });

  test("a wrong token, or none, reveals nothing; the admin login opens any run", async () => {
    expect((await fetch(`${base}/runs/fix-public?t=${"A".repeat(32)}`)).status).toBe(404);
    expect((await fetch(`${baseNoAdmin}/runs/fix-public`)).status).toBe(404);
    const noToken = await fetch(`${base}/runs/fix-public`);
    expect(noToken.status).toBe(401);
    const wrongPassword = await fetch(`${base}/runs/fix-public`, { headers: { authorization: basic(ADMIN.username, "nope-nope-nope") } });
    expect(wrongPassword.status).toBe(401);
    const admin = await fetch(`${base}/runs/fix-public`, { headers: { authorization: basic(ADMIN.username, ADMIN.password) } });
    expect(admin.status).toBe(200);
    expect((await fetch(`${base}/runs/no-such-job`, { headers: { authorization: basic(ADMIN.username, ADMIN.password) } })).status).toBe(404);
  });

  test("every string passes the redactor, and run text cannot inject markup", async () => {
    const jobId = "fix-leaky";
    links.writeMeta({ jobId, kind: "fix", repo: "octo/calc", private: false, title: "leak <b>test</b>" });
    // Written around the trajectory writer (which redacts too), as a file from an older version might be.
    const token = `ghs_${"x".repeat(36)}`;
    const records = [
      { v: 1, type: "run-start", runId: "r1", startedAt: new Date().toISOString(), model: "m", budgets: { maxSteps: 10, maxTotalTokens: 1000, maxWallClockMs: 60000 } },
      {
        v: 1,
        type: "step",
        step: 1,
        response: { reasoning: `the token is ${token}`, content: "" },
        action: { kind: "call", tool: "execute_bash", args: { command: `echo ${WEBHOOK_SECRET}` } },
        observation: `<script>alert(1)</script> https://x-access-token:${token}@github.com/o/r`,
        timings: { modelMs: 5, toolMs: 1, stepMs: 7 },
        usage: { promptTokens: 10, completionTokens: 5 },
        totalUsage: { totalTokens: 15 },
      },
    ];
    writeFileSync(links.pathFor(jobId), records.map((r) => JSON.stringify(r)).join("\n") + "\n");
    const html = await (await fetch(base + path(jobId))).text();
    expect(html).not.toContain(token);
    expect(html).not.toContain(WEBHOOK_SECRET);
    expect(html).toContain("[REDACTED]");
    expect(html).not.toContain("<script>alert(1)</script>");
    expect(html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(html).toContain("leak &lt;b&gt;test&lt;/b&gt;");
  });

  test("the live endpoint sends the records after the page's count, and asks for a reload after a re-run", async () => {
    const jobId = "fix-live";
    links.writeMeta({ jobId, kind: "fix", repo: "octo/calc", private: false });
    const file = links.pathFor(jobId);
    const start = { v: 1, type: "run-start", runId: "run-1", startedAt: new Date().toISOString(), model: "m", budgets: { maxSteps: 10 } };
    const step = (n: number) => ({ v: 1, type: "step", step: n, response: { reasoning: "r", content: "" }, action: { kind: "call", tool: "execute_bash", args: { command: `echo ${n}` } }, observation: `out ${n}`, timings: {}, usage: {}, totalUsage: { totalTokens: n * 10 } });
    writeFileSync(file, `${JSON.stringify(start)}\n${JSON.stringify(step(1))}\n`);
    const token = links.tokenFor(jobId)!;
    const records = (from: number, run = "run-1") => fetch(`${base}/runs/${jobId}/records?t=${token}&from=${from}&run=${run}`).then((r) => r.json() as Promise<any>);
    const first = await records(2);
    expect(first).toMatchObject({ reset: false, count: 2, finished: false, html: "" });
    appendFileSync(file, `${JSON.stringify(step(2))}\n`);
    const second = await records(2);
    expect(second.count).toBe(3);
    expect(second.html).toContain('data-step="2"');
    expect(second.html).not.toContain('data-step="1"');
    appendFileSync(file, `${JSON.stringify({ v: 1, type: "end", runId: "run-1", outcome: { kind: "submitted", summary: "ok" }, steps: 2, usage: { totalTokens: 20 }, durationMs: 1000 })}\n`);
    const third = await records(3);
    expect(third).toMatchObject({ finished: true, diffReady: false });
    expect(third.status).toContain("submitted");
    // A retry rewrote the file with a new run id.
    writeFileSync(file, `${JSON.stringify({ ...start, runId: "run-2" })}\n`);
    expect(await records(4)).toEqual({ reset: true });
  });

  test("old runs are pruned, newer ones kept", () => {
    const old = links.pathFor("fix-old");
    writeFileSync(old, "{}\n");
    links.writeMeta({ jobId: "fix-old", kind: "fix", repo: "o/r", private: true });
    const past = new Date(Date.now() - 40 * 24 * 3600_000);
    utimesSync(old, past, past);
    utimesSync(join(runsDir, "fix-old.meta.json"), past, past);
    const removed = links.store.prune(30 * 24 * 3600_000);
    expect(removed).toEqual(["fix-old"]);
    expect(links.store.read("fix-old")).toBeUndefined();
    expect(links.store.read("fix-public")).toBeDefined();
  });
});

describe("/admin/queues", () => {
  let queue: Queue;
  let connection: ReturnType<typeof createRedis>;
  beforeAll(async () => {
    connection = createRedis(redis.url, "plain");
    queue = new Queue("fix", { connection, prefix: env.QUEUE_PREFIX });
    await queue.add("fix", { kind: "fix", repo: "octo/calc" }, { jobId: "fix-admin-1" });
  });
  afterAll(async () => {
    await queue.close();
    await closeRedis(connection);
  });

  test("off without credentials", async () => {
    expect((await fetch(`${baseNoAdmin}/admin/queues/`)).status).toBe(404);
  });

  test("asks for the login, refuses a wrong one, serves the board and its API with the right one", async () => {
    const anonymous = await fetch(`${base}/admin/queues/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toMatch(/^Basic/);
    expect((await fetch(`${base}/admin/queues/`, { headers: { authorization: basic("ops", "wrong-password-1") } })).status).toBe(401);
    const auth = { authorization: basic(ADMIN.username, ADMIN.password) };
    const page = await fetch(`${base}/admin/queues/`, { headers: auth });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<base href="/admin/queues/"');
    const script = /src="(static\/js\/main\.[^"]+\.js)"/.exec(html)![1];
    const asset = await fetch(`${base}/admin/queues/${script}`, { headers: auth });
    expect(asset.status).toBe(200);
    expect(asset.headers.get("content-type")).toMatch(/javascript/);
    const api = (await (await fetch(`${base}/admin/queues/api/queues?activeQueue=fix&status=waiting&page=1&jobsPerPage=10`, { headers: auth })).json()) as any;
    expect(api.queues.map((q: any) => q.name).sort()).toEqual(["answer", "fix", "notify", "rebase", "review", "upgrade"]);
    const fix = api.queues.find((q: any) => q.name === "fix");
    expect(fix.counts.waiting).toBe(1);
    expect(fix.jobs.map((j: any) => j.id)).toEqual(["fix-admin-1"]);
    // Path traversal out of the static directory is refused.
    expect((await fetch(`${base}/admin/queues/static/..%2f..%2fpackage.json`, { headers: auth })).status).toBe(404);
  });

  test("a cross-site state change is refused even with the login (CSRF)", async () => {
    const auth = { authorization: basic(ADMIN.username, ADMIN.password) };
    const cross = await fetch(`${base}/admin/queues/api/queues/fix/pause`, { method: "PUT", headers: { ...auth, origin: "https://evil.example.com" } });
    expect(cross.status).toBe(403);
    expect(await queue.isPaused()).toBe(false);
    const same = await fetch(`${base}/admin/queues/api/queues/fix/pause`, { method: "PUT", headers: { ...auth, origin: base } });
    expect(same.status).toBe(200);
    expect(await queue.isPaused()).toBe(true);
    await queue.resume();
  });
});
