import { afterEach, describe, expect, test } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer } from "node:net";
import { join } from "node:path";
import { EXIT_CODES } from "../../src/cli/exit-codes.js";
import type { CliContext } from "../../src/cli/fix-command.js";
import { runCli } from "../../src/cli/run-cli.js";
import { createRedactor } from "../../src/shared/redact.js";
import { createBuggyRepo, testBaseEnv } from "../support/agent-fixtures.js";
import { say, startFakeVllm, submit, type FakeVllmOptions } from "../support/fake-vllm/index.js";
import { Capture } from "../support/cli-run.js";

/**
 * `iquest-bot check`: the report a team reads before installing, from a real checkout (setup
 * and tests in the real sandbox) and the fake model server playing each way a vLLM deployment
 * can be set up wrong. Exit 0 when ready, 1 with what to fix, 2 for bad arguments.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});


async function check(argv: string[], options: { vllm?: FakeVllmOptions; files?: Record<string, string>; ctx?: Partial<CliContext>; commit?: boolean } = {}) {
  const repo = createBuggyRepo();
  const temps = mkdtempSync(join(tmpdir(), "cli-check-temps-"));
  const vllm = await startFakeVllm({ script: [submit("ok")], ...options.vllm });
  cleanups.push(async () => {
    await vllm.close();
    rmSync(repo, { recursive: true, force: true });
    rmSync(temps, { recursive: true, force: true });
  });
  for (const [path, text] of Object.entries(options.files ?? {})) {
    mkdirSync(join(repo, path, ".."), { recursive: true });
    writeFileSync(join(repo, path), text);
  }
  if (options.files && options.commit !== false) {
    execFileSync("git", ["add", "-A"], { cwd: repo });
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "files"], { cwd: repo });
  }
  const stdout = new Capture();
  const stderr = new Capture();
  const ctx: CliContext = {
    stdout,
    stderr,
    cwd: repo,
    modelEnv: { MODEL_BASE_URL: vllm.url },
    commandEnv: testBaseEnv(repo),
    redact: createRedactor([]),
    tmpDir: temps,
    ...options.ctx,
  };
  const code = await runCli(["check", "--repo", repo, ...argv], ctx);
  return { code, out: stdout.text, err: stderr.text, vllm, leftovers: readdirSync(temps) };
}

describe("iquest-bot check", () => {
  test("ready: config, the detected commands, the tests run in the sandbox with their counts, the model's tool call and thinking; exit 0", async () => {
    const r = await check([]);
    expect(r.code).toBe(EXIT_CODES.submitted);
    expect(r.out).toContain(".github/iquest.yml: none (the defaults apply)");
    expect(r.out).toMatch(/ok {2}tests detected: `npm test`.*\(package\.json `test` script/);
    // The buggy fixture's one test fails on HEAD: said, not a problem (the bot compares with it).
    expect(r.out).toMatch(/ok {2}tests: 0 passed, 1 failed, 0 skipped in \d+(\.\d)? s \(ran with node v\d+/);
    expect(r.out).toContain("failing on HEAD (the bot compares with these): adds two numbers");
    expect(r.out).toMatch(/ok {2}model server http:\/\/127\.0\.0\.1:\d+\/v1: serves IQuestLab\/IQuest-Coder-V1-40B-Thinking/);
    expect(r.out).toContain("context: max_model_len 131072");
    expect(r.out).toMatch(/ok {2}tool call \(native protocol\): ok in \d/);
    expect(r.out).toContain("thinking arrives: reasoning");
    expect(r.out).toContain("Ready: install the app");
    // One real tool-call round trip, with the tool offered natively.
    expect(r.vllm.requests).toHaveLength(1);
    expect(r.vllm.requests[0]!.body.tools[0].function.name).toBe("submit");
    expect(r.leftovers).toEqual([]);
  }, 60_000);

  test("--json: one object with the same facts", async () => {
    const r = await check(["--json", "--no-tests"], { vllm: { reasoningFormat: "reasoning_content" } });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(r.out.trim().split("\n")).toHaveLength(1);
    expect(report).toMatchObject({
      ready: true,
      config: { source: "default", problems: [] },
      plan: { ecosystem: "node", test: "npm test" },
      tests: null,
      model: { reachable: true, toolCall: "ok", reasoning: "reasoning_content", maxModelLen: 131072, protocol: "native" },
      problems: [],
    });
  }, 60_000);

  test("config problems come with line and column; exit 1", async () => {
    const r = await check(["--no-tests"], { files: { ".github/iquest.yml": "review:\n  enabled: maybe\nlable: x\n" }, commit: false });
    expect(r.code).toBe(EXIT_CODES.error);
    expect(r.out).toContain("FIX .github/iquest.yml: 2 problem(s)");
    expect(r.out).toMatch(/\.github\/iquest\.yml:2:\d+: `review\.enabled`: /);
    expect(r.out).toContain('.github/iquest.yml:3:1: `lable`: unknown key "lable"');
  }, 60_000);

  test("the model server is down: exit 1, saying how to start one; the repository part is still reported", async () => {
    // A port nothing listens on: taken from a server that is then closed.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const r = await check(["--model-url", `http://127.0.0.1:${port}/v1`, "--no-tests"]);
    expect(r.code).toBe(EXIT_CODES.error);
    expect(r.out).toMatch(/no model server at http:\/\/127\.0\.0\.1:\d+\/v1 \(ECONNREFUSED\)\n {4}→ start one \(vllm serve IQuestLab\/IQuest-Coder-V1-40B-Thinking .*--enable-auto-tool-choice --tool-call-parser qwen3_coder/);
    expect(r.out).toMatch(/ok {2}tests detected: `npm test`/);
  }, 60_000);

  test("another model served: the names, and --model or --served-model-name", async () => {
    const r = await check(["--no-tests"], { vllm: { model: "qwen-coder" } });
    expect(r.code).toBe(1);
    expect(r.out).toContain('does not serve "IQuestLab/IQuest-Coder-V1-40B-Thinking" (it serves: qwen-coder)');
    expect(r.out).toContain("pass --model qwen-coder (or set MODEL_NAME), or start vLLM with --served-model-name IQuestLab/IQuest-Coder-V1-40B-Thinking");
  }, 60_000);

  test("a server without a tool-call parser: vLLM's 400 → the flags to add, or --protocol text", async () => {
    const r = await check(["--no-tests"], {
      vllm: { script: [{ kind: "error", status: 400, message: '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set' }] },
    });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/the server refuses native tool calls: .*enable-auto-tool-choice.*\n {4}→ start vLLM with --enable-auto-tool-choice --tool-call-parser qwen3_coder, or use --protocol text/);
  }, 60_000);

  test("native calls that come back as text, thinking inline: ready, with notes on the flags that make it clean", async () => {
    const r = await check(["--no-tests"], { vllm: { toolProtocol: "text", reasoningFormat: "think-inline", script: [submit("ok", { reasoning: "I call submit." })] } });
    expect(r.code).toBe(0);
    expect(r.out).toContain("tool call (native protocol): text-fallback");
    expect(r.out).toContain("note: native tool calls came back as text in the content");
    expect(r.out).toContain("thinking arrives: inline <think> in the content");
    expect(r.out).toContain("--reasoning-parser qwen3");
  }, 60_000);

  test("--protocol text round-trips through the text protocol", async () => {
    const r = await check(["--no-tests", "--protocol", "text", "--json"], { vllm: { toolProtocol: "text" } });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).model).toMatchObject({ protocol: "text", toolCall: "ok" });
    expect(r.vllm.requests[0]!.body.tools).toBeUndefined();
  }, 60_000);

  test("a model that answers without calling the tool, and a short context: both listed", async () => {
    const r = await check(["--no-tests"], { vllm: { script: [say("Hello! How can I help?")], maxModelLen: 8192 } });
    expect(r.code).toBe(1);
    expect(r.out).toContain('the model answered without calling the tool (it said: "Hello! How can I help?")');
    expect(r.out).toContain("max_model_len is 8192 tokens: too short for agent runs");
    expect(r.out).toContain("--max-model-len 131072");
  }, 60_000);

  test("setup that needs a registry the egress proxy refuses: the failing step and the host; exit 1", async () => {
    const r = await check([], {
      files: {
        ".npmrc": "registry=https://registry.internal.example/\n",
        "package.json": JSON.stringify({ name: "calc", version: "1.0.0", type: "module", scripts: { test: "node --test" }, dependencies: { "left-pad": "1.3.0" } }),
      },
      ctx: { egressAllow: "registry.npmjs.org" },
    });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/FIX setup: failed \(exit \d+\): .* in \d+(\.\d)? s; the egress proxy refused registry\.internal\.example:443 \(\d+×\)/);
    expect(r.out).toMatch(/→ allow the registry it needs \(EGRESS_ALLOW; refused: registry\.internal\.example:443/);
  }, 120_000);

  test("no bubblewrap: listed with how to fix it; the model is still checked", async () => {
    const r = await check([], { ctx: { bwrapPath: "/nonexistent/bwrap" } });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/the sandbox cannot start here: bwrap not found \(ENOENT\)\.\n {4}→ Install bubblewrap/);
    expect(r.out).toMatch(/ok {2}tool call \(native protocol\): ok/);
    expect(r.leftovers).toEqual([]);
  }, 60_000);

  test.each([
    [[], /--repo PATH is required/],
    [["--repo", "/no/such/dir"], /--repo \/no\/such\/dir: not a directory/],
    [["--repo", ".", "--protocol", "xml"], /--protocol is native or text/],
    [["--repo", ".", "--model-url", "ftp://x"], /--model-url takes http\(s\) URLs/],
    [["--repo", ".", "--frobnicate"], /Unknown option '--frobnicate'/],
  ])("bad arguments %j: exit 2", async (argv, message) => {
    const stderr = new Capture();
    const ctx: CliContext = { stdout: new Capture(), stderr, cwd: tmpdir(), modelEnv: {}, commandEnv: {}, redact: createRedactor([]) };
    expect(await runCli(["check", ...argv], ctx)).toBe(EXIT_CODES.usage);
    expect(stderr.text).toMatch(message);
  });
});
