import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { execFile, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { EXIT_CODES } from "../../src/cli/exit-codes.js";
import { startCargoRegistry, type CargoRegistry } from "../support/cargo-registry.js";
import { runCliWithModel } from "../support/cli-run.js";
import { bash, replace, submit, type ScriptStep } from "../support/fake-vllm/index.js";

/**
 * Rust through `iquest-bot upgrade`: versions from a sparse registry the test serves on 127.0.0.1
 * (crates built at run time), the project pointing crates.io at it by source replacement in
 * `.cargo/config.toml`, as a team with a mirror does; the upgrade applied by the real cargo in the
 * sandbox (`cargo update --precise`, through the egress proxy), tested with `cargo test` against
 * the baseline, the breaking major repaired by the agent, and left on local branches.
 *
 * This machine's cargo is Debian's 1.65, which speaks the sparse protocol only behind its
 * unstable switch: the test's environment turns it on (RUSTC_BOOTSTRAP=1,
 * CARGO_UNSTABLE_SPARSE_REGISTRY=true), as a user of such a cargo would; cargo ≥ 1.68 needs neither.
 */
const run = promisify(execFile);
let registry: CargoRegistry;
const made: string[] = [];
const DAY = 24 * 3600_000;
const ago = (days: number) => new Date(Date.now() - days * DAY);
const OLD_CARGO_SPARSE = { RUSTC_BOOTSTRAP: "1", CARGO_UNSTABLE_SPARSE_REGISTRY: "true" };

const hello = 'pub fn hello(name: &str) -> String {\n    format!("Hello, {}!", name.trim())\n}\n';

beforeAll(async () => {
  registry = await startCargoRegistry();
  registry.publish({ name: "greet", version: "1.0.0", lib: hello, publishedAt: ago(90) });
  registry.publish({ name: "greet", version: "1.1.0", lib: hello, publishedAt: ago(40) });
  // Newer and old enough, but yanked: never proposed.
  registry.publish({ name: "greet", version: "1.1.5", lib: hello, publishedAt: ago(35), yanked: true });
  // Too young.
  registry.publish({ name: "greet", version: "1.2.0", lib: hello, publishedAt: ago(1) });
  // The breaking major: hello() is renamed greet().
  registry.publish({ name: "greet", version: "2.0.0", lib: hello.replace("pub fn hello", "pub fn greet"), publishedAt: ago(20), files: { "CHANGELOG.md": "# Changelog\n\n## 2.0.0\n\n- BREAKING: `hello()` is renamed `greet()`.\n\n## 1.1.0\n\n- Trims the name.\n\n## 1.0.0\n\n- First release.\n" } });
  // A registry that records no publish time for the newer version.
  registry.publish({ name: "untimed", version: "0.1.0", lib: "pub fn one() -> u8 { 1 }\n", publishedAt: ago(90) });
  registry.publish({ name: "untimed", version: "0.1.1", lib: "pub fn one() -> u8 { 1 }\n", publishedAt: null });
}, 60_000);

afterAll(async () => {
  await registry?.close();
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

const git = (dir: string, ...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: dir, encoding: "utf8" }).trim();

const manifest = (greet: string, untimed: string) =>
  `[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n# the greeting\ngreet = "${greet}"\nuntimed = { version = "${untimed}" }\nlocal = { path = "local" }\n`;

/** A crate on greet "1.0" (locked 1.0.0) and untimed "0.1" (locked 0.1.0), Cargo.lock made by the real cargo. */
async function rustApp(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "cargo-app-"));
  const home = mkdtempSync(join(tmpdir(), "cargo-home-"));
  made.push(dir, home);
  mkdirSync(join(dir, "src"));
  mkdirSync(join(dir, ".cargo"));
  mkdirSync(join(dir, "local/src"), { recursive: true });
  writeFileSync(join(dir, ".cargo/config.toml"), `[source.crates-io]\nreplace-with = "mirror"\n\n[source.mirror]\nregistry = "${registry.index}"\n`);
  writeFileSync(join(dir, "local/Cargo.toml"), '[package]\nname = "local"\nversion = "0.1.0"\nedition = "2021"\n');
  writeFileSync(join(dir, "local/src/lib.rs"), "");
  writeFileSync(join(dir, "src/lib.rs"), 'pub fn welcome(name: &str) -> String {\n    greet::hello(name)\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn welcomes() {\n        assert_eq!(super::welcome(" Rust "), "Hello, Rust!");\n    }\n}\n');
  writeFileSync(join(dir, ".gitignore"), "target/\n");
  const env = { PATH: "/usr/bin:/bin", HOME: home, CARGO_HOME: join(home, "cargo"), ...OLD_CARGO_SPARSE };
  // Locked at the old versions: exact requirements first, then the project's own.
  writeFileSync(join(dir, "Cargo.toml"), manifest("=1.0.0", "=0.1.0"));
  await run("/usr/bin/cargo", ["generate-lockfile"], { cwd: dir, env });
  writeFileSync(join(dir, "Cargo.toml"), manifest("1.0", "0.1"));
  // Any workspace load keeps the locked versions that still satisfy the requirements (generate-lockfile would not).
  await run("/usr/bin/cargo", ["metadata", "--format-version", "1"], { cwd: dir, env, maxBuffer: 16 * 1024 * 1024 });
  git(dir, "init", "-q", "-b", "main");
  git(dir, "add", "-A");
  git(dir, "commit", "-qm", "app");
  return dir;
}

// The test's registry is on this machine's loopback: allowed by its address; nothing else.
const cli = (repo: string, argv: string[], script: ScriptStep[] = []) =>
  runCliWithModel(repo, ["upgrade", "--repo", repo, ...argv], script, { egressAllow: new URL(registry.url).host, registryEnv: OLD_CARGO_SPARSE });

