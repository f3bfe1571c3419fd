import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { execFile } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { createDirFiles } from "../../src/deps/dir-files.js";
import type { Ecosystem, FindPolicy } from "../../src/deps/ecosystem.js";
import { findUpdates } from "../../src/deps/find-updates.js";
import { parseIgnoreRules } from "../../src/deps/ignore.js";
import { createMemoryMetadataStore } from "../../src/deps/metadata-store.js";
import { createNpmEcosystem } from "../../src/deps/npm/npm-ecosystem.js";
import { createNpmRegistryClient, type NpmRegistryClient, type RegistryClientOptions } from "../../src/deps/npm/registry.js";
import { DAY_MS, startNpmRegistry, type NpmRegistry } from "../support/npm-registry/index.js";
import { freePort } from "../support/redis-server.js";
import { lockAt, makeDir, npm, npmEnv, publishProposalPackages, readLockVersions, writeFiles } from "../support/upgrade-fixtures.js";

/**
 * Finding and applying npm updates against a real registry (test/support/npm-registry) with the
 * real npm CLI: proposals for every kind of range, workspaces, the minimum age, deprecated and
 * prerelease versions; the lock file rewritten by npm; one request per package per run; and the
 * bad inputs (invalid package.json, no lock file, a registry that is down or answers 500, a
 * package that disappeared, git and file dependencies), each a clear problem and no throw.
 */
const sh = promisify(execFile);
let registry: NpmRegistry;
let cache: string;
const dirs: string[] = [];
const policy = (over: Partial<FindPolicy> = {}): FindPolicy => ({ now: Date.now(), minimumAgeMs: 3 * DAY_MS, ignore: [], ...over });

function ecosystem(over: Partial<RegistryClientOptions> = {}): { eco: Ecosystem; client: NpmRegistryClient } {
  const client = createNpmRegistryClient({ isAllowed: (url) => url.startsWith("http://127.0.0.1:"), retryDelayMs: 10, ...over });
  return { eco: createNpmEcosystem({ defaultRegistry: "https://registry.npmjs.org/", client }), client };
}

function project(files: Record<string, string>): string {
  const dir = makeDir("deps-npm-");
  dirs.push(dir);
  writeFiles(dir, files);
  return dir;
}

beforeAll(async () => {
  registry = await startNpmRegistry();
  publishProposalPackages(registry);
  cache = makeDir("deps-npm-cache-");
});

afterAll(async () => {
  await registry?.close();
  for (const d of [...dirs, cache]) rmSync(d, { recursive: true, force: true });
});

const brief = (u: { name: string; manifest: string; currentValue: string; newValue: string; currentVersion: string | null; newVersion: string; updateType: string; group: string }) =>
  `${u.group}: ${u.manifest} ${u.name} ${u.currentValue}→${u.newValue} ${u.currentVersion}→${u.newVersion} ${u.updateType}`;

