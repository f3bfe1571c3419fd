import { afterEach, describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXIT_CODES } from "../../src/cli/exit-codes.js";
import type { CliContext } from "../../src/cli/fix-command.js";
import { runCli } from "../../src/cli/run-cli.js";
import { createRedactor } from "../../src/shared/redact.js";
import { createBuggyRepo, fixScript, testBaseEnv } from "../support/agent-fixtures.js";
import { startFakeVllm } from "../support/fake-vllm/index.js";
import { Capture } from "../support/cli-run.js";

/**
 * `iquest-bot runs view FILE`: the run viewer on 127.0.0.1 for a trajectory that `iquest-bot fix
 * --trajectory` wrote (a real sandboxed run with the fake model), reached with the key in its
 * URL only; bad files and a taken port are refused with exit 2.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});


function context(cwd: string, extra: Partial<CliContext> = {}) {
  const stdout = new Capture();
  const stderr = new Capture();
  const ctx: CliContext = { stdout, stderr, cwd, modelEnv: {}, commandEnv: testBaseEnv(cwd), redact: createRedactor([]), tmpDir: cwd, ...extra };
  return { ctx, stdout, stderr };
}

async function until<T>(f: () => T | undefined, what: string, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("iquest-bot runs view", () => {
  test("serves the trajectory of a fix run on 127.0.0.1, with its steps and diff, to the URL's key only; Ctrl-C stops it (exit 0)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "runs-view-"));
    const repo = createBuggyRepo();
    const vllm = await startFakeVllm({ script: fixScript() });
    cleanups.push(async () => {
      await vllm.close();
      rmSync(dir, { recursive: true, force: true });
      rmSync(repo, { recursive: true, force: true });
    });
    const fix = context(dir, { modelEnv: { MODEL_BASE_URL: vllm.url } });
    expect(await runCli(["fix", "--repo", repo, "--issue-text", "add is wrong", "--trajectory", "run.jsonl", "--no-setup", "--json"], fix.ctx)).toBe(0);
    writeFileSync(join(dir, "run.diff"), JSON.parse(fix.stdout.text).diff);

    const controller = new AbortController();
    const view = context(dir, { signal: controller.signal });
    const done = runCli(["runs", "view", "run.jsonl", "--diff", "run.diff"], view.ctx);
    const url = await until(() => /^(http:\/\/127\.0\.0\.1:\d+\/\?k=[0-9a-f]{32})$/m.exec(view.stdout.text)?.[1], "the URL");

    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toMatch(/default-src 'none'/);
    const html = await page.text();
    expect(html).toContain("npm test");
    expect(html).toContain("str_replace");
    expect(html).toContain("return a + b;");
    const records = await (await fetch(url.replace("/?", "/records?") + "&from=0")).json();
    expect(records).toMatchObject({ reset: false, count: expect.any(Number), finished: true });
    expect(records.count).toBeGreaterThan(5);
    // Without the key, or with another: nothing.
    const origin = new URL(url).origin;
    expect((await fetch(`${origin}/`)).status).toBe(404);
    expect((await fetch(`${origin}/?k=${"0".repeat(32)}`)).status).toBe(404);
    expect((await fetch(url, { method: "POST" })).status).toBe(405);

    controller.abort("stop");
    expect(await done).toBe(EXIT_CODES.submitted);
    await expect(fetch(url)).rejects.toThrow();
  }, 60_000);

  test.each([
    [["runs"], /runs needs a subcommand: view/],
    [["runs", "list"], /unknown runs subcommand "list"/],
    [["runs", "view"], /runs view needs the trajectory FILE/],
    [["runs", "view", "missing.jsonl"], /missing\.jsonl: no such file/],
    [["runs", "view", "garbage.jsonl"], /garbage\.jsonl is not a trajectory: .*line 1 is not JSON/],
    [["runs", "view", "other.jsonl"], /other\.jsonl is not a trajectory: its first record is "hello", not "run-start"/],
    [["runs", "view", "garbage.jsonl", "--port", "http"], /--port takes a port number/],
  ])("bad input %j: exit 2 with the reason", async (argv, message) => {
    const dir = mkdtempSync(join(tmpdir(), "runs-view-bad-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "garbage.jsonl"), "not json\n{}\n");
    writeFileSync(join(dir, "other.jsonl"), '{"type":"hello"}\n');
    const { ctx, stderr } = context(dir);
    expect(await runCli(argv, ctx)).toBe(EXIT_CODES.usage);
    expect(stderr.text).toMatch(message);
  });

  test("a port that is taken: exit 2, saying so", async () => {
    const dir = mkdtempSync(join(tmpdir(), "runs-view-port-"));
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "t.jsonl"), '{"type":"run-start","runId":"r1"}\n');
    const { ctx, stderr } = context(dir);
    const port = String((blocker.address() as { port: number }).port);
    expect(await runCli(["runs", "view", "t.jsonl", "--port", port], ctx)).toBe(EXIT_CODES.usage);
    expect(stderr.text).toContain(`cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
  });
});
