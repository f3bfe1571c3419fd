import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXIT_CODES } from "../../src/cli/exit-codes.js";
import { runCliWithModel } from "../support/cli-run.js";
import { bash, replace, submit, type ScriptStep } from "../support/fake-vllm/index.js";
import { startGoProxy, type GoProxy } from "../support/go-proxy.js";

/**
 * Go modules through the upgrade: versions from a GOPROXY the test serves on 127.0.0.1 (modules
 * zipped at run time), proposals by `iquest-bot upgrade --dry-run`, and the upgrade applied by
 * the real `go` in the sandbox (go get + go mod tidy through the egress proxy), tested against
 * the baseline, repaired by the agent when it breaks the tests, and left on local branches.
 */
let proxy: GoProxy;
const made: string[] = [];
const DAY = 24 * 3600_000;

const greet = (body: string) => `package greet\n\n${body}\n`;

beforeAll(async () => {
  proxy = await startGoProxy();
  const mod = "example.com/greet";
  proxy.publish({ module: mod, version: "v1.0.0", files: { "greet.go": greet('func Hello(name string) string { return "Hello, " + name + "!" }') }, time: new Date(Date.now() - 90 * DAY) });
  proxy.publish({ module: mod, version: "v1.1.0", files: { "greet.go": greet('import "strings"\n\nfunc Hello(name string) string { return "Hello, " + strings.TrimSpace(name) + "!" }') }, time: new Date(Date.now() - 40 * DAY) });
  // Too young: published yesterday.
  proxy.publish({ module: mod, version: "v1.2.0", files: { "greet.go": greet('func Hello(name string) string { return "Hi, " + name + "!" }') }, time: new Date(Date.now() - DAY) });
  proxy.publish({ module: `${mod}/v2`, version: "v2.0.0", files: { "go.mod": `module ${mod}/v2\n\ngo 1.19\n`, "greet.go": greet('func Greet(name string) string { return "Hello, " + name + "!" }') } });
  // A breaking "minor": Hello renamed (the agent's repair calls the new name).
  proxy.publish({ module: "example.com/words", version: "v0.1.0", files: { "words.go": "package words\n\nfunc Shout(s string) string { return s + \"!\" }\n" }, time: new Date(Date.now() - 90 * DAY) });
  proxy.publish({ module: "example.com/words", version: "v0.2.0", files: { "words.go": "package words\n\nfunc Exclaim(s string) string { return s + \"!\" }\n" }, time: new Date(Date.now() - 40 * DAY) });
}, 60_000);

afterAll(async () => {
  await proxy?.close();
  for (const d of made) rmSync(d, { recursive: true, force: true });
});


const execFileAsync = promisify(execFile);
const git = (dir: string, ...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: dir, encoding: "utf8" }).trim();
const registryEnv = () => ({ GOPROXY: proxy.url, GOSUMDB: "off" });

/**
 * A module requiring greet v1.0.0 and words v0.1.0, go.sum made by the real go from the test's
 * proxy (asynchronously: the proxy answers from this very process).
 */
async function goApp(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "go-app-"));
  made.push(dir);
  writeFileSync(join(dir, "go.mod"), "module example.com/app\n\ngo 1.19\n\nrequire (\n\texample.com/greet v1.0.0\n\texample.com/words v0.1.0 // shouting\n)\n");
  writeFileSync(join(dir, "app.go"), 'package app\n\nimport (\n\t"example.com/greet"\n\t"example.com/words"\n)\n\nfunc Welcome(name string) string { return words.Shout(greet.Hello(name)) }\n');
  writeFileSync(join(dir, "app_test.go"), 'package app\n\nimport "testing"\n\nfunc TestWelcome(t *testing.T) {\n\tif got := Welcome("Go"); got != "Hello, Go!!" {\n\t\tt.Fatalf("got %q", got)\n\t}\n}\n');
  const home = mkdtempSync(join(tmpdir(), "go-home-"));
  made.push(home);
  await execFileAsync("/usr/bin/go", ["mod", "tidy"], { cwd: dir, env: { PATH: "/usr/bin:/bin", HOME: home, GOPATH: join(home, "go"), GOCACHE: join(home, "cache"), GOFLAGS: "-mod=mod", GOTOOLCHAIN: "local", ...registryEnv() } });
  execFileSync("chmod", ["-R", "u+w", home]);
  git(dir, "init", "-q", "-b", "main");
  git(dir, "add", "-A");
  git(dir, "commit", "-qm", "app");
  return dir;
}

