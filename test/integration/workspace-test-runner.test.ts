import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createWorkspaceManager, type JobCheckout, type RepoRef, type WorkspaceManager } from "../../src/workspace/checkout.js";
import { createSandbox, type SandboxEnvironment } from "../../src/workspace/sandbox.js";
import { compareWithBaseline, detectTestPlan, readerFor, runSetup, runTests } from "../../src/workspace/test-runner.js";
import { createRemote, makeTempDir } from "../support/workspace-repos.js";

/**
 * Detection, setup, parsing and the baseline on small real projects, run in the real sandbox:
 * npm + jest (the jest in this repository's node_modules, mounted read-only), npm + node --test
 * with a real `npm ci` of a local tarball dependency (for the install cache), and Python +
 * pytest when the host has it.
 */

const JEST_BIN = resolve("node_modules/jest/bin/jest.js");
const NODE_MODULES = resolve("node_modules");
let tmp: string;
let manager: WorkspaceManager;
const open: Array<{ job: JobCheckout; sandbox: SandboxEnvironment }> = [];

beforeAll(() => {
  tmp = makeTempDir("iquest-tr-test-");
  chmodSync(tmp, 0o711);
  manager = createWorkspaceManager({ root: join(tmp, "ws"), gitBaseUrl: `file://${join(tmp, "remotes")}` });
});

afterAll(async () => {
  for (const { job, sandbox } of open) {
    await sandbox.close();
    await job.remove();
  }
  rmSync(tmp, { recursive: true, force: true });
});

async function jobFor(repo: RepoRef, commit: string, extra: { toolchainPaths?: string[]; extraPath?: string[]; asWorker?: boolean } = {}) {
  const job = await manager.checkout({ repo, commit, jobId: `${repo.name}-${open.length}`, token: "ghs_x" });
  const { asWorker, ...paths } = extra;
  const uid = asWorker ? null : job.uid;
  const sandbox = await createSandbox({ mode: "bwrap", worktree: job.worktree, home: job.home, uid, gid: uid, ...paths });
  open.push({ job, sandbox });
  return { job, sandbox };
}

describe("npm + jest", () => {
  const repo: RepoRef = { owner: "octo", name: "jest-app", id: 201 };
  let base: string;
  let regression: string;
  let harmless: string;

  beforeAll(() => {
    const remote = createRemote(join(tmp, "remotes"), repo.owner, repo.name);
    const pkg = { name: "jest-app", version: "1.0.0", private: true, scripts: { test: `node ${JEST_BIN} --ci` } };
    base = remote.commit(
      {
        "package.json": JSON.stringify(pkg, null, 2),
        "package-lock.json": JSON.stringify({ name: "jest-app", version: "1.0.0", lockfileVersion: 3, requires: true, packages: { "": { name: "jest-app", version: "1.0.0" } } }, null, 2),
        "src/math.js": "exports.add = (a, b) => a + b;\nexports.mul = (a, b) => a * b;\n",
        "test/math.test.js":
          "const { add, mul } = require('../src/math');\n" +
          "describe('math', () => {\n  test('adds', () => expect(add(1, 2)).toBe(3));\n  test('multiplies', () => expect(mul(2, 3)).toBe(6));\n" +
          "  test('already broken on main', () => expect(add(2, 2)).toBe(5));\n});\n",
      },
      "base with one known failure",
    );
    regression = remote.commit({ "src/math.js": "exports.add = (a, b) => a + b;\nexports.mul = (a, b) => a + b;\n" }, "agent breaks mul");
    // (History is linear here: this one restores mul and only adds docs relative to the base.)
    harmless = remote.commit({ "src/math.js": "exports.add = (a, b) => a + b;\nexports.mul = (a, b) => a * b;\n", "README.md": "docs only\n" }, "agent changes docs");
    remote.cleanup();
  });

  test("detects npm + jest, parses the run, and judges against the baseline", async () => {
    const { sandbox } = await jobFor(repo, base, { toolchainPaths: [NODE_MODULES] });
    const plan = await detectTestPlan(readerFor(sandbox));
    expect(plan).toMatchObject({ ecosystem: "node", test: "npm test", setup: "npm ci --no-audit --no-fund", runnerHint: "jest" });
    const setup = await runSetup(sandbox, plan!, { timeoutMs: 120_000, network: false });
    expect(setup).toMatchObject({ ran: true, ok: true, cache: "off" });

    const baseline = await runTests(sandbox, plan!, { timeoutMs: 120_000 });
    expect(baseline.exitCode).toBe(1);
    expect(baseline.parsed).toMatchObject({ runners: ["jest"], passed: 2, failed: 1, failing: ["test/math.test.js › math › already broken on main"] });

    // The agent's change breaks another test: a new failure.
    const broken = await jobFor(repo, regression, { toolchainPaths: [NODE_MODULES] });
    const after = await runTests(broken.sandbox, plan!, { timeoutMs: 120_000 });
    expect(compareWithBaseline(baseline, after)).toMatchObject({
      verdict: "fail",
      newFailures: ["test/math.test.js › math › multiplies"],
      stillFailing: ["test/math.test.js › math › already broken on main"],
    });

    // A change that leaves only the known failure: no new failures, so the tests "pass".
    const fine = await jobFor(repo, harmless, { toolchainPaths: [NODE_MODULES] });
    const after2 = await runTests(fine.sandbox, plan!, { timeoutMs: 120_000 });
    expect(after2.exitCode).toBe(1);
    expect(compareWithBaseline(baseline, after2)).toMatchObject({ verdict: "pass", newFailures: [], stillFailing: ["test/math.test.js › math › already broken on main"] });
  }, 180_000);
});

