import { afterEach, describe, expect, test } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXIT_CODES } from "../../src/cli/exit-codes.js";
import type { CliContext } from "../../src/cli/fix-command.js";
import { runCli } from "../../src/cli/run-cli.js";
import { createRedactor } from "../../src/shared/redact.js";
import { createBuggyRepo, testBaseEnv } from "../support/agent-fixtures.js";
import { bash, fault, replace, startFakeVllm, submit, type FakeVllm, type FakeVllmOptions } from "../support/fake-vllm/index.js";
import { startNpmRegistry } from "../support/npm-registry/index.js";
import { publishGreeter } from "../support/upgrade-fixtures.js";
import { Capture } from "../support/cli-run.js";

/**
 * `iquest-bot fix` runs the agent's commands in the worker's sandbox over a copy of the checkout
 * (src/cli/fix-workspace.ts, local-copy.ts), with the real bubblewrap, git and the fake model:
 * what a command can reach, what happens to the user's checkout and their own changes, and the
 * explicit `--sandbox none`, which the first test also runs so that it can fail.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});


const git = (dir: string, ...args: string[]) => execFileSync("git", args, { cwd: dir, encoding: "utf8" }).trim();

async function setup(script: FakeVllmOptions["script"]) {
  const repo = createBuggyRepo();
  const home = mkdtempSync(join(tmpdir(), "cli-sandbox-home-"));
  // The CLI's temporary copies go here, so a test can see that none is left behind.
  const temps = mkdtempSync(join(tmpdir(), "cli-sandbox-temps-"));
  const vllm: FakeVllm = await startFakeVllm({ script });
  cleanups.push(async () => {
    await vllm.close();
    rmSync(repo, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
    rmSync(temps, { recursive: true, force: true });
  });
  const stdout = new Capture();
  const stderr = new Capture();
  const ctx = (extra: Partial<CliContext> = {}): CliContext => ({
    stdout,
    stderr,
    cwd: home,
    modelEnv: { MODEL_BASE_URL: vllm.url },
    commandEnv: testBaseEnv(home),
    redact: createRedactor([]),
    tmpDir: temps,
    ...extra,
  });
  const leftovers = () => readdirSync(temps);
  return { repo, home, vllm, stdout, stderr, ctx, leftovers };
}

/** What the model was told a command printed: the last tool message of the last request. */
function lastToolOutput(vllm: FakeVllm): string {
  const messages = vllm.requests.at(-1)!.body.messages as Array<{ role: string; content: string }>;
  return messages.filter((m) => m.role === "tool" || m.role === "user").at(-1)!.content;
}

