import { afterAll, beforeAll, beforeEach, describe, expect, test } from "@jest/globals";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import nock from "nock";
import { startWeb, type WebHandle } from "../../src/main/start-web.js";
import { createLogger } from "../../src/shared/log.js";
import { redact } from "../../src/shared/redact.js";
import { TestOctokit } from "../support/octokit.js";
import { INSTALLATION_ID, issueComment, pullRequest } from "../support/payloads.js";
import { API, REPO_PATH } from "../support/probot-app.js";
import { startTestRedis, type TestRedis } from "../support/redis-server.js";
import { WEBHOOK_SECRET, testEnv } from "../support/test-env.js";
import { postDelivery } from "../support/webhooks.js";

/**
 * Fairness at the front door, through a real web process and a real Redis: one person's flood
 * of `/iquest fix` comments, one installation's flood, and who may trigger work (the permission
 * cache, dropped by member events and bounded by its TTL). GitHub is nock; each permission
 * question it answers is counted.
 */
let redis: TestRedis;
let web: WebHandle;
let url: string;
let inspect: Redis;
const queues: Record<string, Queue> = {};
const OTHER_INSTALLATION = 77;
const OTHER_REPO_ID = 9090;
const permissions = new Map<string, string>();
let permissionCalls = 0;
const TTL_MS = 1500;

beforeAll(async () => {
  redis = await startTestRedis();
  nock.disableNetConnect();
  nock.enableNetConnect(/127\.0\.0\.1|localhost/);
  const token = { token: "ghs_limits0000000000000000000000000000000", expires_at: new Date(Date.now() + 3600_000).toISOString() };
  nock(API)
    .persist()
    .post(`/app/installations/${INSTALLATION_ID}/access_tokens`)
    .reply(201, token)
    .post(`/app/installations/${OTHER_INSTALLATION}/access_tokens`)
    .reply(201, token)
    .get(/\/contents\/\.github%2Fiquest\.yml/)
    .reply(404, {})
    .get(/\/collaborators\/([^/]+)\/permission$/)
    .reply((uri) => {
      permissionCalls++;
      const user = /collaborators\/([^/]+)\/permission/.exec(uri)![1]!;
      return [200, { permission: permissions.get(user) ?? "write" }];
    });
  const env = testEnv({ INTAKE_SENDER_LIMIT: "6/10m", INTAKE_INSTALLATION_LIMIT: "40/10m", PERMISSION_CACHE_TTL_MS: String(TTL_MS) });
  web = await startWeb({ env, log: createLogger({ level: "silent", redact }), redis: redis.url, Octokit: TestOctokit });
  url = `http://127.0.0.1:${web.port}${env.WEBHOOK_PATH}`;
  inspect = new Redis(redis.url, { maxRetriesPerRequest: null });
  for (const kind of ["fix", "review", "notify"]) queues[kind] = new Queue(kind, { connection: inspect, prefix: env.QUEUE_PREFIX });
});

afterAll(async () => {
  await web?.close();
  for (const q of Object.values(queues)) await q.close();
  await inspect?.quit();
  await redis?.destroy();
  nock.cleanAll();
  nock.enableNetConnect();
});

beforeEach(async () => {
  for (const q of Object.values(queues)) await q.obliterate({ force: true });
  // Fresh windows for every test.
  for (const key of await inspect.keys("*:intake:*")) await inspect.del(key);
  permissions.clear();
});

const user = (login: string, id: number) => ({ login, id, type: "User" });
let commentIds = 90_000;
function fixComment(login: string, issue: number, installation = INSTALLATION_ID) {
  const p = issueComment("/iquest fix", { sender: user(login, 5000 + login.length), issue, commentId: ++commentIds });
  if (installation !== INSTALLATION_ID) {
    p.installation = { id: installation, node_id: "y" };
    p.repository = { ...p.repository, id: OTHER_REPO_ID, name: "other-repo", full_name: "other-org/other-repo", owner: { ...p.repository.owner, login: "other-org" } };
  }
  return { event: "issue_comment", payload: p };
}
const waiting = async (kind: string) => queues[kind]!.getJobs(["waiting", "prioritized", "delayed"]);

/** Send deliveries `width` at a time; returns the statuses. */
async function sendAll(deliveries: Array<{ event: string; payload: unknown }>, width = 25): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < deliveries.length; i += width) {
    const batch = await Promise.all(deliveries.slice(i, i + width).map((d) => postDelivery(url, WEBHOOK_SECRET, d)));
    statuses.push(...batch.map((r) => r.status));
  }
  return statuses;
}

