import { constants, type Dirent } from "node:fs";
import { open, readdir, realpath } from "node:fs/promises";
import { isAbsolute, join, normalize, relative, sep } from "node:path";
import type { RepoFiles } from "./types.js";

/**
 * RepoFiles over a directory on disk (a job's checkout, or the CLI's `--repo`). Reads stay inside
 * the root: `..`, absolute paths and symlinks that resolve outside answer "absent", as does
 * anything that is not a regular file or is larger than `maxFileBytes`. A repository's files are
 * its authors' to choose, so a link to /etc/passwd named package.json must not be followed.
 */
export function createDirFiles(root: string, options: { maxFileBytes?: number } = {}): RepoFiles {
  const maxFileBytes = options.maxFileBytes ?? 50 * 1024 * 1024;
  let realRoot: Promise<string> | undefined;
  const inside = async (path: string): Promise<string | undefined> => {
    if (path.includes("\0") || isAbsolute(path)) return undefined;
    const norm = normalize(path);
    if (norm === ".." || norm.startsWith(`..${sep}`)) return undefined;
    realRoot ??= realpath(root);
    try {
      const real = await realpath(join(root, norm));
      const rel = relative(await realRoot, real);
      if (rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
      return real;
    } catch {
      return undefined;
    }
  };
  // Names directly inside `dir` of one kind (a symlink is neither: never followed).
  const list = async (dir: string, kind: (e: Dirent) => boolean): Promise<string[]> => {
    const real = await inside(dir === "" ? "." : dir);
    if (!real) return [];
    try {
      return (await readdir(real, { withFileTypes: true })).filter(kind).map((e) => e.name).sort();
    } catch {
      return [];
    }
  };
  return {
    async read(path) {
      const real = await inside(path);
      if (!real) return undefined;
      let handle;
      try {
        handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      } catch {
        return undefined;
      }
      try {
        const st = await handle.stat();
        if (!st.isFile() || st.size > maxFileBytes) return undefined;
        return (await handle.readFile()).toString("utf8");
      } finally {
        await handle.close();
      }
    },
    listDirs: (dir) => list(dir, (e) => e.isDirectory()),
    listFiles: (dir) => list(dir, (e) => e.isFile()),
  };
}

/** RepoFiles over an in-memory map of path → text (tests, and the pure checks of the job). */
export function createMemoryFiles(files: Readonly<Record<string, string>>): RepoFiles {
  return {
    read: async (path) => files[normalize(path).split(sep).join("/")],
    async listDirs(dir) {
      const prefix = dir === "" ? "" : `${dir.replace(/\/+$/, "")}/`;
      const names = new Set<string>();
      for (const p of Object.keys(files)) {
        if (!p.startsWith(prefix)) continue;
        const rest = p.slice(prefix.length).split("/");
        if (rest.length > 1) names.add(rest[0]!);
      }
      return [...names].sort();
    },
  };
}
