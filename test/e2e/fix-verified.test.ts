import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { rmSync } from "node:fs";
import { createBuggyRepo } from "../support/agent-fixtures.js";
import { eventually, finalCard, seedIssueRepo, startStack, type Stack } from "../support/e2e-stack.js";
import { bash, call, create, replace, submit, scriptByTask, type ScriptStep } from "../support/fake-vllm/index.js";

/**
 * Fixes that prove themselves, on the simulator with the repo's real tests in bubblewrap:
 * a reproduction that fails on the original code and passes after the fix; a reproduction that
 * passes on the original code is refused; a first attempt that fails verification is undone and
 * a second, told why, passes (the PR shows both); and when none passes, nothing is pushed.
 */
let stack: Stack;
const fixture = createBuggyRepo();

const REPRO_TEST = [
  'import { test } from "node:test";',
  'import assert from "node:assert/strict";',
  'import { add } from "../src/add.js";',
  "",
  'test("adds negative numbers", () => {',
  "  assert.equal(add(-2, -3), -5);",
  "});",
  "",
].join("\n");
const reproduce = (files: string[], test: string, command: string) => call("reproduce", { files, test, command });
const goodFix = () => replace("src/add.js", "  return a - b;", "  return a + b;");

function scriptFor(task: string): ScriptStep[] {
  const retry = task.includes("did not pass verification");
  if (task.includes("REPRO")) {
    return [
      create("test/repro.test.js", REPRO_TEST),
      reproduce(["test/repro.test.js"], "adds negative numbers", "node --test test/repro.test.js"),
      goodFix(),
      bash("node --test test/repro.test.js"),
      submit("Wrote a failing test for negative numbers, then fixed add()."),
    ];
  }
  if (task.includes("PASSING")) {
    // A "reproduction" that already passes on the original code: refused; the agent goes on without one.
    return [
      create("test/mul.test.js", 'import { test } from "node:test";\ntest("nothing", () => {});\n'),
      reproduce(["test/mul.test.js"], "nothing", "node --test test/mul.test.js"),
      goodFix(),
      submit("Fixed add(); my test did not reproduce anything."),
    ];
  }
  if (task.includes("RETRY")) {
    if (retry) return [goodFix(), submit("Second try: add() adds.")];
    return [replace("src/add.js", "  return a - b;", "  return a * b;"), submit("First try: multiplied.")];
  }
  if (task.includes("TRYALL")) {
    // The first fix is small; the second, asked for a smaller one, writes a bigger one.
    if (task.includes("passed verification")) return [replace("src/add.js", "  return a - b;", "  // Sum the two numbers.\n  // (a and b are numbers)\n  return a + b;"), submit("A commented fix.")];
    return [goodFix(), submit("The small fix.")];
  }
  if (task.includes("HOPELESS")) return [replace("src/add.js", "  return a - b;", "  return a * b; // attempt"), submit("Multiplied.")];
  return [submit("nothing to do")];
}

beforeAll(async () => {
  stack = await startStack({ vllm: { script: scriptByTask(scriptFor) }, env: { JOB_ATTEMPTS: "1" } });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(fixture, { recursive: true, force: true });
});

let n = 0;
async function newRepo(title: string, config?: string) {
  n++;
  return seedIssueRepo(stack, { name: `verified${n}`, fromDir: fixture, installationId: 500 + n, title, body: `${title}: add(-2, -3) should be -5.`, ...(config ? { config } : {}) });
}

async function fix(repo: string) {
  await stack.sim.webhooks.issuesLabeled({ repo, issue: 1, label: "iquest:fix", sender: "alice" });
  return eventually(() => finalCard(stack.sim, repo, 1), "the final card", 200_000);
}

