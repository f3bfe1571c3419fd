import { afterEach, describe, expect, test } from "@jest/globals";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseFixArgs, UsageError } from "../../src/cli/args.js";
import { EXIT_CODES } from "../../src/cli/exit-codes.js";
import { progressLine, type CliContext } from "../../src/cli/fix-command.js";
import { runCli } from "../../src/cli/run-cli.js";
import { readTrajectory } from "../../src/agent/trajectory.js";
import { createRedactor } from "../../src/shared/redact.js";
import { createBuggyRepo, fixScript, testBaseEnv } from "../support/agent-fixtures.js";
import { bash, create, fault, startFakeVllm, submit, type FakeVllm, type FakeVllmOptions } from "../support/fake-vllm/index.js";
import { Capture } from "../support/cli-run.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});


async function setup(script: FakeVllmOptions["script"], fakeOptions: Omit<FakeVllmOptions, "script"> = {}) {
  const repo = createBuggyRepo();
  const home = mkdtempSync(join(tmpdir(), "agent-cli-"));
  const vllm: FakeVllm = await startFakeVllm({ script, ...fakeOptions });
  cleanups.push(async () => {
    await vllm.close();
    rmSync(repo, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });
  const stdout = new Capture();
  const stderr = new Capture();
  const ctx = (extra: Partial<CliContext> = {}): CliContext => ({
    stdout,
    stderr,
    cwd: home,
    modelEnv: { MODEL_BASE_URL: vllm.url },
    commandEnv: testBaseEnv(home),
    redact: createRedactor(["sk-test-key-0123456789"]),
    ...extra,
  });
  return { repo, home, vllm, stdout, stderr, ctx };
}

describe("iquest-bot fix", () => {
  test("--json: one JSON object with outcome, diff, summary, steps and usage; exit 0; one progress line per step", async () => {
    const s = await setup(fixScript());
    const code = await runCli(["fix", "--repo", s.repo, "--issue-text", "add(2, 3) returns -1", "--json", "--trajectory", "run.jsonl"], s.ctx());
    expect(code).toBe(EXIT_CODES.submitted);
    const result = JSON.parse(s.stdout.text);
    expect(s.stdout.text.trim().split("\n")).toHaveLength(1);
    expect(result).toMatchObject({
      outcome: { kind: "submitted" },
      summary: "Fixed add() in src/add.js: it subtracted instead of adding. npm test passes.",
      steps: 6,
      usage: { totalTokens: expect.any(Number) },
      trajectory: join(s.home, "run.jsonl"),
    });
    expect(result.usage.totalTokens).toBeGreaterThan(0);
    expect(result.diff).toContain("--- a/src/add.js");
    expect(result.diff).toContain("+  return a + b;");
    const progress = s.stderr.text.split("\n").filter((l) => l.startsWith("[step"));
    expect(progress).toHaveLength(6);
    expect(progress[1]).toMatch(/^\[step  2\/50\] execute_bash: \$ npm test  \(\d+\.\d s, [\d,]+ tokens\)$/);
    expect(progress[3]).toMatch(/^\[step  4\/50\] str_replace_editor: str_replace src\/add\.js /);
    const { records } = readTrajectory(join(s.home, "run.jsonl"));
    expect(records.filter((r) => r.type === "step")).toHaveLength(6);
  });

  test("text output: outcome, summary and the diff, new files included", async () => {
    const s = await setup([create("NOTES.md", "fixed\n"), submit("Added notes.")]);
    writeFileSync(join(s.home, "issue.md"), "Please add notes.");
    const code = await runCli(["fix", "--repo", s.repo, "--issue", "issue.md"], s.ctx());
    expect(code).toBe(0);
    expect(s.stdout.text).toMatch(/^Outcome: submitted\nSteps: 2, tokens: \d+, time: \d+\.\d s\n\nSummary:\nAdded notes\.\n\nDiff:\n/);
    expect(s.stdout.text).toContain("+++ b/NOTES.md\n@@ -0,0 +1 @@\n+fixed");
    expect(s.vllm.requests[0].body.messages[1].content).toContain("Please add notes.");
  });

  test("budget exhausted: exit 3", async () => {
    const s = await setup(() => bash("true"));
    const code = await runCli(["fix", "--repo", s.repo, "--issue-text", "x", "--max-steps", "2", "--json"], s.ctx());
    expect(code).toBe(EXIT_CODES.budgetExhausted);
    expect(JSON.parse(s.stdout.text).outcome).toEqual({ kind: "budget-exhausted", budget: "steps", limit: 2, used: 2 });
    expect(s.vllm.requests).toHaveLength(2);
  });

  test("model unreachable: exit 4, with a message that names the URL", async () => {
    const s = await setup([]);
    const code = await runCli(["fix", "--repo", s.repo, "--issue-text", "x", "--model-url", "http://127.0.0.1:9/v1"], {
      ...s.ctx(),
      modelEnv: { MODEL_BASE_URL: s.vllm.url, MODEL_TIMEOUT_MS: "2000" },
    });
    expect(code).toBe(EXIT_CODES.modelUnreachable);
    expect(s.stdout.text).toMatch(/Outcome: error: model unavailable \(connection\) at http:\/\/127\.0\.0\.1:9\/v1/);
    expect(s.vllm.requests).toHaveLength(0); // --model-url wins over MODEL_BASE_URL
  }, 20_000);

  test("a model server that answers garbage (exit 5: not the OpenAI API, a setting to fix), or too slowly (exit 4); nothing applied", async () => {
    const garbage = await setup(() => fault.unreadable());
    const code = await runCli(["fix", "--repo", garbage.repo, "--issue-text", "x", "--no-setup"], { ...garbage.ctx(), modelEnv: { MODEL_BASE_URL: garbage.vllm.url } });
    expect(code).toBe(EXIT_CODES.modelRefused);
    expect(garbage.stdout.text).toMatch(/Outcome: error: model request failed: unexpected response shape from http:\/\/127\.0\.0\.1:\d+\/v1: .* Is MODEL_BASE_URL an OpenAI-compatible \/v1 endpoint\?/);
    expect(garbage.stderr.text).toContain("the agent changed nothing");

    const slow = await setup(() => fault.hang());
    const slowCode = await runCli(["fix", "--repo", slow.repo, "--issue-text", "x", "--no-setup"], { ...slow.ctx(), modelEnv: { MODEL_BASE_URL: slow.vllm.url, MODEL_TIMEOUT_MS: "1000" } });
    expect(slowCode).toBe(EXIT_CODES.modelUnreachable);
    expect(slow.stdout.text).toMatch(/model unavailable \(timeout\)/);
  }, 60_000);

  test("model refuses (bad key): exit 5, and the key never reaches the output", async () => {
    const s = await setup([{ kind: "error", status: 401, message: "Invalid key sk-test-key-0123456789" }]);
    const code = await runCli(["fix", "--repo", s.repo, "--issue-text", "x", "--json"], {
      ...s.ctx(),
      modelEnv: { MODEL_BASE_URL: s.vllm.url, MODEL_API_KEY: "sk-test-key-0123456789" },
    });
    expect(code).toBe(EXIT_CODES.modelRefused);
    expect(s.vllm.requests[0].headers.authorization).toBe("Bearer sk-test-key-0123456789");
    expect(s.stdout.text + s.stderr.text).not.toContain("sk-test-key-0123456789");
    expect(JSON.parse(s.stdout.text).outcome).toMatchObject({ kind: "error", errorName: "ModelRequestError" });
  });

  test("cancelled (Ctrl-C) while the agent waits for the model: exit 130 and the outcome on stdout", async () => {
    const s = await setup(() => fault.hang());
    const controller = new AbortController();
    // Abort once the agent is running (its first model request is in), not after a fixed delay:
    // on a loaded machine 200 ms can still be inside setup, which is the next test's case.
    const poll = setInterval(() => {
      if (s.vllm.requests.length > 0) controller.abort("stop");
    }, 20);
    try {
      const code = await runCli(["fix", "--repo", s.repo, "--issue-text", "x"], s.ctx({ signal: controller.signal }));
      expect(code).toBe(EXIT_CODES.cancelled);
      expect(s.stdout.text).toMatch(/^Outcome: cancelled \(stop\)/);
    } finally {
      clearInterval(poll);
    }
  });

  test("cancelled (Ctrl-C) before the agent starts: exit 130, said on stderr, no model request", async () => {
    const s = await setup(() => fault.hang());
    const controller = new AbortController();
    controller.abort("stop");
    const code = await runCli(["fix", "--repo", s.repo, "--issue-text", "x"], s.ctx({ signal: controller.signal }));
    expect(code).toBe(EXIT_CODES.cancelled);
    expect(s.stderr.text).toContain("iquest-bot fix: interrupted before the agent started; your checkout is untouched");
    expect(s.vllm.requests).toHaveLength(0);
  });

  test.each([
    [["fix", "--issue-text", "x"], /--repo PATH is required/],
    [["fix", "--repo", ".", "--issue-text", "x", "--issue", "f"], /exactly one of --issue FILE or --issue-text TEXT/],
    [["fix", "--repo", "."], /exactly one of --issue FILE or --issue-text TEXT/],
    [["fix", "--repo", ".", "--issue-text", "x", "--max-steps", "many"], /--max-steps takes a positive whole number/],
    [["fix", "--repo", ".", "--issue-text", "x", "--max-steps", "0"], /--max-steps takes a positive whole number/],
    [["fix", "--repo", ".", "--issue-text", "x", "--model-url", "ftp://x"], /http\(s\) URLs/],
    [["fix", "--repo", ".", "--issue-text", "x", "--protocol", "xml"], /--protocol is native or text/],
    [["fix", "--repo", ".", "--issue-text", "x", "--colour"], /Unknown option '--colour'/],
    [["fix", "--repo", "/no/such/dir", "--issue-text", "x"], /--repo \/no\/such\/dir: not a directory/],
    [["fix", "--repo", ".", "--issue", "missing.md"], /--issue missing\.md: ENOENT/],
    [["fix", "--repo", ".", "--issue-text", "   "], /the task text is empty/],
    [["frobnicate"], /unknown command "frobnicate"/],
    [[], /no command given/],
  ])("bad arguments %j: exit 2 with the reason and the usage, nothing run", async (argv, message) => {
    const s = await setup([]);
    const code = await runCli(argv, s.ctx());
    expect(code).toBe(EXIT_CODES.usage);
    expect(s.stderr.text).toMatch(message);
    expect(s.stderr.text).toContain("Exit codes:");
    expect(s.vllm.requests).toHaveLength(0);
  });

  test("bad model settings in the environment: exit 2", async () => {
    const s = await setup([]);
    const code = await runCli(["fix", "--repo", s.repo, "--issue-text", "x"], {
      ...s.ctx(),
      modelEnv: { MODEL_BASE_URL: s.vllm.url, MODEL_TEMPERATURE: "hot" },
    });
    expect(code).toBe(EXIT_CODES.usage);
    expect(s.stderr.text).toMatch(/MODEL_TEMPERATURE/);
  });

  test("--events: JSON lines on stdout as the run goes (each step), then the result; --json with it is refused", async () => {
    const s = await setup(fixScript());
    const code = await runCli(["fix", "--repo", s.repo, "--issue-text", "add(2, 3) returns -1", "--events", "--no-setup"], s.ctx());
    expect(code).toBe(EXIT_CODES.submitted);
    const lines = s.stdout.text.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.type === "step").map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(lines.find((l) => l.type === "step" && l.step === 2)).toMatchObject({ tool: "execute_bash", summary: "$ npm test", maxSteps: 50 });
    expect(lines.at(-1)).toMatchObject({ type: "result", outcome: { kind: "submitted" }, applied: true });
    const both = await setup([]);
    expect(await runCli(["fix", "--repo", both.repo, "--issue-text", "x", "--events", "--json"], both.ctx())).toBe(EXIT_CODES.usage);
    expect(both.stderr.text).toContain("give one of --json (one document at the end) or --events (JSON lines as it goes)");
  });

  test("a terminal gets one live progress line, rewritten per step; a pipe gets plain lines", async () => {
    const s = await setup(fixScript());
    expect(await runCli(["fix", "--repo", s.repo, "--issue-text", "add(2, 3) returns -1", "--no-setup"], s.ctx({ stderrIsTTY: true }))).toBe(0);
    const live = s.stderr.text.split("\r\x1b[K").slice(1);
    expect(live).toHaveLength(6);
    expect(live[0]).toMatch(/^\[step {2}1\/50\] str_replace_editor: view \. {2}\(/);
    expect(live.slice(0, -1).every((l) => !l.includes("\n"))).toBe(true);
    expect(live.at(-1)).toMatch(/\n/);
    // The pipe case: the first test in this file (one "[step" line per step, no escape codes).
  });

  test("fix --help: the usage, exit 0", async () => {
    const s = await setup([]);
    expect(await runCli(["fix", "--help"], s.ctx())).toBe(0);
    expect(s.stdout.text).toContain("--sandbox bwrap|none");
  });

  test("help: usage with the exit codes, exit 0", async () => {
    const s = await setup([]);
    expect(await runCli(["help"], s.ctx())).toBe(0);
    expect(s.stdout.text).toMatch(/Exit codes:\n {2}0 {4}submitted/);
  });
});

describe("argument parsing and progress lines", () => {
  test("all options", () => {
    expect(
      parseFixArgs([
        "--repo", "r", "--issue-text", "t", "--model-url", "http://a:1/v1/, http://b:2/v1", "--model", "m",
        "--protocol", "text", "--max-steps", "7", "--trajectory", "t.jsonl", "--json",
      ]),
    ).toEqual({
      repo: "r",
      issueText: "t",
      modelUrls: ["http://a:1/v1", "http://b:2/v1"],
      model: "m",
      protocol: "text",
      maxSteps: 7,
      trajectory: "t.jsonl",
      json: true,
      events: false,
      sandbox: "bwrap",
      setup: true,
    });
    expect(parseFixArgs(["--repo", "r", "--issue-text", "t", "--sandbox", "none", "--no-setup"])).toMatchObject({ sandbox: "none", setup: false });
    expect(parseFixArgs(["--repo", "r", "--issue-text", "t", "--branch", "try-1"])).toMatchObject({ sandbox: "bwrap", branch: "try-1" });
    expect(() => parseFixArgs(["--repo", "r", "--issue-text", "t", "--sandbox", "docker"])).toThrow("--sandbox is bwrap or none");
    expect(() => parseFixArgs(["--repo", "r", "--issue-text", "t", "--sandbox", "none", "--branch", "b"])).toThrow(/--branch needs the sandbox/);
    expect(() => parseFixArgs(["positional"])).toThrow(UsageError);
  });

  test("progress line", () => {
    expect(
      progressLine({ kind: "step", step: 3, maxSteps: 100, tool: "execute_bash", summary: "$ npm test", isError: false, elapsedMs: 4200, totalTokens: 12345, modelMs: 1, commandMs: 2 }),
    ).toBe("[step   3/100] execute_bash: $ npm test  (4.2 s, 12,345 tokens)");
  });
});

describe("the real entry point (src/main/cli.ts) reads its settings from the environment", () => {
  const tsx = join(process.cwd(), "node_modules", ".bin", "tsx");
  const main = join(process.cwd(), "src", "main", "cli.ts");
  const runMain = (args: string[], env: Record<string, string>) =>
    spawnSync(tsx, [main, ...args], { encoding: "utf8", env: { PATH: process.env.PATH ?? "", HOME: tmpdir(), ...env }, timeout: 60_000 });

  test("bad arguments exit 2", () => {
    const r = runMain(["fix", "--repo"], {});
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/argument missing|--repo/);
  }, 60_000);

  test("MODEL_BASE_URL pointing nowhere exits 4 after the bounded retries", async () => {
    const repo = createBuggyRepo();
    cleanups.push(() => rmSync(repo, { recursive: true, force: true }));
    const r = runMain(["fix", "--repo", repo, "--issue-text", "x"], { MODEL_BASE_URL: "http://127.0.0.1:9/v1" });
    expect(r.status).toBe(4);
    expect(r.stdout).toMatch(/model unavailable \(connection\) at http:\/\/127\.0\.0\.1:9\/v1 after 4 attempt/);
  }, 60_000);
});
