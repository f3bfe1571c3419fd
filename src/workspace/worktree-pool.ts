import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { removeTree } from "./fs-utils.js";
import type { Git } from "./git.js";
import type { Lock } from "./lock.js";
import { SYSTEM_PATH, runProcess } from "./run-process.js";

/**
 * Warm checkouts: a finished job's directory is parked instead of deleted, and the next job on the
 * same repository moves it to its own commit, writing only what differs, instead of writing the
 * whole tree again (checkout.ts `WorkspaceOptions.pool`).
 *
 * Isolation stays total. What one job may have written (tracked files changed, even with their
 * size and mtime put back; untracked and ignored files; nested repositories; the sandbox's own
 * `.git` with its config, hooks and objects; HOME with its dotfiles and caches) is gone before the
 * next job sees the directory:
 * - `work/.git` and `home/` are deleted and made again, exactly as for a new checkout;
 * - `clean -ffdx` (host git, the host-private index of the commit the slot holds) removes
 *   everything not tracked, then `read-tree -u --reset` compares every tracked file with that
 *   index (its stat, ctime included, which no process can set back, and its content where the
 *   stat cannot be trusted) and writes the new commit over whatever differs. Host git never reads
 *   the sandbox's `.git` (it is already gone) and runs with the mirror as its git dir;
 * - ownership is handed to the slot's sandbox uid for the entries host git wrote.
 * Anything that fails on the way discards the slot, and the job gets a new checkout.
 *
 * The pool itself is this process's bookkeeping: the slots' directories hold their job and uid
 * locks (flock), so a worker that dies leaves them to the sweep, like any dead job's.
 */
export interface PooledPaths {
  worktree: string;
  home: string;
  hostDir: string;
  checkoutIndex: string;
}

export interface ParkedSlot {
  /** The repository's key (mirror name). */
  key: string;
  dir: string;
  paths: PooledPaths;
  /** The commit the files and the private index are at. */
  commit: string;
  /** The directory's job lock and the sandbox uid it keeps. */
  jobLock: Lock;
  uid: { uid: number; lock: Lock } | null;
  parkedAt: number;
}

export interface PoolLimits {
  /** Parked slots kept per repository (0: no pool). */
  perRepo: number;
  /** Parked slots kept in all. */
  total: number;
}

/** Which slots are parked; the caller deletes what `park` pushes out. Synchronous: no two jobs take one slot. */
export class WorktreePool {
  private readonly slots: ParkedSlot[] = [];

  constructor(readonly limits: PoolLimits) {}

  get size(): number {
    return this.slots.length;
  }

  /** The most recently parked slot of this repository (its files are the likeliest to be close). */
  take(key: string): ParkedSlot | undefined {
    for (let i = this.slots.length - 1; i >= 0; i--) {
      if (this.slots[i]!.key === key) return this.slots.splice(i, 1)[0];
    }
    return undefined;
  }

  /** Park a slot; returns the slots that no longer fit (oldest first), for the caller to delete. */
  park(slot: ParkedSlot): ParkedSlot[] {
    if (this.limits.perRepo <= 0 || this.limits.total <= 0) return [slot];
    this.slots.push(slot);
    const out: ParkedSlot[] = [];
    const sameRepo = this.slots.filter((s) => s.key === slot.key);
    while (sameRepo.length > this.limits.perRepo) out.push(this.remove(sameRepo.shift()!));
    while (this.slots.length > this.limits.total) out.push(this.remove(this.slots[0]!));
    return out;
  }

  /** Every parked slot (shutdown, or a repository's mirror going away). */
  drain(key?: string): ParkedSlot[] {
    const out = this.slots.filter((s) => key === undefined || s.key === key);
    for (const s of out) this.remove(s);
    return out;
  }

  private remove(slot: ParkedSlot): ParkedSlot {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    return slot;
  }
}

type SlotGitOptions = { mirror: string; paths: PooledPaths; auth: Record<string, string>; secrets: readonly string[]; signal?: AbortSignal };

/** Host git on a slot's files: the mirror as git dir, the slot's host-private index. */
function slotGit(git: Git, o: SlotGitOptions) {
  const { worktree, checkoutIndex } = o.paths;
  return (args: string[]) =>
    git(["--git-dir", o.mirror, "--work-tree", worktree, "-c", "checkout.workers=0", ...args], {
      cwd: worktree,
      env: { ...o.auth, GIT_INDEX_FILE: checkoutIndex },
      secrets: o.secrets,
      ...(o.signal ? { signal: o.signal } : {}),
    });
}

/**
 * Moving a parked slot's files to a commit (see the top of this file) is two steps, so that the
 * first can run while the commit's missing blobs are still being fetched: `clearSlotFiles`, then
 * `resetSlotFiles`. The caller holds the repository lock and rebuilds `work/.git` itself.
 */

/** Step 1: everything the index of the slot's last commit does not track is removed (it needs no new object). */
export async function clearSlotFiles(git: Git, o: SlotGitOptions): Promise<void> {
  await slotGit(git, o)(["clean", "-ffdxq"]);
}

/**
 * Step 2, once the commit's blobs are in the mirror: with --reset, read-tree checks every index
 * entry against its file (lstat, then the content where the stat cannot be trusted: git's
 * racy-timestamp rule) and writes again every one that differs, as well as what the new commit
 * changes. The index's stat data was refreshed when the slot was parked, so an untouched file is
 * one lstat.
 */
export async function resetSlotFiles(git: Git, o: SlotGitOptions & { commit: string }): Promise<void> {
  await slotGit(git, o)(["read-tree", "-u", "--reset", o.commit]);
}

/** HOME and the host-private directory as a new checkout has them: empty (the index kept). */
export async function resetSlotDirs(paths: PooledPaths, trash: string): Promise<void> {
  await removeTree(paths.home, trash);
  await mkdir(paths.home, { mode: 0o700 });
  for (const name of await readdir(paths.hostDir)) {
    if (join(paths.hostDir, name) !== paths.checkoutIndex) await removeTree(join(paths.hostDir, name), trash);
  }
}

/**
 * Give what host git wrote (owned by the worker) to the sandbox uid, leaving the rest alone: a
 * `chown -R` would change every file's ctime, and the next reuse would hash every file again.
 */
export async function chownForeign(root: string, uid: number, gid: number): Promise<void> {
  // `.git` is left out: it is being written at the same time, and is handed over whole afterwards.
  const foreign = ["(", "!", "-uid", String(uid), "-o", "!", "-gid", String(gid), ")", "-exec", "chown", "-h", `${uid}:${gid}`, "--", "{}", "+"];
  const r = await runProcess("find", [root, "-xdev", "-path", join(root, ".git"), "-prune", "-o", ...foreign], {
    env: { PATH: SYSTEM_PATH },
  });
  if (r.code !== 0) throw new Error(`chown of the recycled checkout failed: ${r.stderr.toString().trim()}`);
}
