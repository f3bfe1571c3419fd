import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { Redis } from "ioredis";
import { chmodSync, rmSync } from "node:fs";
import { QueueEnqueuer, closeQueues, createQueues, type QueueSet } from "../../src/queue/enqueue.js";
import { startTestProxy, type TestProxy } from "../support/connect-proxy.js";
import { bash, replace, startFakeVllm, submit, type FakeVllm } from "../support/fake-vllm/index.js";
import { startGitHubSim, type GitHubSim } from "../support/github-sim/index.js";
import { testPrivateKey } from "../support/keys.js";
import { startNpmRegistry, type NpmRegistry } from "../support/npm-registry/index.js";
import { spawnRole, type RoleProcess } from "../support/processes.js";
import { startTestRedis, type TestRedis } from "../support/redis-server.js";
import { makeTestCa, startTlsFront, type TestCa } from "../support/test-ca.js";
import { GREETER_FIX_SUMMARY, createGreetApp, makeDir, publishGreeter } from "../support/upgrade-fixtures.js";

/**
 * The worker as a real process inside a "corporate network": it reaches GitHub (an HTTPS front
 * with an internal CA before the simulator), the model (the same, before the fake vLLM) and the
 * npm registry only through an authenticating forward proxy, and trusts the CA through
 * NODE_EXTRA_CA_CERTS. An upgrade runs end to end: REST and git through CONNECT, the registry
 * lookups and the sandbox's `npm install` (its egress proxy chained to the upstream one) as
 * absolute-URI requests, the model's turns for the broken major. Every connection the HTTPS fronts
 * accepted came through the proxy; the proxy's password appears in no log line.
 */
let ca: TestCa;
let proxy: TestProxy;
let sim: GitHubSim;
let simFront: Awaited<ReturnType<typeof startTlsFront>>;
let vllm: FakeVllm;
let vllmFront: Awaited<ReturnType<typeof startTlsFront>>;
let registry: NpmRegistry;
let redis: TestRedis;
let producer: Redis;
let queues: QueueSet;
let enqueuer: QueueEnqueuer;
let worker: RoleProcess | undefined;
const dirs: string[] = [];
const PREFIX = `px${process.pid}`;
const PASSWORD = "pr0xy-s3cret";

beforeAll(async () => {
  ca = makeTestCa();
  proxy = await startTestProxy({ auth: `corp:${PASSWORD}` });
  sim = await startGitHubSim({ app: { id: 7311, privateKey: testPrivateKey(), webhookSecret: "whs-proxy" } });
  simFront = await startTlsFront(ca, Number(sim.host.split(":")[1]));
  vllm = await startFakeVllm({ script: [] });
  vllmFront = await startTlsFront(ca, Number(new URL(vllm.url).port));
  registry = await startNpmRegistry();
  publishGreeter(registry);
  redis = await startTestRedis();
  producer = new Redis(redis.url, { maxRetriesPerRequest: null });
  queues = createQueues(producer, PREFIX);
  enqueuer = new QueueEnqueuer(queues, producer, PREFIX, { attempts: 1, backoffMs: 100, enqueueTimeoutMs: 2000 });
}, 60_000);

