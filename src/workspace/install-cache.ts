import { createHash, randomBytes } from "node:crypto";
import { lstat, mkdir, readdir, rename, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { resolveInside } from "./confined-fs.js";
import { chownTree, dirSize, removeTree, touch } from "./fs-utils.js";
import { SYSTEM_PATH, runProcess } from "./run-process.js";
import type { CachePath, ReadRepoFile, TestPlan } from "./test-detect.js";

/**
 * Dependency installs cached by the hash of the lock files, so the second job on the same lock
 * file restores `node_modules` (or the venv, the Go module cache…) instead of reinstalling.
 *
 * Scope and trust: one cache directory per repository (`install-cache/<repo key>/<hash>`), so one
 * repository's install can never be restored into another's. An entry is saved right after a
 * successful setup, before the agent or any test runs, and the key covers the lock files, the
 * manifest and the setup command; entries are copies (`cp -a`, symlinks kept as links, never
 * followed), never links into the cache, so a job cannot change an entry after it is saved.
 * Install scripts from the locked packages still run during that first setup, as they would in CI.
 */

export interface InstallCache {
  /** Host directory for this repository's entries. */
  dir: string;
  /** Host paths the plan's CachePaths are relative to. */
  worktree: string;
  home: string;
  /** Sandbox uid/gid to hand restored files to (JobCheckout.uid); null to keep ownership. */
  owner: { uid: number; gid: number } | null;
  /** Size cap for all entries in `dir`; least recently used entries go first. */
  capBytes?: number;
}

export async function installCacheKey(plan: TestPlan, read: ReadRepoFile, salt = `${process.platform}-${process.arch}`): Promise<string | undefined> {
  if (!plan.setup || !plan.cachePaths.length || !plan.lockFiles.length) return undefined;
  const h = createHash("sha256");
  h.update(`v1\0${salt}\0${plan.ecosystem}\0${plan.setup}\0`);
  for (const f of [...plan.lockFiles].sort()) {
    const content = await read(f);
    h.update(`${f}\0${content ? createHash("sha256").update(content).digest("hex") : "absent"}\0`);
  }
  return h.digest("hex").slice(0, 32);
}

const hostPathOf = (cache: InstallCache, p: CachePath) => resolveInside(p.base === "home" ? cache.home : cache.worktree, p.path);

async function cp(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  const r = await runProcess("cp", ["-a", "--reflink=auto", "--", from, to], { env: { PATH: SYSTEM_PATH } });
  if (r.code !== 0) throw new Error(`cp failed: ${r.stderr.toString().trim()}`);
}

/** Restore an entry into the job; false when there is none. */
export async function restoreInstall(cache: InstallCache, key: string, paths: readonly CachePath[]): Promise<boolean> {
  const entry = join(cache.dir, key);
  if (!(await stat(join(entry, "complete")).catch(() => undefined))) return false;
  for (const p of paths) {
    const src = join(entry, p.base, p.path);
    if (!(await lstat(src).catch(() => undefined))) continue;
    const dst = hostPathOf(cache, p);
    await removeTree(dst);
    await cp(src, dst);
    if (cache.owner) await chownTree([dst], cache.owner.uid, cache.owner.gid);
  }
  await touch(join(entry, "complete"));
  return true;
}

/** Save what the setup produced; a concurrent save of the same key keeps the first. */
export async function saveInstall(cache: InstallCache, key: string, paths: readonly CachePath[]): Promise<boolean> {
  const entry = join(cache.dir, key);
  if (await stat(join(entry, "complete")).catch(() => undefined)) return false;
  await mkdir(cache.dir, { recursive: true, mode: 0o700 });
  const tmp = join(cache.dir, `.tmp-${key}-${randomBytes(4).toString("hex")}`);
  try {
    let saved = 0;
    for (const p of paths) {
      const src = hostPathOf(cache, p);
      const st = await lstat(src).catch(() => undefined);
      if (!st || st.isSymbolicLink()) continue; // a link would be restored pointing anywhere
      await cp(src, join(tmp, p.base, p.path));
      saved++;
    }
    if (!saved) return false;
    await writeFile(join(tmp, "complete"), new Date().toISOString());
    await rename(tmp, entry).catch(async () => {
      // Another job saved the same key first.
    });
    await evictInstalls(cache);
    return true;
  } finally {
    await removeTree(tmp).catch(() => {});
  }
}

async function evictInstalls(cache: InstallCache): Promise<void> {
  const cap = cache.capBytes ?? 10 * 1024 ** 3;
  const entries: Array<{ path: string; size: number; used: number }> = [];
  for (const name of await readdir(cache.dir).catch(() => [] as string[])) {
    if (name.startsWith(".tmp-")) continue;
    const path = join(cache.dir, name);
    const used = (await stat(join(path, "complete")).catch(() => undefined))?.mtimeMs ?? 0;
    entries.push({ path, size: await dirSize(path), used });
  }
  let total = entries.reduce((s, e) => s + e.size, 0);
  for (const e of entries.sort((a, b) => a.used - b.used)) {
    if (total <= cap || entries.length < 2) break;
    await removeTree(e.path);
    total -= e.size;
  }
}
