import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "@jest/globals";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import nock from "nock";
import { startWeb, type WebHandle } from "../../src/main/start-web.js";
import { StartupError } from "../../src/shared/errors.js";
import { createLogger } from "../../src/shared/log.js";
import { redact } from "../../src/shared/redact.js";
import { TestOctokit } from "../support/octokit.js";
import { INSTALLATION_ID, REPO_ID, issueComment, issuesLabeled } from "../support/payloads.js";
import { API, REPO_PATH } from "../support/probot-app.js";
import { startTestRedis, type TestRedis } from "../support/redis-server.js";
import { WEBHOOK_SECRET, testEnv } from "../support/test-env.js";
import { postDelivery, sign } from "../support/webhooks.js";

/**
 * The web process for real: its own webhook door (src/http/webhook-intake.ts) on a random port, a real redis-server on a
 * spare port, signed deliveries in, the BullMQ queue checked. Only GitHub's API is faked (nock).
 */
let redis: TestRedis;
let web: WebHandle;
let url: string;
let fixQueue: Queue;
let inspect: Redis;
// The intake limits are tested in intake-limits.test.ts; here one sender sends many requests.
const env = testEnv({ INTAKE_SENDER_LIMIT: "off", INTAKE_INSTALLATION_LIMIT: "off" });
const execFileAsync = promisify(execFile);
const log = createLogger({ level: "silent", redact });