describe("npm proposals against a real registry", () => {
  let dir: string;

  beforeAll(async () => {
    dir = project({
      ".npmrc": `registry=${registry.url}\n`,
      "package.json": JSON.stringify(
        {
          name: "app",
          private: true,
          workspaces: ["packages/*"],
          dependencies: { "left-pad": "^1.0.0", "tilde-dep": "~1.2.0", "exact-dep": "1.0.0", "star-dep": "*", "gte-dep": ">=1.0.0", "beta-dep": "^2.0.0-beta.1", "local-lib": "file:./vendor/lib" },
        },
        null,
        2,
      ),
      "packages/ws/package.json": JSON.stringify({ name: "ws", version: "1.0.0", dependencies: { "@acme/ws-dep": "^1.0.0", "left-pad": "1.1.0" } }, null, 2),
      "vendor/lib/package.json": JSON.stringify({ name: "local-lib", version: "1.0.0" }),
    });
    await lockAt(
      dir,
      {
        "package.json": { "left-pad": "1.0.0", "tilde-dep": "1.2.0", "star-dep": "1.0.0", "gte-dep": "1.0.0", "beta-dep": "2.0.0-beta.1" },
        "packages/ws/package.json": { "@acme/ws-dep": "1.0.0" },
      },
      cache,
    );
  }, 60_000);

  test("^, ~, exact, *, >=, prerelease, workspaces, a dependency both in-range and major outdated; too young, deprecated and prerelease versions held back", async () => {
    const { eco } = ecosystem();
    registry.requests.length = 0;
    const result = await findUpdates({ files: createDirFiles(dir), ecosystems: [eco], policy: policy(), groups: [] });
    expect(result.problems).toEqual([]);
    expect(result.dependencies).toBe(8);
    expect(result.groups.map((g) => [g.name, g.branch])).toEqual([
      ["non-major", "iquest/deps-non-major"],
      ["gte-dep-2", "iquest/deps-gte-dep-2"],
      ["left-pad-2", "iquest/deps-left-pad-2"],
    ]);
    expect(result.groups.flatMap((g) => g.updates.map(brief))).toEqual([
      "non-major: packages/ws/package.json @acme/ws-dep ^1.0.0→^1.5.0 1.0.0→1.5.0 minor",
      "non-major: package.json beta-dep ^2.0.0-beta.1→^2.0.0-beta.2 2.0.0-beta.1→2.0.0-beta.2 patch",
      "non-major: package.json exact-dep 1.0.0→1.0.1 1.0.0→1.0.1 patch",
      "non-major: package.json left-pad ^1.0.0→^1.2.0 1.0.0→1.2.0 minor",
      "non-major: packages/ws/package.json left-pad 1.1.0→1.2.0 1.1.0→1.2.0 minor",
      "non-major: package.json star-dep *→* 1.0.0→1.4.0 lockfile",
      "non-major: package.json tilde-dep ~1.2.0→~1.3.0 1.2.0→1.3.0 minor",
      "gte-dep-2: package.json gte-dep >=1.0.0→>=2.0.0 1.0.0→2.0.0 major",
      "left-pad-2: package.json left-pad ^1.0.0→^2.0.0 1.0.0→2.0.0 major",
      "left-pad-2: packages/ws/package.json left-pad 1.1.0→2.0.0 1.1.0→2.0.0 major",
    ]);
    const leftPad = result.groups[0]!.updates.find((u) => u.name === "left-pad")!;
    expect(leftPad).toEqual(expect.objectContaining({ ecosystem: "npm", depType: "dependencies", registry: registry.url }));
    expect(result.skipped).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "left-pad", reason: "too-young", version: "1.3.0" }),
        expect.objectContaining({ name: "local-lib", reason: "not-registry" }),
      ]),
    );
    // One request per package, although left-pad is in two manifests.
    const asked = registry.packumentRequests().map((r) => r.name).sort();
    expect(asked).toEqual(["@acme/ws-dep", "beta-dep", "exact-dep", "gte-dep", "left-pad", "star-dep", "tilde-dep"]);
  });

  test("config: ignored dependencies and version ranges, and a group by name pattern", async () => {
    const { eco } = ecosystem();
    const result = await findUpdates({
      files: createDirFiles(dir),
      ecosystems: [eco],
      policy: policy({ ignore: parseIgnoreRules(["star-dep", "left-pad@>=2"]) }),
      groups: [{ name: "pads", match: ["*-pad", "gte-*"], majors: true }],
    });
    expect(result.groups.map((g) => [g.name, g.updates.map((u) => `${u.name}@${u.newVersion}`)])).toEqual([
      ["non-major", ["@acme/ws-dep@1.5.0", "beta-dep@2.0.0-beta.2", "exact-dep@1.0.1", "tilde-dep@1.3.0"]],
      ["pads", ["gte-dep@2.0.0", "left-pad@1.2.0", "left-pad@1.2.0"]],
    ]);
    expect(result.skipped).toEqual(expect.arrayContaining([expect.objectContaining({ name: "star-dep", reason: "ignored" }), expect.objectContaining({ name: "left-pad", reason: "ignored", version: "2.0.0" })]));
  });

  test("the non-major group applied with the real npm: manifests rewritten in place, the lock file by npm, no version younger than the minimum age", async () => {
    const work = project({});
    await sh("cp", ["-r", `${dir}/.`, work]);
    const { eco } = ecosystem();
    const files = createDirFiles(work);
    const p = policy();
    const result = await findUpdates({ files, ecosystems: [eco], policy: p, groups: [] });
    const group = result.groups[0]!;
    const before = readFileSync(join(work, "package.json"), "utf8");
    for (const [path, text] of await eco.editManifests(files, group.updates)) writeFileSync(join(work, path), text);
    // One line per updated dependency changed, nothing else.
    const changed = readFileSync(join(work, "package.json"), "utf8").split("\n").filter((l, i) => l !== before.split("\n")[i]);
    expect(changed.map((l) => l.trim())).toEqual(['"left-pad": "^1.2.0",', '"tilde-dep": "~1.3.0",', '"exact-dep": "1.0.1",', '"beta-dep": "^2.0.0-beta.2",']);
    const steps = await eco.lockSteps(group.updates, p, result.findings[0]!.lockFile, files);
    expect(steps.map((s) => s.command.split(" ").slice(0, 2).join(" "))).toEqual(["npm install", "npm update"]);
    expect(steps.every((s) => s.network && / --before=\d{4}-/.test(s.command))).toBe(true);
    for (const step of steps) await sh("bash", ["-c", step.command], { cwd: work, env: npmEnv(cache) });
    const checks = await eco.check(files, group.updates, "package-lock.json");
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    const locked = readLockVersions(work);
    expect(locked["node_modules/left-pad"] ?? locked["packages/ws/node_modules/left-pad"]).toBe("1.2.0");
    expect(locked["node_modules/star-dep"]).toBe("1.4.0");
    expect(locked["node_modules/@acme/ws-dep"]).toBe("1.5.0");
    // left-pad 1.3.0 (one day old) is newer and in range, but npm was told --before.
    expect(Object.entries(locked).filter(([k]) => k.endsWith("node_modules/left-pad")).map(([, v]) => v)).toEqual(["1.2.0"]);
    // A check that can fail: the major was not applied, and says so.
    const major = result.groups.find((g) => g.name === "left-pad-2")!;
    expect((await eco.check(files, major.updates, "package-lock.json")).map((c) => c.ok)).toEqual([false, false]);
  }, 60_000);

  test("release notes come from the new version's CHANGELOG in its tarball", async () => {
    const { eco } = ecosystem();
    const result = await findUpdates({ files: createDirFiles(dir), ecosystems: [eco], policy: policy(), groups: [] });
    const major = result.groups.find((g) => g.name === "left-pad-2")!.updates[0]!;
    const notes = await eco.releaseNotes(major, 2000);
    expect(notes).toEqual({ source: "CHANGELOG.md in left-pad@2.0.0", text: "## 2.0.0\n\nBREAKING: padStart only." });
    const minor = result.groups[0]!.updates.find((u) => u.name === "exact-dep")!;
    expect(await eco.releaseNotes(minor, 2000)).toBeUndefined(); // ships no changelog
  });

  test("the metadata store: a warm store answers without requests; a stale one revalidates with 304s", async () => {
    const store = createMemoryMetadataStore();
    let clock = Date.now();
    const run = async (freshMs: number) => {
      const { eco, client } = ecosystem({ store, freshMs, now: () => clock });
      const r = await findUpdates({ files: createDirFiles(dir), ecosystems: [eco], policy: policy(), groups: [] });
      return { stats: { ...client.stats }, updates: r.groups.flatMap((g) => g.updates).length };
    };
    const cold = await run(60_000);
    expect(cold.stats).toEqual(expect.objectContaining({ requests: 7, fromStore: 0, notModified: 0 }));
    const warm = await run(60_000);
    expect(warm.stats).toEqual(expect.objectContaining({ requests: 0, fromStore: 7 }));
    clock += 120_000;
    const stale = await run(60_000);
    expect(stale.stats).toEqual(expect.objectContaining({ requests: 7, notModified: 7, fromStore: 0 }));
    expect([warm.updates, stale.updates]).toEqual([cold.updates, cold.updates]);
  });
});

