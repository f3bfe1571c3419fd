import { describe, expect, test } from "@jest/globals";
import {
  attemptBudget,
  attemptPlan,
  chooseAttempt,
  diffSize,
  failureBrief,
  passedBrief,
  verifyAttempt,
  type AttemptRecord,
} from "../../src/jobs/fix/attempts.js";
import { checkReproduceArgs, judgeBaseRun, reproductionSection, type Reproduction } from "../../src/jobs/fix/reproduction.js";
import type { BaselineVerdict } from "../../src/workspace/test-runner.js";

const PATCH = "diff --git a/src/add.js b/src/add.js\n--- a/src/add.js\n+++ b/src/add.js\n@@ -1,3 +1,3 @@\n function add(a, b) {\n-  return a - b;\n+  return a + b;\n }\n";
const pass: BaselineVerdict = { verdict: "pass", newFailures: [], fixed: ["adds"], stillFailing: [], method: "names", note: "no new failures" };
const submitted = { kind: "submitted" as const, summary: "Fixed." };
const repro: Reproduction = { test: "adds", command: "npx jest -t adds", files: ["test/add.test.js"], contents: new Map(), base: { exitCode: 1, line: "fails (exit 1)" } };

describe("verifyAttempt", () => {
  test("a budget hit, no change, or new failures fail verification, each with its reason", () => {
    expect(verifyAttempt({ end: { kind: "budget-exhausted", budget: "steps", limit: 2, used: 2 }, patch: PATCH, testsFailAfter: false })).toEqual({ passed: false, reason: "ran out of budget (2 steps)" });
    expect(verifyAttempt({ end: submitted, patch: "", testsFailAfter: false })).toEqual({ passed: false, reason: "made no change" });
    const fail: BaselineVerdict = { ...pass, verdict: "fail", newFailures: ["x"], note: "1 test(s) fail that passed on the base" };
    expect(verifyAttempt({ end: submitted, patch: PATCH, verdict: fail, testsFailAfter: true })).toEqual({ passed: false, reason: "tests: 1 test(s) fail that passed on the base" });
  });

  test("with a reproduction: it must pass after, its files untouched; old failures elsewhere do not block", () => {
    const still: BaselineVerdict = { ...pass, stillFailing: ["flaky"] };
    const ok = verifyAttempt({ end: submitted, patch: PATCH, verdict: still, testsFailAfter: true, reproduction: { declared: repro, after: { exitCode: 0 }, touched: [] } });
    expect(ok).toEqual({ passed: true, note: "the reproduction passes and no test regressed; 1 test(s) already failed on the base and still fail" });
    expect(verifyAttempt({ end: submitted, patch: PATCH, verdict: pass, testsFailAfter: false, reproduction: { declared: repro, after: { exitCode: 1 }, touched: [] } })).toEqual({
      passed: false,
      reason: "the reproduction still fails (exit 1)",
    });
    expect(verifyAttempt({ end: submitted, patch: PATCH, verdict: pass, testsFailAfter: false, reproduction: { declared: repro, after: { exitCode: 0 }, touched: ["test/add.test.js"] } })).toEqual({
      passed: false,
      reason: "it changed the reproduction test after it reproduced the issue (`test/add.test.js`)",
    });
  });

  test("without a reproduction, a test still failing from the base fails verification (it may be the bug)", () => {
    const still: BaselineVerdict = { ...pass, fixed: [], stillFailing: ["adds"] };
    expect(verifyAttempt({ end: submitted, patch: PATCH, verdict: still, testsFailAfter: true })).toEqual({ passed: false, reason: "tests still fail (1 already failed on the base)" });
    expect(verifyAttempt({ end: submitted, patch: PATCH, verdict: pass, testsFailAfter: false })).toEqual({ passed: true, note: "no test regressed (no new failures)" });
    expect(verifyAttempt({ end: submitted, patch: PATCH, testsFailAfter: false })).toEqual({ passed: true, note: "no tests ran" });
  });
});

