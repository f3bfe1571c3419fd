import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { Queue, QueueEvents } from "bullmq";
import { Redis } from "ioredis";
import { createGitHubApp } from "../../src/github/app-client.js";
import { notBuiltYet } from "../../src/jobs/run-job.js";
import { startWorker, type WorkerHandle } from "../../src/main/start-worker.js";
import { QueueEnqueuer, closeQueues, createQueues, type QueueSet } from "../../src/queue/enqueue.js";
import type { JobPayload } from "../../src/queue/payloads.js";
import { rateLimitKey } from "../../src/queue/worker.js";
import { GitHubTimeoutError } from "../../src/shared/errors.js";
import { createLogger } from "../../src/shared/log.js";
import { createRedactor } from "../../src/shared/redact.js";
import { testPrivateKey } from "../support/keys.js";
import { startTestRedis, type TestRedis } from "../support/redis-server.js";
import { testEnv } from "../support/test-env.js";

/**
 * GitHub that never answers, and GitHub whose rate limit is spent, against the app's real
 * client (Probot's Octokit with its retry and throttling plugins, as in production) and a real
 * worker on a real redis-server. GitHub is a small loopback server whose behaviour each test
 * sets per installation.
 */
type Behaviour = "ok" | "hang" | "stall" | "rate-limited";
const behaviour = new Map<string, Behaviour>();
const requests: string[] = [];
let resetAt = 0;
let server: Server;
let host: string;
let redis: TestRedis;
let producer: Redis;
let queues: QueueSet;
let enqueuer: QueueEnqueuer;
let events: QueueEvents;
const workers: WorkerHandle[] = [];
const log = createLogger({ level: "silent", redact: (s) => s });

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

function github(req: IncomingMessage, res: ServerResponse) {
  const path = (req.url ?? "").replace(/^\/api\/v3/, "").split("?")[0]!;
  requests.push(`${req.method} ${path}`);
  req.resume();
  if (path.endsWith("/access_tokens")) return json(res, 201, { token: "ghs_limits0000000000000000000000000000000", expires_at: new Date(Date.now() + 3600_000).toISOString() });
  const owner = /^\/repos\/([^/]+)\//.exec(path)?.[1] ?? "";
  const mode = behaviour.get(owner) ?? "ok";
  if (mode === "hang") return; // never answers: the socket stays open
  if (mode === "stall") {
    res.writeHead(200, { "content-type": "application/json" });
    res.write('{"id":'); // headers and a first byte, then nothing
    return;
  }
  if (mode === "rate-limited") {
    return json(res, 403, { message: "API rate limit exceeded for installation." }, { "x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(Math.floor(resetAt / 1000)) });
  }
  if (path.endsWith("/reactions")) return json(res, 201, { id: 1 });
  if (path.includes("/contents/")) return json(res, 404, { message: "Not Found" });
  if (/^\/repos\/[^/]+\/[^/]+$/.test(path)) return json(res, 200, { default_branch: "main", private: true, html_url: `http://${host}/${owner}/r` });
  if (path.endsWith("/comments") && req.method === "GET") return json(res, 200, []);
  if (path.endsWith("/comments")) return json(res, 201, { id: 77 });
  if (/\/issues\/comments\/\d+$/.test(path)) return json(res, 200, { id: 77 });
  return json(res, 404, { message: "Not Found" });
}

beforeAll(async () => {
  server = createServer(github);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  redis = await startTestRedis();
  producer = new Redis(redis.url, { maxRetriesPerRequest: null });
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.close(100)));
  behaviour.clear();
  requests.length = 0;
});

