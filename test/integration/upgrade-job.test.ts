import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { bash, replace, submit } from "../support/fake-vllm/index.js";
import type { SimRepo } from "../support/github-sim/state.js";
import { DAY_MS } from "../support/npm-registry/index.js";
import { startUpgradeHarness, type UpgradeHarness } from "../support/upgrade-harness.js";
import { createGreetApp, GREETER_FIX_SUMMARY, makeDir, publishGreeter, writeFiles } from "../support/upgrade-fixtures.js";

/**
 * The upgrade job against the GitHub simulator, the test npm registry, the fake model, and real
 * git, bubblewrap and npm: the first run opens one PR per group (a passing non-major one, and a
 * major that breaks a test, repaired by the agent in a commit of its own); later runs update
 * instead of duplicating, leave a human's branch alone (saying so once), respect a declined
 * version, the PR limits and the dashboard; bad input ends in clear words, not a crash.
 */
const sh = promisify(execFile);
let h: UpgradeHarness;
let cache: string;
const fixtures: string[] = [];
const INSTALLATION = 81;

beforeAll(async () => {
  h = await startUpgradeHarness();
  cache = makeDir("upgrade-job-cache-");
  publishGreeter(h.registry);
  // A second copy that never changes, for the tests after the first block (which publishes newer greeters).
  publishGreeter(h.registry, "salutation");
}, 60_000);

afterAll(async () => {
  await h?.stop();
  for (const d of [...fixtures, cache]) rmSync(d, { recursive: true, force: true });
});

async function seedRepo(name: string, extra: Record<string, string> = {}, pkg = "greeter"): Promise<SimRepo> {
  const dir = await createGreetApp(h.registry, cache, extra, pkg);
  fixtures.push(dir);
  const repo = await h.sim.createRepo({ owner: "acme", name, fromDir: dir });
  const installationId = INSTALLATION + fixtures.length;
  h.sim.installApp({ installationId, repos: [`acme/${name}`] });
  installations.set(repo.fullName, installationId);
  h.sim.addCollaborator(repo, "alice", "write");
  return repo;
}

const installations = new Map<string, number>();
const installationOf = (repo: SimRepo) => installations.get(repo.fullName)!;

async function upgrade(repo: SimRepo, over: { issueNumber?: number; trigger?: "comment" | "schedule" } = {}) {
  const issueNumber = over.trigger === "schedule" ? undefined : (over.issueNumber ?? h.sim.createIssue({ repo, title: "Upgrade please", body: "", user: "alice" }).number);
  const r = await h.run({ repo: repo.fullName, repoId: repo.id, installationId: installationOf(repo), trigger: over.trigger ?? "comment", ...(issueNumber ? { issueNumber } : {}) });
  if (r.error) throw r.error;
  const card = issueNumber ? h.sim.commentsOn(repo.fullName, issueNumber).find((c) => c.body.includes("iquest-card")) : undefined;
  return { outcome: r.outcome!, card, issueNumber, jobId: r.jobId };
}

async function clone(repo: SimRepo, branch: string): Promise<string> {
  const dir = makeDir("upgrade-clone-");
  fixtures.push(dir);
  const token = h.sim.mintToken({ installationId: installationOf(repo), repositoryIds: [repo.id], permissions: { contents: "read" } }).token;
  await sh("git", ["clone", "-q", "-b", branch, `http://x-access-token:${token}@${h.sim.host}/${repo.fullName}.git`, dir]);
  return dir;
}

const git = async (dir: string, ...args: string[]) => (await sh("git", args, { cwd: dir })).stdout.trim();
const pullsOf = (repo: SimRepo) => h.sim.pullsOf(repo.fullName).map((p) => ({ ...p, issue: h.sim.issue(repo.fullName, p.number)! }));