describe("Rust (Cargo)", () => {
  let repo: string;
  beforeAll(async () => {
    repo = await rustApp();
  }, 120_000);

  test("--dry-run --json: a compatible update moves the lock only, a new major rewrites the requirement; yanked, too young and untimed versions are held back with the reason", async () => {
    const r = await cli(repo, ["--dry-run", "--json"]);
    expect(r.code).toBe(EXIT_CODES.submitted);
    const report = JSON.parse(r.out);
    expect(report.problems).toEqual([]);
    const brief = (g: { name: string; updates: Array<{ name: string; depType: string; currentValue: string; newValue: string; currentVersion: string; newVersion: string; updateType: string }> }) =>
      [g.name, g.updates.map((u) => `${u.depType} ${u.name} "${u.currentValue}"→"${u.newValue}" ${u.currentVersion}→${u.newVersion} ${u.updateType}`)];
    expect(report.groups.map(brief)).toEqual([
      ["non-major", ['dependencies greet "1.0"→"1.0" 1.0.0→1.1.0 minor']],
      ["greet-2", ['dependencies greet "1.0"→"2.0" 1.0.0→2.0.0 major']],
    ]);
    expect(report.skipped).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "greet", reason: "too-young", version: "1.2.0" }),
        expect.objectContaining({ name: "untimed", reason: "too-young", version: "0.1.1", detail: expect.stringContaining("0.1.1 has no publish time at the registry (no `pubtime` in its index)") }),
        expect.objectContaining({ name: "local", reason: "not-registry", detail: expect.stringContaining("a path dependency") }),
      ]),
    );
    expect(JSON.stringify(report)).not.toContain("1.1.5");
  }, 120_000);

  test("apply: cargo update --precise in the sandbox through the egress proxy; the breaking major repaired by the agent; Cargo.toml and Cargo.lock on the branches", async () => {
    const repair: ScriptStep[] = [bash("cargo test"), replace("src/lib.rs", "greet::hello(name)", "greet::greet(name)"), bash("cargo test"), submit("greet 2.0.0 renamed hello() to greet(); welcome() calls greet().")];
    const r = await cli(repo, ["--json"], repair);
    if (!r.out) throw new Error(r.err);
    const report = JSON.parse(r.out);
    expect(report.baseline).toMatch(/^`cargo test`: 1 passed, 0 failed/);
    expect(report.groups.map((g: { branch: string; status: string }) => [g.branch, g.status])).toEqual([
      ["iquest/deps-non-major", "pass"],
      ["iquest/deps-greet-2", "repaired"],
    ]);
    expect(r.code).toBe(EXIT_CODES.submitted);
    // The compatible update: the lock alone.
    expect(git(repo, "show", "--name-only", "--format=", "iquest/deps-non-major")).toBe("Cargo.lock");
    expect(git(repo, "show", "iquest/deps-non-major:Cargo.lock")).toMatch(/name = "greet"\nversion = "1\.1\.0"/);
    // The major: the requirement rewritten on its line (the comment above it kept), then the repair.
    expect(git(repo, "log", "--format=%s", "main..iquest/deps-greet-2").split("\n")).toEqual(["Repair the code for the greet-2 upgrade", "Update greet to 2.0.0"]);
    expect(git(repo, "show", "iquest/deps-greet-2:Cargo.toml")).toContain('# the greeting\ngreet = "2.0"\nuntimed = { version = "0.1" }');
    expect(git(repo, "show", "iquest/deps-greet-2:Cargo.lock")).toMatch(/name = "greet"\nversion = "2\.0\.0"/);
    expect(git(repo, "show", "iquest/deps-greet-2:src/lib.rs")).toContain("greet::greet(name)");
    // The agent was given the changelog from the new version's .crate (only the versions past the locked one).
    const task = JSON.stringify(r.vllm.requests[0]!.body.messages);
    expect(task).toContain("BREAKING: `hello()` is renamed `greet()`.");
    expect(task).toContain("Trims the name");
    expect(task).not.toContain("First release");
    // cargo fetched the index through the egress proxy (the registry saw the lock step's requests).
    expect(registry.requests.some((q) => q.path === "/api/v1/crates/greet/2.0.0/download" && q.status === 200)).toBe(true);
    expect(git(repo, "status", "--porcelain")).toBe("");
    expect(r.leftovers).toEqual([]);
  }, 600_000);

  test("the registry fails for a crate: a problem line naming it; the other crate is still proposed; a git index is said, not guessed", async () => {
    registry.failCrate("untimed", 503);
    try {
      const r = await cli(repo, ["--dry-run", "--json"]);
      const report = JSON.parse(r.out);
      expect(r.code).toBe(EXIT_CODES.error);
      expect(report.problems).toEqual([expect.objectContaining({ kind: "registry", name: "untimed", message: expect.stringMatching(/answered 503 for `untimed`/) })]);
      expect(report.groups.flatMap((g: { updates: Array<{ name: string }> }) => g.updates.map((u) => u.name))).toEqual(["greet", "greet"]);
    } finally {
      registry.failCrate("untimed", 0);
    }
    const gitIndex = await rustApp();
    writeFileSync(join(gitIndex, ".cargo/config.toml"), '[source.crates-io]\nreplace-with = "corp"\n\n[source.corp]\nregistry = "https://git.example.com/crates-index"\n');
    const r = await cli(gitIndex, ["--dry-run", "--json"]);
    const report = JSON.parse(r.out);
    expect(report.problems).toEqual([expect.objectContaining({ kind: "config", message: "`.cargo/config.toml` [source.corp]: `https://git.example.com/crates-index` is a git index; only sparse registries (`sparse+https://…`) can be read, so its crates were not checked" })]);
  }, 120_000);
});
