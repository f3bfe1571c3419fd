import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bash, replace, submit } from "../support/fake-vllm/index.js";
import { JS_MANAGERS, lockedIn, publishJsAppPackages, publishPackageManagers, writeJsApp, type ManagerVersions } from "../support/js-managers.js";
import { startUpgradeHarness, type UpgradeHarness } from "../support/upgrade-harness.js";
import { GREETER_FIX_SUMMARY } from "../support/upgrade-fixtures.js";

/**
 * The upgrade job on pnpm, yarn classic and yarn berry projects, on the GitHub simulator: the worker reads the
 * lock files, corepack in the worker's sandbox fetches the pinned manager from the operator's npm
 * registry (NPM_REGISTRY, here the test's), the manager locks the exact proposed versions, the
 * tests run against the default branch's baseline, the agent repairs the breaking major, and one
 * PR per group (a draft where the agent repaired) holds the bump commit (manifests and lock file) and the repair.
 */
let h: UpgradeHarness;
let versions: ManagerVersions;
const made: string[] = [];

beforeAll(async () => {
  // The harness's registry is the operator's npm registry: corepack fetches pnpm and yarn from it; it signs nothing.
  h = await startUpgradeHarness((registryUrl) => ({ NPM_REGISTRY: registryUrl, COREPACK_INTEGRITY_KEYS: "0" }));
  versions = await publishPackageManagers(h.registry);
  publishJsAppPackages(h.registry);
}, 120_000);

afterAll(async () => {
  await h?.stop();
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

const cases = JS_MANAGERS.map((m, i) => ({ ...m, id: 801 + i, name: m.label.split(" ")[0]! + (m.berry ? "-berry" : m.label.includes("classic") ? "-classic" : "") }));

describe.each(cases)("the upgrade job on a $label project", (m) => {
  test("two PRs: the non-major group locked exactly (never the young left-pad 1.3.0), the major repaired by the agent", async () => {
    const dir = mkdtempSync(join(tmpdir(), "js-job-app-"));
    made.push(dir);
    await writeJsApp(dir, m, h.registry, versions);
    h.vllm.push(bash(m.test), replace("index.js", 'const { greet } = require("greeter");', 'const { hello: greet } = require("greeter");'), bash(m.test), submit(GREETER_FIX_SUMMARY));
    const { repo, outcome } = await h.upgradeRepo(m.name, dir, m.id);
    const pulls = h.sim.pullsOf(repo.fullName);
    expect(pulls.map((p) => [p.head.ref, p.draft]).sort()).toEqual([
      ["iquest/deps-greeter-2", true], // repaired: a draft for a human to read
      ["iquest/deps-non-major", false], // the tests pass as they are: ready for review
    ]);
    expect(outcome.tone).toBe("success");
    const major = h.sim.issue(repo.fullName, pulls.find((p) => p.head.ref === "iquest/deps-greeter-2")!.number)!.body;
    expect(major).toContain("1.0.0 → **2.0.0**");
    expect(major).toContain("After the repair: **No new failures**");

    const clone = mkdtempSync(join(tmpdir(), "js-job-clone-"));
    made.push(clone);
    const git = await h.clone(repo, m.id, clone);
    expect((await git("show", "--name-only", "--format=", "origin/iquest/deps-non-major")).split("\n").sort()).toEqual([m.lock, "package.json", "packages/ws/package.json"].sort());
    const lock = await git("show", `origin/iquest/deps-non-major:${m.lock}`);
    expect(lockedIn(m, lock, "left-pad", "^1.2.0")).toBe("1.2.0");
    expect(lockedIn(m, lock, "@acme/ws-dep", "^1.5.0", "packages/ws")).toBe("1.5.0");
    expect(lock).not.toContain("1.3.0");
    expect((await git("log", "--format=%s", "origin/main..origin/iquest/deps-greeter-2")).split("\n")).toEqual(["Repair the code for the greeter-2 upgrade", "Update greeter to 2.0.0"]);
    expect(lockedIn(m, await git("show", `origin/iquest/deps-greeter-2:${m.lock}`), "greeter", "^2.0.0")).toBe("2.0.0");
    expect(h.sim.errors).toEqual([]);
  }, 300_000);
});
