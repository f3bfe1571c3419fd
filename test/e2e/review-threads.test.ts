import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { eventually, startStack, type Stack } from "../support/e2e-stack.js";
import { say } from "../support/fake-vllm/index.js";
import { CART_PUSH1, reviewPush1, shopFiles } from "../support/review-fixtures.js";

/**
 * Conversations in the bot's review threads, end to end on the simulator: a writer's reply that
 * mentions the bot is answered once in the thread (with the code around the line in the prompt),
 * also when the delivery comes twice; the bot's own reply, a reader's reply and a reply that is
 * not addressed to the bot get nothing; `/iquest apply` hands the suggestion back on a human's
 * PR and commits it (a fast-forward) on the bot's own PR branch.
 */
let stack: Stack;
const REPO = "acme/shop";

beforeAll(async () => {
  stack = await startStack({ vllm: { script: reviewPush1() } });
  const repo = await stack.sim.createRepo({ owner: "acme", name: "shop", files: shopFiles() });
  stack.sim.installApp({ installationId: 79, repos: [REPO] });
  stack.sim.addCollaborator(repo, "alice", "write");
  stack.sim.addCollaborator(repo, "bob", "read");
  await stack.sim.commit({ repo, branch: "feature", files: { "src/cart.js": CART_PUSH1 }, message: "Index loop, average()" });
  await stack.sim.createPullRequest({ repo, head: "feature", title: "Cart: average()", body: "Adds average().", user: "alice" });
  await stack.sim.webhooks.pullRequest({ repo: REPO, number: 1, action: "opened", sender: "alice" });
  await eventually(() => rootComment(1), "the bot's review comment", 120_000);
}, 200_000);

afterAll(async () => {
  await stack?.stop();
});

const bot = () => stack.sim.app.botLogin;
const rootComment = (pr: number) => stack.sim.reviewComments.find((c) => c.pullNumber === pr && c.user === bot() && c.inReplyTo === null);
const repliesTo = (id: number) => stack.sim.reviewComments.filter((c) => c.inReplyTo === id);
const botReplies = (id: number) => repliesTo(id).filter((c) => c.user === bot());
const slug = () => bot().replace(/\[bot\]$/, "");

