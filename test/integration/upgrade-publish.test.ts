import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { chmodSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createWorkspaceManager, type RepoRef, type WorkspaceManager } from "../../src/workspace/checkout.js";
import { publishCheckout, readRemoteBranch } from "../../src/workspace/publish.js";
import { createRemote, gitSync, makeTempDir, type TestRemote } from "../support/workspace-repos.js";

/**
 * Publish's `mergeBase` (for upgrade branches rebuilt from the default branch each run): when
 * the default branch moved since the bot's last push, the new commit also has the new base as a
 * parent, so the PR's diff stays the bot's change; the push is still a plain fast-forward. And
 * two publishes in a row (bump, then repair) leave two commits, each with its own change.
 */
const REPO: RepoRef = { owner: "octo", name: "up", id: 11 };
const BOT = { name: "iquest-bot[bot]", email: "5+iquest-bot[bot]@users.noreply.github.com" };
let tmp: string;
let remote: TestRemote;
let manager: WorkspaceManager;

beforeAll(() => {
  tmp = makeTempDir("iquest-up-pub-");
  chmodSync(tmp, 0o711);
  remote = createRemote(join(tmp, "remotes"), REPO.owner, REPO.name);
  manager = createWorkspaceManager({ root: join(tmp, "ws"), gitBaseUrl: remote.gitBaseUrl });
});

afterAll(() => {
  remote.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

async function publishFiles(base: string, files: Record<string, string>, opts: { expected: string | null; mergeBase?: boolean; message: string; job: string }) {
  const co = await manager.checkout({ repo: REPO, commit: base, jobId: opts.job, token: "ghs_x" });
  try {
    for (const [p, c] of Object.entries(files)) writeFileSync(join(co.worktree, p), c);
    return await publishCheckout(manager, co, {
      branch: "iquest/deps-non-major",
      expectedRemoteSha: opts.expected,
      identity: BOT,
      message: opts.message,
      jobId: opts.job,
      token: "ghs_unused",
      ...(opts.mergeBase !== undefined ? { mergeBase: opts.mergeBase } : {}),
    });
  } finally {
    await co.remove();
  }
}

const parentsOf = (sha: string) => gitSync(["rev-list", "--parents", "-n", "1", sha], remote.bare).split(" ").slice(1);
const changedBy = (sha: string, against: string) => gitSync(["diff", "--name-only", against, sha], remote.bare).split("\n").filter(Boolean);

describe("upgrade branches", () => {
  test("bump then repair: two fast-forward commits; later, with the default branch moved, a merge with the new base whose diff against it is the upgrade alone", async () => {
    const base1 = remote.commit({ "package.json": '{"dependencies":{"a":"^1.0.0"}}\n', "src/app.js": "a.old()\n", "README.md": "v1\n" }, "base 1");
    const bump = await publishFiles(base1, { "package.json": '{"dependencies":{"a":"^2.0.0"}}\n' }, { expected: null, mergeBase: true, message: "Update a to 2.0.0", job: "j1" });
    if (bump.status !== "pushed") throw new Error("bump not pushed");
    expect(parentsOf(bump.commit)).toEqual([base1]);
    const repair = await publishFiles(base1, { "package.json": '{"dependencies":{"a":"^2.0.0"}}\n', "src/app.js": "a.new()\n" }, { expected: bump.commit, mergeBase: true, message: "Repair", job: "j2" });
    if (repair.status !== "pushed") throw new Error("repair not pushed");
    expect(parentsOf(repair.commit)).toEqual([bump.commit]);
    expect(repair.files.map((f) => f.path)).toEqual(["src/app.js"]);

    // The default branch moves on (a human edits the README on main).
    const base2 = remote.commit({ "README.md": "v2\n" }, "base 2");
    const head = await readRemoteBranch(manager, (await manager.checkout({ repo: REPO, commit: base2, jobId: "peek", token: "x" })), "iquest/deps-non-major", "x");
    expect(head).toBe(repair.commit);
    const again = await publishFiles(base2, { "package.json": '{"dependencies":{"a":"^2.0.0"}}\n' }, { expected: repair.commit, mergeBase: true, message: "Update a to 2.0.0", job: "j3" });
    if (again.status !== "pushed") throw new Error("update not pushed");
    expect(parentsOf(again.commit)).toEqual([repair.commit, base2]);
    // Against the new base, the branch changes only the upgrade's file: README v2 came from main.
    expect(changedBy(again.commit, base2)).toEqual(["package.json"]);
    expect(gitSync(["show", `${again.commit}:README.md`], remote.bare)).toBe("v2");
    expect(again.files.map((f) => f.path)).toEqual(["package.json"]);
    expect(remote.tip("iquest/deps-non-major")).toBe(again.commit);
  });

  test("the same content on an up-to-date branch: no commit; on a branch behind the base: a merge even without a content change", async () => {
    const tip = remote.tip("iquest/deps-non-major")!;
    const base = remote.tip("main")!;
    const same = await publishFiles(base, { "package.json": '{"dependencies":{"a":"^2.0.0"}}\n' }, { expected: tip, mergeBase: true, message: "noop", job: "j4" });
    expect(same.status).toBe("no-changes");
    const base3 = remote.commit({ "README.md": "v3\n" }, "base 3");
    const moved = await publishFiles(base3, { "package.json": '{"dependencies":{"a":"^2.0.0"}}\n' }, { expected: tip, mergeBase: true, message: "catch up", job: "j5" });
    if (moved.status !== "pushed") throw new Error("not pushed");
    expect(parentsOf(moved.commit)).toEqual([tip, base3]);
    // Without mergeBase, publish keeps its old behaviour: one parent.
    const base4 = remote.commit({ "README.md": "v4\n" }, "base 4");
    const plain = await publishFiles(base4, { "package.json": '{"dependencies":{"a":"^2.0.0"}}\n' }, { expected: moved.commit, message: "plain", job: "j6" });
    if (plain.status !== "pushed") throw new Error("not pushed");
    expect(parentsOf(plain.commit)).toEqual([moved.commit]);
  });
});
