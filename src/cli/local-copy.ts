import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createGit, type Git } from "../workspace/git.js";
import { removeTree } from "../workspace/fs-utils.js";
import { DEFAULT_EXCLUDES } from "../workspace/publish.js";
import { UsageError } from "./args.js";

/**
 * The CLI's sandboxed runs work on a copy of the user's checkout, never in it:
 *
 *   <tmp>/work      a clone of the checkout at HEAD (its own `.git`): the sandbox's /workspace
 *   <tmp>/home      the sandbox's HOME
 *   <tmp>/git-home  HOME for the host's git (empty: no global config)
 *
 * The user's uncommitted changes are not in the copy (it is made from the commit), so the agent
 * neither sees nor mixes them in; they stay untouched in the checkout. The result comes back as
 * a patch: applied to the checkout's files when it does not overlap the user's own changes,
 * else saved under `.git/iquest/`, or made into a local branch (`--branch`).
 *
 * Trust: everything under `work/` was writable by the agent, `work/.git` included. So, as the
 * worker's publish does, the host never runs git *in* the copy's repository once the sandbox
 * has run: the patch is made in the user's own repository (their configuration, which they
 * trust) with `--work-tree` at the copy's files and a private index in <tmp>, through the
 * hardened git runner (no hooks, fsmonitor, global config; local transport only).
 */
export interface CheckoutFacts {
  /** The checkout's top directory. */
  top: string;
  /** The commit HEAD points at. */
  head: string;
  /** The branch HEAD is on; undefined when detached. */
  branch?: string;
  /** Paths with uncommitted changes (tracked or untracked, not ignored). */
  dirty: string[];
}

export interface LocalCopy {
  readonly facts: CheckoutFacts;
  /** The copy's work tree on the host (the sandbox's /workspace). */
  readonly worktree: string;
  /** The sandbox's HOME on the host. */
  readonly home: string;
  /**
   * Remember the copy's files as they are now (after setup): the patch is what changed since, so
   * what setup wrote (a lock file npm made, say) is not taken for the agent's change.
   */
  snapshot(): Promise<void>;
  /** The change in the copy since the snapshot (else HEAD), as a binary patch (new and deleted files included); "" when none. */
  patch(): Promise<string>;
  /** The paths the change since the snapshot touches. */
  paths(): Promise<string[]>;
  /** Apply a patch to the checkout's files (not its index); false when it does not apply cleanly. */
  applyToCheckout(patch: string): Promise<{ applied: true } | { applied: false; reason: string }>;
  /** Write a patch under the checkout's `.git/iquest/`; returns its path. */
  savePatch(patch: string, name: string): Promise<string>;
  /** Commit HEAD plus the patch on a new local branch of the checkout (never an existing one). */
  commitToBranch(branch: string, message: string, patch: string): Promise<string>;
  /** A commit in the checkout's repository: `parent` with these files' contents (no branch yet). */
  commitFiles(parent: string, files: ReadonlyMap<string, Buffer>, message: string): Promise<string>;
  /** A commit in the checkout's repository: `parent` with the patch applied; undefined when the patch is empty. */
  commitPatch(parent: string, patch: string, message: string): Promise<string | undefined>;
  /** Point a new local branch at a commit (never an existing branch). */
  createBranch(branch: string, commit: string): Promise<void>;
  close(): Promise<void>;
}

const BOT_IDENTITY = { GIT_AUTHOR_NAME: "iquest-bot", GIT_AUTHOR_EMAIL: "iquest-bot@localhost", GIT_COMMITTER_NAME: "iquest-bot", GIT_COMMITTER_EMAIL: "iquest-bot@localhost" };

/** Is `path` a git checkout with a commit, and where does it stand? A UsageError says what is wrong. */
export async function checkoutFacts(git: Git, path: string, otherwise?: string): Promise<CheckoutFacts> {
  const inside = await git(["rev-parse", "--is-inside-work-tree"], { cwd: path, okExitCodes: [128] });
  if (inside.code !== 0 || inside.stdout.trim() !== "true") {
    throw new UsageError(`--repo ${path}: not a git checkout. The sandbox works on a copy of a commit; run \`git init && git add -A && git commit\` first${otherwise ? `, ${otherwise}` : ""}`);
  }
  const top = (await git(["rev-parse", "--show-toplevel"], { cwd: path })).stdout.trim();
  const head = await git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], { cwd: top, okExitCodes: [1, 128] });
  if (head.code !== 0) throw new UsageError(`--repo ${path}: the repository has no commit yet; commit something first`);
  const branch = await git(["symbolic-ref", "--quiet", "--short", "HEAD"], { cwd: top, okExitCodes: [1] });
  const status = await git(["status", "--porcelain=v1", "-z", "--untracked-files=normal"], { cwd: top });
  const dirty = status.stdout
    .split("\0")
    .filter(Boolean)
    // Renames carry their source as the next NUL-separated field, without a status prefix.
    .filter((entry) => /^[ MADRCU?!]{2} /.test(entry))
    .map((entry) => entry.slice(3));
  return { top, head: head.stdout.trim(), ...(branch.code === 0 ? { branch: branch.stdout.trim() } : {}), dirty };
}

/** A hardened git for the CLI's host-side work: local transport only, an empty HOME. */
export async function cliGit(tmpRoot = tmpdir()): Promise<{ git: Git; dispose(): Promise<void> }> {
  const home = await mkdtemp(join(tmpRoot, "iquest-git-home-"));
  return { git: createGit({ homeDir: home, protocols: ["file"] }), dispose: () => removeTree(home) };
}

