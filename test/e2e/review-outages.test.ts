import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { eventually, startStack, type Stack } from "../support/e2e-stack.js";
import type { FaultResponse, FaultRule } from "../support/github-sim/faults.js";
import { CART_PUSH1, reviewPush1, shopFiles } from "../support/review-fixtures.js";
import { scriptByTask } from "../support/fake-vllm/index.js";

/**
 * GitHub outages at the review job's writes (the review, the check run), end to end: real web
 * and worker processes, real Redis, real git over HTTP, real bwrap; GitHub simulated, the model
 * scripted. Each case reviews its own PR; every case must end with one review and one completed
 * check run, whatever failed on the way.
 */
let stack: Stack;
let nextInstallation = 9500;

beforeAll(async () => {
  stack = await startStack({
    vllm: {
      script: scriptByTask(reviewPush1),
    },
    env: { WORKER_CONCURRENCY: "3", JOB_ATTEMPTS: "3", JOB_BACKOFF_MS: "500" },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

async function reviewCase(name: string, fault: (repo: string) => FaultRule) {
  const repo = await stack.sim.createRepo({ owner: "acme", name, files: shopFiles() });
  stack.sim.installApp({ installationId: nextInstallation++, repos: [`acme/${name}`] });
  stack.sim.addCollaborator(repo, "alice", "write");
  const head = await stack.sim.commit({ repo, branch: "feature", files: { "src/cart.js": CART_PUSH1 }, message: "Index loop, average()" });
  await stack.sim.createPullRequest({ repo, head: "feature", title: "Cart: average()", body: "Adds average().", user: "alice" });
  const handle = stack.sim.faults.add(fault(`acme/${name}`));
  await stack.sim.webhooks.pullRequest({ repo: `acme/${name}`, number: 1, action: "opened", sender: "alice" });
  const card = await eventually(
    () => stack.sim.commentsOn(`acme/${name}`, 1).find((c) => c.body.includes("iquest-card") && !c.body.includes("_Working on it.")),
    `the final card on acme/${name}`,
    150_000,
  );
  await stack.sim.idle();
  return { repoId: repo.id, head, card, handle };
}

const botLogin = () => stack.sim.app.botLogin;

async function expectOneOfEach(c: Awaited<ReturnType<typeof reviewCase>>, name: string) {
  expect({ name, card: c.card.body }).toEqual({ name, card: expect.stringMatching(/Posted \[a review\]/) });
  const reviews = stack.sim.reviews.filter((r) => r.repoId === c.repoId && r.user === botLogin());
  expect({ name, reviews: reviews.length }).toEqual({ name, reviews: 1 });
  const checks = stack.sim.checkRuns.filter((r) => r.repoId === c.repoId && r.name === "iquest/review" && r.headSha === c.head);
  expect({ name, checks: checks.map((r) => r.status) }).toEqual({ name, checks: ["completed"] });
  expect({ name, cards: stack.sim.commentsOn(`acme/${name}`, 1).filter((x) => x.user === botLogin()).length }).toEqual({ name, cards: 1 });
  expect({ name, hits: c.handle.hits }).toEqual({ name, hits: c.handle.rule.times ?? 1 });
}

const SITES: Array<[string, (repo: string) => Omit<FaultRule, "response" | "times">]> = [
  ["review post", (repo) => ({ method: "POST", path: `/repos/${repo}/pulls/1/reviews` })],
  ["check run create", (repo) => ({ method: "POST", path: `/repos/${repo}/check-runs` })],
  ["check run update", (repo) => ({ method: "PATCH", path: `/repos/${repo}/check-runs/{id}` })],
];
const KINDS: Array<[string, FaultResponse, number]> = [
  ["502", { kind: "status", status: 502 }, 2],
  ["403-secondary", { kind: "secondary-rate-limit", status: 403, retryAfter: 1 }, 2],
  ["429", { kind: "status", status: 429, headers: { "retry-after": "1" } }, 2],
  ["lost-502", { kind: "lost-answer", status: 502 }, 1],
];

describe("GitHub outages at the review job's writes", () => {
  test.each(SITES)("%s: each failure, and a 502 after GitHub did it → one review, one completed check run, one card", async (site, rule) => {
    const slug = site.replace(/\W+/g, "-");
    await Promise.all(
      KINDS.map(async ([kind, response, times]) => {
        const name = `rv-${slug}-${kind}`;
        const c = await reviewCase(name, (repo) => ({ ...rule(repo), response, times }));
        await expectOneOfEach(c, name);
      }),
    );
  }, 300_000);
});
