import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXIT_CODES } from "../../src/cli/exit-codes.js";
import { runCliWithModel } from "../support/cli-run.js";
import { bash, replace, submit, type ScriptStep } from "../support/fake-vllm/index.js";
import { buildWheel, startPypiIndex, type PypiIndex } from "../support/pypi-index.js";
import { publishGreeterWheels, PY_GREETER_REPAIR, writePoetryApp } from "../support/python-fixtures.js";

/**
 * Python requirements pins through the upgrade: versions and upload times from a PEP 691 index
 * the test serves on 127.0.0.1 (wheels built at run time by this machine's pip), proposals by
 * `iquest-bot upgrade --dry-run`, and the upgrade applied in the sandbox (the pin rewritten, pip
 * installing it through the egress proxy), tested against the baseline with pytest, repaired by
 * the agent when the major breaks the tests.
 */
let index: PypiIndex;
const made: string[] = [];
const DAY = 24 * 3600_000;

beforeAll(async () => {
  index = await startPypiIndex();
  const wheels = mkdtempSync(join(tmpdir(), "py-wheels-"));
  made.push(wheels);
  await publishGreeterWheels(index, wheels);
  // A dependency pinned by a range: pip's to resolve, not the upgrade's.
  index.add(await buildWheel(wheels, { name: "colors", version: "1.0.0", files: { "colors/__init__.py": "RED = 'red'\n" } }));
}, 120_000);

afterAll(async () => {
  await index?.close();
  for (const d of made) rmSync(d, { recursive: true, force: true });
});


const git = (dir: string, ...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: dir, encoding: "utf8" }).trim();

function pyApp(): string {
  const dir = mkdtempSync(join(tmpdir(), "py-app-"));
  made.push(dir);
  writeFileSync(join(dir, "requirements.txt"), `--index-url ${index.simple}\ngreeter==1.0.0  # the greeting\ncolors>=1\n`);
  writeFileSync(join(dir, "pytest.ini"), "[pytest]\n");
  writeFileSync(join(dir, "app.py"), "from greeter import greet\n\ndef welcome(name):\n    return greet(name)\n");
  writeFileSync(join(dir, "test_app.py"), "from app import welcome\n\ndef test_welcome():\n    assert welcome('Py') == 'Hello, Py!'\n");
  git(dir, "init", "-q", "-b", "main");
  git(dir, "add", "-A");
  git(dir, "commit", "-qm", "app");
  return dir;
}

// The test's index is on this machine's loopback: allowed by its address; nothing else.
const cli = (repo: string, argv: string[], script: ScriptStep[] = []) => runCliWithModel(repo, ["upgrade", "--repo", repo, ...argv], script, { egressAllow: new URL(index.url).host });

describe("Python requirements pins", () => {
  test("--dry-run --json: the newest old-enough release of the same major, and the major on its own; the young one waits; a range is left to pip", async () => {
    const r = await cli(pyApp(), ["--dry-run", "--json"]);
    expect(r.code).toBe(EXIT_CODES.submitted);
    const report = JSON.parse(r.out);
    expect(report.groups.map((g: { name: string; updates: Array<{ name: string; newVersion: string; updateType: string }> }) => [g.name, g.updates.map((u) => [u.name, u.newVersion, u.updateType])])).toEqual([
      ["non-major", [["greeter", "1.1.0", "minor"]]],
      ["greeter-2", [["greeter", "2.0.0", "major"]]],
    ]);
    expect(report.skipped).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "greeter", reason: "too-young", version: "1.2.0", detail: "1.2.0 was uploaded 1 day ago; it waits until it is 3 days old" }),
        expect.objectContaining({ name: "colors", reason: "range", detail: "not an exact pin (`name==version`): the range is left to pip" }),
      ]),
    );
    // One JSON lookup for the project, with PEP 691's Accept header.
    expect(index.requests.filter((q) => q.path === "/simple/greeter/").length).toBeGreaterThan(0);
  }, 120_000);

  test("pyproject.toml (PEP 621) pins and a requirements file's `-r` include: proposed from PIP_INDEX_URL, the pin rewritten in its string; a Poetry 2 project is said, not guessed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "py-pep621-"));
    made.push(dir);
    writeFileSync(join(dir, "pyproject.toml"), '[project]\nname = "app"\nversion = "0.1.0"\ndependencies = [\n    "greeter==1.0.0",  # the greeting\n    "colors>=1",\n]\n\n[project.optional-dependencies]\ndev = ["greeter==1.1.0; python_version >= \'3.8\'"]\n');
    writeFileSync(join(dir, "requirements-dev.txt"), "-r requirements/extra.txt\n");
    execFileSync("mkdir", ["-p", join(dir, "requirements")]);
    writeFileSync(join(dir, "requirements/extra.txt"), "greeter==1.1.0\n-r ../../outside.txt\n");
    git(dir, "init", "-q", "-b", "main");
    git(dir, "add", "-A");
    git(dir, "commit", "-qm", "app");
    const r = await runCliWithModel(dir, ["upgrade", "--repo", dir, "--dry-run", "--json"], [], { egressAllow: new URL(index.url).host, registryEnv: { PIP_INDEX_URL: index.simple } });
    const report = JSON.parse(r.out);
    expect(report.problems).toEqual([]);
    const all = report.groups.flatMap((g: { updates: Array<{ manifest: string; depType: string; currentValue: string; newValue: string }> }) => g.updates.map((u) => `${u.manifest} ${u.depType} ${u.currentValue}→${u.newValue}`)).sort();
    expect(all).toEqual([
      "pyproject.toml project.dependencies 1.0.0→1.1.0",
      "pyproject.toml project.dependencies 1.0.0→2.0.0",
      "pyproject.toml project.optional-dependencies.dev 1.1.0→2.0.0",
      "requirements/extra.txt requirements 1.1.0→2.0.0",
    ]);
    expect(report.skipped).toEqual(expect.arrayContaining([expect.objectContaining({ name: "colors", manifest: "pyproject.toml", reason: "range" })]));

    writeFileSync(join(dir, "poetry.lock"), "# poetry\n");
    const poetry = JSON.parse((await runCliWithModel(dir, ["upgrade", "--repo", dir, "--dry-run", "--json"], [], { egressAllow: new URL(index.url).host, registryEnv: { PIP_INDEX_URL: index.simple } })).out);
    expect(poetry.problems.map((p: { message: string }) => p.message)).toEqual(["`poetry.lock` with `[project]` dependencies (Poetry 2): not upgraded yet; only `[tool.poetry.dependencies]` tables are"]);
    expect(poetry.groups.flatMap((g: { updates: Array<{ manifest: string }> }) => g.updates.map((u) => u.manifest))).not.toContain("pyproject.toml");
  }, 120_000);

  test("apply: the minor passes on its branch; the major breaks the test and the agent repairs it; the pin rewritten in place, comments kept", async () => {
    const repo = pyApp();
    const repair: ScriptStep[] = [bash("python3 -m pytest -q"), replace("app.py", "from greeter import greet", "from greeter import hello as greet"), bash("python3 -m pytest -q"), submit("greeter 2 renamed greet to hello.")];
    const r = await cli(repo, ["--json"], repair);
    const report = JSON.parse(r.out);
    expect(report.baseline).toMatch(/^`python3 -m pytest -rfE -p no:cacheprovider`: 1 passed, 0 failed \(\d+\.\d s\)$/);
    expect(report.groups.map((g: { branch: string; status: string }) => [g.branch, g.status])).toEqual([
      ["iquest/deps-non-major", "pass"],
      ["iquest/deps-greeter-2", "repaired"],
    ]);
    expect(r.code).toBe(EXIT_CODES.submitted);
    expect(git(repo, "show", "iquest/deps-non-major:requirements.txt")).toBe(`--index-url ${index.simple}\ngreeter==1.1.0  # the greeting\ncolors>=1`);
    expect(git(repo, "log", "--format=%s", "main..iquest/deps-greeter-2").split("\n")).toEqual(["Repair the code for the greeter-2 upgrade", "Update greeter to 2.0.0"]);
    expect(git(repo, "show", "--name-only", "--format=", "iquest/deps-greeter-2")).toBe("app.py");
    expect(r.leftovers).toEqual([]);
  }, 300_000);
});

