import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { rmSync } from "node:fs";
import { createBuggyRepo } from "../support/agent-fixtures.js";
import { eventually, finalCard, seedIssueRepo, startStack, type Stack } from "../support/e2e-stack.js";
import { bash, replace, submit, view, type ScriptStep, scriptByTask } from "../support/fake-vllm/index.js";

/**
 * Outcomes other than success end with a clear card, never silence: budget exhausted, tests
 * still failing, cancelled by /iquest stop, and the model unreachable.
 */
let stack: Stack;
const fixture = createBuggyRepo();

function scriptFor(task: string): ScriptStep[] {
  if (task.includes("BUDGET")) return [replace("src/add.js", "  return a - b;", "  return a + b; // partial"), view("src"), view("test"), submit("never reached")];
  if (task.includes("WRONG")) return [replace("src/add.js", "  return a - b;", "  return a * b;"), bash("npm test"), submit("Changed add() to multiply; the test still fails.")];
  if (task.includes("UNTESTED")) return [replace("src/add.js", "  return a - b;", "  return a + b;"), submit("Fixed add().")];
  if (task.includes("STOPME")) return [view("."), { ...(view("src") as object), delayMs: 30_000 } as ScriptStep, submit("never reached")];
  return [submit("nothing to do")];
}

beforeAll(async () => {
  stack = await startStack({
    vllm: {
      script: scriptByTask(scriptFor),
    },
    env: { JOB_ATTEMPTS: "1" },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(fixture, { recursive: true, force: true });
});

let n = 0;
async function newRepo(title: string, config?: string) {
  n++;
  return seedIssueRepo(stack, { name: `out${n}`, fromDir: fixture, installationId: 300 + n, title, ...(config ? { config } : {}) });
}

describe("fix outcomes", () => {
  // A setup step that reaches a host the egress proxy refuses (an unlisted registry), then fails.
  const failingSetup = 'tests:\n  setup: "curl -sS -o /dev/null https://unlisted-registry.example/pkg.tgz"\n';

  test("setup fails (a registry the proxy refuses): the card names the host and the step, and the job stops before the agent; no PR", async () => {
    const repo = await newRepo("UNTESTED add() is wrong", failingSetup);
    const before = stack.vllm.requests.length;
    await stack.sim.webhooks.issuesLabeled({ repo, issue: 1, label: "iquest:fix", sender: "alice" });
    const card = await eventually(() => finalCard(stack.sim, repo, 1), "the final card", 120_000);
    // The step, and the line of its output that says why (curl's, on the proxy's refusal).
    expect(card.body).toContain("Setup (`curl -sS -o /dev/null https://unlisted-registry.example/pkg.tgz`) failed with exit code 56: `curl: (56) CONNECT tunnel failed, response 403`");
    expect(card.body).toContain("`unlisted-registry.example:443` (1×: is not an allowed registry)");
    expect(card.body).toMatch(/I stopped before changing anything/);
    expect(card.body).toContain("tests.allowUntested: true");
    expect(stack.sim.pullsOf(repo)).toHaveLength(0);
    expect(stack.vllm.requests.length).toBe(before);
  }, 150_000);

  test("setup fails but `tests.allowUntested` is on: the agent works on, and the draft PR says it is untested", async () => {
    const repo = await newRepo("UNTESTED add() is wrong", `${failingSetup}  allowUntested: true\n`);
    await stack.sim.webhooks.issuesLabeled({ repo, issue: 1, label: "iquest:fix", sender: "alice" });
    const card = await eventually(() => finalCard(stack.sim, repo, 1), "the final card", 120_000);
    expect(card.body).toMatch(/Untested: Setup \(`curl/);
    const pr = stack.sim.pullsOf(repo)[0]!;
    const issue = stack.sim.issue(repo, pr.number)!;
    expect(pr.draft).toBe(true);
    expect(issue.title).toMatch(/^\[untested\] Fix #1/);
    expect(issue.body).toMatch(/\*\*Untested\.\*\* Setup \(`curl/);
  }, 150_000);

  test("budget exhausted on every attempt: nothing is pushed, the card lists the attempts, what was tried and how to go on", async () => {
    const repo = await newRepo("BUDGET add() is wrong", "fix:\n  budget:\n    maxSteps: 2\n");
    await stack.sim.webhooks.issuesLabeled({ repo, issue: 1, label: "iquest:fix", sender: "alice" });
    const card = await eventually(() => finalCard(stack.sim, repo, 1), "the final card", 120_000);
    expect(card.body).toMatch(/None of the 2 attempts passed verification, so nothing was pushed/);
    expect(card.body).toMatch(/\| 2 \| `thinking` \| 2 \| .* \| failed: ran out of budget \(2 steps\) \|/);
    expect(card.body).toMatch(/What the last attempt tried/);
    expect(card.body).toMatch(/raise `fix.attempts` or `fix.budget`/);
    expect(stack.sim.pullsOf(repo)).toHaveLength(0);
    expect(await stack.sim.resolveRef(repo, "iquest/fix-1")).toBeUndefined();
  }, 150_000);

  test("budget exhausted with `fix.openOnFailure` and `onTestsFailing: branch`: the work so far is on the branch, no PR", async () => {
    const repo = await newRepo("BUDGET add() is wrong", "fix:\n  attempts: 1\n  openOnFailure: true\n  onTestsFailing: branch\n  budget:\n    maxSteps: 2\n");
    await stack.sim.webhooks.issuesLabeled({ repo, issue: 1, label: "iquest:fix", sender: "alice" });
    const card = await eventually(() => finalCard(stack.sim, repo, 1), "the final card", 120_000);
    expect(card.body).toMatch(/on the branch `iquest\/fix-1`, but it did not pass verification \(ran out of budget \(2 steps\)\)/);
    expect(stack.sim.pullsOf(repo)).toHaveLength(0);
    expect(await stack.sim.readFile(repo, "iquest/fix-1", "src/add.js")).toContain("// partial");
  }, 150_000);

  test("tests still failing, with `fix.openOnFailure`: a draft PR titled and marked unverified", async () => {
    const repo = await newRepo("WRONG add() is wrong", "fix:\n  attempts: 1\n  openOnFailure: true\n");
    await stack.sim.webhooks.issuesLabeled({ repo, issue: 1, label: "iquest:fix", sender: "alice" });
    const card = await eventually(() => finalCard(stack.sim, repo, 1), "the final card", 120_000);
    expect(card.body).toMatch(/marked unverified/);
    const pr = stack.sim.pullsOf(repo)[0]!;
    const issue = stack.sim.issue(repo, pr.number)!;
    expect(pr.draft).toBe(true);
    expect(issue.title).toMatch(/^\[unverified\] Fix #1/);
    expect(issue.body).toMatch(/\*\*Unverified\*\*: tests still fail/);
    expect(issue.body).toMatch(/Already failing on the base: `adds two numbers`/);
  }, 150_000);

  test("/iquest stop while the agent runs: cancelled, nothing published", async () => {
    const repo = await newRepo("STOPME add() is wrong");
    const before = stack.vllm.requests.length;
    await stack.sim.webhooks.issuesLabeled({ repo, issue: 1, label: "iquest:fix", sender: "alice" });
    await eventually(() => stack.vllm.requests.length >= before + 2, "the agent's second model call", 60_000);
    await stack.sim.webhooks.issueCommentCreated({ repo, issue: 1, body: "/iquest stop", sender: "alice" });
    const card = await eventually(() => finalCard(stack.sim, repo, 1), "the final card", 60_000);
    expect(card.body).toMatch(/Cancelled by `\/iquest stop`/);
    expect(await stack.sim.resolveRef(repo, "iquest/fix-1")).toBeUndefined();
    expect(stack.sim.pullsOf(repo)).toHaveLength(0);
  }, 150_000);

  test("model unreachable: the job fails with a card that names the profile and model, and tries no other model", async () => {
    const repo = await newRepo("DOWN add() is wrong");
    await stack.vllm.close();
    await stack.sim.webhooks.issuesLabeled({ repo, issue: 1, label: "iquest:fix", sender: "alice" });
    const card = await eventually(() => finalCard(stack.sim, repo, 1), "the final card", 120_000);
    expect(card.body).toMatch(/The model for this job is unavailable: profile `thinking` \(`IQuestLab\/IQuest-Coder-V1-40B-Thinking`/);
    expect(card.body).toMatch(/never falls back to another model/);
    expect(stack.sim.pullsOf(repo)).toHaveLength(0);
  }, 150_000);
});