afterAll(async () => {
  await events?.close();
  if (queues) await closeQueues(queues);
  await producer?.quit();
  await redis?.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe("every GitHub call has a deadline", () => {
  test("an endpoint that never answers, and one that stalls mid-body → GitHubTimeoutError after GITHUB_TIMEOUT_MS, sent once (no blind re-send)", async () => {
    behaviour.set("silent", "hang");
    const app = createGitHubApp({ appId: "1", privateKey: testPrivateKey(), baseUrl: `http://${host}/api/v3`, log, writePacing: false, requestTimeoutMs: 400 });
    const gh = await app.forRepo(1, 2, { issues: "write" });
    const started = Date.now();
    const err = await gh.rest.repos.get({ owner: "silent", repo: "r" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GitHubTimeoutError);
    expect((err as Error).message).toMatch(/^GitHub did not answer GET (\/api\/v3)?\/repos\/silent\/r within 400 ms$/);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(requests.filter((r) => r === "GET /repos/silent/r")).toHaveLength(1);

    behaviour.set("stalling", "stall");
    const stalled = await gh.rest.repos.get({ owner: "stalling", repo: "r" }).catch((e: unknown) => e);
    expect(stalled).toBeInstanceOf(GitHubTimeoutError);
    expect(requests.filter((r) => r === "GET /repos/stalling/r")).toHaveLength(1);
  });

  test("a worker whose GitHub hangs does not keep its slot: each attempt ends at the deadline and the job fails, bounded, saying why", async () => {
    behaviour.set("silent", "hang");
    const env = testEnv({ GHE_HOST: host, GHE_PROTOCOL: "http", GITHUB_TIMEOUT_MS: "300", GITHUB_WRITE_PACING: "off", WORKER_CONCURRENCY: "1" });
    ({ queues, enqueuer, events } = await queueSet(env.QUEUE_PREFIX));
    workers.push(await startWorker({ env, log, redact: createRedactor([]), redis: redis.url, handlers: { fix: notBuiltYet("fix") }, progressIntervalMs: 0 }));
    const started = Date.now();
    const { jobId } = await enqueuer.enqueue(fixJob(1, "silent", 5));
    const job = (await queues.fix.getJob(jobId))!;
    const err = await job.waitUntilFinished(events, 20_000).catch((e: Error) => e);
    expect(String(err)).toMatch(/did not answer .* within 300 ms/);
    const state = await queues.fix.getJob(jobId);
    expect(state!.attemptsMade).toBe(3); // the enqueuer's attempts
    // Three attempts, each a few calls of at most 300 ms, plus the 50 ms backoff: well under 20 s.
    expect(Date.now() - started).toBeLessThan(15_000);
    // The slot is free: a job for a healthy repository runs next on the same one-slot worker.
    const next = await enqueuer.enqueue(fixJob(2, "healthy", 6));
    await expect((await queues.fix.getJob(next.jobId))!.waitUntilFinished(events, 10_000)).resolves.toMatchObject({ tone: "neutral" });
  });
});

describe("GitHub's primary rate limit", () => {
  test("x-ratelimit-remaining: 0 → the installation's jobs wait (delayed until the reset, no attempt spent); another installation's job runs", async () => {
    behaviour.set("spent", "rate-limited");
    resetAt = Date.now() + 120_000;
    const env = testEnv({ GHE_HOST: host, GHE_PROTOCOL: "http", GITHUB_WRITE_PACING: "off", JOB_ATTEMPTS: "3" });
    ({ queues, enqueuer, events } = await queueSet(env.QUEUE_PREFIX));
    workers.push(await startWorker({ env, log, redact: createRedactor([]), redis: redis.url, handlers: { fix: notBuiltYet("fix") }, progressIntervalMs: 0 }));

    const first = await enqueuer.enqueue(fixJob(11, "spent", 1));
    await until(async () => (await queues.fix.getJob(first.jobId))!.getState(), "delayed");
    const delayed = (await queues.fix.getJob(first.jobId))!;
    expect(delayed.attemptsMade).toBe(0);
    // GitHub's reset is in whole seconds. BullMQ keeps the job's creation time in `timestamp` and
    // counts `delay` from the move, so their sum falls short of the due time by how long the
    // job waited before it ran: a bound, not an equality. The installation's key holds the reset.
    const resetMs = Math.floor(resetAt / 1000) * 1000;
    expect(delayed.timestamp + delayed.delay).toBeGreaterThan(resetMs - 5_000);
    expect(delayed.timestamp + delayed.delay).toBeLessThan(resetMs + 10_000);
    expect(Number(await producer.get(rateLimitKey(env.QUEUE_PREFIX, 11)))).toBe(resetMs);
    const spentCalls = requests.filter((r) => r.includes("/repos/spent/")).length;

    // The same installation's next job waits too, without asking GitHub again.
    const second = await enqueuer.enqueue(fixJob(11, "spent", 2));
    await until(async () => (await queues.fix.getJob(second.jobId))!.getState(), "delayed");
    expect(requests.filter((r) => r.includes("/repos/spent/")).length).toBe(spentCalls);
    expect((await queues.fix.getJob(second.jobId))!.attemptsMade).toBe(0);

    // Another installation is not held up.
    const other = await enqueuer.enqueue(fixJob(12, "healthy", 3));
    await expect((await queues.fix.getJob(other.jobId))!.waitUntilFinished(events, 10_000)).resolves.toMatchObject({ tone: "neutral" });
    expect(await (await queues.fix.getJob(first.jobId))!.getState()).toBe("delayed");
  });
});

async function queueSet(prefix: string) {
  await events?.close();
  if (queues) await closeQueues(queues);
  const q = createQueues(producer, prefix);
  const e = new QueueEvents("fix", { connection: { url: redis.url }, prefix });
  await e.waitUntilReady();
  return { queues: q, enqueuer: new QueueEnqueuer(q, producer, prefix, { attempts: 3, backoffMs: 50, enqueueTimeoutMs: 2000 }), events: e };
}

function fixJob(installationId: number, owner: string, issueNumber: number): JobPayload {
  return {
    kind: "fix",
    installationId,
    repoId: installationId * 100,
    repo: `${owner}/r`,
    deliveryId: `d${Math.floor(Math.random() * 1e9)}`,
    trigger: "label",
    issueNumber,
    actor: "alice",
  };
}

async function until<T>(read: () => Promise<T>, want: T, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  let last: T | undefined;
  while (Date.now() < end) {
    last = await read();
    if (last === want) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`still ${String(last)} after ${ms} ms, wanted ${String(want)}`);
}
