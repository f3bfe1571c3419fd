import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { rmSync } from "node:fs";
import { createBuggyRepo, fixScript } from "../support/agent-fixtures.js";
import { eventually, startStack, type Stack } from "../support/e2e-stack.js";
import { bash, create, submit, type ScriptStep } from "../support/fake-vllm/index.js";

/**
 * Another round on the bot's own PR, end to end: `/iquest <feedback>` builds on the PR's head
 * (keeping a human's commit), and a failing check starts a repair round, at most
 * fix.maxCheckFixes times.
 */
let stack: Stack;
const fixture = createBuggyRepo();

function scriptFor(task: string): ScriptStep[] {
  if (task.includes("Feedback on PR")) {
    return [create("CHANGELOG.md", "- add() adds\n"), bash("git log --format=%an -3"), submit("Added a changelog entry as asked.")];
  }
  if (task.includes("The failing check")) {
    return [bash("npm test"), create("docs/CHECK.md", "the check was looked at\n"), submit("Looked at the failing check and documented it.")];
  }
  return fixScript();
}

beforeAll(async () => {
  stack = await startStack({
    vllm: {
      script: (req) => {
        const messages = req.body.messages as Array<{ role: string; content: unknown }>;
        const turn = messages.filter((m) => m.role === "assistant").length;
        const steps = scriptFor(JSON.stringify(messages.slice(0, 2)));
        return steps[Math.min(turn, steps.length - 1)]!;
      },
    },
  });
  const repo = await stack.sim.createRepo({ owner: "acme", name: "rounds", fromDir: fixture });
  stack.sim.installApp({ installationId: 99, repos: ["acme/rounds"] });
  stack.sim.addCollaborator(repo, "alice", "write");
  stack.sim.createIssue({ repo, title: "add() is wrong", body: "add(2, 3) is -1", user: "alice" });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(fixture, { recursive: true, force: true });
});

const cards = (n: number) => stack.sim.commentsOn("acme/rounds", n).filter((c) => c.body.includes("iquest-card"));
const finals = (n: number) => cards(n).filter((c) => !c.body.includes("_Working on it."));

describe("rounds on the bot's PR", () => {
  test("/iquest <feedback> on the bot's PR: a new commit on the same branch, on top of a human's commit", async () => {
    const { sim } = stack;
    await sim.webhooks.issuesLabeled({ repo: "acme/rounds", issue: 1, label: "iquest:fix", sender: "alice" });
    await eventually(() => finals(1)[0], "the first fix", 150_000);
    const pr = sim.pullsOf("acme/rounds")[0]!;
    const human = await sim.commit({ repo: "acme/rounds", branch: "iquest/fix-1", files: { "NOTES.md": "by alice\n" }, author: { name: "Alice", email: "alice@example.com" } });

    await sim.webhooks.issueCommentCreated({ repo: "acme/rounds", issue: pr.number, body: "/iquest please add a changelog entry", sender: "alice" });
    const card = await eventually(() => finals(pr.number)[0], "the feedback round's card on the PR", 150_000);
    expect(card.body).toMatch(/Pushed to draft PR/);
    const head = (await sim.resolveRef("acme/rounds", "iquest/fix-1"))!;
    expect(head).not.toBe(human);
    // The human commit is kept: the new commit's parent is it, and its file is still there.
    expect(await sim.readFile("acme/rounds", "iquest/fix-1", "NOTES.md")).toBe("by alice\n");
    expect(await sim.readFile("acme/rounds", "iquest/fix-1", "CHANGELOG.md")).toBe("- add() adds\n");
    expect(sim.pushes.filter((p) => p.forced)).toEqual([]);
    // The round's summary is posted on the PR; still one PR.
    expect(sim.commentsOn("acme/rounds", pr.number).some((c) => /pushed `[0-9a-f]{12}`.* for the feedback/.test(c.body))).toBe(true);
    expect(sim.pullsOf("acme/rounds")).toHaveLength(1);
    // The model was given the feedback as the task.
    expect(stack.vllm.requests.some((r) => r.rawBody.includes("please add a changelog entry"))).toBe(true);
  }, 320_000);

  test("a failing check on the bot's PR → repair rounds, at most 2, then one comment that says it stopped", async () => {
    const { sim } = stack;
    const pr = sim.pullsOf("acme/rounds")[0]!;
    const roundsBefore = finals(pr.number).length;
    for (let i = 0; i < 3; i++) {
      const head = (await sim.resolveRef("acme/rounds", "iquest/fix-1"))!;
      const run = sim.createCheckRun({ repo: "acme/rounds", headSha: head, name: "ci/test", conclusion: "failure", output: { title: "1 failed", summary: "test/add.test.js failed" } });
      await sim.webhooks.checkRunCompleted({ repo: "acme/rounds", checkRunId: run.id });
      if (i < 2) await eventually(() => finals(pr.number).length === roundsBefore + i + 1, `check round ${i + 1}`, 150_000);
    }
    await eventually(() => sim.commentsOn("acme/rounds", pr.number).find((c) => /made 2 attempt\(s\)/.test(c.body)), "the stop comment", 30_000);
    expect(finals(pr.number)).toHaveLength(roundsBefore + 2);
    const [first, second] = finals(pr.number).slice(roundsBefore);
    expect(first!.body).toMatch(/Pushed to draft PR/);
    // The scripted repair writes the same file again: the second round honestly changes nothing.
    expect(second!.body).toMatch(/No change was made/);
    expect(await sim.readFile("acme/rounds", "iquest/fix-1", "docs/CHECK.md")).toBe("the check was looked at\n");
  }, 400_000);
});
