import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { Redis } from "ioredis";
import { QueueEnqueuer, closeQueues, createQueues, type QueueSet } from "../../src/queue/enqueue.js";
import type { JobPayload } from "../../src/queue/payloads.js";
import { startTestRedis, type TestRedis } from "../support/redis-server.js";

/**
 * Threat T3 / test 8: a job acknowledged to GitHub must survive Redis dying right after. With
 * AOF (appendfsync always in tests; everysec in deploy/, which bounds the loss to about a
 * second) a `kill -9` of Redis loses no queued job.
 */
let redis: TestRedis;

beforeAll(async () => {
  redis = await startTestRedis({ appendonly: true });
});

afterAll(async () => {
  await redis.destroy();
});

const fix = (issueNumber: number): JobPayload => ({
  kind: "fix",
  installationId: 1,
  repoId: 2,
  repo: "o/r",
  deliveryId: `durable-${issueNumber}`,
  trigger: "label",
  issueNumber,
});

describe("Redis durability", () => {
  test("kill -9 of Redis with AOF on, then a restart: every queued job is still there", async () => {
    let conn = new Redis(redis.url, { maxRetriesPerRequest: null, disconnectTimeout: 100 });
    let queues: QueueSet = createQueues(conn, "durable");
    const enqueuer = new QueueEnqueuer(queues, conn, "durable", { attempts: 3, backoffMs: 100, enqueueTimeoutMs: 2000 });
    const ids: string[] = [];
    for (let i = 1; i <= 25; i++) ids.push((await enqueuer.enqueue(fix(i))).jobId);
    await redis.stop("SIGKILL");
    conn.disconnect();
    await closeQueues(queues).catch(() => {});

    await redis.restart();
    conn = new Redis(redis.url, { maxRetriesPerRequest: null });
    queues = createQueues(conn, "durable");
    const waiting = await queues.fix.getJobs(["waiting"]);
    expect(waiting.map((j) => j.id).sort()).toEqual([...ids].sort());
    expect(waiting.find((j) => j.id === "fix-durable-7")!.data).toMatchObject({ issueNumber: 7 });
    // The dedupe keys survived too: a redelivery after the restart is still one job.
    const again = new QueueEnqueuer(queues, conn, "durable", { attempts: 3, backoffMs: 100, enqueueTimeoutMs: 2000 });
    expect(await again.enqueue(fix(7))).toEqual({ jobId: "fix-durable-7", status: "added" });
    expect(await queues.fix.count()).toBe(25);
    await closeQueues(queues);
    await conn.quit();
  });
});
