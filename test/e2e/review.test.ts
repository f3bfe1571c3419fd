import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { Redis } from "ioredis";
import { decodeMarker } from "../../src/jobs/review/memory.js";
import { eventually, startStack, type Stack } from "../support/e2e-stack.js";
import { CART_PUSH1, CART_PUSH2, LOOP_LINE, reviewPush1, reviewPush2, shopFiles } from "../support/review-fixtures.js";

/**
 * A PR reviewed end to end, across two pushes: signed webhooks → web process → Redis → worker
 * process → checkout over real git HTTP → bubblewrap sandbox (the repo's real tests) → the fake
 * model reviewing → the evidence gate → one review per head and a check run on the simulator,
 * which refuses any inline comment GitHub would refuse.
 */
let stack: Stack;
const REPO = "acme/shop";

beforeAll(async () => {
  stack = await startStack({ vllm: { script: reviewPush1() } });
  const repo = await stack.sim.createRepo({ owner: "acme", name: "shop", files: shopFiles() });
  stack.sim.installApp({ installationId: 78, repos: [REPO] });
  stack.sim.addCollaborator(repo, "alice", "write");
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

const botReviews = () => stack.sim.reviews.filter((r) => r.user === stack.sim.app.botLogin);
const card = () => stack.sim.commentsOn(REPO, 1).find((c) => c.body.includes("iquest-card"));
const finished = (sha: string) => {
  const c = card();
  return c && c.body.includes(`of \`${sha.slice(0, 7)}\``) && !c.body.includes("_Working on it.") ? c : undefined;
};
function explain(what: string): string {
  return `${what}\ncard:\n${card()?.body}\nworker:\n${stack.worker.lines.slice(-30).join("\n")}`;
}

describe("review, end to end", () => {
  test("a PR gets exactly one review with the expected inline comments and check; a second push reviews only the new commits and posts nothing twice", async () => {
    const { sim } = stack;
    const repo = sim.repo(REPO);
    const head1 = await sim.commit({ repo, branch: "feature", files: { "src/cart.js": CART_PUSH1 }, message: "Index loop, average()" });
    await sim.createPullRequest({ repo, head: "feature", title: "Cart: average()", body: "Adds average().", user: "alice" });
    const opened = await sim.webhooks.pullRequest({ repo: REPO, number: 1, action: "opened", sender: "alice" });
    expect(opened.statusCode).toBe(200);

    await eventually(() => finished(head1), "the first review's final card", 120_000).catch((err) => {
      throw new Error(explain((err as Error).message));
    });
    expect(botReviews()).toHaveLength(1);
    const first = botReviews()[0]!;
    expect(first).toMatchObject({ state: "COMMENTED", commitId: head1 });
    const firstComments = sim.reviewComments.filter((c) => c.reviewId === first.id);
    expect(firstComments.map((c) => [c.path, c.line, c.side])).toEqual([["src/cart.js", 3, "RIGHT"]]);
    expect(firstComments[0]!.body).toContain("```suggestion\n  for (let i = 0; i < items.length; i++) {\n```");
    expect(first.body).toContain("**Currency symbol is hard-coded** _(outside the PR's diff, so not inline)_");
    const check1 = sim.checkRuns.filter((c) => c.name === "iquest/review" && c.headSha === head1);
    expect(check1).toHaveLength(1);
    expect(check1[0]).toMatchObject({ status: "completed", conclusion: "neutral", output: { title: "Reviewed: 2 finding(s)" } });

    // The second push.
    stack.vllm.push(...reviewPush2());
    const head2 = await sim.commit({ repo, branch: "feature", files: { "src/cart.js": CART_PUSH2 }, message: "Empty lists, tax()" });
    const sync = await sim.webhooks.pullRequest({ repo: REPO, number: 1, action: "synchronize", sender: "alice" });
    expect(sync.statusCode).toBe(200);
    await eventually(() => finished(head2), "the second review's final card", 120_000).catch((err) => {
      throw new Error(explain((err as Error).message));
    });

    expect(botReviews()).toHaveLength(2);
    const second = botReviews()[1]!;
    expect(second.commitId).toBe(head2);
    expect(sim.reviewComments.filter((c) => c.reviewId === second.id).map((c) => [c.path, c.line])).toEqual([["src/cart.js", 18]]);
    expect(second.body).toContain(`The commits since the last review (\`${head1.slice(0, 7)}\`..\`${head2.slice(0, 7)}\`)`);
    // Nothing twice: the off-by-one has one comment on the PR, and the model was shown only the new change.
    const all = sim.reviewComments.filter((c) => c.repoId === repo.id);
    expect(all).toHaveLength(2);
    expect(all.filter((c) => c.body.includes("past the end of items"))).toHaveLength(1);
    const secondTask = stack.vllm.requests.find((r) => r.index === reviewPush1().length)!.body.messages[1].content as string;
    expect(secondTask.slice(secondTask.indexOf("<diff>"), secondTask.indexOf("</diff>"))).not.toContain(LOOP_LINE);
    expect(sim.checkRuns.filter((c) => c.name === "iquest/review" && c.headSha === head2)).toMatchObject([{ conclusion: "neutral" }]);

    // One card on the PR for both pushes; the worker process kept its memory in Redis.
    expect(sim.commentsOn(REPO, 1).filter((c) => c.body.includes("iquest-card"))).toHaveLength(1);
    const redis = new Redis(stack.redis.url);
    try {
      const keys = await redis.keys("e2e:review-memory:*");
      expect(keys).toHaveLength(1);
      expect(JSON.parse((await redis.get(keys[0]!))!).heads).toEqual([head1, head2]);
    } finally {
      redis.disconnect();
    }
    expect(decodeMarker(second.body)?.head).toBe(head2);
    expect(stack.vllm.remaining()).toBe(0);

    // Least privilege and no leaks.
    expect(sim.tokens.filter((t) => t.requested.permissions && "workflows" in (t.requested.permissions as object))).toEqual([]);
    // T8, every token of the run, the web's included: one repository, and named permissions.
    expect(sim.tokens.length).toBeGreaterThan(0);
    expect(sim.tokens.filter((t) => (t.requested.repository_ids as unknown[] | undefined)?.length !== 1 || !t.requested.permissions)).toEqual([]);
    for (const r of botReviews()) expect(r.body).not.toMatch(/ghs_/);
    expect(sim.errors).toEqual([]);
  }, 240_000);
});