describe("iquest-bot fix: the agent's commands in the sandbox", () => {
  test("a command cannot read a file in /tmp or in the caller's HOME, see the caller's environment, or connect to 127.0.0.1; with --sandbox none it can", async () => {
    const secrets = mkdtempSync(join(tmpdir(), "cli-secret-"));
    writeFileSync(join(secrets, "tmp-secret.txt"), "TMP-SECRET-4711\n");
    const server: Server = createServer((socket) => socket.end("PONG-4711\n"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    cleanups.push(() => rmSync(secrets, { recursive: true, force: true }));

    const probe = [
      `cat ${join(secrets, "tmp-secret.txt")}`,
      'cat "$CALLER_HOME/home-secret.txt"',
      'cat "$HOME/home-secret.txt"',
      "env",
      `node -e 'const s=require("net").connect(${port},"127.0.0.1");s.on("data",d=>process.stdout.write(String(d)));s.on("error",e=>console.log("CONNECT-FAILED "+e.code))'`,
    ].join("; ");

    const run = async (sandbox: "bwrap" | "none") => {
      const s = await setup([]);
      writeFileSync(join(s.home, "home-secret.txt"), "HOME-SECRET-4711\n");
      const commandEnv = { ...testBaseEnv(s.home), CALLER_MARKER: "CALLER-ENV-4711" };
      // The model's command names the caller's HOME by its absolute path, as an attacker would.
      s.vllm.push(bash(probe.replace("$CALLER_HOME", s.home)), submit("probed"));
      const code = await runCli(["fix", "--repo", s.repo, "--issue-text", "probe", "--sandbox", sandbox, "--no-setup"], s.ctx({ commandEnv }));
      expect(code).toBe(EXIT_CODES.submitted);
      return { output: lastToolOutput(s.vllm), stderr: s.stderr.text };
    };

    const boxed = await run("bwrap");
    expect(boxed.output).not.toContain("TMP-SECRET-4711");
    expect(boxed.output).not.toContain("HOME-SECRET-4711");
    expect(boxed.output).not.toContain("CALLER-ENV-4711");
    expect(boxed.output).not.toContain("PONG-4711");
    expect(boxed.output).toMatch(/tmp-secret\.txt: No such file or directory/);
    expect(boxed.output).toMatch(/CONNECT-FAILED (ECONNREFUSED|ENETUNREACH|EACCES)/);
    expect(boxed.stderr).not.toContain("--sandbox none");

    const open = await run("none");
    expect(open.stderr).toContain("iquest-bot: --sandbox none: the agent's commands run directly on this machine, as you, with your files, environment and network.");
    expect(open.output).toContain("TMP-SECRET-4711");
    expect(open.output).toContain("HOME-SECRET-4711");
    expect(open.output).toContain("CALLER-ENV-4711");
    expect(open.output).toContain("PONG-4711");
  }, 120_000);

  test("the change is applied to the checkout's files; the user's uncommitted changes stay, unseen by the agent; the temporary copy is gone", async () => {
    const s = await setup([
      bash("cat AGENTS.md; ls"),
      replace("src/add.js", "  return a - b;", "  return a + b;"),
      submit("Fixed add."),
    ]);
    writeFileSync(join(s.repo, "AGENTS.md"), "MY LOCAL EDIT\n");
    writeFileSync(join(s.repo, "scratch.txt"), "my notes\n");
    const code = await runCli(["fix", "--repo", s.repo, "--issue-text", "add is wrong", "--json", "--no-setup"], s.ctx());
    expect(code).toBe(EXIT_CODES.submitted);
    const result = JSON.parse(s.stdout.text);
    expect(result).toMatchObject({ sandbox: "bwrap", applied: true, patch: null, branch: null });
    expect(result.diff).toContain("+  return a + b;");
    expect(s.stderr.text).toMatch(/your checkout has uncommitted changes \(2 paths\)\. They stay as they are/);
    // The agent saw the committed AGENTS.md, not the user's edit, and not the untracked file.
    const seen = JSON.stringify(s.vllm.requests[1]!.body.messages);
    expect(seen).toContain("Run the tests with `npm test`");
    expect(seen).not.toContain("MY LOCAL EDIT");
    expect(seen).not.toContain("scratch.txt");
    // The checkout: the fix applied (not staged), the user's edits intact.
    expect(readFileSync(join(s.repo, "src/add.js"), "utf8")).toContain("return a + b;");
    expect(readFileSync(join(s.repo, "AGENTS.md"), "utf8")).toBe("MY LOCAL EDIT\n");
    expect(readFileSync(join(s.repo, "scratch.txt"), "utf8")).toBe("my notes\n");
    expect(git(s.repo, "diff", "--cached", "--name-only")).toBe("");
    expect(git(s.repo, "log", "--format=%s")).toBe("initial");
    expect(s.leftovers()).toEqual([]);
  }, 60_000);

  test("a change that overlaps the user's own: not applied, saved as a patch under .git/iquest, the checkout untouched", async () => {
    const s = await setup([replace("src/add.js", "  return a - b;", "  return a + b;"), submit("Fixed add.")]);
    writeFileSync(join(s.repo, "src/add.js"), "export function add(a, b) {\n  return b - a; // mine\n}\n");
    const code = await runCli(["fix", "--repo", s.repo, "--issue-text", "add is wrong", "--json", "--no-setup"], s.ctx());
    expect(code).toBe(EXIT_CODES.submitted);
    const result = JSON.parse(s.stdout.text);
    expect(result.applied).toBe(false);
    expect(result.patch).toMatch(/\.git\/iquest\/fix-[\w-]+\.patch$/);
    expect(readFileSync(result.patch, "utf8")).toContain("+  return a + b;");
    expect(readFileSync(join(s.repo, "src/add.js"), "utf8")).toContain("return b - a; // mine");
    expect(s.stderr.text).toMatch(/not applied: it overlaps your uncommitted changes .*; saved to /);
  }, 60_000);

  test("--branch NAME: the fix is committed on a new local branch, the checkout untouched; an existing branch is refused before anything runs", async () => {
    const s = await setup([replace("src/add.js", "  return a - b;", "  return a + b;"), submit("Fixed add.")]);
    const code = await runCli(["fix", "--repo", s.repo, "--issue-text", "add returns a - b\n\nmore detail", "--branch", "iquest/try-1", "--no-setup"], s.ctx());
    expect(code).toBe(EXIT_CODES.submitted);
    expect(git(s.repo, "status", "--porcelain")).toBe("");
    expect(git(s.repo, "rev-parse", "--abbrev-ref", "HEAD")).toBe("main");
    expect(git(s.repo, "log", "-1", "--format=%s|%an", "iquest/try-1")).toBe("iquest-bot fix: add returns a - b|iquest-bot");
    expect(git(s.repo, "diff", "main", "iquest/try-1", "--name-only")).toBe("src/add.js");
    expect(git(s.repo, "show", "iquest/try-1:src/add.js")).toContain("return a + b;");

    const again = await setup([submit("never")]);
    git(again.repo, "branch", "taken");
    const refused = await runCli(["fix", "--repo", again.repo, "--issue-text", "x", "--branch", "taken"], again.ctx());
    expect(refused).toBe(EXIT_CODES.usage);
    expect(again.stderr.text).toContain("--branch taken: the branch exists; name a new one (it is never overwritten)");
    expect(again.vllm.requests).toHaveLength(0);
  }, 60_000);

  test("an unfinished run (Ctrl-C, a budget): the change so far is saved as a patch, never applied", async () => {
    const s = await setup([replace("src/add.js", "  return a - b;", "  return a + b;"), fault.hang()]);
    const controller = new AbortController();
    const aborting = setInterval(() => {
      if (s.vllm.requests.length >= 2) controller.abort("stop");
    }, 50);
    cleanups.push(() => clearInterval(aborting));
    const code = await runCli(["fix", "--repo", s.repo, "--issue-text", "x", "--json", "--no-setup"], s.ctx({ signal: controller.signal }));
    expect(code).toBe(EXIT_CODES.cancelled);
    expect(s.leftovers()).toEqual([]);
    const result = JSON.parse(s.stdout.text);
    expect(result).toMatchObject({ outcome: { kind: "cancelled" }, applied: false });
    expect(readFileSync(result.patch, "utf8")).toContain("+  return a + b;");
    expect(readFileSync(join(s.repo, "src/add.js"), "utf8")).toContain("return a - b;");
  }, 60_000);

  test("setup installs the dependencies first, through the egress proxy, as its own logged step; what it installs is not part of the change", async () => {
    const registry = await startNpmRegistry();
    cleanups.push(() => registry.close());
    publishGreeter(registry);
    const s = await setup([bash("node -e 'console.log(require(\"greeter\").greet(\"x\"))'"), submit("checked")]);
    writeFileSync(join(s.repo, ".npmrc"), `registry=${registry.url}\n`);
    writeFileSync(join(s.repo, "package.json"), JSON.stringify({ name: "calc", version: "1.0.0", scripts: { test: "node --test" }, dependencies: { greeter: "1.0.0" } }, null, 2));
    git(s.repo, "add", "-A");
    git(s.repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "greeter");
    // The test's registry is on this machine's loopback: allowed by its address, as an operator would.
    const code = await runCli(["fix", "--repo", s.repo, "--issue-text", "x", "--json"], s.ctx({ egressAllow: new URL(registry.url).host, npmRegistry: registry.url }));
    expect(code).toBe(EXIT_CODES.submitted);
    expect(s.stderr.text).toMatch(/^setup: `npm install --no-audit --no-fund` \(.*\) with network through the egress proxy \(package registries only\) …$/m);
    expect(s.stderr.text).toMatch(/^setup: done in \d+\.\d s$/m);
    expect(lastToolOutput(s.vllm)).toContain("Hello, x!");
    expect(registry.requests.some((r) => r.kind === "tarball" && r.name === "greeter")).toBe(true);
    // npm wrote node_modules/ and a package-lock.json: setup's, not the agent's change.
    expect(JSON.parse(s.stdout.text)).toMatchObject({ applied: false, diff: "" });
    expect(existsSync(join(s.repo, "node_modules"))).toBe(false);
    expect(existsSync(join(s.repo, "package-lock.json"))).toBe(false);
  }, 120_000);
});

describe("iquest-bot fix: Ctrl-C", () => {
  test("during setup: the install is stopped, no model call, exit 130, the checkout untouched and the copy removed", async () => {
    const s = await setup([submit("never")]);
    mkdirSync(join(s.repo, ".github"), { recursive: true });
    writeFileSync(join(s.repo, ".github/iquest.yml"), 'tests:\n  setup: "touch started && sleep 60"\n');
    git(s.repo, "add", "-A");
    git(s.repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "slow setup");
    const controller = new AbortController();
    setTimeout(() => controller.abort("stop"), 1500);
    const started = Date.now();
    const code = await runCli(["fix", "--repo", s.repo, "--issue-text", "x"], s.ctx({ signal: controller.signal }));
    expect(code).toBe(EXIT_CODES.cancelled);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(s.stderr.text).toMatch(/^setup: `touch started && sleep 60`/m);
    expect(s.vllm.requests).toHaveLength(0);
    expect(git(s.repo, "status", "--porcelain")).toBe("");
    expect(existsSync(join(s.repo, "started"))).toBe(false);
    expect(s.leftovers()).toEqual([]);
  }, 60_000);
});

describe("iquest-bot fix: bad input", () => {
  test("not a git checkout: exit 2 with what to do; --sandbox none works there", async () => {
    const s = await setup([submit("done")]);
    const plain = mkdtempSync(join(tmpdir(), "cli-plain-"));
    cleanups.push(() => rmSync(plain, { recursive: true, force: true }));
    expect(await runCli(["fix", "--repo", plain, "--issue-text", "x"], s.ctx())).toBe(EXIT_CODES.usage);
    expect(s.stderr.text).toMatch(/not a git checkout\. The sandbox works on a copy of a commit; .* or pass --sandbox none/);
    expect(s.vllm.requests).toHaveLength(0);
    expect(await runCli(["fix", "--repo", plain, "--issue-text", "x", "--sandbox", "none"], s.ctx())).toBe(EXIT_CODES.submitted);
  }, 60_000);

  test("a repository with no commit: exit 2", async () => {
    const s = await setup([submit("done")]);
    const empty = mkdtempSync(join(tmpdir(), "cli-empty-"));
    cleanups.push(() => rmSync(empty, { recursive: true, force: true }));
    git(empty, "init", "-q");
    expect(await runCli(["fix", "--repo", empty, "--issue-text", "x"], s.ctx())).toBe(EXIT_CODES.usage);
    expect(s.stderr.text).toContain("the repository has no commit yet");
  });

  test("a detached HEAD works: the copy is made from the commit", async () => {
    const s = await setup([replace("src/add.js", "  return a - b;", "  return a + b;"), submit("Fixed add.")]);
    git(s.repo, "checkout", "-q", "--detach");
    expect(await runCli(["fix", "--repo", s.repo, "--issue-text", "x", "--no-setup"], s.ctx())).toBe(EXIT_CODES.submitted);
    expect(readFileSync(join(s.repo, "src/add.js"), "utf8")).toContain("return a + b;");
  }, 60_000);

  test("bubblewrap missing: exit 2, saying how to fix it or to pass --sandbox none; the checkout untouched", async () => {
    const s = await setup([submit("done")]);
    const code = await runCli(["fix", "--repo", s.repo, "--issue-text", "x"], s.ctx({ bwrapPath: "/nonexistent/bwrap" }));
    expect(code).toBe(EXIT_CODES.usage);
    expect(s.stderr.text).toMatch(/the sandbox cannot start here: bwrap not found \(ENOENT\)\.\nInstall bubblewrap .* or pass --sandbox none/);
    expect(s.vllm.requests).toHaveLength(0);
    expect(git(s.repo, "status", "--porcelain")).toBe("");
    expect(s.leftovers()).toEqual([]);
  });
});
