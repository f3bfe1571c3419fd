import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { createWorkspaceManager, type JobCheckout, type RepoRef, type WorkspaceManager } from "../../src/workspace/checkout.js";
import { createSandbox } from "../../src/workspace/sandbox.js";
import { createRemote, gitSync, makeTempDir, type TestRemote } from "../support/workspace-repos.js";

/**
 * Warm checkouts (worktree-pool.ts): the next job on a repository gets the previous job's
 * directory, moved to its commit, and sees nothing of what that job did. The first job, in the
 * real bubblewrap sandbox as its pool uid, leaves something everywhere it may write: untracked and
 * ignored files, a tracked file changed with its size and mtime put back, a mode change, a file
 * turned into a directory and another into a symlink, a nested repository, its `.git`'s config,
 * hooks, commits and objects, HOME's dotfiles and caches, and a directory it locked with mode 000.
 */
const REPO: RepoRef = { owner: "octo", name: "pool", id: 11 };
let tmp: string;
let remote: TestRemote;
let c1: string;
let c2: string;

const LITTER = [
  "set -e",
  "echo untracked > untracked.txt",
  "mkdir -p node_modules/pkg && echo 'module.exports = 1' > node_modules/pkg/index.js && echo SECRET=1 > .env",
  // Same size, mtime put back: only a content hash (or ctime) can tell.
  "old=$(stat -c %Y same-size.txt); printf 'EVIL' > same-size.txt; touch -d @$old same-size.txt",
  "chmod 755 plain.txt",
  "rm becomes-dir.txt && mkdir becomes-dir.txt && echo inside > becomes-dir.txt/x",
  "rm becomes-link.txt && ln -s /etc/hostname becomes-link.txt",
  "git init -q nested && echo n > nested/f",
  "git config core.hooksPath /workspace/evil-hooks && git config user.email evil@example.com",
  "mkdir -p .git/hooks && printf '#!/bin/sh\\ntouch /workspace/HOOK_RAN\\n' > .git/hooks/post-checkout && chmod +x .git/hooks/post-checkout",
  "git -c user.name=e -c user.email=e@e commit -qam 'evil commit' --allow-empty",
  "echo '[core]' > ~/.gitconfig && echo '  pager = evil' >> ~/.gitconfig && echo //evil/:_authToken=x > ~/.npmrc && mkdir -p ~/.cache/evil && echo c > ~/.cache/evil/blob",
  "mkdir locked && echo q > locked/f && chmod 000 locked",
].join("\n");

