import { afterEach, describe, expect, test } from "@jest/globals";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXIT_CODES } from "../../src/cli/exit-codes.js";
import { runCli } from "../../src/cli/run-cli.js";
import { createBuggyRepo } from "../support/agent-fixtures.js";
import { call, create, replace, scriptByTask, startFakeVllm, submit, type ScriptStep } from "../support/fake-vllm/index.js";
import { cliContext } from "../support/cli-run.js";

/**
 * `iquest-bot fix --attempts N`: the worker's verification, locally, on the sandboxed copy with
 * the real tests: a reproduction that fails on the original code and passes after; a first
 * attempt that fails and is undone before the second; nothing applied when none passes (exit 6,
 * the last change saved as a patch); and the flag refused without the sandbox.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const REPRO = 'import { test } from "node:test";\nimport assert from "node:assert/strict";\nimport { add } from "../src/add.js";\ntest("adds negatives", () => assert.equal(add(-2, -3), -5));\n';

function scriptFor(task: string): ScriptStep[] {
  const retry = task.includes("did not pass verification");
  if (task.includes("REPRO")) {
    return [
      create("test/neg.test.js", REPRO),
      call("reproduce", { files: ["test/neg.test.js"], test: "adds negatives", command: "node --test test/neg.test.js" }),
      replace("src/add.js", "  return a - b;", "  return a + b;"),
      submit("Reproduced, then fixed add()."),
    ];
  }
  if (task.includes("RETRY") && !retry) return [replace("src/add.js", "  return a - b;", "  return a * b;"), submit("Multiplied.")];
  if (task.includes("RETRY")) return [replace("src/add.js", "  return a - b;", "  return a + b;"), submit("Added.")];
  return [replace("src/add.js", "  return a - b;", "  return a * b;"), submit("Multiplied again.")];
}

async function setup() {
  const repo = createBuggyRepo();
  const home = mkdtempSync(join(tmpdir(), "cli-attempts-home-"));
  const vllm = await startFakeVllm({ script: scriptByTask(scriptFor) });
  cleanups.push(async () => {
    await vllm.close();
    rmSync(repo, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });
  const { ctx, stdout, stderr } = cliContext(home, { modelEnv: { MODEL_BASE_URL: vllm.url } });
  const fix = (text: string, ...extra: string[]) => runCli(["fix", "--repo", repo, "--issue-text", text, "--no-setup", "--json", ...extra], ctx);
  return { repo, vllm, stdout, stderr, fix };
}

describe("iquest-bot fix --attempts", () => {
  test("reproduce first: the test fails on the original code and passes after; verified, applied, exit 0", async () => {
    const { repo, stdout, stderr, fix } = await setup();
    const code = await fix("REPRO add() is wrong for negatives", "--attempts", "2");
    expect({ code, stderr: stderr.text.slice(-2000) }).toMatchObject({ code: EXIT_CODES.submitted });
    const result = JSON.parse(stdout.text);
    expect(result).toMatchObject({ outcome: "verified", verified: true, chosenAttempt: 1, applied: true });
    expect(result.reproduction).toEqual({ test: "adds negatives", command: "node --test test/neg.test.js", files: ["test/neg.test.js"], base: "fails (exit 1)", after: { exitCode: 0 } });
    expect(result.attempts).toHaveLength(1);
    expect(readFileSync(join(repo, "src/add.js"), "utf8")).toContain("return a + b;");
    expect(readFileSync(join(repo, "test/neg.test.js"), "utf8")).toBe(REPRO);
    expect(stderr.text).toMatch(/baseline: `npm test`: 0 passed, 1 failed/);
  }, 120_000);

  test("a failed first attempt is undone; the second passes; only its change is applied", async () => {
    const { repo, stdout, stderr, fix, vllm } = await setup();
    const code = await fix("RETRY add() is wrong", "--attempts", "2");
    expect({ code, stderr: stderr.text.slice(-2000) }).toMatchObject({ code: EXIT_CODES.submitted });
    const result = JSON.parse(stdout.text);
    expect(result.chosenAttempt).toBe(2);
    expect(result.attempts.map((a: { passed: boolean; reason?: string }) => [a.passed, a.reason ?? null])).toEqual([
      [false, "tests still fail (1 already failed on the base)"],
      [true, null],
    ]);
    expect(readFileSync(join(repo, "src/add.js"), "utf8")).toBe("export function add(a, b) {\n  return a + b;\n}\n");
    expect(stderr.text).toMatch(/attempt 1: failed verification: tests still fail/);
    expect(vllm.requests.some((r) => r.rawBody.includes("Attempt 1 did not pass verification"))).toBe(true);
  }, 120_000);

  test("no attempt passes: nothing applied, the last change saved as a patch, exit 6", async () => {
    const { repo, stdout, fix } = await setup();
    const code = await fix("HOPELESS add() is wrong", "--attempts", "2");
    expect(code).toBe(EXIT_CODES.unverified);
    const result = JSON.parse(stdout.text);
    expect(result).toMatchObject({ outcome: "unverified", verified: false, chosenAttempt: null, applied: false });
    expect(result.attempts).toHaveLength(2);
    expect(readFileSync(join(repo, "src/add.js"), "utf8")).toContain("return a - b;");
    expect(existsSync(result.patch)).toBe(true);
    expect(readFileSync(result.patch, "utf8")).toContain("+  return a * b;");
  }, 120_000);

  test("bad input: --attempts out of range, or without the sandbox, is a usage error and runs nothing", async () => {
    const { stderr, fix, vllm } = await setup();
    expect(await fix("x", "--attempts", "9")).toBe(EXIT_CODES.usage);
    expect(stderr.text).toContain("--attempts takes a whole number from 1 to 5");
    expect(await fix("x", "--attempts", "2", "--sandbox", "none")).toBe(EXIT_CODES.usage);
    expect(stderr.text).toContain("--attempts needs the sandbox");
    expect(vllm.requests).toHaveLength(0);
  }, 60_000);
});
