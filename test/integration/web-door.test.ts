import { request } from "node:http";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import nock from "nock";
import { startWeb, type WebHandle } from "../../src/main/start-web.js";
import { createLogger } from "../../src/shared/log.js";
import { redact } from "../../src/shared/redact.js";
import { TestOctokit } from "../support/octokit.js";
import { INSTALLATION_ID, issuesLabeled } from "../support/payloads.js";
import { API, REPO_PATH } from "../support/probot-app.js";
import { startTestRedis, type TestRedis } from "../support/redis-server.js";
import { DuplicateKeyError, parseStrictJson } from "../support/strict-json.js";
import { WEBHOOK_SECRET, testEnv } from "../support/test-env.js";
import { postDelivery, sign } from "../support/webhooks.js";

/**
 * The web process's front door, as an attacker and a log pipeline see it: every bad request's
 * status, what (little) it logs, the counter per reason, and JSON log lines with one key per
 * name. A real web process (startWeb) on a spare port, a real redis-server; GitHub is nock.
 */
let redis: TestRedis;
let web: WebHandle;
let url: string;
let inspect: Redis;
let fixQueue: Queue;
const lines: string[] = [];
const sink = new Writable({
  write(chunk, _enc, done) {
    lines.push(...String(chunk).split("\n").filter(Boolean));
    done();
  },
});
const logBytes = () => lines.reduce((n, l) => n + l.length + 1, 0);
// Written into every bad body: it must never reach the log.
const CANARY = "CANARY-PAYLOAD-3f9d2c";
const env = testEnv({ LOG_LEVEL: "info", WEBHOOK_MAX_BODY_BYTES: "65536", LOG_SUMMARY_INTERVAL_MS: "600000" });

beforeAll(async () => {
  redis = await startTestRedis();
  nock.disableNetConnect();
  nock.enableNetConnect(/127\.0\.0\.1|localhost/);
  nock(API)
    .persist()
    .post(`/app/installations/${INSTALLATION_ID}/access_tokens`)
    .reply(201, { token: "ghs_webdoor00000000000000000000000000000", expires_at: new Date(Date.now() + 3600_000).toISOString() })
    .get(`${REPO_PATH}/contents/.github%2Fiquest.yml`)
    .reply(404, {})
    .get(/\/collaborators\/alice\/permission$/)
    .reply(200, { permission: "write" });
  const log = createLogger({ level: "info", redact, destination: sink });
  web = await startWeb({ env, log, redis: redis.url, Octokit: TestOctokit });
  url = `http://127.0.0.1:${web.port}${env.WEBHOOK_PATH}`;
  inspect = new Redis(redis.url, { maxRetriesPerRequest: null });
  fixQueue = new Queue("fix", { connection: inspect, prefix: env.QUEUE_PREFIX });
});

afterAll(async () => {
  await web?.close();
  await fixQueue?.close();
  await inspect?.quit();
  await redis?.destroy();
  nock.cleanAll();
  nock.enableNetConnect();
});

const labeled = (issue: number) => ({ event: "issues", payload: { ...issuesLabeled({ issue }), canary: CANARY } });
const body = JSON.stringify(labeled(1).payload);

/** Raw POST with exactly these headers (fetch would add a content type of its own). */
function rawPost(headers: Record<string, string>, data: string, method = "POST"): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { "content-length": String(Buffer.byteLength(data)), ...headers } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode!));
    });
    req.on("error", reject);
    req.end(data);
  });
}

const good = (data: string, extra: Record<string, string> = {}) => ({
  "content-type": "application/json",
  "x-github-event": "issues",
  "x-github-delivery": `door-${Math.random().toString(36).slice(2)}`,
  "x-hub-signature-256": sign(WEBHOOK_SECRET, data),
  ...extra,
});