describe("per-sender and per-installation intake limits", () => {
  test("one user's 1,000 `/iquest fix` comments → 6 jobs and ONE polite reply; another user and another installation are served as usual", async () => {
    const flood = Array.from({ length: 1000 }, (_, i) => fixComment("mallory", 1 + i));
    const statuses = await sendAll(flood);
    // Refused work is still a delivery GitHub must not retry: 200.
    expect(new Set(statuses)).toEqual(new Set([200]));
    const fixes = await waiting("fix");
    expect(fixes).toHaveLength(6);
    const replies = (await waiting("notify")).map((j) => j.data);
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({ reason: "limited", actor: "mallory", limit: { scope: "sender", count: 6, windowSeconds: 600 } });
    // The answer goes on a comment that was refused, not on one of the six that started.
    expect(fixes.map((j) => j.data.issueNumber)).not.toContain(replies[0].issueNumber);

    // Others are unaffected: the flood did not use up the installation's budget.
    await sendAll([fixComment("bob", 2001), fixComment("carol", 1, OTHER_INSTALLATION)]);
    const after = (await waiting("fix")).map((j) => j.data as { actor: string; installationId: number });
    expect(after).toHaveLength(8);
    expect(after.filter((d) => d.actor === "bob")).toHaveLength(1);
    expect(after.filter((d) => d.installationId === OTHER_INSTALLATION)).toHaveLength(1);
    const metrics = await (await fetch(`http://127.0.0.1:${web.port}/metrics`)).text();
    expect(Number(/iquest_intake_limited_total\{scope="sender"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(994);
  });

  test("an installation over its limit (automatic reviews included) → nothing more starts there, one reply; another installation goes on", async () => {
    // 40 per window: 35 PR reviews (no sender) and 5 comments from five users fill it.
    const reviews = Array.from({ length: 35 }, (_, i) => ({ event: "pull_request", payload: pullRequest("opened", { number: 100 + i, sha: (100 + i).toString(16).padStart(40, "0") }) }));
    await sendAll(reviews);
    await sendAll(["u1", "u2", "u3", "u4", "u5"].map((u, i) => fixComment(u, 300 + i)));
    expect(await waiting("review")).toHaveLength(35);
    expect(await waiting("fix")).toHaveLength(5);
    // Over: a sixth user, and more reviews.
    await sendAll([fixComment("u6", 400), fixComment("u7", 401), { event: "pull_request", payload: pullRequest("opened", { number: 999, sha: "f".repeat(40) }) }]);
    expect(await waiting("review")).toHaveLength(35);
    expect(await waiting("fix")).toHaveLength(5);
    const replies = (await waiting("notify")).map((j) => j.data);
    expect(replies).toEqual([expect.objectContaining({ reason: "limited", actor: "u6", issueNumber: 400, limit: expect.objectContaining({ scope: "installation", count: 40 }) })]);
    await sendAll([fixComment("carol", 5, OTHER_INSTALLATION)]);
    expect((await waiting("fix")).filter((j) => j.data.installationId === OTHER_INSTALLATION)).toHaveLength(1);
  });
});

describe("who may trigger work: cached, dropped on member events, bounded by the TTL", () => {
  test("repeat deliveries of one user on one repository ask GitHub once per TTL", async () => {
    const before = permissionCalls;
    await sendAll([fixComment("dave", 1), fixComment("dave", 2), fixComment("dave", 3)], 1);
    expect(await waiting("fix")).toHaveLength(3);
    expect(permissionCalls - before).toBe(1);
  });

  test("a `member` event for a revoked collaborator → the next command is refused at once, with no visible effect", async () => {
    await sendAll([fixComment("erin", 10)]);
    expect(await waiting("fix")).toHaveLength(1);
    permissions.set("erin", "read");
    const member = {
      action: "edited",
      member: { login: "erin", id: 5004, type: "User" },
      changes: { permission: { from: "write", to: "read" } },
      repository: fixComment("erin", 1).payload.repository,
      installation: { id: INSTALLATION_ID },
      sender: { login: "admin", id: 1, type: "User" },
    };
    expect((await postDelivery(url, WEBHOOK_SECRET, { event: "member", payload: member })).status).toBe(200);
    await sendAll([fixComment("erin", 11)]);
    expect((await waiting("fix")).map((j) => j.data.issueNumber)).toEqual([10]);
    // No reply, no reaction job: a refused user sees nothing.
    expect(await waiting("notify")).toEqual([]);
  });

  test("with no event at all, a revoked user is refused once the TTL has passed", async () => {
    await sendAll([fixComment("frank", 20)]);
    permissions.set("frank", "read");
    await new Promise((r) => setTimeout(r, TTL_MS + 100));
    await sendAll([fixComment("frank", 21)]);
    expect((await waiting("fix")).map((j) => j.data.issueNumber)).toEqual([20]);
  });

  test("PERMISSION_CACHE_TTL_MS over a minute is refused at start-up", () => {
    expect(() => testEnv({ PERMISSION_CACHE_TTL_MS: "120000" })).toThrow(/within a minute/);
  });
});
