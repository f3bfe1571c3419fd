import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { DAY_MS, type NpmRegistry } from "./npm-registry/index.js";

/**
 * Fixture packages and projects for the upgrade tests. Publishing goes through the test
 * registry's in-process API (fast, and with control of publish times); lock files are made by
 * the real `npm` against that registry, so they are exactly what npm writes.
 *
 * The registry runs inside the test process: use these async helpers, never execFileSync, or
 * npm waits forever for a server the blocked event loop cannot run.
 */
const run = promisify(execFile);
const ago = (days: number) => new Date(Date.now() - days * DAY_MS);

/** A package whose 2.0.0 renames `greet` to `hello` (the breaking major the agent repairs). */
export function publishGreeter(registry: NpmRegistry, name = "greeter"): void {
  const changelog = [
    "# Changelog",
    "",
    "## 2.0.0",
    "",
    "- **BREAKING**: `greet(name)` is renamed `hello(name)`. It returns the same text.",
    "",
    "## 1.1.0",
    "",
    "- `greet` trims the name.",
    "",
    "## 1.0.0",
    "",
    "- First release.",
  ].join("\n");
  const v1 = "exports.greet = (name) => `Hello, ${String(name).trim()}!`;\n";
  registry.publish({ name, version: "1.0.0", files: { "index.js": v1, "CHANGELOG.md": changelog }, publishedAt: ago(60), repository: `https://github.com/acme/${name}` });
  registry.publish({ name, version: "1.1.0", files: { "index.js": v1, "CHANGELOG.md": changelog }, publishedAt: ago(40), repository: `https://github.com/acme/${name}` });
  registry.publish({
    name,
    version: "2.0.0",
    files: { "index.js": "exports.hello = (name) => `Hello, ${String(name).trim()}!`;\n", "CHANGELOG.md": changelog },
    publishedAt: ago(20),
    repository: `https://github.com/acme/${name}`,
  });
}

/** The set of packages the proposal tests use: each property the issue names. */
export function publishProposalPackages(registry: NpmRegistry): void {
  for (const [v, days] of [["1.0.0", 90], ["1.1.0", 60], ["1.2.0", 30]] as const) registry.publish({ name: "left-pad", version: v, publishedAt: ago(days) });
  registry.publish({ name: "left-pad", version: "1.3.0", publishedAt: ago(1) }); // too young
  registry.publish({ name: "left-pad", version: "2.0.0", publishedAt: ago(10), files: { "index.js": "", "CHANGELOG.md": "## 2.0.0\n\nBREAKING: padStart only.\n" } });
  registry.publish({ name: "left-pad", version: "2.1.0-beta.1", publishedAt: ago(5), tag: "next" }); // prerelease
  for (const v of ["1.2.0", "1.2.3", "1.3.0"]) registry.publish({ name: "tilde-dep", version: v });
  for (const v of ["1.0.0", "1.0.1"]) registry.publish({ name: "exact-dep", version: v });
  registry.publish({ name: "exact-dep", version: "1.0.2", deprecated: "1.0.2 corrupts data; use 1.0.1" }); // deprecated
  for (const v of ["1.0.0", "1.4.0"]) registry.publish({ name: "star-dep", version: v });
  for (const v of ["1.0.0", "2.0.0"]) registry.publish({ name: "gte-dep", version: v });
  for (const v of ["1.0.0", "1.5.0"]) registry.publish({ name: "@acme/ws-dep", version: v });
  for (const v of ["2.0.0-beta.1", "2.0.0-beta.2"]) registry.publish({ name: "beta-dep", version: v, tag: "next" });
  registry.publish({ name: "beta-dep", version: "1.0.0" });
}

export function makeDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
}

/** Environment for the real npm: its own cache, no audit, no update check. */
export function npmEnv(cacheDir: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: cacheDir,
    npm_config_cache: join(cacheDir, "npm-cache"),
    npm_config_update_notifier: "false",
    npm_config_audit: "false",
    npm_config_fund: "false",
  };
}

export async function npm(dir: string, args: string[], cacheDir: string): Promise<{ stdout: string; stderr: string }> {
  return run("npm", args, { cwd: dir, env: npmEnv(cacheDir), maxBuffer: 16 * 1024 * 1024 });
}

/**
 * Lock a project at given versions with the real npm: write `pins` (manifest → key → exact
 * version) into the manifests, `npm install --package-lock-only`, then put the project's own
 * ranges back. The lock then holds old versions under the real ranges, as a project does that
 * has not upgraded for a while.
 */
export async function lockAt(dir: string, pins: Record<string, Record<string, string>>, cacheDir: string): Promise<void> {
  const originals = new Map<string, string>();
  for (const [manifest, keys] of Object.entries(pins)) {
    const path = join(dir, manifest);
    const text = readFileSync(path, "utf8");
    originals.set(path, text);
    const json = JSON.parse(text) as Record<string, Record<string, string> | undefined>;
    for (const [key, version] of Object.entries(keys)) {
      for (const section of ["dependencies", "devDependencies", "optionalDependencies"]) {
        const s = json[section];
        if (s?.[key] !== undefined) s[key] = s[key]!.startsWith("npm:") ? s[key]!.replace(/@[^@]*$/, `@${version}`) : version;
      }
    }
    writeFileSync(path, JSON.stringify(json, null, 2));
  }
  await npm(dir, ["install", "--package-lock-only", "--ignore-scripts"], cacheDir);
  for (const [path, text] of originals) writeFileSync(path, text);
  await npm(dir, ["install", "--package-lock-only", "--ignore-scripts"], cacheDir);
}

export function readLockVersions(dir: string): Record<string, string> {
  const lock = JSON.parse(readFileSync(join(dir, "package-lock.json"), "utf8")) as { packages: Record<string, { version?: string }> };
  return Object.fromEntries(Object.entries(lock.packages).filter(([k, v]) => k && v.version).map(([k, v]) => [k, v.version!]));
}

/**
 * A small app on `greeter` ^1.0.0, locked at 1.0.0, whose test checks the greeting: with
 * greeter 2.0.0 (`greet` renamed `hello`) the test fails until index.js is repaired.
 */
export async function createGreetApp(registry: NpmRegistry, cacheDir: string, extra: Record<string, string> = {}, pkg = "greeter"): Promise<string> {
  const dir = makeDir("greet-app-");
  writeFiles(dir, {
    ".npmrc": `registry=${registry.url}\n`,
    ".gitignore": "node_modules/\n",
    "package.json": `${JSON.stringify({ name: "greet-app", version: "1.0.0", private: true, scripts: { test: "node --test" }, dependencies: { [pkg]: "^1.0.0" } }, null, 2)}\n`,
    "index.js": `const { greet } = require("${pkg}");\n\nmodule.exports = (name) => greet(name);\n`,
    "test/app.test.js": 'const test = require("node:test");\nconst assert = require("node:assert");\nconst app = require("..");\n\ntest("greets", () => {\n  assert.strictEqual(app(" World "), "Hello, World!");\n});\n',
    ...extra,
  });
  await lockAt(dir, { "package.json": { [pkg]: "1.0.0" } }, cacheDir);
  return dir;
}

/** The fake model's side of the greeter 2 repair. */
export const GREETER_FIX_SUMMARY = "greeter 2.0.0 renamed greet() to hello() (its CHANGELOG marks it BREAKING). index.js now imports hello; the test passes.";