afterAll(async () => {
  await worker?.stop("SIGKILL");
  await closeQueues(queues);
  await producer.quit();
  await redis.destroy();
  await Promise.all([proxy.stop(), simFront.stop(), vllmFront.stop(), vllm.close(), registry.close()]);
  await sim.stop();
  ca.dispose();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; worker said:\n${worker?.lines.slice(-20).join("\n")}`);
}

describe("a worker behind an authenticating proxy, with an internal CA", () => {
  test("an upgrade runs end to end with every GitHub, git, model and registry call through the proxy", async () => {
    const cache = makeDir("proxy-cache-");
    const dataDir = makeDir("proxy-data-");
    chmodSync(dataDir, 0o755);
    dirs.push(cache, dataDir);
    const appDir = await createGreetApp(registry, cache);
    dirs.push(appDir);
    const registryBefore = registry.requests.length; // the fixture's own lock file, made directly
    const repo = await sim.createRepo({ owner: "acme", name: "greet", fromDir: appDir });
    sim.installApp({ installationId: 71, repos: ["acme/greet"] });
    sim.addCollaborator(repo, "alice", "write");
    const issue = sim.createIssue({ repo, title: "Upgrade please", body: "", user: "alice" });
    // The major (greeter 2) breaks the test: the agent repairs it.
    vllm.push(bash("npm test"), replace("index.js", 'const { greet } = require("greeter");', 'const { hello: greet } = require("greeter");'), bash("npm test"), submit(GREETER_FIX_SUMMARY));

    worker = spawnRole("worker", {
      APP_ID: "7311",
      PRIVATE_KEY: testPrivateKey(),
      WEBHOOK_SECRET: "whs-proxy",
      REDIS_URL: redis.url,
      QUEUE_PREFIX: PREFIX,
      DATA_DIR: dataDir,
      GHE_HOST: `127.0.0.1:${simFront.port}`,
      GHE_PROTOCOL: "https",
      MODEL_BASE_URL: `https://127.0.0.1:${vllmFront.port}/v1`,
      UPGRADE_REGISTRIES: registry.url,
      HTTPS_PROXY: proxy.url,
      HTTP_PROXY: proxy.url,
      NO_PROXY: "localhost,.corp.example",
      NODE_EXTRA_CA_CERTS: ca.caFile,
      SETUP_TIMEOUT_MS: "120000",
      TEST_TIMEOUT_MS: "60000",
      LOG_LEVEL: "info",
    });
    await worker.waitFor(/worker: waiting for jobs/, 30_000);
    expect(worker.lines.join("\n")).toMatch(/outbound calls go through the proxy/);

    const { jobId } = await enqueuer.enqueue({ kind: "upgrade", installationId: 71, repoId: repo.id, repo: "acme/greet", deliveryId: "proxy-1", trigger: "comment", issueNumber: issue.number, actor: "alice" });
    await waitUntil(async () => ["completed", "failed"].includes(await (await queues.upgrade.getJob(jobId))!.getState()), 240_000, "the upgrade job to end");
    const job = (await queues.upgrade.getJob(jobId))!;
    expect({ state: await job.getState(), failed: job.failedReason }).toEqual({ state: "completed", failed: undefined });

    // The outcome: both groups' PRs, the major one with the agent's repair.
    const pulls = sim.pullsOf("acme/greet");
    expect(pulls.map((p) => p.head.ref).sort()).toEqual(["iquest/deps-greeter-2", "iquest/deps-non-major"].sort());
    expect(sim.pushes.filter((p) => p.repo === "acme/greet" && p.accepted).length).toBeGreaterThanOrEqual(2);
    expect(vllm.requests.length).toBeGreaterThanOrEqual(4);

    // GitHub (REST and git) and the model: only through CONNECT tunnels, every connection.
    const connects = (port: number) => proxy.seen.filter((s) => s.method === "CONNECT" && s.target === `127.0.0.1:${port}` && !s.refused).length;
    expect(connects(simFront.port)).toBeGreaterThan(0);
    expect(connects(simFront.port)).toBe(simFront.connections());
    expect(connects(vllmFront.port)).toBeGreaterThan(0);
    expect(connects(vllmFront.port)).toBe(vllmFront.connections());
    expect(sim.state.requests.some((r) => r.route === "POST /repos/{owner}/{repo}/pulls")).toBe(true);

    // The registry (plain HTTP): the worker's own lookups and the sandbox's npm, via the egress proxy chained upstream.
    const registryTarget = new URL(registry.url).host;
    const viaProxy = proxy.seen.filter((s) => s.target === registryTarget && s.method === "GET");
    expect(viaProxy.some((s) => /^npm\//.test(s.userAgent ?? ""))).toBe(true);
    expect(viaProxy.some((s) => !/^npm\//.test(s.userAgent ?? ""))).toBe(true);
    expect(viaProxy.some((s) => /\.tgz$/.test(s.path ?? ""))).toBe(true);
    expect(registry.requests.length - registryBefore).toBe(viaProxy.length);

    expect(proxy.seen.filter((s) => s.refused)).toEqual([]);
    for (const line of worker.lines) expect(line).not.toContain(PASSWORD);
  }, 300_000);

  test("the CLI too: its registry lookups go through the proxy; a proxy variable that cannot be one stops it with exit 2 and the reason", async () => {
    const cache = makeDir("proxy-cli-cache-");
    dirs.push(cache);
    const appDir = await createGreetApp(registry, cache);
    dirs.push(appDir);
    proxy.seen.length = 0;
    const cli = spawnRole("cli", { NPM_REGISTRY: registry.url, HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url }, ["upgrade", "--repo", appDir, "--dry-run", "--json"]);
    expect((await cli.exited).code).toBe(0);
    expect(proxy.seen).toEqual([expect.objectContaining({ target: new URL(registry.url).host, method: "GET", path: "/greeter", refused: false })]);

    const bad = spawnRole("cli", { HTTPS_PROXY: "socks5://127.0.0.1:1080" }, ["upgrade", "--repo", appDir, "--dry-run"]);
    expect((await bad.exited).code).toBe(2);
    expect(bad.lines.join("\n")).toMatch(/HTTPS_PROXY uses socks5:\/\/, but only http:\/\/ and https:\/\/ proxies are supported/);
  }, 60_000);
});