// The test's proxy is on this machine's loopback: allowed by its address; nothing else.
const cli = (repo: string, argv: string[], script: ScriptStep[] = []) =>
  runCliWithModel(repo, ["upgrade", "--repo", repo, ...argv], script, { egressAllow: new URL(proxy.url).host, registryEnv: registryEnv() });

describe("Go modules", () => {
  test("--dry-run --json: the newest old-enough release within each module path; the young one waits; a new major path is reported, not proposed", async () => {
    const repo = await goApp();
    const r = await cli(repo, ["--dry-run", "--json"]);
    expect(r.code).toBe(EXIT_CODES.submitted);
    const report = JSON.parse(r.out);
    expect(report.groups).toEqual([
      {
        name: "non-major",
        branch: "iquest/deps-non-major",
        updates: [
          expect.objectContaining({ name: "example.com/greet", depType: "require", manifest: "go.mod", currentValue: "v1.0.0", newValue: "v1.1.0", currentVersion: "v1.0.0", newVersion: "v1.1.0", updateType: "minor" }),
          expect.objectContaining({ name: "example.com/words", currentValue: "v0.1.0", newValue: "v0.2.0", updateType: "minor" }),
        ],
      },
    ]);
    expect(report.skipped).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "example.com/greet", reason: "too-young", version: "v1.2.0", detail: expect.stringMatching(/^v1\.2\.0 was published 1 day ago; it waits until it is 3 days old$/) }),
        expect.objectContaining({ name: "example.com/greet", reason: "range", version: "v2.0.0", detail: expect.stringContaining("a new major version is a new module path: example.com/greet/v2 v2.0.0") }),
      ]),
    );
    expect(report.problems).toEqual([]);
  }, 120_000);

  test("apply: go get + go mod tidy in the sandbox through the egress proxy; the breaking update repaired by the agent; go.mod, go.sum and the repair on the branch", async () => {
    const repo = await goApp();
    const repair: ScriptStep[] = [bash("go test ./..."), replace("app.go", "words.Shout(", "words.Exclaim("), bash("go test ./..."), submit("words v0.2.0 renamed Shout to Exclaim; app.go calls Exclaim.")];
    const r = await cli(repo, ["--json"], repair);
    expect(r.err).toContain("upgrade: 1 group(s): non-major");
    const report = JSON.parse(r.out);
    expect(report.baseline).toMatch(/^`go test \.\/\.\.\.`: \? passed, 0 failed \(\d+\.\d s\)$/);
    expect(report.groups).toEqual([expect.objectContaining({ branch: "iquest/deps-non-major", status: "repaired" })]);
    expect(report.groups[0].afterUpgrade).toMatch(/^`go test \.\/\.\.\.`: \? passed, 1 failed \(\d+\.\d s\): 1 test\(s\) fail that passed on the base/);
    expect(report.groups[0].afterRepair).toMatch(/^`go test \.\/\.\.\.`: \? passed, 0 failed /);
    expect(r.code).toBe(EXIT_CODES.submitted);
    expect(git(repo, "log", "--format=%s", "main..iquest/deps-non-major").split("\n")).toEqual(["Repair the code for the non-major upgrade", "Update 2 dependencies"]);
    expect(git(repo, "show", "--name-only", "--format=", "iquest/deps-non-major~1").split("\n").sort()).toEqual(["go.mod", "go.sum"]);
    const goMod = git(repo, "show", "iquest/deps-non-major:go.mod");
    expect(goMod).toContain("\texample.com/greet v1.1.0\n");
    expect(goMod).toContain("\texample.com/words v0.2.0 // shouting");
    expect(git(repo, "show", "iquest/deps-non-major:go.sum")).toContain("example.com/words v0.2.0 h1:");
    expect(git(repo, "show", "iquest/deps-non-major:app.go")).toContain("words.Exclaim(");
    // go fetched the new versions from the test's proxy (through the egress proxy).
    expect(proxy.requests.some((q) => q.path === "/example.com/words/@v/v0.2.0.zip" && q.status === 200)).toBe(true);
    expect(git(repo, "status", "--porcelain")).toBe("");
    expect(r.leftovers).toEqual([]);
  }, 300_000);

  test("`upgrade.ecosystems.go: false` in .github/iquest.yml: Go modules are not read at all", async () => {
    const repo = await goApp();
    execFileSync("mkdir", ["-p", join(repo, ".github")]);
    writeFileSync(join(repo, ".github/iquest.yml"), "upgrade:\n  ecosystems:\n    go: false\n");
    const requestsBefore = proxy.requests.length;
    const r = await cli(repo, ["--dry-run", "--json"]);
    const report = JSON.parse(r.out);
    expect(report.groups).toEqual([]);
    expect(report.dependencies).toBe(0);
    expect(proxy.requests.length).toBe(requestsBefore);
    expect(r.err).not.toContain("has problems");
  }, 120_000);

  test("a workspace (go.work): each used module read and updated on its own, its go.mod and go.sum on the branch; the workspace's own modules and what lies outside the repository left out", async () => {
    const dir = mkdtempSync(join(tmpdir(), "go-work-"));
    const home = mkdtempSync(join(tmpdir(), "go-home-"));
    made.push(dir, home);
    execFileSync("mkdir", ["-p", join(dir, "app"), join(dir, "lib")]);
    writeFileSync(join(dir, "go.work"), "go 1.19\n\nuse (\n\t./app\n\t./lib\n\t../elsewhere\n)\n");
    writeFileSync(join(dir, "app/go.mod"), "module example.com/ws/app\n\ngo 1.19\n\nrequire (\n\texample.com/greet v1.0.0\n\texample.com/ws/lib v0.0.0\n)\n\nreplace example.com/ws/lib => ../lib\n");
    writeFileSync(join(dir, "app/app.go"), 'package app\n\nimport (\n\t"example.com/greet"\n\t"example.com/ws/lib"\n)\n\nfunc Welcome(name string) string { return lib.Loud(greet.Hello(name)) }\n');
    writeFileSync(join(dir, "lib/go.mod"), "module example.com/ws/lib\n\ngo 1.19\n\nrequire example.com/words v0.1.0\n");
    writeFileSync(join(dir, "lib/lib.go"), 'package lib\n\nimport "example.com/words"\n\nfunc Loud(s string) string { return words.Shout(s) }\n');
    const env = { PATH: "/usr/bin:/bin", HOME: home, GOPATH: join(home, "go"), GOCACHE: join(home, "cache"), GOFLAGS: "-mod=mod", GOTOOLCHAIN: "local", GOWORK: "off", ...registryEnv() };
    for (const m of ["app", "lib"]) await execFileAsync("/usr/bin/go", ["mod", "tidy"], { cwd: join(dir, m), env });
    execFileSync("chmod", ["-R", "u+w", home]);
    git(dir, "init", "-q", "-b", "main");
    git(dir, "add", "-A");
    git(dir, "commit", "-qm", "workspace");

    const dry = JSON.parse((await cli(dir, ["--dry-run", "--json"])).out);
    expect(dry.problems).toEqual([]);
    expect(dry.groups.map((g: { name: string; updates: Array<{ manifest: string; name: string; newVersion: string }> }) => [g.name, g.updates.map((u) => `${u.manifest} ${u.name}@${u.newVersion}`)])).toEqual([
      ["non-major", ["app/go.mod example.com/greet@v1.1.0", "lib/go.mod example.com/words@v0.2.0"]],
    ]);

    const r = await cli(dir, ["--json"]);
    if (!r.out) throw new Error(r.err);
    const report = JSON.parse(r.out);
    expect(report.groups.map((g: { branch: string; status: string }) => g.branch)).toEqual(["iquest/deps-non-major"]);
    expect(report.groups[0].status).not.toBe("error");
    expect(git(dir, "show", "--name-only", "--format=", "iquest/deps-non-major").split("\n").sort()).toEqual(["app/go.mod", "app/go.sum", "lib/go.mod", "lib/go.sum"]);
    expect(git(dir, "show", "iquest/deps-non-major:app/go.mod")).toContain("\texample.com/greet v1.1.0\n");
    expect(git(dir, "show", "iquest/deps-non-major:lib/go.sum")).toContain("example.com/words v0.2.0 h1:");
  }, 300_000);

  test("a module the proxy fails for: a problem line naming it; the other module is still proposed", async () => {
    const repo = await goApp();
    proxy.failModule("example.com/words", 502);
    try {
      const r = await cli(repo, ["--dry-run", "--json"]);
      const report = JSON.parse(r.out);
      expect(r.code).toBe(EXIT_CODES.error);
      expect(report.problems).toEqual([expect.objectContaining({ kind: "registry", name: "example.com/words", message: expect.stringMatching(/answered 502 for `example\.com\/words`/) })]);
      expect(report.groups[0].updates.map((u: { name: string }) => u.name)).toEqual(["example.com/greet"]);
    } finally {
      proxy.failModule("example.com/words", 0);
    }
  }, 120_000);
});
