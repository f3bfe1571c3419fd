import { afterAll, afterEach, beforeAll, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { QueueEvents } from "bullmq";
import { Redis } from "ioredis";
import nock from "nock";
import { createVllmClient } from "../../src/agent/model/vllm-client.js";
import { chooseProfile, clientDepsFor, clientOptionsFor } from "../../src/jobs/model-for-job.js";
import type { JobHandler } from "../../src/jobs/run-job.js";
import { loadModels } from "../../src/main/runtime.js";
import { startWorker, type WorkerHandle } from "../../src/main/start-worker.js";
import { QueueEnqueuer, closeQueues, createQueues, type QueueSet } from "../../src/queue/enqueue.js";
import type { JobPayload } from "../../src/queue/payloads.js";
import { createLogger } from "../../src/shared/log.js";
import { createRedactor } from "../../src/shared/redact.js";
import { recordAgentRun } from "../../src/shared/recorders.js";
import { say, startFakeVllm, type FakeVllm } from "../support/fake-vllm/index.js";
import { TestOctokit } from "../support/octokit.js";
import { INSTALLATION_ID, REPO_ID } from "../support/payloads.js";
import { API, REPO_PATH } from "../support/probot-app.js";
import { startTestRedis, type TestRedis } from "../support/redis-server.js";
import { testEnv } from "../support/test-env.js";

/**
 * The worker's operational side, for real: a job that calls the model through the worker's
 * shared gate (fixed limit in Redis), then the worker's own port: /metrics shows the job's
 * duration, the model call and the GitHub calls by route template; /healthz; the preStop drain
 * stops intake; every log line of the job carries its job id.
 */
let redis: TestRedis;
let vllm: FakeVllm;
let producer: Redis;
let queues: QueueSet;
let enqueuer: QueueEnqueuer;
let events: QueueEvents;
let worker: WorkerHandle;
const lines: string[] = [];
const runsDir = mkdtempSync(join(tmpdir(), "worker-ops-runs-"));

beforeAll(async () => {
  redis = await startTestRedis();
  vllm = await startFakeVllm({ script: () => say("hello from the model") });
  nock.disableNetConnect();
  nock.enableNetConnect(/127\.0\.0\.1/);
});

afterEach(() => {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  expect(pending).toEqual([]);
});

afterAll(async () => {
  await worker?.close(100);
  await events?.close();
  if (queues) await closeQueues(queues);
  await producer?.quit();
  await vllm?.close();
  await redis?.destroy();
  nock.enableNetConnect();
  rmSync(runsDir, { recursive: true, force: true });
});

test("model calls go through the shared gate; /metrics, /healthz and /drain on the worker's port; job ids in the logs", async () => {
  const env = testEnv({ WORKER_PORT: "0", MODEL_BASE_URL: vllm.url, MODEL_GATE: "fixed", MODEL_CONCURRENCY: "2", LOG_LEVEL: "info", RUNS_DIR: runsDir });
  const redact = createRedactor([env.privateKey, env.WEBHOOK_SECRET]);
  const destination = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  const log = createLogger({ level: "info", redact, destination });
  producer = new Redis(redis.url, { maxRetriesPerRequest: null });
  queues = createQueues(producer, env.QUEUE_PREFIX);
  enqueuer = new QueueEnqueuer(queues, producer, env.QUEUE_PREFIX, { attempts: 1, backoffMs: 50, enqueueTimeoutMs: 2000 });
  events = new QueueEvents("fix", { connection: { url: redis.url }, prefix: env.QUEUE_PREFIX });
  await events.waitUntilReady();

  const scope = nock(API);
  scope.post(`/app/installations/${INSTALLATION_ID}/access_tokens`).reply(201, { token: "ghs_workerops00000000000000000000000000", expires_at: new Date(Date.now() + 3600_000).toISOString() });
  scope.post(`${REPO_PATH}/issues/7/reactions`).reply(201, {});
  scope.get(`${REPO_PATH}/contents/.github%2Fiquest.yml`).reply(404, {});
  scope.get(REPO_PATH).reply(200, { default_branch: "main", private: true, html_url: "https://github.com/Codertocat/Hello-World" });
  scope.get(`${REPO_PATH}/issues/7/comments`).query(true).reply(200, []);
  scope.post(`${REPO_PATH}/issues/7/comments`).reply(201, { id: 900 });
  scope.patch(`${REPO_PATH}/issues/comments/900`).times(5).optionally().reply(200, { id: 900 });

  let trajectoryPath = "";
  const fix: JobHandler = async (ctx) => {
    // What a job does with the model: its profile, the client options, and the worker's gate.
    const { profile } = chooseProfile(ctx.models.profiles, "fix");
    const model = createVllmClient(clientOptionsFor(ctx.models, profile), clientDepsFor(ctx.models, profile));
    const completion = await model.complete([{ role: "user", content: "hi" }], []);
    recordAgentRun(ctx.metrics, "fix", { steps: 1, usage: completion.usage });
    trajectoryPath = ctx.runs!.pathFor(ctx.jobId);
    ctx.log.info({ answer: completion.content }, "model answered");
    return { tone: "success", text: `The model said: ${completion.content}` };
  };
  const models = loadModels(env, { MODEL_BASE_URL: vllm.url });
  worker = await startWorker({ env, log, redact, models, redis: redis.url, Octokit: TestOctokit, handlers: { fix }, progressIntervalMs: 0 });
  expect(worker.httpPort).toBeGreaterThan(0);
  const base = `http://127.0.0.1:${worker.httpPort}`;

  const payload: JobPayload = { kind: "fix", installationId: INSTALLATION_ID, repoId: REPO_ID, repo: "Codertocat/Hello-World", deliveryId: "ops1", trigger: "label", issueNumber: 7 };
  const { jobId } = await enqueuer.enqueue(payload);
  await (await queues.fix.getJob(jobId))!.waitUntilFinished(events, 15_000);
  expect(vllm.requests).toHaveLength(1);
  expect(trajectoryPath).toBe(join(runsDir, `${jobId}.jsonl`));

  // The shared limit is in Redis, and the slot was given back.
  const pool = worker.gates.poolOf({ name: "thinking", baseUrls: [vllm.url] });
  expect(await producer.get(pool.limit)).toBe("2");
  expect(await producer.zcard(pool.holders)).toBe(0);

  const metrics = await (await fetch(`${base}/metrics`)).text();
  expect(metrics).toMatch(/iquest_job_duration_seconds_count\{kind="fix",outcome="success"\} 1/);
  expect(metrics).toMatch(/iquest_jobs_finished_total\{kind="fix",outcome="success"\} 1/);
  expect(metrics).toMatch(/iquest_model_call_duration_seconds_count\{profile="thinking",outcome="ok"\} 1/);
  expect(metrics).toMatch(/iquest_agent_steps_count\{kind="fix"\} 1/);
  expect(metrics).toMatch(/iquest_model_gate_wait_seconds_count\{pool="[0-9a-f]{12}"\} 1/);
  expect(metrics).toMatch(/iquest_github_requests_total\{route="\/app\/installations\/\{installation_id\}\/access_tokens",method="POST",status="201"\} 1/);
  expect(metrics).toMatch(/iquest_github_requests_total\{route="\/repos\/\{owner\}\/\{repo\}\/issues\/\{issue_number\}\/reactions",method="POST",status="201"\} 1/);

  const health = await fetch(`${base}/healthz`);
  expect(health.status).toBe(200);
  expect(await health.json()).toMatchObject({ ok: true, checks: { redis: { ok: true }, workers: { ok: true } } });

  // Every line the job logged carries its id (the job's child logger).
  const jobLines = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "model answered" || l.msg === "job finished");
  expect(jobLines).toHaveLength(2);
  for (const l of jobLines) expect(l).toMatchObject({ jobId, kind: "fix", repo: "Codertocat/Hello-World" });
  expect(lines.join("\n")).not.toContain("ghs_workerops");

  // preStop: drain stops intake; a job enqueued afterwards waits.
  const drain = await fetch(`${base}/drain`, { method: "POST" });
  expect(drain.status).toBe(202);
  let state = { done: false };
  for (let i = 0; i < 50 && !state.done; i++) {
    state = (await (await fetch(`${base}/drain`)).json()) as { done: boolean };
    if (!state.done) await new Promise((r) => setTimeout(r, 50));
  }
  expect(state).toEqual({ draining: true, done: true });
  const second = await enqueuer.enqueue({ ...payload, deliveryId: "ops2", issueNumber: 8 });
  await new Promise((r) => setTimeout(r, 700));
  expect(await (await queues.fix.getJob(second.jobId))!.getState()).toBe("waiting");
  expect(vllm.requests).toHaveLength(1);
  expect((await fetch(`${base}/healthz`)).status).toBe(200); // drained on purpose, not unhealthy
}, 30_000);
