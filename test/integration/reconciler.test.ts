import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { createGitHubApp } from "../../src/github/app-client.js";
import { startWeb, type WebHandle } from "../../src/main/start-web.js";
import { startReconciler } from "../../src/reconciler/loop.js";
import { createLogger } from "../../src/shared/log.js";
import { redact } from "../../src/shared/redact.js";
import { startGitHubSim, type GitHubSim } from "../support/github-sim/index.js";
import { testPrivateKey } from "../support/keys.js";
import { TestOctokit } from "../support/octokit.js";
import { freePort, startTestRedis, type TestRedis } from "../support/redis-server.js";
import { testEnv } from "../support/test-env.js";

/**
 * Lost deliveries come back: a webhook GitHub could not deliver (the app was down) is found in
 * the app's deliveries log and redelivered; the job is enqueued once, under the delivery's
 * GUID, and a second pass asks for nothing.
 */
const SECRET = "reconciler-secret";
let sim: GitHubSim;
let redis: TestRedis;
let web: WebHandle;
let inspect: Redis;
const log = createLogger({ level: "silent", redact });
const env = testEnv({ APP_ID: "3141", WEBHOOK_SECRET: SECRET });

beforeAll(async () => {
  sim = await startGitHubSim({ app: { id: 3141, privateKey: testPrivateKey(), webhookSecret: SECRET } });
  const repo = await sim.createRepo({ owner: "acme", name: "lost", files: { "README.md": "x\n" } });
  sim.installApp({ installationId: 31, repos: ["acme/lost"] });
  sim.addCollaborator(repo, "alice", "write");
  sim.createIssue({ repo, title: "t", body: "b", user: "alice" });
  redis = await startTestRedis();
  web = await startWeb({
    env: { ...env, githubApiUrl: sim.apiUrl, GHE_HOST: sim.host, GHE_PROTOCOL: "http" },
    log,
    redis: redis.url,
    Octokit: TestOctokit,
  });
  inspect = new Redis(redis.url);
});

afterAll(async () => {
  await web?.close();
  await inspect?.quit();
  await redis?.destroy();
  await sim?.stop();
});

describe("reconciler", () => {
  test("a delivery that failed while the app was down is redelivered once and becomes one job", async () => {
    // The app is unreachable when GitHub sends the delivery.
    sim.webhooks.url = `http://127.0.0.1:${await freePort()}/api/github/webhooks`;
    const lost = await sim.webhooks.issuesLabeled({ repo: "acme/lost", issue: 1, label: "iquest:fix", sender: "alice" });
    expect(lost.statusCode).toBe(0);
    // Also one that did arrive, and one for an event the app does not subscribe to.
    sim.webhooks.url = `http://127.0.0.1:${web.port}/api/github/webhooks`;
    sim.webhooks.record({ event: "star", statusCode: 500, payload: {} });

    const app = createGitHubApp({ appId: "3141", privateKey: testPrivateKey(), baseUrl: sim.apiUrl, log, Octokit: TestOctokit });
    const make = () => startReconciler({ redis: inspect, prefix: env.QUEUE_PREFIX, intervalMs: 60_000, deps: { appClient: app.appClient(), log }, log });
    const loopA = make();
    const loopB = make(); // a second worker replica: the lock lets one pass run
    loopA.stop();
    loopB.stop();
    const passes = await Promise.all([loopA.first, loopB.first]);
    expect(passes.filter((p) => p !== undefined)).toHaveLength(1);
    await sim.idle();
    await new Promise((r) => setTimeout(r, 300));

    const redeliveries = sim.deliveries.filter((d) => d.guid === lost.guid && d.redelivery);
    expect(redeliveries).toHaveLength(1);
    expect(redeliveries[0]!.statusCode).toBe(200);
    const fix = new Queue("fix", { connection: inspect, prefix: env.QUEUE_PREFIX });
    expect((await fix.getJobs(["waiting"])).map((j) => j.id)).toEqual([`fix-${lost.guid}`]);

    // A later pass finds nothing lost (even once the "asked" memory is gone).
    await inspect.del(`${env.QUEUE_PREFIX}:reconciler:asked`, `${env.QUEUE_PREFIX}:reconciler:lock`);
    const loopC = make();
    loopC.stop();
    const again = await loopC.first;
    expect(again?.redelivered).toEqual([]);
    expect(again?.scanned).toBeGreaterThanOrEqual(3);
    await fix.close();
  });
});