describe("choosing and planning attempts", () => {
  const rec = (n: number, passed: boolean, lines: number): AttemptRecord => ({
    n,
    profile: "p",
    model: "m",
    steps: 1,
    tokens: 1,
    minutes: 0,
    end: submitted,
    verdict: passed ? { passed, note: "ok" } : { passed, reason: "no" },
    patch: PATCH,
    size: { files: 1, lines },
    tried: "",
  });

  test("the smallest passing diff wins; the earliest on a tie; none when none passed", () => {
    expect(chooseAttempt([rec(1, true, 10), rec(2, false, 1), rec(3, true, 4)])?.n).toBe(3);
    expect(chooseAttempt([rec(1, true, 4), rec(2, true, 4)])?.n).toBe(1);
    expect(chooseAttempt([rec(1, false, 4)])).toBeUndefined();
  });

  test("diffSize counts files and changed lines, not headers", () => {
    expect(diffSize(PATCH)).toEqual({ files: 1, lines: 2 });
    expect(diffSize("")).toEqual({ files: 0, lines: 0 });
  });

  test("escalation: the first attempt on the repo's profile, later ones on escalateTo; a seed per attempt, stable per job", () => {
    const fix = { profile: "instruct", escalateTo: "thinking" };
    expect(attemptPlan(fix, 1, "job-1").profile).toBe("instruct");
    expect(attemptPlan(fix, 2, "job-1").profile).toBe("thinking");
    expect(attemptPlan({}, 2, "job-1").profile).toBeUndefined();
    expect(attemptPlan(fix, 1, "job-1").seed).not.toBe(attemptPlan(fix, 2, "job-1").seed);
    expect(attemptPlan(fix, 2, "job-1").seed).toBe(attemptPlan(fix, 2, "job-1").seed);
  });

  test("a later attempt gets what the total budget has left, and none when too little is left", () => {
    const per = { maxSteps: 100, maxMinutes: 60, maxTokens: 2_000_000 };
    const total = { maxMinutes: 90, maxTokens: 3_000_000 };
    expect(attemptBudget(per, total, { tokens: 1_500_000, ms: 40 * 60_000 })).toEqual({ ok: true, budget: { maxSteps: 100, maxMinutes: 50, maxTokens: 1_500_000 } });
    const spent = attemptBudget(per, total, { tokens: 2_900_000, ms: 0 });
    expect(spent).toEqual({ ok: false, reason: "the job's token budget is spent (2,900,000 of 3,000,000, `fix.totalBudget.maxTokens`)" });
    expect(attemptBudget(per, total, { tokens: 0, ms: 88 * 60_000 }).ok).toBe(false);
  });

  test("the next attempt's brief says why the last failed, what it said and did, and the failing output", () => {
    const r = { ...rec(1, false, 2), verdict: { passed: false as const, reason: "the reproduction still fails (exit 1)" }, tried: "- step 3: `execute_bash` npm test", testTail: "Expected 3, got -1" };
    const brief = failureBrief(r, repro);
    expect(brief).toMatch(/^Attempt 1 did not pass verification: the reproduction still fails \(exit 1\)\. Its change \(1 file\(s\), 2 line\(s\)\) was undone, so you start from the original code plus the reproduction test/);
    expect(brief).toContain("Fixed.");
    expect(brief).toContain("- step 3: `execute_bash` npm test");
    expect(brief).toContain("Expected 3, got -1");
  });
});

describe("tryAll", () => {
  test("after a passing attempt the next is asked for a smaller change, not told it failed", () => {
    const r = { n: 1, profile: "p", model: "m", steps: 1, tokens: 1, minutes: 0, end: submitted, verdict: { passed: true as const, note: "ok" }, patch: PATCH, size: { files: 1, lines: 2 }, tried: "" };
    expect(passedBrief(r)).toBe(
      "Attempt 1 passed verification with a change of 1 file(s), 2 line(s); it was set aside and you start from the original code. Look for a smaller or simpler fix that passes too; the smallest passing change is published.",
    );
  });
});

describe("reproduction", () => {
  test("on the original code it must fail, run to the end, and the command must exist", () => {
    expect(judgeBaseRun({ exitCode: 1, output: "" })).toEqual({ ok: true, line: "fails (exit 1)" });
    expect(judgeBaseRun({ exitCode: 0, output: "" })).toEqual({ ok: false, reason: "the test passes on the original code, so it does not reproduce the issue" });
    expect(judgeBaseRun({ exitCode: null, killed: "timeout", output: "" })).toEqual({ ok: false, reason: "the command was stopped (timeout) before it finished" });
    expect(judgeBaseRun({ exitCode: 127, output: "" }).ok).toBe(false);
  });

  test("the tool refuses a call when code other than the test changed, or nothing was written, or a path leaves the repo", () => {
    expect(checkReproduceArgs({ files: ["test/a.test.js"], command: "npx jest" }, ["test/a.test.js"])).toBeUndefined();
    expect(checkReproduceArgs({ files: ["./test/a.test.js"], command: "npx jest" }, ["test/a.test.js", "src/a.js"])).toMatch(/these files other than the test's are changed: `src\/a.js`/);
    expect(checkReproduceArgs({ files: ["test/a.test.js"], command: "npx jest" }, [])).toMatch(/None of the listed files is new or changed/);
    expect(checkReproduceArgs({ files: ["../x"], command: "npx jest" }, [])).toMatch(/relative to the repository root/);
    expect(checkReproduceArgs({ files: [], command: "npx jest" }, [])).toMatch(/List the test file/);
  });

  test("the PR section: a table with before and after, or a plain statement that there is none", () => {
    const table = reproductionSection(repro, { exitCode: 0 });
    expect(table).toContain("| `adds` | `npx jest -t adds` | fails (exit 1) | passes |");
    expect(reproductionSection({ reason: "the agent did not write a test that reproduces the issue" })).toBe("_No reproduction: the agent did not write a test that reproduces the issue_");
    expect(reproductionSection(undefined)).toMatch(/no test command/);
  });
});