/** Every path under dir (relative), with its type, mode and content, .git excluded. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      if (d === dir && name === ".git") continue;
      const p = join(d, name);
      const st = lstatSync(p);
      const rel = relative(dir, p);
      if (st.isSymbolicLink()) out[rel] = "symlink";
      else if (st.isDirectory()) walk(p);
      else out[rel] = `${(st.mode & 0o777).toString(8)} ${readFileSync(p, "utf8")}`;
    }
  };
  walk(dir);
  return out;
}

/** What a new checkout of `commit` holds (a plain clone, for comparison). */
function expected(commit: string): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), "pool-expected-"));
  try {
    gitSync(["clone", "-q", remote.bare, dir]);
    gitSync(["checkout", "-q", commit], dir);
    return snapshot(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const inJob = (job: JobCheckout, args: string[]) => gitSync(["-c", `safe.directory=${job.worktree}`, ...args], job.worktree);

beforeAll(() => {
  tmp = makeTempDir("iquest-pool-test-");
  chmodSync(tmp, 0o711);
  remote = createRemote(join(tmp, "remotes"), REPO.owner, REPO.name);
  const files: Record<string, string> = {
    ".gitignore": "node_modules/\n.env\n",
    "same-size.txt": "GOOD",
    "plain.txt": "plain\n",
    "becomes-dir.txt": "a file\n",
    "becomes-link.txt": "a file too\n",
    "gone-in-c2.txt": "only in c1\n",
  };
  for (let i = 0; i < 30; i++) files[`src/m${i}.js`] = `export const v = ${i};\n`;
  c1 = remote.commit(files, "c1");
  c2 = remote.commit({ "gone-in-c2.txt": null, "src/m3.js": "export const v = 'three';\n", "added-in-c2.txt": "new\n" }, "c2");
});

afterAll(() => {
  remote.cleanup();
  rmSync(tmp, { recursive: true, force: true });
});

describe("a warm checkout", () => {
  let manager: WorkspaceManager;
  beforeAll(() => {
    manager = createWorkspaceManager({ root: join(tmp, "ws"), gitBaseUrl: remote.gitBaseUrl, pool: { perRepo: 1, total: 4 } });
  });
  afterAll(() => manager.drainPool());

  test("reuses the last job's directory and shows the next job nothing of what it left anywhere it could write", async () => {
    const first = await manager.checkout({ repo: REPO, commit: c1, jobId: "litter", token: "ghs_x" });
    const sandbox = await createSandbox({ mode: "bwrap", worktree: first.worktree, home: first.home, uid: first.uid, gid: first.gid });
    try {
      const r = await sandbox.exec(LITTER, { timeoutMs: 30_000 });
      expect({ code: r.exitCode, output: r.output }).toMatchObject({ code: 0 });
    } finally {
      await sandbox.close();
    }
    writeFileSync(join(first.hostDir, "job-notes"), "host-side leftovers of the last job");
    expect(readFileSync(join(first.worktree, "same-size.txt"), "utf8")).toBe("EVIL");
    await first.remove();
    expect(existsSync(first.worktree)).toBe(true); // parked, not deleted

    const second = await manager.checkout({ repo: REPO, commit: c2, jobId: "clean", token: "ghs_x", localBranch: "iquest/fix-9" });
    try {
      expect(second.dir).toBe(first.dir);
      // Everything belongs to the sandbox uid, as in a new checkout (checked before this test's
      // own git, running as root, rewrites .git/index).
      if (second.uid !== null) {
        const foreign = execFileSync("find", [second.dir, "-path", second.hostDir, "-prune", "-o", "!", "-uid", String(second.uid), "-print"], { encoding: "utf8" }).split("\n").filter((l) => l && l !== second.dir);
        expect(foreign).toEqual([]);
      }
      expect(snapshot(second.worktree)).toEqual(expected(c2));
      // The sandbox's repository is a new one: one commit, the job's branch, no planted config or hooks.
      expect(inJob(second, ["rev-parse", "HEAD"])).toBe(c2);
      expect(inJob(second, ["log", "--all", "--format=%H"])).toBe(c2);
      expect(inJob(second, ["symbolic-ref", "HEAD"])).toBe("refs/heads/iquest/fix-9");
      expect(inJob(second, ["status", "--porcelain", "--ignored", "--untracked-files=all"])).toBe("");
      expect(readFileSync(join(second.worktree, ".git/config"), "utf8")).not.toMatch(/hooksPath|evil/);
      expect(existsSync(join(second.worktree, ".git/hooks"))).toBe(false);
      expect(inJob(second, ["fsck", "--no-progress"])).toBe("");
      expect(readdirSync(second.home)).toEqual([]);
      expect(readdirSync(second.hostDir)).toEqual(["checkout-index"]);
    } finally {
      await second.remove();
    }

    // And back to the older commit: a file c2 deleted comes back, the one it added goes.
    const third = await manager.checkout({ repo: REPO, commit: c1, jobId: "back", token: "ghs_x" });
    try {
      expect(third.dir).toBe(first.dir);
      expect(snapshot(third.worktree)).toEqual(expected(c1));
      expect(inJob(third, ["status", "--porcelain", "--ignored", "--untracked-files=all"])).toBe("");
    } finally {
      await third.remove();
    }
    expect(existsSync(join(third.worktree, "HOOK_RAN"))).toBe(false);
  }, 120_000);

  test("a slot is held by one job at a time: two jobs at once get two directories, and both are parked only up to the limit", async () => {
    const [a, b] = await Promise.all([
      manager.checkout({ repo: REPO, commit: c2, jobId: "a", token: "ghs_x" }),
      manager.checkout({ repo: REPO, commit: c2, jobId: "b", token: "ghs_x" }),
    ]);
    expect(a.dir).not.toBe(b.dir);
    expect(snapshot(a.worktree)).toEqual(expected(c2));
    expect(snapshot(b.worktree)).toEqual(expected(c2));
    await a.remove();
    await b.remove(); // perRepo 1: one of the two is deleted
    expect([existsSync(a.dir), existsSync(b.dir)].filter(Boolean)).toHaveLength(1);
  }, 60_000);

  test("a parked directory that cannot be reused is thrown away, and the job gets a new checkout", async () => {
    const job = await manager.checkout({ repo: REPO, commit: c1, jobId: "broken", token: "ghs_x" });
    await job.remove();
    // Damage the host-private index the reuse starts from.
    writeFileSync(job.checkoutIndex, "not an index");
    const next = await manager.checkout({ repo: REPO, commit: c2, jobId: "after-broken", token: "ghs_x" });
    try {
      expect(next.dir).not.toBe(job.dir);
      expect(existsSync(job.dir)).toBe(false);
      expect(snapshot(next.worktree)).toEqual(expected(c2));
    } finally {
      await next.remove();
    }
  }, 60_000);

  test("off (the default for a manager without `pool`): every job's directory is deleted at its end", async () => {
    const plain = createWorkspaceManager({ root: join(tmp, "ws-plain"), gitBaseUrl: remote.gitBaseUrl });
    const job = await plain.checkout({ repo: REPO, commit: c1, jobId: "p1", token: "ghs_x" });
    await job.remove();
    expect(existsSync(job.dir)).toBe(false);
    expect(statSync(join(tmp, "ws-plain", "jobs")).isDirectory()).toBe(true);
  });
});
