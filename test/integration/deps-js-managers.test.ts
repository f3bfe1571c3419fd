import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXIT_CODES } from "../../src/cli/exit-codes.js";
import { runCliWithModel } from "../support/cli-run.js";
import { bash, replace, submit, type ScriptStep } from "../support/fake-vllm/index.js";
import { corepack, JS_MANAGERS, lockedIn, publishJsAppPackages, publishPackageManagers, writeJsApp, type JsManagerFixture, type ManagerVersions } from "../support/js-managers.js";
import { startNpmRegistry, type NpmRegistry } from "../support/npm-registry/index.js";
import { GREETER_FIX_SUMMARY } from "../support/upgrade-fixtures.js";

/**
 * pnpm, yarn classic and yarn berry (Plug'n'Play) through `iquest-bot upgrade`: the real managers,
 * fetched by corepack from the test's npm registry (the versions the fixtures pin), the packages
 * from the same registry. Proposals read the locked versions from each lock file; the upgrade is
 * applied in the sandbox by the manager itself ("pin, then release": exact versions, never one
 * younger than the minimum age), tested against the baseline, repaired by the agent when it
 * breaks the tests, and left on local branches whose lock file the manager accepts as frozen.
 */
let registry: NpmRegistry;
let versions: ManagerVersions;
const made: string[] = [];

beforeAll(async () => {
  registry = await startNpmRegistry();
  versions = await publishPackageManagers(registry);
  publishJsAppPackages(registry);
}, 120_000);

afterAll(async () => {
  await registry?.close();
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

const git = (dir: string, ...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: dir, encoding: "utf8" }).trim();

async function app(m: JsManagerFixture): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "js-pm-app-"));
  made.push(dir);
  await writeJsApp(dir, m, registry, versions);
  git(dir, "init", "-q", "-b", "main");
  git(dir, "add", "-A");
  git(dir, "commit", "-qm", "greet app");
  return dir;
}

// The test's registry, on this machine's loopback: allowed by its address; corepack fetches the pinned manager from it too.
const upgrade = (repo: string, script: ScriptStep[], argv: string[]) =>
  runCliWithModel(repo, ["upgrade", "--repo", repo, ...argv], script, { egressAllow: new URL(registry.url).host, npmRegistry: registry.url, registryEnv: { COREPACK_INTEGRITY_KEYS: "0" } });

