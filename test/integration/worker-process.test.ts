import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { Redis } from "ioredis";
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { QueueEnqueuer, createQueues, closeQueues, type QueueSet } from "../../src/queue/enqueue.js";
import { startGitHubSim, type GitHubSim } from "../support/github-sim/index.js";
import { testPrivateKey } from "../support/keys.js";
import { spawnRole, type RoleProcess } from "../support/processes.js";
import { startTestRedis, type TestRedis } from "../support/redis-server.js";

/**
 * The worker as a real process (the same composition root `npm run start:worker` runs), against
 * a real redis-server and the GitHub simulator: SIGTERM while a job is mid-flight.
 */
let sim: GitHubSim;
let redis: TestRedis;
let producer: Redis;
let queues: QueueSet;
let enqueuer: QueueEnqueuer;
const PREFIX = `wp${process.pid}`;
const procs: RoleProcess[] = [];
let repoId = 0;
let commentId = 0;

let dataDir = "";
const workerEnv = () => ({
  APP_ID: "9001",
  // The upgrade job checks out the repository: a data directory of its own, reachable by the sandbox uids.
  DATA_DIR: dataDir,
  PRIVATE_KEY: testPrivateKey(),
  WEBHOOK_SECRET: "whs-worker-process",
  REDIS_URL: redis.url,
  GHE_HOST: sim.host,
  GHE_PROTOCOL: "http",
  QUEUE_PREFIX: PREFIX,
  SHUTDOWN_GRACE_MS: "500",
  LOG_LEVEL: "info",
});

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "worker-process-"));
  chmodSync(dataDir, 0o755);
  sim = await startGitHubSim({ app: { id: 9001, privateKey: testPrivateKey(), webhookSecret: "whs-worker-process" } });
  const repo = await sim.createRepo({ owner: "acme", name: "proc", files: { "README.md": "hi\n" } });
  repoId = repo.id;
  sim.installApp({ installationId: 61, repos: ["acme/proc"] });
  sim.addCollaborator(repo, "alice", "write");
  sim.createIssue({ repo, title: "Crash on start", body: "It crashes.", user: "alice" });
  commentId = sim.addIssueComment({ repo, issue: 1, user: "alice", body: "/iquest upgrade" }).id;
  redis = await startTestRedis();
  producer = new Redis(redis.url, { maxRetriesPerRequest: null });
  queues = createQueues(producer, PREFIX);
  enqueuer = new QueueEnqueuer(queues, producer, PREFIX, { attempts: 3, backoffMs: 100, enqueueTimeoutMs: 2000 });
});

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop("SIGKILL")));
  await closeQueues(queues);
  await producer.quit();
  await redis.destroy();
  expect(sim.errors).toEqual([]);
  await sim.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("worker process", () => {
  test("SIGTERM mid-job: intake stops, the slow GitHub call is abandoned after the grace period, the job is handed back and the next worker finishes it once", async () => {
    // The 👀 call hangs for 20 s: the job is active and stuck when SIGTERM arrives.
    const slow = sim.faults.add("POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", { kind: "delay", ms: 20_000 }, { times: 1 });
    const first = spawnRole("worker", workerEnv());
    procs.push(first);
    await first.waitFor(/worker: waiting for jobs/);
    // A worker on its own runs at WORKER_NICENESS (default 5): jobs are batch work.
    expect(Number(readFileSync(`/proc/${first.child.pid}/stat`, "utf8").split(") ")[1]!.split(" ")[16])).toBe(5);
    // An upgrade asked for on issue 1 (its card goes there), in a repository with nothing to
    // upgrade, so the re-run ends quickly with a clear card. What is tested is the worker
    // process's shutdown around a job.
    const { jobId } = await enqueuer.enqueue({
      kind: "upgrade",
      installationId: 61,
      repoId,
      repo: "acme/proc",
      deliveryId: "sigterm-1",
      trigger: "comment",
      commentId,
      issueNumber: 1,
      actor: "alice",
    });
    await waitUntil(() => slow.hits === 1, 10_000, "the reaction call");

    const stoppedAt = Date.now();
    first.child.kill("SIGTERM");
    // Intake has stopped: a job that arrives during the grace period stays waiting, although the
    // worker is alive and has a free slot for the kind (concurrency 2, one slot stuck).
    await first.waitFor(/grace period over/, 5_000);
    const late = await queues.upgrade.add("upgrade", { kind: "upgrade", installationId: 61, repoId, repo: "acme/proc", trigger: "schedule" }, { jobId: "arrived-after-sigterm" });
    const exit = await first.exited;
    expect(exit.code).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(5_000); // 500 ms grace, not the 20 s GitHub hang
    expect(await late.getState()).toBe("waiting");
    expect((await queues.upgrade.getJob(late.id!))!.attemptsMade).toBe(0);
    await late.remove();
    const job = (await queues.upgrade.getJob(jobId))!;
    expect(["delayed", "waiting"]).toContain(await job.getState());
    expect(job.attemptsMade).toBe(0);

    const second = spawnRole("worker", workerEnv());
    procs.push(second);
    await waitUntil(async () => (await queues.upgrade.getJob(jobId))!.getState().then((s) => s === "completed"), 30_000, "the job to complete");
    await second.stop("SIGTERM");

    const cards = sim.commentsOn("acme/proc", 1).filter((c) => c.body.includes(`iquest-card:${jobId}`));
    expect(cards).toHaveLength(1);
    expect(cards[0]!.body).toMatch(/No supported project was found/);
    expect(sim.reactions.filter((r) => r.content === "eyes")).toHaveLength(1);
    // Nothing secret in the worker's logs.
    for (const line of [...first.lines, ...second.lines]) {
      expect(line).not.toMatch(/ghs_|BEGIN RSA PRIVATE KEY/);
    }
  });

  test("WORKER_CPU_POLICY=idle: the worker and what it starts run under SCHED_IDLE", async () => {
    const w = spawnRole("worker", { ...workerEnv(), WORKER_CPU_POLICY: "idle" });
    procs.push(w);
    await w.waitFor(/worker: waiting for jobs/);
    expect(w.lines.join("\n")).toMatch(/worker runs under SCHED_IDLE/);
    // /proc/<pid>/stat field 41 is the scheduling policy: 5 is SCHED_IDLE (0 is the normal one).
    const policyOf = (pid: number | string) => Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[38]);
    expect(policyOf(w.child.pid!)).toBe(5);
    for (const tid of readdirSync(`/proc/${w.child.pid}/task`)) expect(policyOf(`${w.child.pid}/task/${tid}`)).toBe(5);
    await w.stop("SIGTERM");
  });
});