describe("an upgrade run, end to end in-process", () => {
  let repo: SimRepo;

  beforeAll(async () => {
    repo = await seedRepo("greet");
  }, 60_000);

  test("first run: a passing non-major PR, and a major that broke a test, repaired by the agent in a separate commit", async () => {
    h.vllm.push(bash("npm test"), replace("index.js", 'const { greet } = require("greeter");', 'const { hello: greet } = require("greeter");'), bash("npm test"), submit(GREETER_FIX_SUMMARY));
    const { outcome, card } = await upgrade(repo);
    expect(outcome.tone).toBe("success");
    expect(card?.body).toMatch(/✅ \| repair/);
    const pulls = pullsOf(repo);
    expect(pulls.map((p) => [p.head.ref, p.draft, p.issue.title])).toEqual([
      ["iquest/deps-non-major", false, "Update dependency greeter to 1.1.0"],
      ["iquest/deps-greeter-2", true, "Update dependency greeter to v2"],
    ]);
    const major = pulls[1]!;
    expect(major.issue.body).toContain("| `greeter` <sub>dependencies</sub> | 1.0.0 → **2.0.0** | `^1.0.0` → `^2.0.0` | major | [release notes](https://github.com/acme/greeter/releases) |");
    expect(major.issue.body).toContain("- with the upgrade: `npm test`: 0 passed, 1 failed");
    expect(major.issue.body).toContain("- after the agent's repair: `npm test`: 1 passed, 0 failed");
    expect(major.issue.body).toMatch(/With the upgrade alone: \*\*New failures\*\*: 1 test\(s\) fail that passed on the base.\nNewly failing: `greets`/);
    expect(major.issue.body).toContain("After the repair: **No new failures**");
    expect(major.issue.body).toContain(GREETER_FIX_SUMMARY);
    expect(major.issue.body).toMatch(/### Budget used\n\n4 of 60 steps · [\d,]+ tokens/);
    expect(major.issue.body).toContain("CHANGELOG.md in greeter@2.0.0");
    expect(card!.body).toContain(`#${major.number}`);

    // The agent was told what failed and what the changelog says.
    const task = JSON.stringify(h.vllm.requests[0]!.body.messages);
    expect(task).toContain("is renamed `hello(name)`");
    expect(task).toMatch(/greet is not a function/);

    // Two commits on the major branch: the bump (manifest + lock only), then the repair.
    const dir = await clone(repo, "iquest/deps-greeter-2");
    const log = (await git(dir, "log", "--format=%s|%an", "origin/main..HEAD")).split("\n");
    expect(log).toEqual(["Repair the code for the greeter-2 upgrade|iquest-bot[bot]", "Update greeter to 2.0.0|iquest-bot[bot]"]);
    expect((await git(dir, "show", "--name-only", "--format=", "HEAD~1")).split("\n").sort()).toEqual(["package-lock.json", "package.json"]);
    expect(await git(dir, "show", "--name-only", "--format=", "HEAD")).toBe("index.js");
    expect(await git(dir, "log", "-1", "--format=%B", "HEAD")).toContain("IQuest-Upgrade-Repair: greeter-2");
    // The lock file was written by npm: greeter 2.0.0 with its integrity.
    const lock = JSON.parse(await git(dir, "show", "HEAD:package-lock.json")) as { packages: Record<string, { version: string; integrity: string }> };
    expect(lock.packages["node_modules/greeter"]).toEqual(expect.objectContaining({ version: "2.0.0", integrity: expect.stringMatching(/^sha512-/) }));
    expect(JSON.parse(await git(dir, "show", "HEAD:package.json")).dependencies.greeter).toBe("^2.0.0");

    // The non-major branch: one commit, the bump to ^1.1.0.
    const minor = await clone(repo, "iquest/deps-non-major");
    expect(await git(minor, "log", "--format=%s", "origin/main..HEAD")).toBe("Update greeter to 1.1.0");
    expect(JSON.parse(await git(minor, "show", "HEAD:package.json")).dependencies.greeter).toBe("^1.1.0");
    expect(h.sim.errors).toEqual([]);
  }, 240_000);

  test("a second run with nothing new: no push, no second PR, the card says the PRs are up to date", async () => {
    const tips = { minor: await h.sim.resolveRef(repo.fullName, "iquest/deps-non-major"), major: await h.sim.resolveRef(repo.fullName, "iquest/deps-greeter-2") };
    const pushes = h.sim.pushes.length;
    const { outcome, card } = await upgrade(repo);
    expect(outcome.tone).toBe("neutral");
    expect(card!.body).toMatch(/`non-major`: #\d+ already holds these versions/);
    expect(card!.body).toMatch(/`greeter-2`: #\d+ already holds these versions/);
    expect(h.sim.pushes.length).toBe(pushes);
    expect(await h.sim.resolveRef(repo.fullName, "iquest/deps-non-major")).toBe(tips.minor);
    expect(await h.sim.resolveRef(repo.fullName, "iquest/deps-greeter-2")).toBe(tips.major);
    expect(pullsOf(repo)).toHaveLength(2);
  }, 120_000);

  test("a newer minor and a moved default branch: the open PR is updated (one new merge commit), not duplicated, its diff the upgrade alone; the major's PR, current, is not rebuilt", async () => {
    h.registry.publish({ name: "greeter", version: "1.2.0", publishedAt: new Date(Date.now() - 10 * DAY_MS), files: { "index.js": 'exports.greet = (name) => `Hello, ${String(name).trim()}!`;\n' } });
    await h.sim.commit({ repo: repo.fullName, branch: "main", files: { "README.md": "# greet\n" }, message: "Docs", author: { name: "Alice", email: "alice@example.com" } });
    const before = pullsOf(repo).find((p) => p.head.ref === "iquest/deps-non-major")!;
    const majorTip = await h.sim.resolveRef(repo.fullName, "iquest/deps-greeter-2");
    const { outcome } = await upgrade(repo);
    expect(await h.sim.resolveRef(repo.fullName, "iquest/deps-greeter-2")).toBe(majorTip);
    expect(outcome.tone).toBe("success");
    expect(outcome.text).toMatch(new RegExp(`\`non-major\` \\(1 update\\): tests pass; updated PR \\[#${before.number}\\]`));
    const after = pullsOf(repo);
    expect(after).toHaveLength(2);
    const pr = after.find((p) => p.head.ref === "iquest/deps-non-major")!;
    expect(pr.number).toBe(before.number);
    expect(pr.issue.title).toBe("Update dependency greeter to 1.2.0");
    expect(pr.issue.body).toContain("1.0.0 → **1.2.0**");
    const dir = await clone(repo, "iquest/deps-non-major");
    expect((await git(dir, "rev-list", "--parents", "-n", "1", "HEAD")).split(" ")).toHaveLength(3); // a merge with the new main
    expect((await git(dir, "diff", "--name-only", "origin/main...HEAD")).split("\n").sort()).toEqual(["package-lock.json", "package.json"]);
    expect(await git(dir, "show", "HEAD:README.md")).toBe("# greet");
  }, 120_000);

  test("a human commit on the bot branch: the branch is left alone, and that is said once on its PR", async () => {
    await h.sim.commit({ repo: repo.fullName, branch: "iquest/deps-non-major", files: { "NOTES.md": "mine\n" }, message: "My change", author: { name: "Alice", email: "alice@example.com" } });
    h.registry.publish({ name: "greeter", version: "1.3.0", publishedAt: new Date(Date.now() - 10 * DAY_MS), files: { "index.js": 'exports.greet = (name) => `Hello, ${String(name).trim()}!`;\n' } });
    const tip = await h.sim.resolveRef(repo.fullName, "iquest/deps-non-major");
    const pr = pullsOf(repo).find((p) => p.head.ref === "iquest/deps-non-major")!;
    for (let i = 0; i < 2; i++) {
      const { card } = await upgrade(repo);
      expect(card!.body).toMatch(/`non-major`: `iquest\/deps-non-major` has commits by Alice <alice@example.com>; the bot leaves it alone/);
    }
    expect(await h.sim.resolveRef(repo.fullName, "iquest/deps-non-major")).toBe(tip);
    const notes = h.sim.commentsOn(repo.fullName, pr.number).filter((c) => c.body.includes("iquest-upgrade-hands-off"));
    expect(notes).toHaveLength(1);
    expect(notes[0]!.body).toMatch(/it is yours now/);
    expect(pullsOf(repo).filter((p) => p.head.ref === "iquest/deps-non-major")).toHaveLength(1);
  }, 120_000);

  test("a closed, unmerged PR declines its version until a newer one appears", async () => {
    const major = pullsOf(repo).find((p) => p.head.ref === "iquest/deps-greeter-2")!;
    h.sim.closeIssue(repo.fullName, major.number);
    const declined = await upgrade(repo);
    expect(declined.card!.body).toMatch(new RegExp(`\`greeter-2\`: declined in closed PR #${major.number}; proposed again when a newer version appears`));
    expect(pullsOf(repo).filter((p) => p.head.ref === "iquest/deps-greeter-2")).toHaveLength(1);

    // 2.1.0 brings `greet` back as an alias: newer than the declined 2.0.0, and it passes as is.
    h.registry.publish({ name: "greeter", version: "2.1.0", publishedAt: new Date(Date.now() - 5 * DAY_MS), files: { "index.js": "exports.hello = (n) => `Hello, ${String(n).trim()}!`;\nexports.greet = exports.hello;\n" } });
    const again = await upgrade(repo);
    expect(again.outcome.tone).toBe("success");
    const majors = pullsOf(repo).filter((p) => p.head.ref === "iquest/deps-greeter-2");
    expect(majors.map((p) => p.issue.state)).toEqual(["closed", "open"]);
    expect(majors[1]!.issue.title).toBe("Update dependency greeter to v2");
    expect(majors[1]!.issue.body).toContain("1.0.0 → **2.1.0**");
    expect(majors[1]!.draft).toBe(false); // passing, no model-written code
  }, 120_000);
});

describe("limits, the dashboard, scheduled runs", () => {
  test("at most N open PRs and M new per run (1 and 1 here; the per-run message is unit-tested); the rest waits on the dashboard, found again by its marker, never made twice", async () => {
    const sha = "0123456789abcdef0123456789abcdef01234567";
    const workflow = `on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v3\n      - uses: actions/setup-node@v4.1.0\n      - uses: actions/cache@${sha} # v3.0.0\n      - uses: ./.github/actions/local\n      - uses: nobody/unreleased@v1\n      - run: npm test\n`;
    const repo = await seedRepo("limits", { ".github/iquest.yml": "upgrade:\n  maxOpenPRs: 1\n  maxNewPRsPerRun: 1\n  dashboard: true\n", ".github/workflows/ci.yml": workflow }, "salutation");
    // The actions' latest releases, as GitHub's API gives them.
    h.sim.addRelease("actions/checkout", "v4.2.2");
    h.sim.addRelease("actions/setup-node", "v4.1.0");
    h.sim.addRelease("actions/cache", "v4.0.0");
    // A scheduled run: no issue, no card; it reports on the dashboard.
    const first = await upgrade(repo, { trigger: "schedule" });
    expect(first.card).toBeUndefined();
    expect(pullsOf(repo).map((p) => p.head.ref)).toEqual(["iquest/deps-non-major"]);
    const dashboards = () => h.sim.state.issues.filter((i) => i.repoId === repo.id && i.body?.includes("iquest-dependency-dashboard"));
    expect(dashboards()).toHaveLength(1);
    const board = dashboards()[0]!;
    expect(board.title).toBe("Dependency dashboard (iquest-bot)");
    expect(board.user).toBe(h.sim.app.botLogin);
    expect(board.body).toMatch(/## Pending\n\n- `iquest\/deps-salutation-2`: salutation 2.0.0. Waits: 1 upgrade PRs are open \(`upgrade.maxOpenPRs`: 1\)/);
    expect(board.body).toMatch(/## Open\n\n- \[#\d+\]\([^)]+\) `iquest\/deps-non-major`: Update dependency salutation to 1\.1\.0 \(tests pass\)/);
    expect(board.body).toMatch(/## Failed\n\n_Nothing failed._/);
    // Outdated actions: listed as information, with why they are not changed.
    expect(board.body).toContain("## GitHub Actions (information only)\n\niquest-bot never changes `.github/workflows`");
    expect(board.body).toContain("- `actions/checkout@v3` in `.github/workflows/ci.yml`: v4.2.2 is out (this uses v3).");
    expect(board.body).toContain(`- \`actions/cache@${sha}\` in \`.github/workflows/ci.yml\`: pinned to a commit of v3.0.0; v4.0.0 is the latest release.`);
    expect(board.body).not.toContain("actions/setup-node");
    expect(board.body).toContain("_Not checked (no release found, or not readable): `nobody/unreleased`._");
    expect(first.outcome.text).toMatch(/Dashboard: \[#\d+\]/);

    const second = await upgrade(repo, { trigger: "schedule" });
    expect(second.outcome.text).toMatch(/`salutation-2`: waits: 1 upgrade PRs are open \(`upgrade.maxOpenPRs`: 1\)/);
    expect(pullsOf(repo)).toHaveLength(1);
    expect(dashboards()).toHaveLength(1);
    expect(dashboards()[0]!.number).toBe(board.number);
    expect(dashboards()[0]!.body).toMatch(/Waits: 1 upgrade PRs are open/);
    expect(h.sim.comments.filter((c) => c.repoId === repo.id)).toEqual([]); // scheduled runs write no comments

    // A human closes the dashboard: it is not reopened, and no second one is made.
    h.sim.closeIssue(repo.fullName, board.number);
    const third = await upgrade(repo);
    expect(third.card!.body).toMatch(/The dependency dashboard \[#\d+\]\([^)]+\) is closed, so it was not updated/);
    expect(dashboards()).toHaveLength(1);
    expect(dashboards()[0]!.state).toBe("closed");
  }, 180_000);
});

describe("when the agent cannot repair it", () => {
  test("default: a draft marked failing, with what the agent said", async () => {
    const repo = await seedRepo("unrepaired", { ".github/iquest.yml": "upgrade:\n  ignore: ['salutation@<2']\n" }, "salutation");
    h.vllm.push(bash("npm test"), submit("I could not find what salutation 2 changed."));
    const { outcome, card } = await upgrade(repo);
    expect(outcome.tone).toBe("failure");
    const pulls = pullsOf(repo);
    expect(pulls.map((p) => [p.head.ref, p.draft, p.issue.title])).toEqual([["iquest/deps-salutation-2", true, "[tests failing] Update dependency salutation to v2"]]);
    expect(pulls[0]!.issue.body).toContain("**Tests fail** with this upgrade, and the agent could not repair it");
    expect(pulls[0]!.issue.body).toContain("I could not find what salutation 2 changed.");
    expect(card!.body).toMatch(/`salutation-2` \(1 update\): tests fail; opened draft PR/);
    expect(card!.body).toMatch(/❌ \| repair/);
  }, 120_000);

  test("`onRepairFailure: skip`: no PR, and the card says why", async () => {
    const repo = await seedRepo("skipper", { ".github/iquest.yml": "upgrade:\n  onRepairFailure: skip\n  ignore: ['salutation@<2']\n" }, "salutation");
    h.vllm.push(submit("No idea."));
    const { outcome, card } = await upgrade(repo);
    expect(outcome.tone).toBe("failure");
    expect(pullsOf(repo)).toEqual([]);
    expect(card!.body).toMatch(/`salutation-2` \(1 update\): tests fail; no PR: the tests fail with it, and `upgrade.onRepairFailure` is `skip`/);
    expect(await h.sim.resolveRef(repo.fullName, "iquest/deps-salutation-2")).toBeFalsy();
  }, 120_000);

  test("an agent that pins the old version back: its change is not kept", async () => {
    const repo = await seedRepo("downgrader", { ".github/iquest.yml": "upgrade:\n  ignore: ['salutation@<2']\n" }, "salutation");
    h.vllm.push(replace("package.json", '"salutation": "^2.0.0"', '"salutation": "^1.0.0"'), bash("npm install --offline --no-audit --no-fund || true"), submit("Went back to salutation 1."));
    const { outcome } = await upgrade(repo);
    expect(outcome.tone).toBe("failure");
    const pr = pullsOf(repo)[0]!;
    expect(pr.issue.body).toContain("The agent's change was **not** included");
    const dir = await clone(repo, "iquest/deps-salutation-2");
    expect(await git(dir, "log", "--format=%s", "origin/main..HEAD")).toBe("Update salutation to 2.0.0");
    expect(JSON.parse(await git(dir, "show", "HEAD:package.json")).dependencies.salutation).toBe("^2.0.0");
  }, 120_000);
});

describe("bad input: a clear message, never a crash", () => {
  test("an invalid package.json", async () => {
    const repo = await seedRepo("badjson");
    await h.sim.commit({ repo: repo.fullName, branch: "main", files: { "package.json": '{ "name": "greet-app",\n  "dependencies": { "greeter": "^1.0.0", }\n}\n' }, message: "oops" });
    const { outcome, card } = await upgrade(repo);
    expect(outcome.tone).toBe("failure");
    expect(card!.body).toMatch(/`package.json` is not valid JSON \(.* at line 2\), so its dependencies were not checked/);
    expect(pullsOf(repo)).toEqual([]);
  }, 60_000);

  test("the registry answers 500, or is down, or the package is gone (404)", async () => {
    const repo = await seedRepo("flaky");
    const fault = h.registry.fail({ name: "greeter", status: 500 });
    try {
      const { outcome, card } = await upgrade(repo);
      expect(outcome.tone).toBe("failure");
      expect(card!.body).toContain(`The registry ${h.registry.url} answered 500 for \`greeter\``);
    } finally {
      fault.cancel();
    }
    const gone = h.registry.fail({ name: "greeter", status: 404 });
    try {
      const { card } = await upgrade(repo);
      expect(card!.body).toContain(`\`greeter\` is not in the registry ${h.registry.url} (404): it was unpublished, renamed or is private`);
    } finally {
      gone.cancel();
    }
    await h.sim.commit({ repo: repo.fullName, branch: "main", files: { ".npmrc": `registry=${h.downRegistryUrl}\n` }, message: "moved registry" });
    const down = await upgrade(repo);
    expect(down.card!.body).toContain(`The registry ${h.downRegistryUrl} could not be reached for \`greeter\` (ECONNREFUSED)`);
    // A registry the operator did not allow is never contacted.
    await h.sim.commit({ repo: repo.fullName, branch: "main", files: { ".npmrc": "registry=http://169.254.169.254/latest/\n" }, message: "metadata address" });
    const refused = await upgrade(repo);
    expect(refused.card!.body).toContain("The registry http://169.254.169.254/latest/ (for `greeter`) is not one this bot may contact");
    expect(pullsOf(repo)).toEqual([]);
  }, 60_000);

  test("no lock file, a git and a file dependency: a warning, the manifest-only upgrade, and the dependencies it skips on the dashboard", async () => {
    const dir = makeDir("nolock-");
    fixtures.push(dir);
    writeFiles(dir, {
      ".npmrc": `registry=${h.registry.url}\n`,
      ".github/iquest.yml": "upgrade:\n  dashboard: true\n  ignore: ['greeter@>=2']\n",
      "package.json": `${JSON.stringify({ name: "nolock", private: true, dependencies: { greeter: "^1.0.0", "from-git": "git+https://github.com/acme/x.git", local: "file:./vendor/local" } }, null, 2)}\n`,
      "vendor/local/package.json": '{ "name": "local", "version": "1.0.0" }\n',
    });
    const repo = await h.sim.createRepo({ owner: "acme", name: "nolock", fromDir: dir });
    h.sim.installApp({ installationId: 990, repos: ["acme/nolock"] });
    installations.set(repo.fullName, 990);
    const { outcome, card } = await upgrade(repo);
    expect(card!.body).toMatch(/No `package-lock.json`: versions were compared with the ranges' floors, and only `package.json` changes/);
    expect(outcome.text).toMatch(/no tests ran; opened PR/);
    const pr = pullsOf(repo)[0]!;
    expect(pr.issue.body).toContain("_No test command was found, so no tests ran.");
    const cloned = await clone(repo, "iquest/deps-non-major");
    expect(await git(cloned, "show", "--name-only", "--format=", "HEAD")).toBe("package.json");
    const board = h.sim.state.issues.find((i) => i.repoId === repo.id && i.body?.includes("iquest-dependency-dashboard"))!;
    expect(board.body).toContain("- `from-git` (package.json): `git+https://github.com/acme/x.git` is a git dependency: only registry packages are upgraded");
    expect(board.body).toContain("- `local` (package.json): `file:./vendor/local` is a local file or link dependency");
    expect(board.body).toMatch(/## Ignored\n\n- `greeter` 2.\d.0: 2.\d.0 is ignored by `upgrade.ignore`/);
    expect(board.body).toMatch(/## Failed\n\n- No `package-lock.json`/);
  }, 120_000);

  test("the default branch changed a workflow since the branch was made: the merge push is refused by GitHub, and the card says what to do", async () => {
    const repo = await seedRepo("workflows", { ".github/iquest.yml": "upgrade:\n  ignore: ['salutation@>=2']\n", ".github/workflows/ci.yml": "on: push\n" }, "salutation");
    await upgrade(repo);
    expect(pullsOf(repo).map((p) => p.head.ref)).toEqual(["iquest/deps-non-major"]);
    const tip = await h.sim.resolveRef(repo.fullName, "iquest/deps-non-major");
    // Main changes the workflow and the lock file (so the group must be rebuilt).
    await h.sim.commit({ repo: repo.fullName, branch: "main", files: { ".github/workflows/ci.yml": "on: [push, pull_request]\n", "package-lock.json": `${await h.sim.readFile(repo.fullName, "main", "package-lock.json")}\n` }, message: "CI", author: { name: "Alice", email: "alice@example.com" } });
    const { outcome, card } = await upgrade(repo);
    expect(outcome.tone).toBe("failure");
    expect(card!.body).toMatch(/GitHub refused the push to `iquest\/deps-non-major`: the default branch changed files under `.github\/workflows\/`/);
    expect(await h.sim.resolveRef(repo.fullName, "iquest/deps-non-major")).toBe(tip);
    expect(pullsOf(repo)).toHaveLength(1);
  }, 120_000);

  test("a test script whose lint step fails on the default branch: the runner's own step is the baseline and the verification, so the group passes on its tests", async () => {
    const lib = "exports.greet = (name) => `Hello, ${String(name).trim()}!`;\n";
    for (const [version, days] of [["1.0.0", 60], ["1.1.0", 40]] as const) {
      h.registry.publish({ name: "welcomer", version, files: { "index.js": lib }, publishedAt: new Date(Date.now() - days * DAY_MS) });
    }
    const pkg = { name: "greet-app", version: "1.0.0", private: true, scripts: { test: "node lint.js && node --test" }, dependencies: { welcomer: "^1.0.0" } };
    const repo = await seedRepo("lint-broken", { "package.json": `${JSON.stringify(pkg, null, 2)}\n`, "lint.js": "console.error('lint.js: 1 problem');\nprocess.exit(1);\n" }, "welcomer");
    const { outcome, card } = await upgrade(repo);
    expect(card!.body).toContain("On the base commit, `npm test` fails before its tests run (in `node lint.js`). The baseline and the verification run the test runner's own step, `node --test`");
    const pulls = pullsOf(repo);
    // Compared on exit codes, the upgrade would have looked broken (the chain fails either way)
    // and gone to the agent, which has no script here: the job would have failed.
    expect(pulls.map((p) => [p.head.ref, p.draft, p.issue.title])).toEqual([["iquest/deps-non-major", false, "Update dependency welcomer to 1.1.0"]]);
    expect(pulls[0]!.issue.body).toMatch(/- with the upgrade: `[^`]*node --test`: 1 passed, 0 failed/);
    expect(outcome.tone).toBe("success");
    expect(h.sim.errors).toEqual([]);
  }, 120_000);

  test("a repository without an npm project: said plainly", async () => {
    const repo = await h.sim.createRepo({ owner: "acme", name: "empty", files: { "README.md": "hi\n" } });
    h.sim.installApp({ installationId: 991, repos: ["acme/empty"] });
    installations.set(repo.fullName, 991);
    const { outcome } = await upgrade(repo);
    expect(outcome).toEqual({ tone: "neutral", text: expect.stringMatching(/^No supported project was found/) });
    expect(h.sim.errors).toEqual([]);
  }, 60_000);
});

