import { randomBytes } from "node:crypto";
import { appendFile, chmod, chown, copyFile, mkdir, readdir, rename, stat, unlink, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { Logger } from "../shared/log.js";
import { gitAuthEnv, remoteUrlFor, resolveToken, tokenForms, type GitProtocol, type TokenSource } from "./credentials.js";
import { PermanentError } from "../shared/errors.js";
import { CommitNotFoundError } from "./errors.js";
import { chownTree, dirSize, removeTree, touch } from "./fs-utils.js";
import { OBJECT_ID, createGit, type Git } from "./git.js";
import { acquireLock, tryLock, type Lock } from "./lock.js";
import { WorktreePool, chownForeign, clearSlotFiles, resetSlotDirs, resetSlotFiles, type ParkedSlot, type PoolLimits } from "./worktree-pool.js";

/**
 * Checkouts: one partial mirror per repository, and a standalone repository per job.
 *
 * Layout under WORKSPACE_DIR:
 *   mirrors/<owner>__<name>__<id>.git   bare, blob-less partial clone (`--filter=blob:none`)
 *   mirrors/<key>.lock                  exclusive: fetch, checkout and publish write the mirror
 *   mirrors/<key>.inuse                 shared by every live job; eviction needs it exclusively
 *   mirrors/<key>.used                  mtime = last use, for LRU eviction under `mirrorCapBytes`
 *   jobs/<job>-<rand>.lock              held by the job for its lifetime (free = dead job)
 *   jobs/<job>-<rand>/work              the job's files + its own `.git`: the sandbox's /workspace
 *   jobs/<job>-<rand>/home              the sandbox's HOME (venvs, npm cache), persists per job
 *   jobs/<job>-<rand>/host              host-private: the checkout index publish starts from
 *                                       (a finished job's directory may be parked and reused by
 *                                        the next job on the repository: worktree-pool.ts)
 *   uids/<uid>.lock                     the sandbox uid pool (root workers only)
 *   install-cache/<key>/<hash>          dependency installs by lock-file hash (install-cache.ts)
 *
 * Why not a `git worktree` of the mirror for the sandbox: a worktree's `.git` is a file that
 * points into the mirror, and the mirror holds the whole history (later commits included), other
 * jobs' objects and the remote configuration. Mounting it would leak all of that, and not
 * mounting it leaves a broken repository. So each job gets a *standalone* repository instead:
 * - the files are written from the mirror (`read-tree -u` with a private index; git batches the
 *   missing-blob fetch of the partial clone);
 * - `work/.git` is a fresh `git init` holding exactly one commit, its tree and its blobs (copied
 *   with `pack-objects | index-pack`), marked shallow. No alternates, no remote, no promisor, no
 *   links outside: `git status`, `git diff` and `git log` work inside the sandbox, and nothing can
 *   trigger a fetch. It holds no history before the job's commit and none after it (benchmark
 *   hygiene: the agent cannot read the future through git).
 * - The host never runs git *in* `work/.git` once the sandbox has run: publish reads the content
 *   of `work/` with the mirror as git dir and a host-private index (see publish.ts), so hooks or
 *   config the agent plants in `work/.git` are never read.
 *
 * The token (credentials.ts) only travels in the environment of host-side git.
 */

export interface RepoRef {
  owner: string;
  name: string;
  id: number;
}

export interface WorkspaceOptions {
  /** WORKSPACE_DIR, absolute. */
  root: string;
  /** `env.githubGitUrl`: https://github.com, the GHE host, or a file:// base in tests. */
  gitBaseUrl: string;
  /** Total size cap of all mirrors; least recently used ones are evicted above it. */
  mirrorCapBytes?: number;
  lockTimeoutMs?: number;
  /** Uids handed to sandboxes when the worker is root; null to keep the worker's uid. */
  sandboxUids?: { first: number; count: number } | null;
  /** Defaults to `process.getuid() === 0`. */
  isRoot?: boolean;
  /** Leftovers younger than this are never swept (a job that is just starting). */
  sweepGraceMs?: number;
  git?: Git;
  /**
   * Warm checkouts (worktree-pool.ts): a finished job's directory is parked, and the next job on
   * the repository moves it to its commit. Default: off (every job a new directory).
   */
  pool?: PoolLimits;
  /** Proxy and CA settings for host-side git (git.ts `networkEnv`). */
  gitNetworkEnv?: Readonly<Record<string, string>>;
  log?: Logger;
  flockBinary?: string;
}

export interface CheckoutRequest {
  repo: RepoRef;
  /** The exact commit the job works on. */
  commit: string;
  jobId: string;
  /** A read token (STEP_PERMISSIONS.checkout), or a supplier of one. */
  token: TokenSource;
  /** Extra refs to fetch when the commit is missing, e.g. `refs/pull/7/head`. */
  fetchRefs?: readonly string[];
  /** Branch name inside the sandbox's repository. */
  localBranch?: string;
  /** Fetch even when the commit is already in the mirror. */
  refresh?: boolean;
  signal?: AbortSignal;
}

export interface JobCheckout {
  readonly jobId: string;
  readonly repo: RepoRef;
  readonly commit: string;
  readonly remoteUrl: string;
  /** The job's directory (host path). */
  readonly dir: string;
  /** The working tree with its standalone `.git`; mounted at /workspace in the sandbox. */
  readonly worktree: string;
  /** The sandbox's HOME for this job. */
  readonly home: string;
  /** Host-private directory (never mounted in the sandbox). */
  readonly hostDir: string;
  /** Index of `worktree` as checked out, kept host-side so publish never trusts the sandbox's. */
  readonly checkoutIndex: string;
  readonly mirrorDir: string;
  /** Host uid/gid the sandbox runs as; null when the worker's own uid is used. */
  readonly uid: number | null;
  readonly gid: number | null;
  /** Remove the job directory and free its locks. Idempotent; call it in a `finally`. */
  remove(): Promise<void>;
}

export interface WorkspaceManager {
  readonly root: string;
  readonly git: Git;
  readonly protocols: readonly GitProtocol[];
  checkout(request: CheckoutRequest): Promise<JobCheckout>;
  /** Run `fn` holding the repository's mirror lock (publish uses it). */
  withRepoLock<T>(repo: RepoRef, fn: () => Promise<T>): Promise<T>;
  mirrorDirOf(repo: RepoRef): string;
  remoteUrlOf(repo: RepoRef): string;
  /** Host directory for this repository's dependency-install cache (install-cache.ts). */
  installCacheDirOf(repo: RepoRef): string;
  /** Remove job directories of dead jobs and leftover trash. Returns what was removed. */
  sweep(): Promise<string[]>;
  /** Evict least recently used mirrors until under the cap. Returns the evicted keys. */
  evict(keep?: RepoRef): Promise<string[]>;
  /** Delete every parked checkout (shutdown). */
  drainPool(): Promise<void>;
}

const GIB = 1024 ** 3;
const SAFE_REF = /^refs\/(?:heads|pull|tags)\/[A-Za-z0-9._/-]+$/;
const SAFE_BRANCH = /^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

/**
 * Check out, run `fn`, and remove the checkout whatever happens: the shape every job should use,
 * so a failed or cancelled job never leaves its directory behind (a crashed worker's leftovers
 * are swept by the next checkout).
 */
export async function withCheckout<T>(manager: WorkspaceManager, request: CheckoutRequest, fn: (checkout: JobCheckout) => Promise<T>): Promise<T> {
  const checkout = await manager.checkout(request);
  try {
    return await fn(checkout);
  } finally {
    await checkout.remove();
  }
}

export function protocolsFor(gitBaseUrl: string): GitProtocol[] {
  const scheme = new URL(gitBaseUrl).protocol.replace(/:$/, "");
  if (scheme !== "https" && scheme !== "http" && scheme !== "file") throw new Error(`unsupported git URL scheme: ${scheme}`);
  return [scheme];
}

export function createWorkspaceManager(options: WorkspaceOptions): WorkspaceManager {
  const root = options.root;
  const dirs = {
    mirrors: join(root, "mirrors"),
    jobs: join(root, "jobs"),
    uids: join(root, "uids"),
    trash: join(root, "trash"),
    gitHome: join(root, "git-home"),
    installCache: join(root, "install-cache"),
  };
  const protocols = protocolsFor(options.gitBaseUrl);
  const git = options.git ?? createGit({ homeDir: dirs.gitHome, protocols, ...(options.gitNetworkEnv ? { networkEnv: options.gitNetworkEnv } : {}) });
  const lockTimeoutMs = options.lockTimeoutMs ?? 15 * 60_000;
  const capBytes = options.mirrorCapBytes ?? 20 * GIB;
  const graceMs = options.sweepGraceMs ?? 5 * 60_000;
  const isRoot = options.isRoot ?? process.getuid?.() === 0;
  const uidRange = options.sandboxUids === undefined ? { first: 200_000, count: 1000 } : options.sandboxUids;
  const lockOpts = (timeoutMs: number, shared = false) => ({ timeoutMs, shared, flockBinary: options.flockBinary });
  const log = options.log;

  const keyOf = (repo: RepoRef) => {
    remoteUrlFor(options.gitBaseUrl, repo.owner, repo.name); // validates the names
    if (!Number.isSafeInteger(repo.id) || repo.id < 0) throw new Error(`invalid repository id ${repo.id}`);
    return `${repo.owner}__${repo.name}__${repo.id}`;
  };
  const mirrorDirOf = (repo: RepoRef) => join(dirs.mirrors, `${keyOf(repo)}.git`);
  const remoteUrlOf = (repo: RepoRef) => remoteUrlFor(options.gitBaseUrl, repo.owner, repo.name);

  let layoutReady: Promise<void> | undefined;
  const ensureLayout = () =>
    (layoutReady ??= (async () => {
      for (const d of Object.values(dirs)) await mkdir(d, { recursive: true, mode: 0o700 });
      // Jobs' directories must be traversable by the sandbox uid (it owns work/ and home/), and so
      // must every directory above WORKSPACE_DIR, or bwrap (running as that uid) cannot bind them.
      await chmod(dirs.jobs, 0o711);
      await chmod(root, 0o711);
      if (isRoot && uidRange) {
        for (let dir = dirname(resolve(root)); ; dir = dirname(dir)) {
          const st = await stat(dir);
          if ((st.mode & 0o001) === 0) {
            // A deployment mistake, not a passing fault: retrying cannot help.
            throw new PermanentError(
              `${dir} (above WORKSPACE_DIR) is not searchable by other users, so the sandbox uids cannot reach ` +
                `the job directories: run \`chmod o+x ${dir}\` or choose another WORKSPACE_DIR`,
            );
          }
          if (dir === dirname(dir)) break;
        }
      }
    })());

  async function withRepoLock<T>(repo: RepoRef, fn: () => Promise<T>): Promise<T> {
    await ensureLayout();
    const lock = await acquireLock(join(dirs.mirrors, `${keyOf(repo)}.lock`), lockOpts(lockTimeoutMs));
    try {
      await clearStaleGitLocks(mirrorDirOf(repo));
      return await fn();
    } finally {
      await lock.release();
    }
  }

  /** Holding the repo lock, every `*.lock` in the mirror is a leftover of a killed git. */
  async function clearStaleGitLocks(mirror: string): Promise<void> {
    const candidates = ["HEAD.lock", "config.lock", "packed-refs.lock", "shallow.lock", "index.lock", "FETCH_HEAD.lock"];
    for (const name of candidates) await unlink(join(mirror, name)).catch(() => {});
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.name.endsWith(".lock")) {
          log?.warn({ path: p }, "removing stale git lock left by a killed job");
          await unlink(p).catch(() => {});
        }
      }
    };
    await walk(join(mirror, "refs"));
  }

  /** The remote URL this process last wrote into each mirror's config. */
  const originUrls = new Map<string, string>();

  async function ensureMirror(repo: RepoRef, auth: Record<string, string>, secrets: string[], signal?: AbortSignal) {
    const mirror = mirrorDirOf(repo);
    const url = remoteUrlOf(repo);
    const healthy = await git(["--git-dir", mirror, "rev-parse", "--git-dir"], { okExitCodes: [128] })
      .then((r) => r.code === 0)
      .catch(() => false);
    if (healthy) {
      // GHE_HOST may have changed; the stored URL never carries credentials. Written once per
      // process and mirror (a spawn fewer on every later checkout).
      if (originUrls.get(mirror) !== url) {
        await git(["--git-dir", mirror, "config", "remote.origin.url", url]);
        originUrls.set(mirror, url);
      }
      return { mirror, fresh: false };
    }
    originUrls.delete(mirror);
    await removeTree(mirror, dirs.trash).catch(() => {});
    const tmp = join(dirs.mirrors, `.tmp-${keyOf(repo)}-${randomBytes(4).toString("hex")}`);
    try {
      await git(["clone", "--bare", "--quiet", "--filter=blob:none", "--no-tags", url, tmp], {
        env: auth,
        secrets,
        signal,
      });
      await git(["--git-dir", tmp, "config", "remote.origin.fetch", "+refs/heads/*:refs/heads/*"]);
      await git(["--git-dir", tmp, "config", "core.logAllRefUpdates", "false"]);
      await rename(tmp, mirror);
    } catch (err) {
      await removeTree(tmp).catch(() => {});
      throw err;
    }
    return { mirror, fresh: true };
  }

  const hasCommit = async (mirror: string, commit: string) =>
    (await git(["--git-dir", mirror, "cat-file", "-e", `${commit}^{commit}`], { okExitCodes: [1, 128] })).code === 0;

  async function ensureCommit(req: CheckoutRequest, mirror: string, fresh: boolean, auth: Record<string, string>, secrets: string[]) {
    if (!fresh && !req.refresh && (await hasCommit(mirror, req.commit))) return;
    const extra = (req.fetchRefs ?? []).map((ref) => `+${ref}:refs/iquest/fetched/${ref.slice("refs/".length)}`);
    if (!fresh || extra.length || req.refresh) {
      touchedMirrors.add(mirror);
      await git(["--git-dir", mirror, "fetch", "--quiet", "--prune", "--no-tags", "origin", "+refs/heads/*:refs/heads/*", ...extra], {
        env: auth,
        secrets,
        signal: req.signal,
      });
    }
    if (await hasCommit(mirror, req.commit)) return;
    // Not on any branch (e.g. a PR head from a fork): GitHub serves reachable commits by id.
    touchedMirrors.add(mirror);
    await git(["--git-dir", mirror, "fetch", "--quiet", "--no-tags", "origin", req.commit], {
      env: auth,
      secrets,
      signal: req.signal,
      okExitCodes: [1, 128],
    });
    if (!(await hasCommit(mirror, req.commit))) throw new CommitNotFoundError(req.commit, `${req.repo.owner}/${req.repo.name}`);
  }

  /** Mirrors this process added objects to since their last repack check, and when that was. */
  const touchedMirrors = new Set<string>();
  const repackChecked = new Map<string, number>();

  /**
   * Each fetch adds a pack and each publish adds loose objects; auto-gc is off (it would run
   * detached, outside our lock), so collect here, holding the lock, when either piles up.
   */
  async function maybeRepack(mirror: string) {
    // Counting walks the loose-object directories: done after anything was added by this process
    // (a fetch, a publish) or once a minute (another process may have added), not on every checkout.
    const touched = touchedMirrors.delete(mirror);
    const last = repackChecked.get(mirror);
    if (!touched && last !== undefined && Date.now() - last < 60_000) return;
    repackChecked.set(mirror, Date.now());
    const counts = await git(["--git-dir", mirror, "count-objects", "-v"]);
    const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, "m").exec(counts.stdout)?.[1] ?? 0);
    if (field("packs") > 40 || field("count") > 5000) await git(["--git-dir", mirror, "gc", "--quiet"]);
  }

  /**
   * The commit's objects, with the blobs the partial mirror lacks fetched in one batch (the same
   * request git makes for a lazy fetch), so nothing after this goes to the network.
   */
  async function commitObjects(req: CheckoutRequest, mirror: string, auth: Record<string, string>, secrets: string[]): Promise<string[]> {
    const listing = await git(["--git-dir", mirror, "rev-list", "--objects", "--no-object-names", "--no-walk", "--missing=print", req.commit]);
    const objects = listing.stdout.split("\n").filter(Boolean);
    const missing = objects.filter((o) => o.startsWith("?")).map((o) => o.slice(1));
    if (missing.length) {
      touchedMirrors.add(mirror);
      await git(
        ["--git-dir", mirror, "-c", "fetch.negotiationAlgorithm=noop", "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--recurse-submodules=no", "--filter=blob:none", "--stdin", "origin"],
        { input: `${missing.join("\n")}\n`, env: auth, secrets, signal: req.signal },
      );
    }
    return objects.map((o) => o.replace(/^\?/, ""));
  }

  /**
   * The sandbox's own repository: `git init`, then exactly this commit, its trees and its blobs as
   * one pack written by pack-objects with its index (no history, no later commits, nothing to
   * fetch). The caller copies the checkout index in once the files are written.
   */
  async function makeJobRepo(req: CheckoutRequest, mirror: string, worktree: string, objects: readonly string[], auth: Record<string, string>, secrets: string[]) {
    const format = await objectFormatOf(mirror);
    const branch = req.localBranch ?? "iquest/work";
    if (!SAFE_BRANCH.test(branch) || branch.includes("..") || branch.endsWith(".lock")) throw new Error(`invalid local branch ${branch}`);
    await git(["init", "--quiet", "--template=", `--object-format=${format}`, "-b", branch, worktree]);
    const gitDir = join(worktree, ".git");
    // Uncompressed: the pack never leaves this disk, and most of pack-objects' time would otherwise
    // go to compressing again the objects it cannot copy as they are (bench/checkout: 250 → 160 ms
    // for 27,000 objects; the pack grows by a few percent, as they are stored compressed already).
    await git(["--git-dir", mirror, "-c", "pack.compression=0", "pack-objects", "--quiet", "--window=0", join(gitDir, "objects", "pack", "pack")], {
      input: `${objects.join("\n")}\n`,
      env: auth,
      secrets,
      signal: req.signal,
    });
    await writeFile(join(gitDir, "shallow"), `${req.commit}\n`);
    // The branch as a loose ref and one config line, written as git writes them (a new repository
    // has no packed-refs and no reflog to keep): two spawns fewer on every checkout.
    await mkdir(dirname(join(gitDir, "refs", "heads", branch)), { recursive: true });
    await writeFile(join(gitDir, "refs", "heads", branch), `${req.commit}\n`);
    // ctime changes when the tree is handed to the sandbox uid; content and mtime do not.
    await appendFile(join(gitDir, "config"), "[core]\n\ttrustctime = false\n");
  }

  /** A repository's object format never changes: asked once per mirror and process. */
  const objectFormats = new Map<string, string>();
  async function objectFormatOf(mirror: string): Promise<string> {
    let format = objectFormats.get(mirror);
    if (!format) {
      format = (await git(["--git-dir", mirror, "rev-parse", "--show-object-format"])).stdout.trim() || "sha1";
      objectFormats.set(mirror, format);
    }
    return format;
  }

  async function materialize(
    req: CheckoutRequest,
    mirror: string,
    paths: { worktree: string; checkoutIndex: string },
    auth: Record<string, string>,
    secrets: string[],
  ) {
    const objects = await commitObjects(req, mirror, auth, secrets);
    // In parallel: the files (a private index; read-tree -u), and the sandbox's own repository.
    // allSettled, as in recycle: a failure deletes the directory only once nothing writes in it.
    await settledAll([
      git(["--git-dir", mirror, "--work-tree", paths.worktree, "-c", "checkout.workers=0", "read-tree", "-u", "--reset", req.commit], {
        env: { ...auth, GIT_INDEX_FILE: paths.checkoutIndex },
        secrets,
        signal: req.signal,
      }),
      makeJobRepo(req, mirror, paths.worktree, objects, auth, secrets),
    ] as const);
    await copyFile(paths.checkoutIndex, join(paths.worktree, ".git", "index"));
  }

  /**
   * A parked slot moved to this job's commit (worktree-pool.ts); the caller holds the repo lock.
   * What needs no new object (removing the untracked files, `.git` and HOME) runs while the
   * commit's blobs are listed and fetched; then the files and the job's repository are written in
   * parallel, and the files handed to the sandbox uid as soon as they are written.
   */
  async function recycle(req: CheckoutRequest, mirror: string, slot: ParkedSlot, auth: Record<string, string>, secrets: string[]) {
    const slotGit = { mirror, paths: slot.paths, auth, secrets, ...(req.signal ? { signal: req.signal } : {}) };
    // The sandbox's `.git` goes first (a rename and ~5 ms): `clean` must never walk into it.
    await removeTree(join(slot.paths.worktree, ".git"), dirs.trash);
    // allSettled: on a failure the slot is deleted, which must wait until no step still writes in it.
    const [objects] = await settledAll([
      commitObjects(req, mirror, auth, secrets),
      clearSlotFiles(git, slotGit),
      resetSlotDirs(slot.paths, dirs.trash),
    ] as const);
    await settledAll([
      (async () => {
        await resetSlotFiles(git, { ...slotGit, commit: req.commit });
        if (slot.uid) await chownForeign(slot.paths.worktree, slot.uid.uid, slot.uid.uid);
      })(),
      (async () => {
        await makeJobRepo(req, mirror, slot.paths.worktree, objects, auth, secrets);
        if (slot.uid) await chownTree([join(slot.paths.worktree, ".git")], slot.uid.uid, slot.uid.uid);
      })(),
    ] as const);
    const index = join(slot.paths.worktree, ".git", "index");
    await copyFile(slot.paths.checkoutIndex, index);
    // HOME was made again empty (resetSlotDirs): the directory and the index are all there is to hand over.
    if (slot.uid) await Promise.all([chown(index, slot.uid.uid, slot.uid.uid), chown(slot.paths.home, slot.uid.uid, slot.uid.uid)]);
  }

  async function allocateUid(): Promise<{ uid: number; lock: Lock } | null> {
    if (!isRoot || !uidRange) return null;
    const offset = randomBytes(2).readUInt16BE() % uidRange.count;
    for (let i = 0; i < uidRange.count; i++) {
      const uid = uidRange.first + ((offset + i) % uidRange.count);
      const lock = await tryLock(join(dirs.uids, `${uid}.lock`), lockOpts(0));
      if (lock) return { uid, lock };
    }
    throw new Error(`all ${uidRange.count} sandbox uids are in use`);
  }

  async function sweep(): Promise<string[]> {
    await ensureLayout();
    const removed: string[] = [];
    const now = Date.now();
    const entries = await readdir(dirs.jobs).catch(() => [] as string[]);
    const names = new Set(entries.map((e) => e.replace(/\.lock$/, "")));
    for (const name of names) {
      const lockPath = join(dirs.jobs, `${name}.lock`);
      const dirPath = join(dirs.jobs, name);
      const st = (await stat(lockPath).catch(() => undefined)) ?? (await stat(dirPath).catch(() => undefined));
      if (!st || now - st.mtimeMs < graceMs) continue;
      const lock = await tryLock(lockPath, lockOpts(0));
      if (!lock) continue; // a live job
      try {
        await removeTree(dirPath, dirs.trash);
        await unlink(lockPath).catch(() => {});
        removed.push(name);
      } finally {
        await lock.release();
      }
    }
    for (const t of await readdir(dirs.trash).catch(() => [] as string[])) {
      const p = join(dirs.trash, t);
      const st = await stat(p).catch(() => undefined);
      if (st && now - st.mtimeMs >= graceMs) await removeTree(p).catch(() => {});
    }
    // Half-made mirrors of a clone that was killed.
    for (const m of await readdir(dirs.mirrors).catch(() => [] as string[])) {
      if (!m.startsWith(".tmp-")) continue;
      const p = join(dirs.mirrors, m);
      const st = await stat(p).catch(() => undefined);
      if (st && now - st.mtimeMs >= graceMs) await removeTree(p, dirs.trash).catch(() => {});
    }
    if (removed.length) log?.info({ removed }, "swept leftovers of dead jobs");
    return removed;
  }

  async function evict(keep?: RepoRef): Promise<string[]> {
    await ensureLayout();
    const keepKey = keep ? keyOf(keep) : undefined;
    const mirrors: Array<{ key: string; size: number; used: number }> = [];
    for (const m of await readdir(dirs.mirrors).catch(() => [] as string[])) {
      if (!m.endsWith(".git") || m.startsWith(".tmp-")) continue;
      const key = m.slice(0, -".git".length);
      const used =
        (await stat(join(dirs.mirrors, `${key}.used`)).catch(() => undefined))?.mtimeMs ??
        (await stat(join(dirs.mirrors, m)).catch(() => undefined))?.mtimeMs ??
        0;
      mirrors.push({ key, size: await dirSize(join(dirs.mirrors, m)), used });
    }
    let total = mirrors.reduce((s, m) => s + m.size, 0);
    const evicted: string[] = [];
    for (const m of mirrors.sort((a, b) => a.used - b.used)) {
      if (total <= capBytes) break;
      if (m.key === keepKey) continue;
      const inUse = await tryLock(join(dirs.mirrors, `${m.key}.inuse`), lockOpts(0));
      if (!inUse) continue; // a live job still needs it
      const repoLock = await tryLock(join(dirs.mirrors, `${m.key}.lock`), lockOpts(0));
      try {
        if (!repoLock) continue;
        await removeTree(join(dirs.mirrors, `${m.key}.git`), dirs.trash);
        await unlink(join(dirs.mirrors, `${m.key}.used`)).catch(() => {});
        for (const slot of pool.drain(m.key)) await destroySlot(slot).catch(() => {});
        total -= m.size;
        evicted.push(m.key);
      } finally {
        await repoLock?.release();
        await inUse.release();
      }
    }
    if (evicted.length) log?.info({ evicted, capBytes }, "evicted least recently used mirrors");
    return evicted;
  }

  const pool = new WorktreePool(options.pool ?? { perRepo: 0, total: 0 });

  /** Delete a slot's directory and free its locks (a job's end without the pool, or a slot the pool let go). */
  async function destroySlot(slot: Pick<ParkedSlot, "dir" | "jobLock" | "uid">) {
    try {
      await removeTree(slot.dir, dirs.trash);
      await unlink(`${slot.dir}.lock`).catch(() => {});
    } finally {
      await slot.uid?.lock.release().catch(() => {});
      await slot.jobLock.release().catch(() => {});
    }
  }

  /**
   * The end of a job's use of its directory: parked for the next job on the repository when the
   * pool has room (its private index refreshed now, off the next job's path: the hand-over to the
   * sandbox uid changed every file's ctime), else deleted.
   */
  async function release(slot: ParkedSlot, inUse: Lock) {
    await inUse.release().catch(() => {});
    if (pool.limits.perRepo > 0) {
      const mirror = join(dirs.mirrors, `${slot.key}.git`);
      const refreshed = await git(["--git-dir", mirror, "--work-tree", slot.paths.worktree, "update-index", "-q", "--refresh", "--ignore-submodules"], {
        cwd: slot.paths.worktree,
        env: { GIT_INDEX_FILE: slot.paths.checkoutIndex },
        okExitCodes: [1],
      }).then(() => true, () => false);
      if (refreshed) {
        for (const out of pool.park({ ...slot, parkedAt: Date.now() })) await destroySlot(out);
        return;
      }
    }
    await destroySlot(slot);
  }

  function jobCheckout(req: CheckoutRequest, slot: ParkedSlot, inUse: Lock, remoteUrl: string, mirror: string): JobCheckout {
    let released = false;
    return {
      jobId: req.jobId,
      repo: req.repo,
      commit: req.commit,
      remoteUrl,
      dir: slot.dir,
      worktree: slot.paths.worktree,
      home: slot.paths.home,
      hostDir: slot.paths.hostDir,
      checkoutIndex: slot.paths.checkoutIndex,
      mirrorDir: mirror,
      uid: slot.uid?.uid ?? null,
      gid: slot.uid?.uid ?? null,
      remove: async () => {
        if (released) return;
        released = true;
        await release({ ...slot, commit: req.commit }, inUse);
      },
    };
  }

  function checkRequest(req: CheckoutRequest) {
    if (!OBJECT_ID.test(req.commit)) throw new Error(`commit must be a full object id, got "${req.commit}"`);
    for (const ref of req.fetchRefs ?? []) {
      if (!SAFE_REF.test(ref) || ref.includes("..")) throw new Error(`refusing to fetch ref "${ref}"`);
    }
  }

  async function checkout(req: CheckoutRequest): Promise<JobCheckout> {
    checkRequest(req);
    const key = keyOf(req.repo);
    await ensureLayout();
    await sweep().catch((err) => log?.warn({ err }, "sweep failed; continuing"));
    const token = await resolveToken(req.token);
    const remoteUrl = remoteUrlOf(req.repo);
    const auth = gitAuthEnv(remoteUrl, token);
    const secrets = tokenForms(token);

    // Warm: a parked directory of this repository, moved to the commit. Any failure discards it.
    for (let parked = pool.take(key); parked; parked = pool.take(key)) {
      const slot = parked;
      const inUse = await acquireLock(join(dirs.mirrors, `${key}.inuse`), lockOpts(lockTimeoutMs, true));
      try {
        const mirror = await withRepoLock(req.repo, async () => {
          const { mirror, fresh } = await ensureMirror(req.repo, auth, secrets, req.signal);
          await ensureCommit(req, mirror, fresh, auth, secrets);
          await recycle(req, mirror, slot, auth, secrets);
          await maybeRepack(mirror);
          return mirror;
        });
        await touch(join(dirs.mirrors, `${key}.used`));
        return jobCheckout(req, slot, inUse, remoteUrl, mirror);
      } catch (err) {
        await inUse.release().catch(() => {});
        await destroySlot(slot).catch(() => {});
        if (req.signal?.aborted || err instanceof CommitNotFoundError) throw err;
        log?.warn({ err: (err as Error).message, dir: slot.dir }, "a parked checkout could not be reused; making a new one");
      }
    }

    const name = `${req.jobId.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 80)}-${randomBytes(4).toString("hex")}`;
    const jobLock = await acquireLock(join(dirs.jobs, `${name}.lock`), lockOpts(0));
    const dir = join(dirs.jobs, name);
    const slot: ParkedSlot = {
      key,
      dir,
      paths: { worktree: join(dir, "work"), home: join(dir, "home"), hostDir: join(dir, "host"), checkoutIndex: join(dir, "host", "checkout-index") },
      commit: req.commit,
      jobLock,
      uid: null,
      parkedAt: 0,
    };
    let inUse: Lock | undefined;
    try {
      await mkdir(dir, { mode: 0o711 });
      await mkdir(slot.paths.worktree, { mode: 0o755 });
      await mkdir(slot.paths.home, { mode: 0o700 });
      await mkdir(slot.paths.hostDir, { mode: 0o700 });
      slot.uid = await allocateUid();
      inUse = await acquireLock(join(dirs.mirrors, `${key}.inuse`), lockOpts(lockTimeoutMs, true));
      const mirror = await withRepoLock(req.repo, async () => {
        const { mirror, fresh } = await ensureMirror(req.repo, auth, secrets, req.signal);
        await ensureCommit(req, mirror, fresh, auth, secrets);
        await materialize(req, mirror, slot.paths, auth, secrets);
        await maybeRepack(mirror);
        return mirror;
      });
      if (slot.uid) await chownTree([slot.paths.worktree, slot.paths.home], slot.uid.uid, slot.uid.uid);
      await touch(join(dirs.mirrors, `${key}.used`));
      await evict(req.repo).catch((err) => log?.warn({ err }, "mirror eviction failed; continuing"));
      return jobCheckout(req, slot, inUse, remoteUrl, mirror);
    } catch (err) {
      await inUse?.release().catch(() => {});
      await destroySlot(slot).catch(() => {});
      throw err;
    }
  }

  async function drainPool() {
    for (const slot of pool.drain()) await destroySlot(slot).catch(() => {});
  }

  const installCacheDirOf = (repo: RepoRef) => join(dirs.installCache, keyOf(repo));
  // Callers outside (publish, rebase) write objects into the mirror under the lock.
  const withRepoLockOutside = <T>(repo: RepoRef, fn: () => Promise<T>) =>
    withRepoLock(repo, async () => {
      touchedMirrors.add(mirrorDirOf(repo));
      return fn();
    });
  return { root, git, protocols, checkout, withRepoLock: withRepoLockOutside, mirrorDirOf, remoteUrlOf, installCacheDirOf, sweep, evict, drainPool };
}

/** Promise.all that waits for every step to end before it throws the first failure. */
async function settledAll<T extends readonly unknown[]>(steps: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(steps);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