export async function makeLocalCopy(git: Git, facts: CheckoutFacts, options: { tmpRoot?: string; signal?: AbortSignal } = {}): Promise<LocalCopy> {
  const { signal } = options;
  const root = await mkdtemp(join(options.tmpRoot ?? tmpdir(), "iquest-cli-"));
  const worktree = join(root, "work");
  const home = join(root, "home");
  const index = join(root, "index");
  const excludes = join(root, "excludes");
  let base = facts.head;
  try {
    await mkdir(home);
    await writeFile(excludes, `${DEFAULT_EXCLUDES.join("\n")}\n`);
    // --no-hardlinks: the sandbox may write the copy's object files; hard links would be the user's.
    await git(["clone", "--quiet", "--no-hardlinks", "--no-checkout", facts.top, worktree], { ...(signal ? { signal } : {}) });
    await git(["checkout", "--quiet", "--detach", facts.head], { cwd: worktree });
  } catch (err) {
    await removeTree(root);
    throw err;
  }

  // git in the user's repository, looking at the copy's files through a private index.
  // Build and cache directories (node_modules/, .venv/, …) are never part of the change, as in
  // the worker's publish, even where the repository does not ignore them.
  const onCopy = (args: string[], okExitCodes: number[] = [0]) =>
    git(["-c", `core.excludesFile=${excludes}`, "--work-tree", worktree, ...args], { cwd: facts.top, env: { GIT_INDEX_FILE: index, ...BOT_IDENTITY }, okExitCodes });
  const stage = async () => {
    await onCopy(["read-tree", facts.head]);
    await onCopy(["add", "--all", "--", "."]);
  };
  const commitIndex = async (parent: string, message: string, env: Record<string, string>) => {
    const tree = (await git(["write-tree"], { cwd: facts.top, env })).stdout.trim();
    return (await git(["commit-tree", tree, "-p", parent, "-F", "-"], { cwd: facts.top, env: BOT_IDENTITY, input: message })).stdout.trim();
  };
  const writePatchFile = async (patch: string) => {
    const file = join(root, "change.patch");
    await writeFile(file, patch);
    return file;
  };

  const copy: LocalCopy = {
    facts,
    worktree,
    home,
    async snapshot() {
      await stage();
      base = (await onCopy(["write-tree"])).stdout.trim();
    },
    async patch() {
      await stage();
      return (await onCopy(["diff", "--cached", "--binary", "--no-color", "--no-ext-diff", "--no-textconv", base])).stdout;
    },
    async paths() {
      await stage();
      return (await onCopy(["diff", "--cached", "--name-only", "-z", base])).stdout.split("\0").filter(Boolean);
    },
    async applyToCheckout(patch) {
      if (!patch) return { applied: true };
      const patchFile = await writePatchFile(patch);
      const check = await git(["apply", "--check", "--whitespace=nowarn", patchFile], { cwd: facts.top, okExitCodes: [1, 128] });
      if (check.code !== 0) return { applied: false, reason: check.stderr.trim().split("\n").slice(0, 3).join("; ") || "git apply --check failed" };
      await git(["apply", "--whitespace=nowarn", patchFile], { cwd: facts.top });
      return { applied: true };
    },
    async savePatch(patch, name) {
      const gitDir = (await git(["rev-parse", "--absolute-git-dir"], { cwd: facts.top })).stdout.trim();
      const dir = join(gitDir, "iquest");
      await mkdir(dir, { recursive: true });
      const file = join(dir, `${name}.patch`);
      await writeFile(file, patch);
      return file;
    },
    async commitToBranch(branch, message, patch) {
      const commit = (await copy.commitPatch(facts.head, patch, message)) ?? facts.head;
      await copy.createBranch(branch, commit);
      return commit;
    },
    async commitFiles(parent, files, message) {
      // In an index of its own, from `parent`'s tree: nothing else in the copy comes along.
      const env = { GIT_INDEX_FILE: join(root, "commit-index") };
      await git(["read-tree", parent], { cwd: facts.top, env });
      for (const [path, data] of files) {
        const blob = (await git(["hash-object", "-w", "--stdin"], { cwd: facts.top, input: data })).stdout.trim();
        await git(["update-index", "--add", "--cacheinfo", `100644,${blob},${path}`], { cwd: facts.top, env });
      }
      return commitIndex(parent, message, env);
    },
    async commitPatch(parent, patch, message) {
      if (!patch) return undefined;
      const env = { GIT_INDEX_FILE: join(root, "commit-index") };
      await git(["read-tree", parent], { cwd: facts.top, env });
      await git(["apply", "--cached", "--whitespace=nowarn", await writePatchFile(patch)], { cwd: facts.top, env });
      return commitIndex(parent, message, env);
    },
    async createBranch(branch, commit) {
      // `branch` without --force refuses an existing name: a branch is never overwritten.
      await git(["branch", "--no-track", branch, commit], { cwd: facts.top });
    },
    close: () => removeTree(root),
  };
  return copy;
}

/** `--branch NAME`: a valid name that does not exist yet, checked before anything runs. */
export async function checkNewBranch(git: Git, top: string, branch: string): Promise<void> {
  const valid = await git(["check-ref-format", "--branch", branch], { cwd: top, okExitCodes: [1, 128] });
  if (valid.code !== 0) throw new UsageError(`--branch ${branch}: not a valid branch name`);
  const exists = await git(["rev-parse", "--verify", "--quiet", `refs/heads/${branch}`], { cwd: top, okExitCodes: [1] });
  if (exists.code === 0) throw new UsageError(`--branch ${branch}: the branch exists; name a new one (it is never overwritten)`);
}