describe("bad requests are refused cheaply and quietly", () => {
  const cases: Array<{ name: string; reason: string; status: number; send: () => Promise<number> }> = [
    { name: "no signature", reason: "signature-missing", status: 401, send: () => rawPost({ ...good(body), "x-hub-signature-256": "" }, body) },
    { name: "a sha1 signature only", reason: "signature-missing", status: 401, send: () => rawPost({ ...good(body), "x-hub-signature-256": sign(WEBHOOK_SECRET, body).replace("sha256", "sha1") }, body) },
    { name: "a wrong signature", reason: "signature-invalid", status: 401, send: () => rawPost({ ...good(body), "x-hub-signature-256": `sha256=${"0".repeat(64)}` }, body) },
    { name: "one flipped body byte", reason: "signature-invalid", status: 401, send: () => rawPost(good(body), body.replace('"number":1', '"number":2')) },
    // The signature is checked before the body is parsed: unparseable bytes with a wrong
    // signature are a signature error, never a JSON one.
    { name: "unparseable bytes with a wrong signature", reason: "signature-invalid", status: 401, send: () => rawPost({ ...good("{"), "x-hub-signature-256": `sha256=${"1".repeat(64)}` }, `{"canary":"${CANARY}",`) },
    { name: "a body over WEBHOOK_MAX_BODY_BYTES", reason: "too-large", status: 413, send: () => rawPost(good("x"), `{"canary":"${CANARY}","pad":"${"x".repeat(70_000)}"}`) },
    { name: "a form-encoded body", reason: "content-type", status: 415, send: () => rawPost({ ...good(body), "content-type": "application/x-www-form-urlencoded" }, `payload=${encodeURIComponent(body)}`) },
    { name: "text/plain", reason: "content-type", status: 415, send: () => rawPost({ ...good(body), "content-type": "text/plain" }, body) },
    { name: "malformed JSON with a good signature", reason: "json", status: 400, send: () => rawPost(good(`{"canary":"${CANARY}",`), `{"canary":"${CANARY}",`) },
    { name: "a JSON array with a good signature", reason: "json", status: 400, send: () => rawPost(good(`["${CANARY}"]`), `["${CANARY}"]`) },
    { name: "no X-GitHub-Event", reason: "headers", status: 400, send: () => rawPost({ ...good(body), "x-github-event": "" }, body) },
    { name: "a GET", reason: "method", status: 405, send: () => rawPost(good(""), "", "GET") },
  ];

  test.each(cases)("$name → $status, counted as $reason", async ({ reason, status, send }) => {
    const counted = async () => {
      const text = await (await fetch(`http://127.0.0.1:${web.port}/metrics`)).text();
      return Number(new RegExp(`iquest_webhook_rejections_total\\{reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    };
    const before = await counted();
    const logged = lines.length;
    expect(await send()).toBe(status);
    expect(await send()).toBe(status);
    expect(await counted()).toBe(before + 2);
    // Nothing is logged per request: the summary line comes at the interval (or on flush).
    expect(lines.slice(logged)).toEqual([]);
  });

  test("each reason is one summary line (count, sources), never the payload or a stack trace", async () => {
    lines.length = 0;
    web.flushSummaries();
    const summaries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(summaries.every((s) => s.msg === "webhook requests rejected")).toBe(true);
    const byReason = Object.fromEntries(summaries.map((s) => [s.reason, s.count]));
    expect(byReason).toEqual({
      "signature-missing": 4,
      "signature-invalid": 6,
      "too-large": 2,
      "content-type": 4,
      json: 4,
      headers: 2,
      method: 2,
    });
    for (const s of summaries) expect(s.sources).toEqual(["127.0.0.1"]);
    const text = lines.join("\n");
    expect(text).not.toContain(CANARY);
    expect(text).not.toMatch(/stack|\n\s+at /);
    // The signature line tells an operator what to check.
    expect(summaries.find((s) => s.reason === "signature-invalid")?.hint).toMatch(/WEBHOOK_SECRET/);
  });

  test("a flood of 3,000 forged 12 KB requests costs a few summary lines; a valid delivery in the middle is served", async () => {
    const forged = JSON.stringify({ canary: CANARY, pad: "y".repeat(12 * 1024) });
    lines.length = 0;
    const statuses = new Map<number, number>();
    let valid: Awaited<ReturnType<typeof postDelivery>> | undefined;
    for (let batch = 0; batch < 60; batch++) {
      const sends = Array.from({ length: 50 }, () => rawPost({ ...good(forged), "x-hub-signature-256": `sha256=${"a".repeat(64)}` }, forged));
      if (batch === 30) valid = await postDelivery(url, WEBHOOK_SECRET, { ...labeled(4242), id: "door-valid-during-flood" });
      for (const s of await Promise.all(sends)) statuses.set(s, (statuses.get(s) ?? 0) + 1);
    }
    web.flushSummaries();
    expect(Object.fromEntries(statuses)).toEqual({ 401: 3000 });
    expect(valid?.status).toBe(200);
    expect(await fixQueue.getJob("fix-door-valid-during-flood")).toBeDefined();
    const forgedLines = lines.filter((l) => l.includes("webhook requests rejected"));
    expect(forgedLines).toHaveLength(1);
    expect(JSON.parse(forgedLines[0]!)).toMatchObject({ reason: "signature-invalid", count: 3000 });
    // Every line of the window (the summary, the valid delivery's own lines): a few KB at most.
    expect(logBytes()).toBeLessThan(4096);
    expect(lines.join("\n")).not.toContain(CANARY);
    // A generous bound: on a loaded 2-core machine with other suites running, 3,000 requests
    // can take far longer than the ~1 s they take alone.
  }, 120_000);
});

describe("JSON log lines carry one key per name", () => {
  test("every line the web process wrote parses with a parser that rejects duplicate keys", () => {
    // The parser itself fails on a duplicate (so the check below can fail).
    expect(() => parseStrictJson('{"name":"a","name":"b"}')).toThrow(DuplicateKeyError);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(() => parseStrictJson(line)).not.toThrow();
  });

  test("pino's own name next to a field called name, and a child's binding logged again, leave one key each", () => {
    const out: string[] = [];
    const log = createLogger({
      level: "info",
      redact,
      destination: new Writable({
        write(chunk, _e, done) {
          out.push(String(chunk).trim());
          done();
        },
      }),
    });
    log.child({ jobId: "j-1", component: "github" }).info({ jobId: "j-1", name: "octocat/hello", nested: { a: 1 } }, "a line");
    expect(out).toHaveLength(1);
    const parsed = parseStrictJson(out[0]!) as Record<string, unknown>;
    expect(parsed).toMatchObject({ jobId: "j-1", component: "github", msg: "a line", nested: { a: 1 } });
    // The most specific value wins: the field, not the logger's name.
    expect(parsed.name).toBe("octocat/hello");
  });
});

describe("/metrics access", () => {
  let other: WebHandle | undefined;
  afterAll(async () => {
    await other?.close();
  });

  test("open by default; with METRICS_TOKEN only with the bearer; with METRICS_PORT on its own listener only", async () => {
    expect((await fetch(`http://127.0.0.1:${web.port}/metrics`)).status).toBe(200);
    const token = "metrics-token-for-tests-0123456789";
    other = await startWeb({
      env: testEnv({ METRICS_TOKEN: token, METRICS_PORT: "0" }),
      log: createLogger({ level: "silent", redact }),
      redis: redis.url,
      Octokit: TestOctokit,
    });
    expect(other.metricsPort).toBeDefined();
    expect(other.metricsPort).not.toBe(other.port);
    // Not on the webhook port at all.
    expect((await fetch(`http://127.0.0.1:${other.port}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
    const metricsUrl = `http://127.0.0.1:${other.metricsPort}/metrics`;
    expect((await fetch(metricsUrl)).status).toBe(401);
    expect((await fetch(metricsUrl, { headers: { authorization: "Bearer wrong-token-wrong-token" } })).status).toBe(401);
    const ok = await fetch(metricsUrl, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toMatch(/iquest_webhook_rejections_total|iquest_webhooks_total/);
  });

  test("a METRICS_TOKEN shorter than 16 characters is refused at start-up", () => {
    expect(() => testEnv({ METRICS_TOKEN: "short" })).toThrow(/METRICS_TOKEN must be at least 16/);
  });
});

describe("the operator pages' login under a guessing attack", () => {
  let pages: WebHandle | undefined;
  const lines2: string[] = [];
  afterAll(async () => {
    await pages?.close();
  });

  /** GET from a chosen loopback source address (the guard keys on it). */
  function get(path: string, from: string, password: string): Promise<{ status: number; retryAfter?: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        `http://127.0.0.1:${pages!.port}${path}`,
        { localAddress: from, headers: { authorization: `Basic ${Buffer.from(`ops:${password}`).toString("base64")}` } },
        (res) => {
          res.resume();
          res.on("end", () => resolve({ status: res.statusCode!, ...(res.headers["retry-after"] ? { retryAfter: String(res.headers["retry-after"]) } : {}) }));
        },
      );
      req.on("error", reject);
      req.end();
    });
  }

  test("300 wrong passwords from one address: 5 are checked, the rest locked out (429); the right password from another address works; one summary line", async () => {
    const password = "the-right-admin-password";
    pages = await startWeb({
      env: testEnv({ ADMIN_USERNAME: "ops", ADMIN_PASSWORD: password, LOG_LEVEL: "info", LOG_SUMMARY_INTERVAL_MS: "600000" }),
      log: createLogger({
        level: "info",
        redact,
        destination: new Writable({
          write(chunk, _e, done) {
            lines2.push(...String(chunk).split("\n").filter(Boolean));
            done();
          },
        }),
      }),
      redis: redis.url,
      Octokit: TestOctokit,
    });
    const statuses = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const r = await get("/admin/queues/", "127.0.0.1", `guess-${i}`);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    }
    expect(statuses.get(401)).toBeGreaterThanOrEqual(6);
    expect(statuses.get(429)).toBeGreaterThan(250);
    const locked = await get("/admin/queues/", "127.0.0.1", password);
    expect(locked.status).toBe(429);
    expect(Number(locked.retryAfter)).toBeGreaterThanOrEqual(1);
    // The run viewer shares the same guard.
    expect((await get("/runs/fix-1", "127.0.0.1", password)).status).toBe(429);
    // An operator elsewhere is not locked out.
    expect((await get("/admin/queues/", "127.0.0.2", password)).status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${pages.port}/metrics`)).text();
    expect(Number(/iquest_login_failures_total\{outcome="wrong"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(6);
    expect(Number(/iquest_login_failures_total\{outcome="locked"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(250);
    const before = lines2.length;
    pages.flushSummaries();
    const summary = lines2.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(summary.map((s) => s.reason).sort()).toEqual(["locked-out", "wrong-password"]);
    expect(summary.every((s) => s.msg === "failed logins on the operator pages")).toBe(true);
    expect(lines2.join("\n")).not.toContain("guess-");
  });
});
