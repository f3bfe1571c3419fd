import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bash, replace, submit } from "../support/fake-vllm/index.js";
import { startPypiIndex, type PypiIndex } from "../support/pypi-index.js";
import { PY_GREETER_REPAIR, publishGreeterWheels, writePoetryApp } from "../support/python-fixtures.js";
import { startUpgradeHarness, type UpgradeHarness } from "../support/upgrade-harness.js";

/**
 * The upgrade job on a Python project's requirements pins, on the GitHub simulator: versions from
 * the operator's index (PIP_INDEX_URL, served by the test with wheels built at run time), the pin
 * rewritten, setup's pip installing it in the worker's sandbox through the egress proxy, pytest
 * against the default branch's baseline, the agent's repair of the major, one PR per group.
 */
let index: PypiIndex;
let h: UpgradeHarness;
const made: string[] = [];

beforeAll(async () => {
  index = await startPypiIndex();
  const wheels = mkdtempSync(join(tmpdir(), "py-job-wheels-"));
  made.push(wheels);
  await publishGreeterWheels(index, wheels);
  h = await startUpgradeHarness({ PIP_INDEX_URL: index.simple });
}, 120_000);

afterAll(async () => {
  await h?.stop();
  await index?.close();
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

describe("the upgrade job on Python requirements pins", () => {
  test("the minor passes (a ready PR), the major breaks pytest and is repaired (a draft PR: bump, then repair)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "py-job-app-"));
    made.push(dir);
    writeFileSync(join(dir, "requirements.txt"), "greeter==1.0.0\n");
    writeFileSync(join(dir, "pytest.ini"), "[pytest]\n");
    writeFileSync(join(dir, "app.py"), "from greeter import greet\n\ndef welcome(name):\n    return greet(name)\n");
    writeFileSync(join(dir, "test_app.py"), "from app import welcome\n\ndef test_welcome():\n    assert welcome('Py') == 'Hello, Py!'\n");
    h.vllm.push(bash("python3 -m pytest -q"), replace("app.py", PY_GREETER_REPAIR.from, PY_GREETER_REPAIR.to), bash("python3 -m pytest -q"), submit(PY_GREETER_REPAIR.summary));
    const { repo, outcome } = await h.upgradeRepo("py-app", dir, 702);
    expect(outcome.tone).toBe("success");
    const pulls = h.sim.pullsOf(repo.fullName);
    expect(pulls.map((p) => [p.head.ref, p.draft])).toEqual([
      ["iquest/deps-non-major", false],
      ["iquest/deps-greeter-2", true],
    ]);
    expect(h.sim.issue(repo.fullName, pulls[1]!.number)!.body).toContain("After the repair: **No new failures**");
    const clone = mkdtempSync(join(tmpdir(), "py-job-clone-"));
    made.push(clone);
    const git = await h.clone(repo, 702, clone);
    const branch = "origin/iquest/deps-greeter-2";
    expect((await git("log", "--format=%s", `origin/main..${branch}`)).split("\n")).toEqual(["Repair the code for the greeter-2 upgrade", "Update greeter to 2.0.0"]);
    expect(await git("show", `${branch}~1:requirements.txt`)).toBe("greeter==2.0.0");
    expect(await git("show", "--name-only", "--format=", branch)).toBe("app.py");
    expect(h.sim.errors).toEqual([]);
  }, 300_000);

  test("a Poetry project: the compatible update moves poetry.lock alone (a ready PR); the major rewrites the constraint and is repaired (a draft); poetry ran in the worker's sandbox", async () => {
    const dir = mkdtempSync(join(tmpdir(), "py-job-poetry-"));
    made.push(dir);
    // The project's own source is the operator's index here (allowed); the worker reads versions from it.
    await writePoetryApp(dir, index);
    h.vllm.push(bash("python3 -m pytest -q"), replace("app.py", PY_GREETER_REPAIR.from, PY_GREETER_REPAIR.to), bash("python3 -m pytest -q"), submit(PY_GREETER_REPAIR.summary));
    const { repo, outcome } = await h.upgradeRepo("py-poetry", dir, 703);
    const pulls = h.sim.pullsOf(repo.fullName);
    expect(pulls.map((p) => [p.head.ref, p.draft])).toEqual([
      ["iquest/deps-non-major", false],
      ["iquest/deps-greeter-2", true],
    ]);
    expect(outcome.tone).toBe("success");
    const clone = mkdtempSync(join(tmpdir(), "py-job-clone-"));
    made.push(clone);
    const git = await h.clone(repo, 703, clone);
    expect(await git("show", "--name-only", "--format=", "origin/iquest/deps-non-major")).toBe("poetry.lock");
    expect(await git("show", "origin/iquest/deps-non-major:poetry.lock")).toMatch(/name = "greeter"\nversion = "1\.1\.0"/);
    expect((await git("log", "--format=%s", "origin/main..origin/iquest/deps-greeter-2")).split("\n")).toEqual(["Repair the code for the greeter-2 upgrade", "Update greeter to 2.0.0"]);
    expect(await git("show", "origin/iquest/deps-greeter-2:pyproject.toml")).toContain('greeter = { version = "^2.0" }');
    expect(h.sim.errors).toEqual([]);
  }, 300_000);
});