beforeAll(async () => {
  redis = await startTestRedis();
  nock.disableNetConnect();
  nock.enableNetConnect(/127\.0\.0\.1|localhost/);
  nock(API)
    .persist()
    .post(`/app/installations/${INSTALLATION_ID}/access_tokens`)
    .reply(201, { token: "ghs_webintake000000000000000000000000000", expires_at: new Date(Date.now() + 3600_000).toISOString() })
    .get(`${REPO_PATH}/contents/.github%2Fiquest.yml`)
    .reply(404, {})
    .get(/\/collaborators\/alice\/permission$/)
    .reply(200, { permission: "write" });
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

beforeEach(async () => {
  await fixQueue.obliterate({ force: true });
});

const labeled = (issue = 7) => ({ event: "issues", payload: issuesLabeled({ issue }) });
const jobs = () => fixQueue.getJobs(["waiting", "active", "delayed", "prioritized"]);

describe("webhook intake → queue", () => {
  test("a valid issues.labeled → 200 and one fix job holding ids only", async () => {
    const res = await postDelivery(url, WEBHOOK_SECRET, { ...labeled(), id: "delivery-a" });
    expect(res.status).toBe(200);
    const list = await jobs();
    expect(list).toHaveLength(1);
    expect(list[0]!.id).toBe("fix-delivery-a");
    expect(list[0]!.data).toEqual({
      kind: "fix",
      installationId: INSTALLATION_ID,
      repoId: REPO_ID,
      repo: "Codertocat/Hello-World",
      deliveryId: "delivery-a",
      trigger: "label",
      issueNumber: 7,
      actor: "alice",
    });
  });

  test("the same delivery twice, in sequence and concurrently → one job", async () => {
    const d = { ...labeled(), id: "delivery-dup" };
    expect((await postDelivery(url, WEBHOOK_SECRET, d)).status).toBe(200);
    expect((await postDelivery(url, WEBHOOK_SECRET, d)).status).toBe(200);
    const concurrent = await Promise.all([1, 2, 3, 4].map(() => postDelivery(url, WEBHOOK_SECRET, { ...labeled(8), id: "delivery-conc" })));
    expect(concurrent.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect((await jobs()).map((j) => j.id).sort()).toEqual(["fix-delivery-conc", "fix-delivery-dup"]);
  });

  test("two deliveries asking to fix the same issue while one is queued → one job", async () => {
    await postDelivery(url, WEBHOOK_SECRET, { ...labeled(9), id: "first" });
    await postDelivery(url, WEBHOOK_SECRET, { ...labeled(9), id: "second" });
    expect((await jobs()).map((j) => j.id)).toEqual(["fix-first"]);
  });

  test("one `/iquest fix` comment delivered under two delivery ids → one job", async () => {
    const comment = { event: "issue_comment", payload: issueComment("/iquest fix", { issue: 12, commentId: 1212 }) };
    expect((await postDelivery(url, WEBHOOK_SECRET, { ...comment, id: "comment-a" })).status).toBe(200);
    expect((await postDelivery(url, WEBHOOK_SECRET, { ...comment, id: "comment-b" })).status).toBe(200);
    expect((await jobs()).map((j) => j.id)).toEqual(["fix-comment-a"]);
  });

  test.each<[string, number, Record<string, string | undefined>]>([
    ["a wrong secret", 401, { "x-hub-signature-256": sign("not-the-secret", JSON.stringify(issuesLabeled({ issue: 7 }))) }],
    ["a missing signature", 401, { "x-hub-signature-256": undefined }],
    ["a SHA-1 signature only", 401, { "x-hub-signature-256": undefined, "x-hub-signature": "sha1=0000000000000000000000000000000000000000" }],
    ["an empty signature", 401, { "x-hub-signature-256": "" }],
    ["a short signature", 401, { "x-hub-signature-256": "sha256=abc" }],
    ["a bad content type", 415, { "content-type": "text/plain" }],
    ["a form content type", 415, { "content-type": "application/x-www-form-urlencoded" }],
    ["a missing event header", 400, { "x-github-event": undefined }],
    ["a missing delivery header", 400, { "x-github-delivery": undefined }],
  ])("%s → %i and no job", async (_name, status, headers) => {
    const res = await postDelivery(url, WEBHOOK_SECRET, labeled(), { headers });
    expect(res.status).toBe(status);
    expect(await jobs()).toEqual([]);
  });

  test("one flipped body byte → 401 and no job", async () => {
    const body = JSON.stringify(issuesLabeled({ issue: 7 }));
    const signature = sign(WEBHOOK_SECRET, body);
    const flipped = body.replace('"number":7', '"number":8');
    const res = await postDelivery(url, WEBHOOK_SECRET, labeled(), { body: flipped, headers: { "x-hub-signature-256": signature } });
    expect(res.status).toBe(401);
    expect(await jobs()).toEqual([]);
  });

  test("validly signed invalid JSON → 400 and no job", async () => {
    const body = '{"action": "labeled", ';
    const res = await postDelivery(url, WEBHOOK_SECRET, labeled(), { body });
    expect(res.status).toBe(400);
    expect(await jobs()).toEqual([]);
  });

  test("a 30 MB body → 413 without reading it into memory", async () => {
    // curl sends the file from disk, so the only process in this test that could hold 30 MB
    // is the server itself.
    const file = join(redis.dir, "big.json");
    writeFileSync(file, Buffer.alloc(30 * 1024 * 1024, 0x61));
    global.gc?.();
    const before = process.memoryUsage().rss;
    // Async: the server runs in this very process and must keep serving while curl sends.
    // The server answers 413 and closes while curl may still be sending: curl can then exit
    // non-zero (a send error) after printing the status it got, which is what counts here.
    const send = async (extra: string[]) =>
      (
        await execFileAsync("curl", [
          "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", url,
          "-H", "content-type: application/json", "-H", "x-github-event: issues",
          "-H", "x-github-delivery: big", "-H", `x-hub-signature-256: sha256=${"0".repeat(64)}`,
          ...extra, "--data-binary", `@${file}`,
        ]).catch((err: { stdout?: string }) => ({ stdout: String(err.stdout ?? "") }))
      ).stdout;
    // With Content-Length: refused from the header. Chunked (no length): cut at the cap.
    expect(await send([])).toBe("413");
    expect(["413", "000"]).toContain(await send(["-H", "transfer-encoding: chunked"]));
    const grown = process.memoryUsage().rss - before;
    expect(grown).toBeLessThan(40 * 1024 * 1024);
    expect(await jobs()).toEqual([]);
  });

  test("a valid delivery sent with `Expect: 100-continue` → the body is invited once the headers pass, 200 and one job", async () => {
    const body = JSON.stringify(labeled(31).payload);
    const file = join(redis.dir, "expect.json");
    writeFileSync(file, body);
    // --expect100-timeout 30: had the door not sent "100 Continue", curl would wait 30 s and
    // the 5 s bound below would fail.
    const started = Date.now();
    const { stdout } = await execFileAsync("curl", [
      "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", url, "--expect100-timeout", "30",
      "-H", "content-type: application/json", "-H", "x-github-event: issues", "-H", "x-github-delivery: expect-1",
      "-H", `x-hub-signature-256: ${sign(WEBHOOK_SECRET, body)}`, "-H", "expect: 100-continue", "--data-binary", `@${file}`,
    ]);
    expect(stdout).toBe("200");
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await jobs()).map((j) => j.id)).toEqual(["fix-expect-1"]);
  });

  test("a flood of validly signed replays (one delivery, 300 at once) and of new deliveries for one issue → one job each way, memory flat", async () => {
    const before = process.memoryUsage().rss;
    const replay = { ...labeled(21), id: "flood-replay" };
    const replays = await Promise.all(Array.from({ length: 300 }, () => postDelivery(url, WEBHOOK_SECRET, replay)));
    const fresh = await Promise.all(Array.from({ length: 100 }, (_, i) => postDelivery(url, WEBHOOK_SECRET, { ...labeled(22), id: `flood-new-${i}` })));
    for (const r of [...replays, ...fresh]) expect([200, 503]).toContain(r.status);
    const ids = (await jobs()).map((j) => j.id).sort();
    expect(ids).toEqual(expect.arrayContaining(["fix-flood-replay"]));
    expect(ids.filter((id) => id!.startsWith("fix-flood-new-"))).toHaveLength(1);
    expect(ids).toHaveLength(2);
    expect(process.memoryUsage().rss - before).toBeLessThan(150 * 1024 * 1024);
  });

  test("deeply nested JSON, validly signed → never a 5xx or a crash, nothing enqueued, the server carries on", async () => {
    // V8 parses deep nesting without recursion; what matters is that nothing downstream (the
    // handlers, logging) chokes on it and no job comes of it.
    const nested = `${"[".repeat(200_000)}${"]".repeat(200_000)}`;
    for (const body of [nested, `{"action":"labeled","deep":${nested}}`]) {
      const res = await postDelivery(url, WEBHOOK_SECRET, labeled(), { body });
      expect(res.status).toBeLessThan(500);
    }
    expect((await fetch(`http://127.0.0.1:${web.port}/healthz`)).status).toBe(200);
    expect(await jobs()).toEqual([]);
  });

  test("GET /healthz → 200 while Redis answers; /metrics counts deliveries", async () => {
    const health = await fetch(`http://127.0.0.1:${web.port}/healthz`);
    expect(health.status).toBe(200);
    await postDelivery(url, WEBHOOK_SECRET, { ...labeled(), id: "metric-1" });
    const metrics = await (await fetch(`http://127.0.0.1:${web.port}/metrics`)).text();
    expect(metrics).toMatch(/iquest_webhooks_total\{event="issues.labeled",outcome="enqueued"\} \d+/);
    // The handler's own time is observed per delivery (a count, and a sum that is not zero).
    expect(Number(/iquest_webhook_handler_duration_seconds_count\{event="issues.labeled"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    expect(Number(/iquest_webhook_handler_duration_seconds_sum\{event="issues.labeled"\} (\S+)/.exec(metrics)?.[1])).toBeGreaterThan(0);
    expect(metrics).toMatch(/iquest_jobs_enqueued_total\{kind="fix",status="added"\} \d+/);
    expect(metrics).toMatch(/iquest_queue_jobs\{kind="fix",state="waiting"\} 1/);
  });
});

describe("Redis faults", () => {
  test("Redis stopped → 5xx within 2 s (never 2xx) and /healthz 503; Redis back → the next delivery is enqueued", async () => {
    await redis.stop("SIGKILL");
    const started = Date.now();
    const res = await postDelivery(url, WEBHOOK_SECRET, { ...labeled(11), id: "while-down" });
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(Date.now() - started).toBeLessThan(2000);
    const health = await fetch(`http://127.0.0.1:${web.port}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ ok: false, checks: { redis: { ok: false } } });

    await redis.restart();
    // The producer reconnects on its own; wait for health to say so.
    const until = Date.now() + 10_000;
    while (Date.now() < until && (await fetch(`http://127.0.0.1:${web.port}/healthz`)).status !== 200) {
      await new Promise((r) => setTimeout(r, 100));
    }
    // GitHub's redelivery keeps the delivery id.
    const again = await postDelivery(url, WEBHOOK_SECRET, { ...labeled(11), id: "while-down" });
    expect(again.status).toBe(200);
    expect((await jobs()).map((j) => j.id)).toEqual(["fix-while-down"]);
  });
});

describe("start-up checks", () => {
  test("a Redis with allkeys-lru → the app refuses to start and says why", async () => {
    const lru = await startTestRedis({ maxmemoryPolicy: "allkeys-lru" });
    try {
      await expect(startWeb({ env: testEnv(), log, redis: lru.url, Octokit: TestOctokit })).rejects.toThrow(StartupError);
      await expect(startWeb({ env: testEnv(), log, redis: lru.url, Octokit: TestOctokit })).rejects.toThrow(/noeviction/);
    } finally {
      await lru.destroy();
    }
  });
});
