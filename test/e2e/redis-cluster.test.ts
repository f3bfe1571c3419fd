import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { rmSync } from "node:fs";
import { Queue } from "bullmq";
import { createRedis, closeRedis } from "../../src/queue/connection.js";
import { createBuggyRepo, fixScript } from "../support/agent-fixtures.js";
import type { FakeReply } from "../support/fake-vllm/index.js";
import { eventually, finalCard, startClusterStack, type ClusterStack } from "../support/e2e-stack.js";
import { reviewPush1, shopFiles, CART_PUSH1 } from "../support/review-fixtures.js";

/**
 * The app on a real Redis Cluster (three masters with a replica each, started here):
 * REDIS_CLUSTER_NODES on web and worker, the default hash-tagged prefix `{iquest}`. Webhooks come
 * in, a fix and a review run to completion on the simulator; then the master serving the
 * prefix's slot is killed with SIGKILL while a fix is mid-run, a replica is promoted, and the job
 * still ends once, with one card and one PR.
 */
let stack: ClusterStack;
const fixtures: string[] = [];

beforeAll(async () => {
  stack = await startClusterStack({ vllm: { script: fixScript() } });
  for (const [name, installationId] of [["calc", 91], ["calc2", 92]] as const) {
    const dir = createBuggyRepo();
    fixtures.push(dir);
    const repo = await stack.sim.createRepo({ owner: "acme", name, fromDir: dir });
    stack.sim.installApp({ installationId, repos: [`acme/${name}`] });
    stack.sim.addCollaborator(repo, "alice", "write");
    stack.sim.createIssue({ repo, title: "add() returns the wrong sum", body: "add(2, 3) returns -1, expected 5.", user: "alice" });
  }
  const shop = await stack.sim.createRepo({ owner: "acme", name: "shop", files: shopFiles() });
  stack.sim.installApp({ installationId: 93, repos: ["acme/shop"] });
  stack.sim.addCollaborator(shop, "alice", "write");
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  for (const d of fixtures) rmSync(d, { recursive: true, force: true });
});

const explain = (what: string) => `${what}\nworker:\n${stack.worker.lines.slice(-30).join("\n")}\nweb:\n${stack.web.lines.slice(-10).join("\n")}`;

describe("on Redis Cluster", () => {
  test("the keys live in one slot under {iquest}; a fix and a review run to completion", async () => {
    const { sim } = stack;
    expect(stack.worker.lines.join("\n")).toMatch(/"prefix":"\{iquest\}"/);

    expect((await sim.webhooks.issuesLabeled({ repo: "acme/calc", issue: 1, label: "iquest:fix", sender: "alice" })).statusCode).toBe(200);
    const card = await eventually(() => finalCard(sim, "acme/calc", 1), "the fix's final card", 120_000).catch((e: Error) => {
      throw new Error(explain(e.message));
    });
    expect(card.body).toMatch(/Opened draft PR/);
    expect(sim.pullsOf("acme/calc")).toHaveLength(1);
    expect(await sim.readFile("acme/calc", "iquest/fix-1", "src/add.js")).toContain("return a + b;");

    stack.vllm.push(...reviewPush1());
    const repo = sim.repo("acme/shop");
    const head = await sim.commit({ repo, branch: "feature", files: { "src/cart.js": CART_PUSH1 }, message: "Index loop, average()" });
    await sim.createPullRequest({ repo, head: "feature", title: "Cart: average()", body: "Adds average().", user: "alice" });
    expect((await sim.webhooks.pullRequest({ repo: "acme/shop", number: 1, action: "opened", sender: "alice" })).statusCode).toBe(200);
    await eventually(() => sim.checkRuns.find((c) => c.name === "iquest/review" && c.headSha === head && c.status === "completed"), "the review's check run", 120_000).catch((e: Error) => {
      throw new Error(explain(e.message));
    });
    expect(sim.reviews.filter((r) => r.user === sim.app.botLogin)).toHaveLength(1);
  }, 300_000);

  test("SIGKILL of the master that serves {iquest} mid-fix: a replica is promoted and the job ends once, with one card and one PR", async () => {
    const { sim, cluster } = stack;
    const before = stack.vllm.requests.length;
    // The third model turn takes 6 s: the job is running (its lock, its card, its notes in Redis) when the master dies.
    const slow = fixScript();
    slow[2] = { ...(slow[2] as FakeReply), delayMs: 6000 };
    stack.vllm.push(...slow);
    const master = await cluster.masterOf("{iquest}");
    expect((await sim.webhooks.issuesLabeled({ repo: "acme/calc2", issue: 1, label: "iquest:fix", sender: "alice" })).statusCode).toBe(200);
    await eventually(() => stack.vllm.requests.length >= before + 3, "the slow model turn", 60_000);
    await cluster.kill(master, "SIGKILL");
    const promoted = await cluster.waitForFailover("{iquest}", master);
    expect(promoted).not.toBe(master);

    const card = await eventually(() => finalCard(sim, "acme/calc2", 1), "the fix's final card after the failover", 180_000).catch((e: Error) => {
      throw new Error(explain(e.message));
    });
    expect(card.body).toMatch(/Opened draft PR/);
    expect(sim.commentsOn("acme/calc2", 1).filter((c) => c.body.includes("iquest-card"))).toHaveLength(1);
    expect(sim.pullsOf("acme/calc2")).toHaveLength(1);
    expect(await sim.readFile("acme/calc2", "iquest/fix-1", "src/add.js")).toContain("return a + b;");
    // Both processes lived through it (no crash on the dead connection).
    expect(stack.worker.child.exitCode).toBeNull();
    expect(stack.web.child.exitCode).toBeNull();
    // BullMQ's own record, read from the cluster now: both fixes completed, none failed, none stuck.
    const redis = createRedis({ cluster: { nodes: cluster.seeds.split(",").map((s) => ({ host: "127.0.0.1", port: Number(s.split(":")[1]) })).filter((n) => n.port !== master), tls: false } }, "plain");
    const fixes = new Queue("fix", { connection: redis, prefix: "{iquest}" });
    try {
      await eventually(async () => (await fixes.getJobCounts("completed")).completed === 2, "both fix jobs completed in Redis", 30_000);
      expect(await fixes.getJobCounts("failed", "active", "wait", "delayed")).toEqual({ failed: 0, active: 0, wait: 0, delayed: 0 });
    } finally {
      await fixes.close();
      await closeRedis(redis);
    }
    // And the web still takes webhooks on the new master.
    expect((await sim.webhooks.issuesLabeled({ repo: "acme/calc2", issue: 1, label: "unrelated", sender: "alice" })).statusCode).toBe(200);
  }, 300_000);
});