describe.each(JS_MANAGERS)("$label", (m) => {
  let repo: string;
  beforeAll(async () => {
    repo = await app(m);
  }, 120_000);

  test("--dry-run --json: current versions read from the lock file; the newest old-enough version proposed; the young one waits", async () => {
    const r = await upgrade(repo, [], ["--dry-run", "--json"]);
    expect(r.code).toBe(EXIT_CODES.submitted);
    const report = JSON.parse(r.out);
    expect(report.problems).toEqual([]);
    const brief = (g: { name: string; updates: Array<{ name: string; manifest: string; currentValue: string; newValue: string; currentVersion: string; newVersion: string }> }) =>
      [g.name, g.updates.map((u) => `${u.manifest} ${u.name} ${u.currentValue}→${u.newValue} ${u.currentVersion}→${u.newVersion}`).sort()];
    expect(report.groups.map(brief)).toEqual([
      ["non-major", ["package.json greeter ^1.0.0→^1.1.0 1.0.0→1.1.0", "package.json left-pad ^1.0.0→^1.2.0 1.0.0→1.2.0", "packages/ws/package.json @acme/ws-dep ^1.0.0→^1.5.0 1.0.0→1.5.0"]],
      ["greeter-2", ["package.json greeter ^1.0.0→^2.0.0 1.0.0→2.0.0"]],
    ]);
    expect(report.skipped).toEqual(expect.arrayContaining([expect.objectContaining({ name: "left-pad", reason: "too-young", version: "1.3.0" })]));
  }, 120_000);

  test("apply: the manager locks exactly the proposed versions (not the young 1.3.0); the breaking major repaired by the agent; the lock file is frozen-install clean", async () => {
    const repair = [bash(m.test), replace("index.js", 'const { greet } = require("greeter");', 'const { hello: greet } = require("greeter");'), submit(GREETER_FIX_SUMMARY)];
    const r = await upgrade(repo, repair, ["--json"]);
    if (!r.out) throw new Error(r.err);
    const report = JSON.parse(r.out);
    expect(report.groups.map((g: { branch: string; status: string }) => [g.branch, g.status])).toEqual([
      ["iquest/deps-non-major", "pass"],
      ["iquest/deps-greeter-2", "repaired"],
    ]);
    expect(r.code).toBe(EXIT_CODES.submitted);
    expect(git(repo, "show", "--name-only", "--format=", "iquest/deps-non-major").split("\n").sort()).toEqual([m.lock, "package.json", "packages/ws/package.json"].sort());
    const lock = git(repo, "show", `iquest/deps-non-major:${m.lock}`);
    expect(lockedIn(m, lock, "left-pad", "^1.2.0")).toBe("1.2.0");
    expect(lockedIn(m, lock, "greeter", "^1.1.0")).toBe("1.1.0");
    expect(lockedIn(m, lock, "@acme/ws-dep", "^1.5.0", "packages/ws")).toBe("1.5.0");
    expect(lock).not.toContain("1.3.0");
    expect(JSON.parse(git(repo, "show", "iquest/deps-greeter-2~1:package.json")).dependencies.greeter).toBe("^2.0.0");
    expect(lockedIn(m, git(repo, "show", `iquest/deps-greeter-2:${m.lock}`), "greeter", "^2.0.0")).toBe("2.0.0");
    expect(git(repo, "show", "iquest/deps-greeter-2:index.js")).toContain("hello: greet");

    // The manager itself accepts the branch's lock file as it is (what the project's CI runs).
    const check = mkdtempSync(join(tmpdir(), "js-pm-check-"));
    made.push(check);
    git(repo, "worktree", "add", "-q", check, "iquest/deps-non-major");
    const home = mkdtempSync(join(tmpdir(), "js-pm-home-"));
    made.push(home);
    await corepack(check, home, registry, m.frozen);
    expect(git(check, "status", "--porcelain", "--", m.lock, "package.json")).toBe("");
    expect(r.leftovers).toEqual([]);
  }, 300_000);
});

describe("faults", () => {
  test("a package that vanishes between the proposal and the lock step: each group fails with pnpm's own reason, no branch, nothing half applied", async () => {
    const m = JS_MANAGERS.find((x) => x.label === "pnpm")!;
    const repo = await app(m);
    // The proposal reads left-pad once; pnpm's lock step is the second request: 404 from then on.
    const fault = registry.fail({ name: "left-pad", kind: "packument", status: 404, after: 1 });
    try {
      const repair = [bash(m.test), replace("index.js", 'const { greet } = require("greeter");', 'const { hello: greet } = require("greeter");'), submit(GREETER_FIX_SUMMARY)];
      const r = await upgrade(repo, repair, ["--json"]);
      if (!r.out) throw new Error(r.err);
      const report = JSON.parse(r.out);
      expect(fault.hits).toBeGreaterThan(0);
      const nonMajor = report.groups.find((g: { branch: string }) => g.branch === "iquest/deps-non-major");
      expect(nonMajor).toMatchObject({ status: "error" });
      expect(JSON.stringify(nonMajor)).toMatch(/`corepack pnpm install` could not lock the proposed versions exactly \(exit 1\): ERR_PNPM_FETCH_404\s+GET http:\/\/127\.0\.0\.1:\d+\/left-pad: Not Found - 404/);
      // pnpm reads every direct dependency's metadata to lock, so the next group, tried on its own, fails for the same reason.
      const major = report.groups.find((g: { branch: string }) => g.branch === "iquest/deps-greeter-2");
      expect(major).toMatchObject({ status: "error", error: expect.stringMatching(/ERR_PNPM_FETCH_404\s+GET \S+\/left-pad: Not Found/) });
      expect(r.code).toBe(EXIT_CODES.error);
      // Nothing half-applied is kept: no branch, the checkout as it was.
      expect(git(repo, "branch", "--list", "iquest/*")).toBe("");
      expect(git(repo, "status", "--porcelain")).toBe("");
      expect(r.leftovers).toEqual([]);
    } finally {
      fault.cancel();
    }
  }, 300_000);
});
