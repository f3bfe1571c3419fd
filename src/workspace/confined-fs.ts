import { constants } from "node:fs";
import { chown, lstat, mkdir, open, realpath } from "node:fs/promises";
import { dirname, isAbsolute, join, normalize, relative, sep } from "node:path";
import { PathEscapeError } from "./errors.js";

/**
 * File access confined to a root directory that an untrusted process can write. Paths are
 * relative to the root; `..`, absolute paths, NUL bytes and symlinks that resolve outside are
 * refused with PathEscapeError. Writes never follow a symlink at the final component unless it
 * resolves inside the root, and new files and directories are handed to the sandbox uid so the
 * sandboxed user can keep editing them.
 */

export function resolveInside(root: string, path: string): string {
  if (path.includes("\0") || isAbsolute(path)) throw new PathEscapeError(path);
  const norm = normalize(path);
  if (norm === ".." || norm.startsWith(`..${sep}`)) throw new PathEscapeError(path);
  return join(root, norm);
}

async function assertRealInside(root: string, p: string, shown: string): Promise<string> {
  const realRoot = await realpath(root);
  const real = await realpath(p);
  const rel = relative(realRoot, real);
  if (rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw new PathEscapeError(shown);
  return real;
}

export async function readConfined(root: string, path: string): Promise<Buffer> {
  const p = resolveInside(root, path);
  const real = await assertRealInside(root, p, path);
  const handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

export async function writeConfined(
  root: string,
  path: string,
  data: string | Buffer,
  owner?: { uid: number; gid: number } | null,
): Promise<void> {
  const p = resolveInside(root, path);
  if (p === root || relative(root, p) === "") throw new PathEscapeError(path);
  // Create missing parents one by one, checking each existing one resolves inside the root.
  const rel = relative(root, dirname(p));
  let dir = root;
  for (const part of rel ? rel.split(sep) : []) {
    dir = join(dir, part);
    const st = await lstat(dir).catch(() => undefined);
    if (!st) {
      await mkdir(dir, { mode: 0o755 });
      if (owner) await chown(dir, owner.uid, owner.gid);
    } else {
      dir = await assertRealInside(root, dir, path);
    }
  }
  let target = join(dir, relative(dirname(p), p));
  const st = await lstat(target).catch(() => undefined);
  if (st?.isSymbolicLink()) target = await assertRealInside(root, target, path);
  const handle = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644);
  try {
    await handle.writeFile(data);
    if (owner && !st) await handle.chown(owner.uid, owner.gid);
  } finally {
    await handle.close();
  }
}