describe("answers in the bot's review threads", () => {
  test("a writer's question is answered once in the thread, with the code in the prompt; a second delivery adds nothing", async () => {
    const root = rootComment(1)!;
    stack.vllm.push(say("Because `i <= items.length` reads one past the end: the last turn adds `undefined.price`."));
    const asked = await stack.sim.webhooks.reviewCommentReply({ repo: REPO, number: 1, inReplyTo: root.id, body: `@${slug()} why is this a bug?`, sender: "alice" });
    expect(asked.statusCode).toBe(200);
    const answer = await eventually(() => botReplies(root.id)[0], "the answer", 60_000);
    expect(answer.body).toContain("reads one past the end");
    expect(answer.body).toMatch(/<!-- iquest-answer:\d+ -->/);
    // The model saw the thread and the code around the commented line.
    const request = stack.vllm.requests.at(-1)!;
    expect(request.rawBody).toContain("why is this a bug?");
    expect(request.rawBody).toContain("for (let i = 0; i <= items.length; i++)");
    // The same delivery again (GitHub redelivers): still one answer, and no second model call.
    const calls = stack.vllm.requests.length;
    await stack.sim.webhooks.redeliver(asked.id);
    await stack.sim.webhooks.idle();
    await new Promise((r) => setTimeout(r, 3000));
    expect(botReplies(root.id)).toHaveLength(1);
    expect(stack.vllm.requests.length).toBe(calls);
  }, 120_000);

  test("no answer for a reader, for a reply not addressed to the bot, or for the bot's own reply", async () => {
    const root = rootComment(1)!;
    const before = botReplies(root.id).length;
    const calls = stack.vllm.requests.length;
    const reader = await stack.sim.webhooks.reviewCommentReply({ repo: REPO, number: 1, inReplyTo: root.id, body: `@${slug()} are you sure?`, sender: "bob" });
    const aside = await stack.sim.webhooks.reviewCommentReply({ repo: REPO, number: 1, inReplyTo: root.id, body: "I agree with this, will fix.", sender: "alice" });
    const other = await stack.sim.webhooks.reviewCommentReply({ repo: REPO, number: 1, inReplyTo: root.id, body: "@carol can you look?", sender: "alice" });
    // A bot's comment in the thread that mentions us (ours, or another app's): never answered.
    const own = await stack.sim.webhooks.reviewCommentReply({ repo: REPO, number: 1, inReplyTo: root.id, body: `@${slug()} /iquest apply`, sender: bot() });
    expect([reader.statusCode, aside.statusCode, other.statusCode, own.statusCode]).toEqual([200, 200, 200, 200]);
    await stack.sim.webhooks.idle();
    await new Promise((r) => setTimeout(r, 4000));
    expect(botReplies(root.id)).toHaveLength(before + 1); // the bot's own comment above, nothing else
    expect(botReplies(root.id).filter((c) => c.body.includes("iquest-answer"))).toHaveLength(before);
    expect(stack.vllm.requests.length).toBe(calls);
  }, 60_000);

  test("/iquest apply on a human's PR: the suggestion comes back to commit from GitHub; nothing is pushed", async () => {
    const root = rootComment(1)!;
    const head = await stack.sim.resolveRef(REPO, "feature");
    await stack.sim.webhooks.reviewCommentReply({ repo: REPO, number: 1, inReplyTo: root.id, body: "/iquest apply", sender: "alice" });
    const reply = await eventually(() => botReplies(root.id).find((c) => c.body.includes("Commit suggestion")), "the reply", 60_000);
    expect(reply.body).toContain("```suggestion\n  for (let i = 0; i < items.length; i++) {\n```");
    expect(await stack.sim.resolveRef(REPO, "feature")).toBe(head);
  }, 60_000);

  test("/iquest apply on the bot's own PR: one commit with the suggestion, a fast-forward, said in the thread", async () => {
    const repo = stack.sim.repo(REPO);
    const branchHead = await stack.sim.commit({ repo, branch: "iquest/fix-9", from: "main", files: { "src/cart.js": CART_PUSH1 }, message: "Fix #9", author: { name: "iquest-bot", email: "bot@example.com" } });
    const pull = await stack.sim.createPullRequest({ repo, head: "iquest/fix-9", title: "Fix #9: loop", user: bot(), draft: true });
    // An earlier review of the bot's (seeded): a suggestion on line 3 of the PR's head.
    const id = stack.sim.state.nextId("reviewComment");
    const now = new Date().toISOString();
    stack.sim.state.reviewComments.push({
      id,
      repoId: repo.id,
      pullNumber: pull.number,
      reviewId: 0,
      user: bot(),
      body: "Off by one.\n\n```suggestion\n  for (let i = 0; i < items.length; i++) {\n```",
      path: "src/cart.js",
      line: 3,
      side: "RIGHT",
      startLine: null,
      startSide: null,
      position: 1,
      subjectType: "line",
      diffHunk: "",
      commitId: branchHead,
      inReplyTo: null,
      createdAt: now,
      updatedAt: now,
    });
    await stack.sim.webhooks.reviewCommentReply({ repo: REPO, number: pull.number, inReplyTo: id, body: "/iquest apply", sender: "alice" });
    const reply = await eventually(() => botReplies(id).find((c) => c.body.includes("Applied the suggestion")), "the applied reply", 90_000);
    const after = (await stack.sim.resolveRef(REPO, "iquest/fix-9"))!;
    expect(after).not.toBe(branchHead);
    expect(reply.body).toContain(after.slice(0, 12));
    const file = (await stack.sim.readFile(REPO, "iquest/fix-9", "src/cart.js"))!;
    expect(file.split("\n")[2]).toBe("  for (let i = 0; i < items.length; i++) {");
    expect(stack.sim.pushes.filter((p) => p.ref === "refs/heads/iquest/fix-9" && p.forced)).toEqual([]);
  }, 120_000);
});
