import { posix } from "node:path";

/**
 * Turn a path the model wrote into one relative to the workspace root, or say why not. This is
 * the lexical half of confinement (`..`, absolute paths elsewhere); the Environment does the
 * other half on the real file system (symlinks), since only it can see the files.
 */
export type WorkspacePath = { ok: true; relative: string } | { ok: false; error: string };

/**
 * @param roots absolute paths that name the workspace root: the path commands see (`workdir`)
 *   and the host path (`env.root`), which are the same for a local directory.
 */
export function resolveWorkspacePath(input: string, roots: readonly string[]): WorkspacePath {
  const path = input.trim();
  if (path === "") return { ok: false, error: "the path is empty" };
  if (path.includes("\0")) return { ok: false, error: "the path contains a NUL character" };
  let relative: string;
  if (posix.isAbsolute(path)) {
    const normalized = posix.normalize(path);
    const root = roots
      .map((r) => posix.normalize(r).replace(/\/+$/, "") || "/")
      .find((r) => normalized === r || normalized.startsWith(r === "/" ? "/" : `${r}/`));
    if (root === undefined) {
      return { ok: false, error: `${path} is outside the workspace; use a path inside ${roots[0]} or relative to it` };
    }
    relative = normalized === root ? "." : normalized.slice(root === "/" ? 1 : root.length + 1);
  } else {
    relative = path;
  }
  relative = posix.normalize(relative).replace(/\/+$/, "") || ".";
  if (relative === ".." || relative.startsWith("../")) {
    return { ok: false, error: `${path} is outside the workspace` };
  }
  return { ok: true, relative };
}

/** Quote a string for a POSIX shell. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
