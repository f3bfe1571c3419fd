import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { rmSync } from "node:fs";
import { EXIT_CODES } from "../../src/cli/exit-codes.js";
import type { CliContext } from "../../src/cli/fix-command.js";
import { runCli } from "../../src/cli/run-cli.js";
import { createRedactor } from "../../src/shared/redact.js";
import { startNpmRegistry, type NpmRegistry } from "../support/npm-registry/index.js";
import { spawnRole } from "../support/processes.js";
import { lockAt, makeDir, publishProposalPackages, writeFiles } from "../support/upgrade-fixtures.js";

/**
 * `iquest-bot upgrade --repo PATH --dry-run --json` against the test registry: in-process (the
 * output's shape, the config honoured, bad arguments) and as a real process (the composition
 * root reads NPM_REGISTRY).
 */
class Capture {
  text = "";
  write(s: string) {
    this.text += s;
    return true;
  }
}

let registry: NpmRegistry;
let cache: string;
let dir: string;
const dirs: string[] = [];

beforeAll(async () => {
  registry = await startNpmRegistry();
  publishProposalPackages(registry);
  cache = makeDir("upgrade-cli-cache-");
  dir = makeDir("upgrade-cli-");
  dirs.push(dir, cache);
  writeFiles(dir, {
    "package.json": JSON.stringify({ name: "cli-app", private: true, dependencies: { "left-pad": "^1.0.0", "tilde-dep": "~1.2.0" }, devDependencies: { "star-dep": "*" } }, null, 2),
    ".github/iquest.yml": "upgrade:\n  groups:\n    - name: pads\n      match: ['left-*']\n      majors: true\n",
  });
  // The registry comes from --registry or NPM_REGISTRY here, not from .npmrc.
  writeFiles(dir, { ".npmrc": `registry=${registry.url}\n` });
  await lockAt(dir, { "package.json": { "left-pad": "1.0.0", "tilde-dep": "1.2.0", "star-dep": "1.0.0" } }, cache);
  rmSync(`${dir}/.npmrc`);
}, 60_000);

afterAll(async () => {
  await registry?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function ctx(extra: Partial<CliContext> = {}) {
  const stdout = new Capture();
  const stderr = new Capture();
  const c: CliContext = { stdout, stderr, cwd: dir, modelEnv: {}, commandEnv: {}, redact: createRedactor([]), ...extra };
  return { c, stdout, stderr };
}

describe("iquest-bot upgrade --dry-run", () => {
  test("--json: one group per branch, each update with the documented fields; the repo's config applies", async () => {
    const { c, stdout } = ctx({ npmRegistry: registry.url });
    const code = await runCli(["upgrade", "--repo", ".", "--dry-run", "--json"], c);
    expect(code).toBe(EXIT_CODES.submitted);
    const result = JSON.parse(stdout.text) as { groups: Array<{ name: string; branch: string; updates: Array<Record<string, unknown>> }>; problems: unknown[]; registryRequests: number };
    expect(result.problems).toEqual([]);
    expect(result.registryRequests).toBe(3);
    expect(result.groups.map((g) => [g.name, g.branch])).toEqual([
      ["non-major", "iquest/deps-non-major"],
      ["pads", "iquest/deps-pads"],
    ]);
    expect(result.groups[1]!.updates).toEqual([
      {
        name: "left-pad",
        depType: "dependencies",
        manifest: "package.json",
        currentValue: "^1.0.0",
        newValue: "^2.0.0",
        currentVersion: "1.0.0",
        newVersion: "2.0.0",
        updateType: "major",
        group: "pads",
      },
    ]);
    expect(result.groups[0]!.updates.map((u) => [u.name, u.depType, u.newValue, u.newVersion, u.updateType])).toEqual([
      ["star-dep", "devDependencies", "*", "1.4.0", "lockfile"],
      ["tilde-dep", "dependencies", "~1.3.0", "1.3.0", "minor"],
    ]);
  });

  test("plain text, with what is held back", async () => {
    const { c, stdout } = ctx();
    expect(await runCli(["upgrade", "--repo", dir, "--dry-run", "--registry", registry.url], c)).toBe(EXIT_CODES.submitted);
    expect(stdout.text).toContain("iquest/deps-pads (1 update)\n  left-pad  ^1.0.0 -> ^2.0.0  (1.0.0 -> 2.0.0, major)  package.json\n");
    expect(stdout.text).toMatch(/Held back:\n  left-pad: 1.3.0 was published 1 day ago; it waits until it is 3 days old/);
  });

  test("bad arguments: exit 2 with the reason; a registry that fails: exit 1 with the problem", async () => {
    const noDry = ctx();
    expect(await runCli(["upgrade", "--repo", dir], noDry.c)).toBe(EXIT_CODES.usage);
    // Without --dry-run the groups are applied, on a copy of a commit: this directory has none.
    expect(noDry.stderr.text).toMatch(/not a git checkout\. The sandbox works on a copy of a commit; run `git init && git add -A && git commit` first\n/);
    const noRepo = ctx();
    expect(await runCli(["upgrade", "--dry-run", "--repo", "/nonexistent/x"], noRepo.c)).toBe(EXIT_CODES.usage);
    expect(noRepo.stderr.text).toMatch(/not a directory/);
    const fault = registry.fail({ name: "tilde-dep", status: 503 });
    try {
      const failing = ctx();
      expect(await runCli(["upgrade", "--repo", dir, "--dry-run", "--registry", registry.url], failing.c)).toBe(EXIT_CODES.error);
      expect(failing.stdout.text).toContain(`Problems:\n  The registry ${registry.url} answered 503 for \`tilde-dep\``);
    } finally {
      fault.cancel();
    }
  });

  test("as a real process, with NPM_REGISTRY from the environment", async () => {
    const proc = spawnRole("cli", { NPM_REGISTRY: registry.url }, ["upgrade", "--repo", dir, "--dry-run", "--json"]);
    const exit = await proc.exited;
    expect(exit.code).toBe(0);
    const result = JSON.parse(proc.lines.join("\n")) as { groups: Array<{ branch: string }> };
    expect(result.groups.map((g) => g.branch)).toEqual(["iquest/deps-non-major", "iquest/deps-pads"]);
  }, 30_000);
});