describe("bad input: each a clear problem, never a throw", () => {
  test("registry down, a 500, a package that disappeared, a registry not allowed, git and file dependencies, an invalid workspace manifest, no lock file", async () => {
    const downPort = await freePort();
    registry.publish({ name: "gone-pkg", version: "1.0.0" });
    registry.unpublish("gone-pkg");
    registry.publish({ name: "flaky", version: "1.0.0" });
    const fault = registry.fail({ name: "flaky", status: 500 });
    const dir = project({
      ".npmrc": `registry=${registry.url}\n@down:registry=http://127.0.0.1:${downPort}/\n@far:registry=https://npm.example.com/\n`,
      "package.json": JSON.stringify({
        name: "bad",
        workspaces: ["packages/*"],
        dependencies: { "left-pad": "^1.0.0", "gone-pkg": "^1.0.0", flaky: "^1.0.0", "@down/a": "^1.0.0", "@down/b": "^1.0.0", "@far/x": "^1.0.0", "from-git": "git+https://github.com/acme/x.git", "from-file": "file:../x" },
      }),
      "packages/broken/package.json": '{ "name": "broken", "dependencies": { "x": "^1" }',
    });
    const { eco } = ecosystem({ isAllowed: (url) => url.startsWith("http://127.0.0.1:") });
    const result = await findUpdates({ files: createDirFiles(dir), ecosystems: [eco], policy: policy(), groups: [] });
    fault.cancel();
    const messages = result.problems.map((p) => p.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^`packages\/broken\/package.json` is not valid JSON \(.*line 1\)/),
        expect.stringMatching(/^No `package-lock.json`/),
        `\`gone-pkg\` is not in the registry ${registry.url} (404): it was unpublished, renamed or is private`,
        `The registry ${registry.url} answered 500 for \`flaky\``,
        `The registry http://127.0.0.1:${downPort}/ could not be reached (ECONNREFUSED): 2 packages were not checked (\`@down/a\`, \`@down/b\`)`,
        expect.stringMatching(/^The registry https:\/\/npm.example.com\/ .*is not one this bot may contact/),
      ]),
    );
    expect(result.problems).toHaveLength(6);
    expect(fault.hits).toBe(2); // retried once
    expect(result.skipped.filter((s) => s.reason === "not-registry").map((s) => [s.name, s.detail])).toEqual([
      ["from-git", "`git+https://github.com/acme/x.git` is a git dependency: only registry packages are upgraded"],
      ["from-file", "`file:../x` is a local file or link dependency: only registry packages are upgraded"],
    ]);
    // What could be checked still was: left-pad, compared with its range's floor.
    expect(result.groups.flatMap((g) => g.updates.map((u) => `${u.name}@${u.newVersion}`))).toEqual(["left-pad@1.2.0", "left-pad@2.0.0"]);
  });

  test("an invalid root package.json, and a bun project: said, nothing proposed", async () => {
    const { eco } = ecosystem();
    const broken = await findUpdates({ files: createDirFiles(project({ "package.json": "{ nope" })), ecosystems: [eco], policy: policy(), groups: [] });
    expect(broken.groups).toEqual([]);
    expect(broken.problems.map((p) => p.message)).toEqual([expect.stringMatching(/^`package.json` is not valid JSON/)]);
    const bun = await findUpdates({ files: createDirFiles(project({ "package.json": JSON.stringify({ dependencies: { "left-pad": "^1.0.0" } }), "bun.lock": "{}" })), ecosystems: [eco], policy: policy(), groups: [] });
    expect(bun.groups).toEqual([]);
    expect(bun.problems.map((p) => p.message)).toEqual([expect.stringMatching(/^`bun.lock` found: bun projects are not upgraded yet/)]);
  });

  test("pnpm and yarn: a broken lock file is said and versions fall back to the ranges' floors; `packageManager` naming another manager than the lock file stops the scan with the reason", async () => {
    const { eco } = ecosystem();
    const base = { ".npmrc": `registry=${registry.url}\n` };
    const broken = await findUpdates({ files: createDirFiles(project({ ...base, "package.json": JSON.stringify({ dependencies: { "left-pad": "^1.0.0" } }), "pnpm-lock.yaml": "importers: [\n" })), ecosystems: [eco], policy: policy(), groups: [] });
    expect(broken.problems.map((p) => p.message)).toEqual([expect.stringMatching(/^`pnpm-lock.yaml` is not valid YAML \(.*\); versions were compared with the ranges' floors and pnpm will rewrite it$/)]);
    expect(broken.groups.flatMap((g) => g.updates).map((u) => `${u.name} ${u.currentVersion}→${u.newVersion}`)).toEqual(["left-pad null→1.2.0", "left-pad null→2.0.0"]);
    const conflict = await findUpdates({ files: createDirFiles(project({ ...base, "package.json": JSON.stringify({ packageManager: "pnpm@9.15.0", dependencies: { "left-pad": "^1.0.0" } }), "yarn.lock": "# yarn lockfile v1\n" })), ecosystems: [eco], policy: policy(), groups: [] });
    expect(conflict.groups).toEqual([]);
    expect(conflict.problems.map((p) => p.message)).toEqual(["`packageManager` names pnpm but the lock file is `yarn.lock` (yarn (classic)); corepack would refuse to run either, so nothing was proposed"]);
    // yarn berry reads its registry from .yarnrc.yml only (an .npmrc would be ignored, as berry ignores it).
    const noLock = await findUpdates({ files: createDirFiles(project({ ".yarnrc.yml": `npmRegistryServer: "${registry.url}"\n`, "package.json": JSON.stringify({ packageManager: "yarn@4.5.3", dependencies: { "left-pad": "^1.0.0" } }) })), ecosystems: [eco], policy: policy(), groups: [] });
    expect(noLock.problems.map((p) => p.message)).toEqual([expect.stringMatching(/^No `yarn.lock`: versions were compared with the ranges' floors/)]);
    expect(noLock.groups.flatMap((g) => g.updates).map((u) => `${u.name}@${u.newVersion} from ${u.registry}`)).toEqual([`left-pad@1.2.0 from ${registry.url}`, `left-pad@2.0.0 from ${registry.url}`]);
  });

  test("a manifest symlinked out of the repository is not read", async () => {
    const outside = project({ "package.json": JSON.stringify({ dependencies: { "left-pad": "^1.0.0" } }) });
    const dir = project({});
    await sh("ln", ["-s", join(outside, "package.json"), join(dir, "package.json")]);
    const { eco } = ecosystem();
    expect((await findUpdates({ files: createDirFiles(dir), ecosystems: [eco], policy: policy(), groups: [] })).findings).toEqual([]);
  });
});

describe("the test registry is a real registry", () => {
  test("the real npm publishes to it and installs from it", async () => {
    const pkg = project({ "package.json": JSON.stringify({ name: "@acme/published", version: "3.1.4", main: "index.js" }), "index.js": "module.exports = 314;\n", ".npmrc": `registry=${registry.url}\n${registry.authLine}\n` });
    await npm(pkg, ["publish", "--registry", registry.url], cache);
    expect(registry.requests.filter((r) => r.kind === "publish").map((r) => [r.name, r.status])).toEqual([["@acme/published", 201]]);
    const app = project({ "package.json": JSON.stringify({ name: "consumer", dependencies: { "@acme/published": "^3.0.0" } }), ".npmrc": `registry=${registry.url}\n` });
    await npm(app, ["install", "--ignore-scripts"], cache);
    const out = await sh("node", ["-e", "console.log(require('@acme/published'))"], { cwd: app });
    expect(out.stdout.trim()).toBe("314");
  }, 60_000);
});