describe("Poetry", () => {
  async function poetryApp(): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), "py-poetry-"));
    made.push(dir);
    await writePoetryApp(dir, index);
    git(dir, "init", "-q", "-b", "main");
    git(dir, "add", "-A");
    git(dir, "commit", "-qm", "app");
    return dir;
  }

  test("--dry-run, then apply: the compatible update moves poetry.lock only; the major rewrites the constraint in place and is repaired by the agent; never the young 1.2.0", async () => {
    const repo = await poetryApp();
    expect(git(repo, "show", "HEAD:poetry.lock")).toMatch(/name = "greeter"\nversion = "1\.0\.0"/);
    const dry = JSON.parse((await cli(repo, ["--dry-run", "--json"])).out);
    expect(dry.problems).toEqual([]);
    expect(dry.groups.map((g: { name: string; updates: Array<{ currentValue: string; newValue: string; currentVersion: string; newVersion: string; depType: string }> }) => [g.name, g.updates.map((u) => `${u.depType} "${u.currentValue}"→"${u.newValue}" ${u.currentVersion}→${u.newVersion}`)])).toEqual([
      ["non-major", ['tool.poetry.dependencies "^1.0"→"^1.0" 1.0.0→1.1.0']],
      ["greeter-2", ['tool.poetry.dependencies "^1.0"→"^2.0" 1.0.0→2.0.0']],
    ]);
    expect(dry.skipped).toEqual(expect.arrayContaining([expect.objectContaining({ name: "greeter", reason: "too-young", version: "1.2.0" })]));

    const repair: ScriptStep[] = [bash("python3 -m pytest -q"), replace("app.py", PY_GREETER_REPAIR.from, PY_GREETER_REPAIR.to), bash("python3 -m pytest -q"), submit(PY_GREETER_REPAIR.summary)];
    const r = await cli(repo, ["--json"], repair);
    if (!r.out) throw new Error(r.err);
    const report = JSON.parse(r.out);
    expect(report.baseline).toMatch(/^`python3 -m pytest -rfE -p no:cacheprovider`: 1 passed, 0 failed/);
    expect(report.groups.map((g: { branch: string; status: string }) => [g.branch, g.status])).toEqual([
      ["iquest/deps-non-major", "pass"],
      ["iquest/deps-greeter-2", "repaired"],
    ]);
    expect(git(repo, "show", "--name-only", "--format=", "iquest/deps-non-major")).toBe("poetry.lock");
    expect(git(repo, "show", "iquest/deps-non-major:poetry.lock")).toMatch(/name = "greeter"\nversion = "1\.1\.0"/);
    expect(git(repo, "show", "iquest/deps-greeter-2:pyproject.toml")).toContain('# the greeting\ngreeter = { version = "^2.0" }');
    expect(git(repo, "show", "iquest/deps-greeter-2~1:poetry.lock")).toMatch(/name = "greeter"\nversion = "2\.0\.0"/);
    expect(git(repo, "show", "iquest/deps-greeter-2:app.py")).toContain("from greeter import hello as greet");
    expect(r.code).toBe(EXIT_CODES.submitted);
    expect(git(repo, "status", "--porcelain")).toBe("");
  }, 600_000);
});
