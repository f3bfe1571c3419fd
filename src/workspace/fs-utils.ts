import { randomBytes } from "node:crypto";
import { lstat, mkdir, readdir, rename, rm, utimes, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { SYSTEM_PATH, runProcess } from "./run-process.js";

/** Total bytes of regular files under `path`, never following symlinks. */
export async function dirSize(path: string): Promise<number> {
  let total = 0;
  const stack = [path];
  while (stack.length) {
    const dir = stack.pop()!;
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile()) {
        try {
          total += (await lstat(p)).size;
        } catch {
          // removed meanwhile
        }
      }
    }
  }
  return total;
}

/**
 * Remove a tree that a sandboxed process may have made hostile (chmod 000 directories, deep
 * nesting, symlinks). Renamed into `trashDir` first when given, so a half-finished removal never
 * leaves a path that looks like a live mirror or job. Symlinks are removed, never followed.
 */
export async function removeTree(path: string, trashDir?: string): Promise<void> {
  let target = path;
  if (trashDir) {
    await mkdir(trashDir, { recursive: true });
    const moved = join(trashDir, `${basename(path)}-${randomBytes(4).toString("hex")}`);
    try {
      await rename(path, moved);
      target = moved;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    }
  }
  try {
    await rm(target, { recursive: true, force: true, maxRetries: 2 });
  } catch {
    // Directories without write/exec permission (made by the sandbox user): open them up, retry.
    await runProcess("chmod", ["-R", "u+rwX", target], { env: { PATH: SYSTEM_PATH } });
    await rm(target, { recursive: true, force: true, maxRetries: 2 });
  }
}

/** Set a file's mtime to now, creating it if needed (LRU bookkeeping). */
export async function touch(path: string, now = new Date()): Promise<void> {
  try {
    await utimes(path, now, now);
  } catch {
    await writeFile(path, "");
  }
}

/** `chown -R -h`: never follows symlinks, so a planted link cannot hand a host file to the sandbox user. */
export async function chownTree(paths: readonly string[], uid: number, gid: number): Promise<void> {
  if (!paths.length) return;
  const r = await runProcess("chown", ["-R", "-h", "-P", `${uid}:${gid}`, "--", ...paths], { env: { PATH: SYSTEM_PATH } });
  if (r.code !== 0) throw new Error(`chown failed: ${r.stderr.toString().trim()}`);
}
