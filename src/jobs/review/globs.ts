/**
 * Path globs for `review.paths` and `review.ignore`. Pure, and small on purpose (no dependency):
 * `**` spans directories, `*` and `?` stay within one path segment, `{a,b}` picks one, `[...]`
 * is a character class. A glob without a `/` matches the file name at any depth, as in
 * .gitignore (`*.lock` ignores `sub/dir/Cargo.lock` too); one with a `/` is anchored at the root.
 */

export function globToRegExp(glob: string): RegExp {
  const pattern = glob.startsWith("/") ? glob.slice(1) : glob;
  const anchored = pattern.includes("/");
  let out = "";
  let braces = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        const atStart = i === 0 || pattern[i - 1] === "/";
        const slashAfter = pattern[i + 2] === "/";
        if (atStart && slashAfter) {
          out += "(?:.*/)?"; // "**/": any directories, or none
          i += 2;
        } else if (atStart && i + 2 === pattern.length) {
          out += ".*"; // trailing "/**": everything below
          i += 1;
        } else {
          out += ".*";
          i += 1;
        }
      } else {
        out += "[^/]*";
      }
    } else if (c === "?") {
      out += "[^/]";
    } else if (c === "{") {
      braces++;
      out += "(?:";
    } else if (c === "}" && braces > 0) {
      braces--;
      out += ")";
    } else if (c === "," && braces > 0) {
      out += "|";
    } else if (c === "[") {
      const close = pattern.indexOf("]", i + 1);
      if (close < 0) {
        out += "\\[";
      } else {
        const body = pattern.slice(i + 1, close).replace(/\\/g, "\\\\");
        out += `[${body.startsWith("!") ? `^${body.slice(1)}` : body}]`;
        i = close;
      }
    } else {
      out += c.replace(/[.+^$()|\\\]]/g, "\\$&");
    }
  }
  while (braces-- > 0) out += ")";
  return new RegExp(anchored ? `^${out}$` : `^(?:.*/)?${out}$`);
}

export function compileGlobs(globs: readonly string[]): (path: string) => string | undefined {
  const compiled = globs.map((g) => [g, globToRegExp(g)] as const);
  return (path) => compiled.find(([, re]) => re.test(path))?.[0];
}

export type FileFilterResult = { kind: "review" } | { kind: "ignored"; glob: string } | { kind: "not-in-paths" };

/**
 * Decide for one path: `ignore` wins over `paths`; an empty `paths` means every path. Returns the
 * glob that ignored it, so the summary can say why a file was skipped.
 */
export function createFileFilter(paths: readonly string[], ignore: readonly string[]): (path: string) => FileFilterResult {
  const include = compileGlobs(paths);
  const exclude = compileGlobs(ignore);
  return (path) => {
    const glob = exclude(path);
    if (glob !== undefined) return { kind: "ignored", glob };
    if (paths.length > 0 && include(path) === undefined) return { kind: "not-in-paths" };
    return { kind: "review" };
  };
}
