import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { EXIT_CODES } from "../../src/cli/exit-codes.js";
import { runCli } from "../../src/cli/run-cli.js";
import { testBaseEnv } from "../support/agent-fixtures.js";
import { scriptByTask, startFakeVllm, submit, type FakeVllm } from "../support/fake-vllm/index.js";
import { cliContext } from "../support/cli-run.js";
import { referenceModel } from "../support/eval-reference.js";

/**
 * `iquest-bot eval --tasks bench/tasks`: the shipped task set (12 tasks: JavaScript, TypeScript,
 * Python, Go, Rust), with the scripted model playing each task's reference fix, runs end to end
 * in the sandbox with the real toolchains: every task is resolved by its hidden tests. A model
 * that changes nothing resolves none (the fail→pass tests fail, the pass→pass ones still pass),
 * so the harness's verdict can fail. Broken task directories are reported, not fatal.
 */
const TASKS = resolve("bench/tasks");
const { ids, issues, script: reference } = referenceModel(TASKS);

let vllm: FakeVllm;
let idle: FakeVllm;
const home = mkdtempSync(join(tmpdir(), "cli-eval-home-"));
beforeAll(async () => {
  vllm = await startFakeVllm({ script: reference });
  idle = await startFakeVllm({ script: scriptByTask(() => [submit("I changed nothing.")]) });
});
afterAll(async () => {
  await vllm?.close();
  await idle?.close();
  rmSync(home, { recursive: true, force: true });
});

function cli(url: string) {
  const { ctx, stdout, stderr } = cliContext(process.cwd(), { modelEnv: { MODEL_BASE_URL: url }, commandEnv: testBaseEnv(home) });
  return { stdout, stderr, run: (...argv: string[]) => runCli(["eval", ...argv], ctx) };
}

describe("iquest-bot eval", () => {
  test("the shipped set: 12 tasks in five languages, each resolved by its reference fix; a table and JSON", async () => {
    expect(ids).toHaveLength(12);
    const languages = new Set([...issues.keys()].map((id) => JSON.parse(readFileSync(join(TASKS, id, "task.json"), "utf8")).language));
    expect([...languages].sort()).toEqual(["go", "javascript", "python", "rust", "typescript"]);
    const { stdout, stderr, run } = cli(vllm.url);
    const code = await run("--tasks", TASKS, "--json");
    const report = JSON.parse(stdout.text);
    const unresolved = report.results.filter((r: { resolved: boolean }) => !r.resolved);
    expect({ code, unresolved, stderr: unresolved.length ? stderr.text.slice(-3000) : "" }).toEqual({ code: EXIT_CODES.submitted, unresolved: [], stderr: "" });
    expect(report.profiles).toEqual([expect.objectContaining({ profile: "thinking", tasks: 12, resolved: 12, resolveRate: 1, errors: 0 })]);
    for (const r of report.results) {
      expect(r.failToPass.every((c: { passed: boolean }) => c.passed)).toBe(true);
      expect(r.steps).toBeGreaterThan(0);
      expect(r.tokens).toBeGreaterThan(0);
    }
  }, 900_000);

  test("a model that changes nothing resolves nothing: fail→pass fails, pass→pass passes; the table says so", async () => {
    const { stdout, run } = cli(idle.url);
    const code = await run("--tasks", TASKS, "--only", "js-clamp,py-median,go-max");
    expect({ code, out: code ? stdout.text : "" }).toEqual({ code: EXIT_CODES.submitted, out: "" });
    expect(stdout.text).toContain("| js-clamp | javascript | thinking | no | 0/1 | 1/1 | 1 |");
    expect(stdout.text).toContain("| py-median | python | thinking | no | 0/1 | 1/1 | 1 |");
    expect(stdout.text).toContain("| go-max | go | thinking | no | 0/1 | 1/1 | 1 |");
    expect(stdout.text).toMatch(/\| thinking \| 0\/3 \(0\.0%\) \|/);
  }, 300_000);

  test("bad input: no --tasks, a missing directory, an unknown --only id, a broken task.json: clear errors; the good tasks still run", async () => {
    const { stderr, run } = cli(idle.url);
    expect(await run()).toBe(EXIT_CODES.usage);
    expect(stderr.text).toContain("--tasks DIR is required");
    expect(await run("--tasks", "/nonexistent-dir")).toBe(EXIT_CODES.usage);
    expect(stderr.text).toContain("not a directory");
    expect(await run("--tasks", TASKS, "--attempts", "0")).toBe(EXIT_CODES.usage);

    const set = mkdtempSync(join(tmpdir(), "eval-set-"));
    try {
      mkdirSync(join(set, "broken"));
      writeFileSync(join(set, "broken", "task.json"), "{ not json");
      mkdirSync(join(set, "incomplete"));
      writeFileSync(join(set, "incomplete", "task.json"), JSON.stringify({ language: "go", issue: "x", failToPass: [] }));
      const { stdout, run: run2 } = cli(idle.url);
      const code = await run2("--tasks", set, "--json", "--only", "broken,incomplete,ghost");
      expect(code).toBe(EXIT_CODES.error);
      const report = JSON.parse(stdout.text);
      const errors = Object.fromEntries(report.results.map((r: { task: string; error: string }) => [r.task, r.error]));
      expect(errors.broken).toMatch(/task.json is not JSON/);
      expect(errors.incomplete).toMatch(/failToPass: /);
      expect(errors.ghost).toBe("no such task directory");
    } finally {
      rmSync(set, { recursive: true, force: true });
    }
  }, 60_000);
});