describe("npm ci with the install cache", () => {
  const repo: RepoRef = { owner: "octo", name: "cached-app", id: 202 };
  let base: string;
  let bumped: string;

  beforeAll(() => {
    // A real dependency as a local tarball, and a real lock file made by npm (offline).
    const scratch = join(tmp, "npm-scratch");
    mkdirSync(join(scratch, "dep"), { recursive: true });
    writeFileSync(join(scratch, "dep/package.json"), JSON.stringify({ name: "pad-dep", version: "1.0.0", main: "index.js" }));
    writeFileSync(join(scratch, "dep/index.js"), "module.exports = (s, n) => String(s).padStart(n, '0');\n");
    const npmEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: scratch, npm_config_cache: join(scratch, ".npm"), npm_config_update_notifier: "false" };
    execFileSync("npm", ["pack", "--silent", "--pack-destination", scratch], { cwd: join(scratch, "dep"), env: npmEnv });
    const app = join(scratch, "app");
    mkdirSync(join(app, "vendor"), { recursive: true });
    writeFileSync(join(app, "vendor/pad-dep-1.0.0.tgz"), readFileSync(join(scratch, "pad-dep-1.0.0.tgz")));
    const pkg = { name: "cached-app", version: "1.0.0", private: true, scripts: { test: "node --test" }, dependencies: { "pad-dep": "file:vendor/pad-dep-1.0.0.tgz" } };
    writeFileSync(join(app, "package.json"), JSON.stringify(pkg, null, 2));
    execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--silent"], { cwd: app, env: npmEnv });
    const lock = readFileSync(join(app, "package-lock.json"), "utf8");
    const remote = createRemote(join(tmp, "remotes"), repo.owner, repo.name);
    base = remote.commit(
      {
        "package.json": JSON.stringify(pkg, null, 2),
        "package-lock.json": lock,
        "vendor/pad-dep-1.0.0.tgz": readFileSync(join(app, "vendor/pad-dep-1.0.0.tgz")),
        "test/pad.test.js": "const test = require('node:test');\nconst assert = require('node:assert');\nconst pad = require('pad-dep');\ntest('pads', () => assert.equal(pad(7, 3), '007'));\n",
      },
      "app with a locked dependency",
    );
    bumped = remote.commit({ "package-lock.json": lock.replace('"version": "1.0.0"', '"version": "1.0.1"') }, "lock changed");
    remote.cleanup();
  });

  test("the second job on the same lock file restores instead of reinstalling", async () => {
    const first = await jobFor(repo, base);
    const plan = (await detectTestPlan(readerFor(first.sandbox)))!;
    expect(plan).toMatchObject({ setup: "npm ci --no-audit --no-fund", runnerHint: "tap", lockFiles: ["package-lock.json", "package.json"] });
    const cache = (job: JobCheckout) => ({ dir: manager.installCacheDirOf(repo), worktree: job.worktree, home: job.home, owner: job.uid === null ? null : { uid: job.uid, gid: job.gid! } });

    const s1 = await runSetup(first.sandbox, plan, { timeoutMs: 120_000, network: false, cache: cache(first.job) });
    expect(s1).toMatchObject({ ran: true, ok: true, cache: "miss" });
    const t1 = await runTests(first.sandbox, plan, { timeoutMs: 60_000 });
    expect(t1).toMatchObject({ exitCode: 0, parsed: { runners: ["tap"], passed: 1, failed: 0 } });

    const second = await jobFor(repo, base);
    const s2 = await runSetup(second.sandbox, plan, { timeoutMs: 120_000, network: false, cache: cache(second.job) });
    expect(s2).toMatchObject({ ran: false, ok: true, cache: "hit" });
    expect(existsSync(join(second.job.worktree, "node_modules/pad-dep/index.js"))).toBe(true);
    if (second.job.uid !== null) expect(statSync(join(second.job.worktree, "node_modules/pad-dep/index.js")).uid).toBe(second.job.uid);
    const t2 = await runTests(second.sandbox, plan, { timeoutMs: 60_000 });
    expect(t2).toMatchObject({ exitCode: 0, parsed: { passed: 1, failed: 0 } });
    // The sandbox user can still change what was restored for it.
    expect((await second.sandbox.exec("touch node_modules/pad-dep/x && echo ok", { timeoutMs: 5000 })).output).toBe("ok\n");

    // A different lock file is a different key: installed again.
    const third = await jobFor(repo, bumped);
    const plan3 = (await detectTestPlan(readerFor(third.sandbox)))!;
    const s3 = await runSetup(third.sandbox, plan3, { timeoutMs: 120_000, network: false, cache: cache(third.job) });
    expect(s3.ran).toBe(true);
    expect(s3.cache).toBe("miss");
  }, 240_000);
});