describe("verified fixes", () => {
  test("reproduce first: the test fails on the original code, passes after the fix; the PR reports both runs", async () => {
    const repo = await newRepo("REPRO add() is wrong for negatives");
    const card = await fix(repo);
    expect(card.body).toMatch(/Opened draft PR .*Verified: the reproduction passes and no test regressed/);
    const pr = stack.sim.pullsOf(repo)[0]!;
    const body = stack.sim.issue(repo, pr.number)!.body;
    expect(body).toContain("### Reproduction");
    expect(body).toContain("| `adds negative numbers` | `node --test test/repro.test.js` | fails (exit 1) | passes |");
    expect(await stack.sim.readFile(repo, "iquest/fix-1", "test/repro.test.js")).toBe(REPRO_TEST);
    expect(await stack.sim.readFile(repo, "iquest/fix-1", "src/add.js")).toContain("return a + b;");
    // Setup (npm install) wrote a lock file the repository does not have: not part of the fix.
    expect(await stack.sim.readFile(repo, "iquest/fix-1", "package-lock.json")).toBeUndefined();
    // The tool's answer told the agent it reproduced (the job ran the test, not the model).
    expect(stack.vllm.requests.some((r) => r.rawBody.includes("Reproduced: `node --test test/repro.test.js` fails (exit 1) on the original code"))).toBe(true);
  }, 240_000);

  test("a test that passes on the original code is not a reproduction: refused to the agent, and the PR says plainly there is none", async () => {
    const repo = await newRepo("PASSING add() is wrong");
    const card = await fix(repo);
    expect(card.body).toMatch(/Opened draft PR/);
    const pr = stack.sim.pullsOf(repo)[0]!;
    const body = stack.sim.issue(repo, pr.number)!.body;
    expect(body).toMatch(/_No reproduction: the agent's test did not reproduce the issue \(Not recorded as a reproduction: the test passes on the original code/);
    expect(body).not.toContain("| test | command |");
    expect(stack.vllm.requests.some((r) => r.rawBody.includes("Not recorded as a reproduction: the test passes on the original code"))).toBe(true);
  }, 240_000);

  test("a first attempt that fails verification is undone; the second, told why, passes; the PR and card list both", async () => {
    const repo = await newRepo("RETRY add() is wrong");
    const card = await fix(repo);
    expect(card.body).toMatch(/Opened draft PR .*\(attempt 2 of 2\)/);
    const pr = stack.sim.pullsOf(repo)[0]!;
    const body = stack.sim.issue(repo, pr.number)!.body;
    expect(body).toContain("### Attempts");
    expect(body).toMatch(/\| 1 \| `thinking` \| \d+ \| [\d,]+ \| .* \| failed: tests still fail \(1 already failed on the base\) \|/);
    expect(body).toMatch(/\| 2 \| `thinking` \| .* \| passed \(published\) \|/);
    // Only the second attempt's change is published (the first was undone, not piled up).
    const published = await stack.sim.readFile(repo, "iquest/fix-1", "src/add.js");
    expect(published).toBe("export function add(a, b) {\n  return a + b;\n}\n");
    // The second conversation was told why the first failed, and sampled with another seed.
    const firsts = stack.vllm.requests.filter((r) => r.rawBody.includes("RETRY add() is wrong") && (r.body.messages as unknown[]).length === 2);
    expect(firsts).toHaveLength(2);
    expect(firsts[1]!.rawBody).toContain("Attempt 1 did not pass verification: tests still fail (1 already failed on the base)");
    expect(firsts[1]!.rawBody).toContain("First try: multiplied.");
    expect(firsts[0]!.body.seed).not.toBe(firsts[1]!.body.seed);
  }, 240_000);

  test("no attempt passes: nothing is pushed by default; the card explains; with openOnFailure a draft PR titled unverified", async () => {
    const repo = await newRepo("HOPELESS add() is wrong");
    const card = await fix(repo);
    expect(card.body).toMatch(/None of the 2 attempts passed verification, so nothing was pushed/);
    expect(card.body).toContain("fix.openOnFailure: true");
    expect(await stack.sim.resolveRef(repo, "iquest/fix-1")).toBeUndefined();
    expect(stack.sim.pullsOf(repo)).toHaveLength(0);

    const open = await newRepo("HOPELESS add() is wrong", "fix:\n  attempts: 1\n  openOnFailure: true\n");
    const openCard = await fix(open);
    expect(openCard.body).toMatch(/marked unverified\*\*: tests still fail/);
    const pr = stack.sim.pullsOf(open)[0]!;
    const issue = stack.sim.issue(open, pr.number)!;
    expect(issue.title).toMatch(/^\[unverified\] Fix #1/);
    expect(issue.body).toMatch(/\*\*Unverified\*\*: tests still fail/);
  }, 400_000);

  test("fix.tryAll: both attempts pass, the smaller (the first) is put back and published, the second told to look for a smaller one", async () => {
    const repo = await newRepo("TRYALL add() is wrong", "fix:\n  tryAll: true\n");
    const card = await fix(repo);
    expect(card.body).toMatch(/Opened draft PR .*\(attempt 1 of 2\)/);
    const pr = stack.sim.pullsOf(repo)[0]!;
    const body = stack.sim.issue(repo, pr.number)!.body;
    expect(body).toMatch(/\| 1 \| `thinking` \| .* \| 1 file\(s\), 2 line\(s\) \| passed \(published\) \|/);
    expect(body).toMatch(/\| 2 \| `thinking` \| .* \| 1 file\(s\), 4 line\(s\) \| passed \|/);
    // The workspace held attempt 2's change last: attempt 1's was put back before the publish.
    expect(await stack.sim.readFile(repo, "iquest/fix-1", "src/add.js")).toBe("export function add(a, b) {\n  return a + b;\n}\n");
    expect(stack.vllm.requests.some((r) => r.rawBody.includes("Attempt 1 passed verification with a change of 1 file(s), 2 line(s)"))).toBe(true);
  }, 240_000);
});
