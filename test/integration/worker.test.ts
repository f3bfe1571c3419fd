import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { Queue, QueueEvents } from "bullmq";
import { Redis } from "ioredis";
import nock from "nock";
import { cardMarker, setPhase } from "../../src/jobs/job-card.js";
import { notBuiltYet, type JobHandler } from "../../src/jobs/run-job.js";
import { startWorker, type WorkerHandle } from "../../src/main/start-worker.js";
import { QueueEnqueuer, createQueues, closeQueues, type QueueSet } from "../../src/queue/enqueue.js";
import type { JobPayload } from "../../src/queue/payloads.js";
import { cancelledFromSignal } from "../../src/shared/errors.js";
import { createLogger } from "../../src/shared/log.js";
import { createRedactor } from "../../src/shared/redact.js";
import { TestOctokit } from "../support/octokit.js";
import { INSTALLATION_ID, REPO_ID } from "../support/payloads.js";
import { API, REPO_PATH } from "../support/probot-app.js";
import { startTestRedis, type TestRedis } from "../support/redis-server.js";
import { testEnv } from "../support/test-env.js";

/**
 * The worker for real: BullMQ on a real redis-server, job cores running, GitHub faked by nock
 * (every mock must be used). Covers reaction + job card, retries, /iquest stop, and SIGTERM
 * hand-back.
 */
let redis: TestRedis;
let producer: Redis;
let queues: QueueSet;
let enqueuer: QueueEnqueuer;
let events: QueueEvents;
const env = testEnv({ JOB_ATTEMPTS: "3" });
const redact = createRedactor([env.privateKey, env.WEBHOOK_SECRET]);
const log = createLogger({ level: "silent", redact });
const TOKEN = "ghs_workertoken0000000000000000000000000";
const workers: WorkerHandle[] = [];

beforeAll(async () => {
  redis = await startTestRedis();
  producer = new Redis(redis.url, { maxRetriesPerRequest: null });
  queues = createQueues(producer, env.QUEUE_PREFIX);
  enqueuer = new QueueEnqueuer(queues, producer, env.QUEUE_PREFIX, { attempts: 3, backoffMs: 50, enqueueTimeoutMs: 2000 });
  events = new QueueEvents("fix", { connection: { url: redis.url }, prefix: env.QUEUE_PREFIX });
  await events.waitUntilReady();
  nock.disableNetConnect();
  nock.enableNetConnect(/127\.0\.0\.1/);
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.close(100)));
  const pending = nock.pendingMocks();
  nock.cleanAll();
  expect(pending).toEqual([]);
  for (const q of Object.values(queues)) await q.obliterate({ force: true });
});

afterAll(async () => {
  await events?.close();
  await closeQueues(queues);
  await producer?.quit();
  await redis?.destroy();
  nock.enableNetConnect();
});

async function worker(handlers?: Record<string, JobHandler>, extra: { lockDurationMs?: number } = {}) {
  const w = await startWorker({ env, log, redact, redis: redis.url, Octokit: TestOctokit, handlers, progressIntervalMs: 0, ...extra });
  workers.push(w);
  return w;
}

const fix = (over: Partial<Extract<JobPayload, { kind: "fix" }>> = {}): JobPayload => ({
  kind: "fix",
  installationId: INSTALLATION_ID,
  repoId: REPO_ID,
  repo: "Codertocat/Hello-World",
  deliveryId: `d${Math.floor(Math.random() * 1e9)}`,
  trigger: "label",
  issueNumber: 7,
  actor: "alice",
  ...over,
});

/** The converse token: one repo, least permissions, asked for by the worker. */
function mockToken(scope: nock.Scope, times = 1) {
  return scope
    .post(`/app/installations/${INSTALLATION_ID}/access_tokens`, {
      repository_ids: [REPO_ID],
      permissions: { issues: "write", pull_requests: "read", contents: "read", checks: "read", metadata: "read" },
    })
    .times(times)
    .reply(201, { token: TOKEN, expires_at: new Date(Date.now() + 3600_000).toISOString() });
}

function repoMock(scope: nock.Scope, times = 1) {
  return scope.get(REPO_PATH).times(times).reply(200, { default_branch: "main", private: true, html_url: "https://github.com/Codertocat/Hello-World" });
}