describe("python + pytest", () => {
  const probe = spawnSync("python3", ["-c", "import sys, pytest; print(sys.base_prefix)"], { encoding: "utf8" });
  const prefix = probe.status === 0 ? probe.stdout.trim() : undefined;
  const maybe = prefix ? test : test.skip;
  if (!prefix) console.warn(`python + pytest tests skipped: python3 -m pytest is not available on this host (${probe.stderr?.trim() ?? probe.error})`);

  maybe("detects pytest and compares against the baseline", async () => {
    const repo: RepoRef = { owner: "octo", name: "py-app", id: 203 };
    const remote = createRemote(join(tmp, "remotes"), repo.owner, repo.name);
    const base = remote.commit(
      {
        "pytest.ini": "[pytest]\ntestpaths = tests\n",
        "calc.py": "def add(a, b):\n    return a + b\n\ndef div(a, b):\n    return a * b\n",
        "tests/test_calc.py": "import calc\n\ndef test_add():\n    assert calc.add(1, 2) == 3\n\ndef test_div():\n    assert calc.div(6, 3) == 2\n",
      },
      "base: div is broken",
    );
    const fixed = remote.commit({ "calc.py": "def add(a, b):\n    return a + b\n\ndef div(a, b):\n    return a / b\n" }, "agent fixes div");
    remote.cleanup();
    // The host's python (possibly outside /usr, e.g. pyenv) is mounted read-only as a toolchain.
    const toolchain = prefix!.startsWith("/usr") ? {} : { toolchainPaths: [prefix!], extraPath: [join(prefix!, "bin")] };
    // A toolchain under a private directory (pyenv in /root here) cannot be mounted by an
    // unprivileged sandbox uid; then this test runs the sandbox as the worker's uid (still all
    // namespaces, no capabilities). The uid drop itself is covered by workspace-sandbox.test.ts.
    const reachable = process.getuid?.() !== 0 || spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "test", "-x", join(prefix!, "bin/python3")]).status === 0;
    const before = await jobFor(repo, base, { ...toolchain, asWorker: !reachable });
    const plan = (await detectTestPlan(readerFor(before.sandbox)))!;
    expect(plan).toMatchObject({ ecosystem: "python", runnerHint: "pytest", setup: undefined });
    const baseline = await runTests(before.sandbox, plan, { timeoutMs: 60_000 });
    expect(baseline.parsed).toMatchObject({ runners: ["pytest"], passed: 1, failed: 1, failing: ["tests/test_calc.py::test_div"] });
    const after = await jobFor(repo, fixed, { ...toolchain, asWorker: !reachable });
    const run = await runTests(after.sandbox, plan, { timeoutMs: 60_000 });
    expect(run).toMatchObject({ exitCode: 0, parsed: { passed: 2, failed: 0 } });
    expect(compareWithBaseline(baseline, run)).toMatchObject({ verdict: "pass", fixed: ["tests/test_calc.py::test_div"], newFailures: [] });
  }, 120_000);
});
