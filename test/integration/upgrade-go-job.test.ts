import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { bash, replace, submit } from "../support/fake-vllm/index.js";
import { startGoProxy, type GoProxy } from "../support/go-proxy.js";
import { startUpgradeHarness, type UpgradeHarness } from "../support/upgrade-harness.js";

/**
 * The upgrade job on a Go module, on the GitHub simulator: versions from a GOPROXY the test
 * serves (modules zipped at run time), `go get` + `go mod tidy` in the worker's sandbox through
 * the egress proxy, the tests against the default branch's baseline, the agent's repair of what
 * the update broke, and one PR: the bump commit (go.mod, go.sum), then the repair.
 */
const execFileAsync = promisify(execFile);
let proxy: GoProxy;
let h: UpgradeHarness;
const made: string[] = [];
const DAY = 24 * 3600_000;

beforeAll(async () => {
  proxy = await startGoProxy();
  proxy.publish({ module: "example.com/words", version: "v0.1.0", files: { "words.go": 'package words\n\nfunc Shout(s string) string { return s + "!" }\n' }, time: new Date(Date.now() - 90 * DAY) });
  proxy.publish({ module: "example.com/words", version: "v0.2.0", files: { "words.go": 'package words\n\nfunc Exclaim(s string) string { return s + "!" }\n' }, time: new Date(Date.now() - 40 * DAY) });
  // The worker reads versions from the proxy and lets the sandbox's go reach it (by its address);
  // there is no checksum database here.
  h = await startUpgradeHarness({ GOPROXY: proxy.url, GOSUMDB: "off" });
}, 60_000);

afterAll(async () => {
  await h?.stop();
  await proxy?.close();
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

async function goApp(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "go-job-app-"));
  const home = mkdtempSync(join(tmpdir(), "go-job-home-"));
  made.push(dir, home);
  writeFileSync(join(dir, "go.mod"), "module example.com/app\n\ngo 1.19\n\nrequire example.com/words v0.1.0\n");
  writeFileSync(join(dir, "app.go"), 'package app\n\nimport "example.com/words"\n\nfunc Welcome(name string) string { return words.Shout("Hello, " + name) }\n');
  writeFileSync(join(dir, "app_test.go"), 'package app\n\nimport "testing"\n\nfunc TestWelcome(t *testing.T) {\n\tif got := Welcome("Go"); got != "Hello, Go!" {\n\t\tt.Fatalf("got %q", got)\n\t}\n}\n');
  await execFileAsync("/usr/bin/go", ["mod", "tidy"], { cwd: dir, env: { PATH: "/usr/bin:/bin", HOME: home, GOPATH: join(home, "go"), GOCACHE: join(home, "cache"), GOFLAGS: "-mod=mod", GOTOOLCHAIN: "local", GOPROXY: proxy.url, GOSUMDB: "off" } });
  execFileSync("chmod", ["-R", "u+w", home]);
  return dir;
}

describe("the upgrade job on a Go module", () => {
  test("a breaking update: go.mod and go.sum in the bump commit, the agent's repair in its own, one draft PR that says so", async () => {
    h.vllm.push(bash("go test ./..."), replace("app.go", "words.Shout(", "words.Exclaim("), bash("go test ./..."), submit("words v0.2.0 renamed Shout to Exclaim; app.go calls Exclaim now."));
    const { repo, outcome } = await h.upgradeRepo("go-app", await goApp(), 701);
    expect(outcome.tone).toBe("success");
    const pulls = h.sim.pullsOf(repo.fullName);
    expect(pulls.map((p) => [p.head.ref, p.draft])).toEqual([["iquest/deps-non-major", true]]);
    const body = h.sim.issue(repo.fullName, pulls[0]!.number)!.body;
    expect(body).toContain("`example.com/words`");
    expect(body).toContain("v0.1.0 → **v0.2.0**");
    expect(body).toContain("After the repair: **No new failures**");
    // The branch: the bump (go.mod and go.sum), then the repair (app.go).
    const dir = mkdtempSync(join(tmpdir(), "go-job-clone-"));
    made.push(dir);
    const git = await h.clone(repo, 701, dir);
    const branch = "origin/iquest/deps-non-major";
    expect((await git("log", "--format=%s", `origin/main..${branch}`)).split("\n")).toEqual(["Repair the code for the non-major upgrade", "Update example.com/words to v0.2.0"]);
    expect((await git("show", "--name-only", "--format=", `${branch}~1`)).split("\n").sort()).toEqual(["go.mod", "go.sum"]);
    expect(await git("show", `${branch}:go.mod`)).toContain("require example.com/words v0.2.0");
    expect(await git("show", "--name-only", "--format=", branch)).toBe("app.go");
    expect(h.sim.errors).toEqual([]);
  }, 300_000);
});
