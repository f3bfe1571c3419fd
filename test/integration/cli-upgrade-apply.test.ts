import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXIT_CODES } from "../../src/cli/exit-codes.js";
import { runCliWithModel } from "../support/cli-run.js";
import { bash, replace, submit, type ScriptStep } from "../support/fake-vllm/index.js";
import { startNpmRegistry, type NpmRegistry } from "../support/npm-registry/index.js";
import { createGreetApp, GREETER_FIX_SUMMARY, makeDir, publishGreeter } from "../support/upgrade-fixtures.js";

/**
 * `iquest-bot upgrade --repo PATH` without --dry-run: each group applied on a copy of HEAD in the
 * real sandbox (npm through the egress proxy to the test's registry), tested against HEAD's
 * baseline, repaired by the agent (the fake model) when the upgrade breaks a test, and left on a
 * local branch: the bump commit, then the repair. Nothing pushed, the checkout untouched.
 */
let registry: NpmRegistry;
let cache: string;
const made: string[] = [];

beforeAll(async () => {
  registry = await startNpmRegistry();
  publishGreeter(registry);
  cache = makeDir("cli-upgrade-cache-");
}, 60_000);

afterAll(async () => {
  await registry?.close();
  for (const d of [...made, cache]) rmSync(d, { recursive: true, force: true });
});


const git = (dir: string, ...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: dir, encoding: "utf8" }).trim();

async function greetRepo(): Promise<string> {
  const dir = await createGreetApp(registry, cache);
  made.push(dir);
  git(dir, "init", "-q", "-b", "main");
  git(dir, "add", "-A");
  git(dir, "commit", "-qm", "greet app");
  return dir;
}

// The test's registry, on this machine's loopback: allowed by its address.
const upgrade = (repo: string, script: ScriptStep[], argv: string[] = []) =>
  runCliWithModel(repo, ["upgrade", "--repo", repo, ...argv], script, { egressAllow: new URL(registry.url).host, npmRegistry: registry.url });

describe("iquest-bot upgrade (apply)", () => {
  test("a passing minor on its branch (one bump commit), a major that broke a test repaired by the agent (bump, then repair); nothing pushed, the checkout untouched; a second run skips the existing branches", async () => {
    const repo = await greetRepo();
    writeFileSync(join(repo, "NOTES.md"), "my uncommitted notes\n");
    const repairScript = [bash("npm test"), replace("index.js", 'const { greet } = require("greeter");', 'const { hello: greet } = require("greeter");'), bash("npm test"), submit(GREETER_FIX_SUMMARY)];
    const r = await upgrade(repo, repairScript, ["--json"]);
    expect(r.err).toContain("upgrade: 2 group(s): non-major, greeter-2");
    expect(r.code).toBe(EXIT_CODES.submitted);
    const report = JSON.parse(r.out);
    expect(report.baseline).toMatch(/^`npm test`: 1 passed, 0 failed \(\d+\.\d s\)$/);
    expect(report.groups.map((g: { branch: string; status: string }) => [g.branch, g.status])).toEqual([
      ["iquest/deps-non-major", "pass"],
      ["iquest/deps-greeter-2", "repaired"],
    ]);
    const major = report.groups[1];
    expect(major.afterUpgrade).toMatch(/^`npm test`: 0 passed, 1 failed \(\d+\.\d s\): /);
    expect(major.afterRepair).toMatch(/^`npm test`: 1 passed, 0 failed \(\d+\.\d s\): /);
    expect(major.updates).toEqual([expect.objectContaining({ name: "greeter", currentVersion: "1.0.0", newVersion: "2.0.0", updateType: "major" })]);

    // The branches, as the upgrade job pushes them: the bump (manifest and lock only), then the repair.
    expect(git(repo, "log", "--format=%s|%an", "main..iquest/deps-non-major")).toBe("Update greeter to 1.1.0|iquest-bot");
    expect(git(repo, "show", "--name-only", "--format=", "iquest/deps-non-major").split("\n").sort()).toEqual(["package-lock.json", "package.json"]);
    expect(git(repo, "log", "--format=%s", "main..iquest/deps-greeter-2").split("\n")).toEqual(["Repair the code for the greeter-2 upgrade", "Update greeter to 2.0.0"]);
    expect(git(repo, "show", "--name-only", "--format=", "iquest/deps-greeter-2")).toBe("index.js");
    expect(JSON.parse(git(repo, "show", "iquest/deps-greeter-2:package.json")).dependencies.greeter).toBe("^2.0.0");
    const lock = JSON.parse(git(repo, "show", "iquest/deps-greeter-2:package-lock.json"));
    expect(lock.packages["node_modules/greeter"].version).toBe("2.0.0");
    // Only the major was repaired: one agent run.
    expect(r.vllm.requests).toHaveLength(4);
    // The checkout: same branch, same files, the uncommitted file still there and not committed anywhere.
    expect(git(repo, "rev-parse", "--abbrev-ref", "HEAD")).toBe("main");
    expect(git(repo, "status", "--porcelain")).toBe("?? NOTES.md");
    expect(git(repo, "log", "--all", "--format=%H", "--", "NOTES.md")).toBe("");
    expect(r.leftovers).toEqual([]);

    const again = await upgrade(repo, []);
    expect(again.code).toBe(EXIT_CODES.submitted);
    expect(again.out).toContain("iquest/deps-non-major: skipped");
    expect(again.out).toContain("note: the branch iquest/deps-greeter-2 exists; it is left alone (delete it to redo this group)");
    expect(again.vllm.requests).toHaveLength(0);
  }, 300_000);

  test("the agent cannot repair it: the branch holds the bump alone, the group is failing, exit 1", async () => {
    const repo = await greetRepo();
    const r = await upgrade(repo, [bash("npm test"), submit("I could not fix it.")]);
    expect(r.code).toBe(EXIT_CODES.error);
    expect(r.out).toMatch(/iquest\/deps-greeter-2: failing\n/);
    expect(r.out).toMatch(/tests after the repair: `npm test`: 0 passed, 1 failed/);
    expect(git(repo, "log", "--format=%s", "main..iquest/deps-greeter-2")).toBe("Update greeter to 2.0.0");
  }, 300_000);

  test("bad input: not a git checkout → exit 2; no package.json or go.mod → exit 2", async () => {
    const plain = mkdtempSync(join(tmpdir(), "cli-upgrade-plain-"));
    made.push(plain);
    const r = await upgrade(plain, []);
    expect(r.code).toBe(EXIT_CODES.usage);
    expect(r.err).toContain("not a git checkout");
    git(plain, "init", "-q");
    writeFileSync(join(plain, "README.md"), "hi\n");
    git(plain, "add", "-A");
    git(plain, "commit", "-qm", "readme");
    const none = await upgrade(plain, []);
    expect(none.code).toBe(EXIT_CODES.usage);
    expect(none.err).toContain("no supported project (package.json, go.mod, requirements.txt, Cargo.toml) at HEAD");
  }, 60_000);
});
