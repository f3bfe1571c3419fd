import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { rmSync } from "node:fs";
import { createBuggyRepo } from "../support/agent-fixtures.js";
import { eventually, finalCard, seedIssueRepo, startStack, type Stack } from "../support/e2e-stack.js";
import { replace, scriptByTask, submit } from "../support/fake-vllm/index.js";

/**
 * The bot's own PRs follow their base: a push to the default branch rebases the bot's open PR
 * onto the new head (its commits replayed, the branch replaced with a lease: the only push that
 * is not a fast-forward); with a human's commit on the branch it is left alone with one comment;
 * a rebase that conflicts is left alone with one comment. On the simulator with real git.
 */
let stack: Stack;
const fixture = createBuggyRepo();

beforeAll(async () => {
  stack = await startStack({
    vllm: { script: scriptByTask(() => [replace("src/add.js", "  return a - b;", "  return a + b;"), submit("Fixed add().")]) },
    env: { JOB_ATTEMPTS: "1" },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(fixture, { recursive: true, force: true });
});

let n = 0;
/** A repository with a fix PR the bot opened (the real fix job). */
async function withBotPr() {
  n++;
  const full = await seedIssueRepo(stack, { name: `rebase${n}`, fromDir: fixture, installationId: 600 + n, title: "add() is wrong", body: "add(2, 3) returns -1." });
  await stack.sim.webhooks.issuesLabeled({ repo: full, issue: 1, label: "iquest:fix", sender: "alice" });
  const card = await eventually(() => finalCard(stack.sim, full, 1), "the fix's final card", 120_000);
  expect(card.body).toMatch(/Opened draft PR/);
  return { repo: stack.sim.repo(full), full, pr: stack.sim.pullsOf(full)[0]! };
}

const forcedPushes = (full: string) => stack.sim.pushes.filter((p) => p.repo === full && p.ref === "refs/heads/iquest/fix-1" && p.forced);

describe("rebases of the bot's PRs", () => {
  test("main moves on → the bot's PR is rebased onto it: the fix on top of the new head, with a lease", async () => {
    const { repo, full } = await withBotPr();
    const before = (await stack.sim.resolveRef(full, "iquest/fix-1"))!;
    const main = await stack.sim.commit({ repo, branch: "main", files: { "README.md": "# calc\n" }, message: "Docs", author: { name: "Alice", email: "alice@example.com" } });
    await stack.sim.webhooks.push({ repo: full, ref: "refs/heads/main", sender: "alice" });
    const after = await eventually(async () => {
      const head = await stack.sim.resolveRef(full, "iquest/fix-1");
      return head !== before ? head : undefined;
    }, "the rebased branch", 60_000);
    const info = await stack.sim.repo(full).git.commitInfo(after!);
    expect(info.parents).toEqual([main]);
    expect(await stack.sim.readFile(full, "iquest/fix-1", "src/add.js")).toContain("return a + b;");
    expect(await stack.sim.readFile(full, "iquest/fix-1", "README.md")).toBe("# calc\n");
    expect(forcedPushes(full)).toHaveLength(1);
    // No comment when it worked: the PR's timeline shows the update.
    expect(stack.sim.commentsOn(full, 2).filter((c) => c.body.includes("iquest-rebase"))).toHaveLength(0);
    // Nothing to do on the next push that does not move main past the branch's base... up to date.
    await stack.sim.webhooks.push({ repo: full, ref: "refs/heads/main", sender: "alice" });
    await new Promise((r) => setTimeout(r, 3000));
    expect(await stack.sim.resolveRef(full, "iquest/fix-1")).toBe(after);
  }, 240_000);

  test("a human's commit on the bot's branch → not rebased; one comment that says why, not one per push", async () => {
    const { repo, full, pr } = await withBotPr();
    const human = await stack.sim.commit({ repo, branch: "iquest/fix-1", files: { "NOTES.md": "by alice\n" }, message: "Notes", author: { name: "Alice", email: "alice@example.com" } });
    for (const file of ["A.md", "B.md"]) {
      await stack.sim.commit({ repo, branch: "main", files: { [file]: "x\n" }, message: file });
      await stack.sim.webhooks.push({ repo: full, ref: "refs/heads/main", sender: "alice" });
    }
    const comment = await eventually(() => stack.sim.commentsOn(full, pr.number).find((c) => c.body.includes("iquest-rebase:human-commits")), "the refusal", 60_000);
    expect(comment.body).toMatch(/has commits by `Alice`, so I did not rebase it/);
    await new Promise((r) => setTimeout(r, 4000));
    expect(stack.sim.commentsOn(full, pr.number).filter((c) => c.body.includes("iquest-rebase"))).toHaveLength(1);
    expect(await stack.sim.resolveRef(full, "iquest/fix-1")).toBe(human);
    expect(forcedPushes(full)).toHaveLength(0);
  }, 240_000);

  test("a rebase that conflicts → left as it is, one comment naming the file", async () => {
    const { repo, full, pr } = await withBotPr();
    const before = await stack.sim.resolveRef(full, "iquest/fix-1");
    await stack.sim.commit({ repo, branch: "main", files: { "src/add.js": "export function add(a, b) {\n  return b - a; // someone else's change\n}\n" }, message: "Change add" });
    await stack.sim.webhooks.push({ repo: full, ref: "refs/heads/main", sender: "alice" });
    const comment = await eventually(() => stack.sim.commentsOn(full, pr.number).find((c) => c.body.includes("iquest-rebase:conflict")), "the conflict comment", 60_000);
    expect(comment.body).toMatch(/no longer rebases cleanly onto it \(conflicts in `src\/add.js`\)/);
    expect(await stack.sim.resolveRef(full, "iquest/fix-1")).toBe(before);
  }, 240_000);
});