function cardMocks(scope: nock.Scope, bodies: string[]) {
  scope.get(`${REPO_PATH}/contents/.github%2Fiquest.yml`).reply(404, {});
  repoMock(scope);
  scope.get(`${REPO_PATH}/issues/7/comments`).query(true).reply(200, []);
  scope.post(`${REPO_PATH}/issues/7/comments`, (b: { body: string }) => bodies.push(b.body) > 0).reply(201, { id: 900 });
  scope
    .patch(`${REPO_PATH}/issues/comments/900`, (b: { body: string }) => bodies.push(b.body) > 0)
    .times(10)
    .optionally()
    .reply(200, { id: 900 });
}

describe("worker", () => {
  test("a fix job: 👀 on the issue, then one job card that says plainly the job is not built yet", async () => {
    const scope = nock(API);
    mockToken(scope);
    scope.post(`${REPO_PATH}/issues/7/reactions`, { content: "eyes" }).reply(201, {});
    const bodies: string[] = [];
    cardMocks(scope, bodies);
    await worker({ fix: notBuiltYet("fix") });
    const { jobId } = await enqueuer.enqueue(fix());
    const job = (await queues.fix.getJob(jobId))!;
    const result = await job.waitUntilFinished(events, 10_000);
    expect(result).toMatchObject({ tone: "neutral" });
    expect(bodies.length).toBeGreaterThanOrEqual(2);
    expect(bodies[0]).toContain(`<!-- iquest-card:${jobId} -->`);
    expect(bodies.at(-1)).toMatch(/The \*\*fix\*\* job is not built yet/);
    expect(bodies.at(-1)).not.toContain("/iquest stop");
  });

  test("a job asked for by comment reacts on that comment", async () => {
    const scope = nock(API);
    mockToken(scope);
    scope.post(`${REPO_PATH}/issues/comments/4242/reactions`, { content: "eyes" }).reply(200, {});
    cardMocks(scope, []);
    await worker({ fix: notBuiltYet("fix") });
    const { jobId } = await enqueuer.enqueue(fix({ trigger: "comment", commentId: 4242 }));
    await (await queues.fix.getJob(jobId))!.waitUntilFinished(events, 10_000);
  });

  test("a transient GitHub error (502) is retried with backoff, and the card is made once", async () => {
    const scope = nock(API);
    mockToken(scope); // one app client: the token is cached across attempts
    scope.post(`${REPO_PATH}/issues/7/reactions`).reply(502, { message: "Bad Gateway" });
    scope.post(`${REPO_PATH}/issues/7/reactions`).reply(201, {});
    const bodies: string[] = [];
    cardMocks(scope, bodies);
    await worker({ fix: notBuiltYet("fix") });
    const { jobId } = await enqueuer.enqueue(fix());
    const job = (await queues.fix.getJob(jobId))!;
    await job.waitUntilFinished(events, 10_000);
    // attemptsMade counts finished attempts: the failed one and the one that succeeded.
    expect((await queues.fix.getJob(jobId))!.attemptsMade).toBe(2);
    expect(bodies.filter((b) => b.includes("iquest-card")).length).toBe(bodies.length);
  });

  test("/iquest stop cancels a running job: its work stops and the card says so", async () => {
    const scope = nock(API);
    mockToken(scope);
    scope.post(`${REPO_PATH}/issues/7/reactions`).reply(201, {});
    const bodies: string[] = [];
    cardMocks(scope, bodies);
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    await worker({
      fix: async (ctx) => {
        await ctx.card.update((s) => setPhase(s, "agent", "running", "step 1 of 100"));
        started();
        await new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(cancelledFromSignal(ctx.signal))));
        throw new Error("unreachable");
      },
    });
    const payload = fix();
    const { jobId } = await enqueuer.enqueue(payload);
    await running;
    const result = await enqueuer.cancel("fix", `fix-${REPO_ID}-7`, "stop");
    expect(result.signalledActive).toEqual([jobId]);
    const out = await (await queues.fix.getJob(jobId))!.waitUntilFinished(events, 10_000);
    expect(out).toMatchObject({ tone: "cancelled" });
    expect(bodies.at(-1)).toContain("Cancelled by `/iquest stop`");
  });

  test("a second request while a job runs: the running job's card says so (nothing else starts)", async () => {
    const scope = nock(API);
    mockToken(scope);
    scope.post(`${REPO_PATH}/issues/7/reactions`).reply(201, {});
    const bodies: string[] = [];
    cardMocks(scope, bodies);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    await worker({
      fix: async () => {
        started();
        await gate;
        return { tone: "success", text: "done" };
      },
    });
    const first = await enqueuer.enqueue(fix());
    await running;
    const second = await enqueuer.enqueue(fix());
    expect(second).toEqual({ jobId: first.jobId, status: "duplicate" });
    await enqueuer.noteForJob(second.jobId, "Another request (label by @bob) arrived while this job was queued or running.");
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !bodies.some((b) => b.includes("label by @bob"))) await new Promise((r) => setTimeout(r, 50));
    release();
    await (await queues.fix.getJob(first.jobId))!.waitUntilFinished(events, 10_000);
    expect(bodies.at(-1)).toContain("Another request (label by @bob)");
    expect(await queues.fix.getJobCountByTypes("waiting", "delayed")).toBe(0);
  });

  test("/iquest stop on a queued job removes it before it starts", async () => {
    const { jobId } = await enqueuer.enqueue(fix());
    const result = await enqueuer.cancel("fix", `fix-${REPO_ID}-7`, "stop");
    expect(result.removedWaiting).toEqual([jobId]);
    expect(await queues.fix.getJob(jobId)).toBeUndefined();
    // The target is free again: a new request is a new job, not a duplicate.
    expect((await enqueuer.enqueue(fix())).status).toBe("added");
  });

  test("SIGTERM during an active job: the grace period passes, the job is handed back (no attempt spent) and another worker finishes it", async () => {
    const scope = nock(API);
    mockToken(scope, 2);
    scope.post(`${REPO_PATH}/issues/7/reactions`).times(2).reply(201, {});
    scope.get(`${REPO_PATH}/contents/.github%2Fiquest.yml`).times(2).reply(404, {});
    repoMock(scope, 2);
    scope.get(`${REPO_PATH}/issues/7/comments`).query(true).reply(200, []);
    scope.post(`${REPO_PATH}/issues/7/comments`).reply(201, { id: 900 });
    // The re-run finds the card the first run made (by its marker) and edits it: one card.
    let jobId = "";
    scope
      .get(`${REPO_PATH}/issues/7/comments`)
      .query(true)
      .reply(200, () => [{ id: 900, body: `${cardMarker(jobId)}\nold card`, user: { type: "Bot" } }]);
    scope.patch(`${REPO_PATH}/issues/comments/900`).times(10).optionally().reply(200, {});
    let runs = 0;
    let started!: () => void;
    const firstRun = new Promise<void>((r) => (started = r));
    const handler: JobHandler = async (ctx) => {
      runs++;
      if (runs === 1) {
        started();
        await new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(cancelledFromSignal(ctx.signal))));
      }
      return { tone: "success", text: "done on the second worker" };
    };
    const first = await worker({ fix: handler });
    jobId = (await enqueuer.enqueue(fix())).jobId;
    await firstRun;
    await first.close(200); // what SIGTERM does, with a 200 ms grace
    workers.splice(workers.indexOf(first), 1);
    const state = await (await queues.fix.getJob(jobId))!.getState();
    expect(["delayed", "waiting"]).toContain(state);
    await worker({ fix: handler });
    const out = await (await queues.fix.getJob(jobId))!.waitUntilFinished(events, 10_000);
    expect(out).toMatchObject({ tone: "success" });
    expect(runs).toBe(2);
    // Only the successful run counts as an attempt: the handed-back one spent none.
    expect((await queues.fix.getJob(jobId))!.attemptsMade).toBe(1);
  });

  test("an invalid payload fails at once, without retries", async () => {
    await worker();
    const job = await queues.fix.add("fix", { kind: "fix", repo: "x/y", token: "ghs_nope" }, { jobId: "bad-1", attempts: 3 });
    await expect(job.waitUntilFinished(events, 10_000)).rejects.toThrow(/invalid job payload/);
    expect((await queues.fix.getJob("bad-1"))!.attemptsMade).toBe(1);
  });

  test("T18: no installation token is stored anywhere in Redis", async () => {
    const scope = nock(API);
    mockToken(scope);
    scope.post(`${REPO_PATH}/issues/7/reactions`).reply(201, {});
    cardMocks(scope, []);
    await worker({ fix: notBuiltYet("fix") });
    const { jobId } = await enqueuer.enqueue(fix());
    await (await queues.fix.getJob(jobId))!.waitUntilFinished(events, 10_000);
    const keys = await producer.keys("*");
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      const type = await producer.type(key);
      const dump =
        type === "string" ? await producer.get(key)
        : type === "hash" ? JSON.stringify(await producer.hgetall(key))
        : type === "list" ? JSON.stringify(await producer.lrange(key, 0, -1))
        : type === "zset" ? JSON.stringify(await producer.zrange(key, 0, -1))
        : type === "set" ? JSON.stringify(await producer.smembers(key))
        : type === "stream" ? JSON.stringify(await producer.xrange(key, "-", "+"))
        : "";
      expect(dump ?? "").not.toContain("ghs_");
    }
  });
});
