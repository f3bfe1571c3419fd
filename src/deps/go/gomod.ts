/**
 * go.mod, read and edited as text (pure): the `module` path, `require` lines (single and in
 * blocks, with `// indirect`), and the `replace` and `exclude` directives that take a module out
 * of the registry's hands. Edits touch one version token on one line, so comments, order and
 * formatting stay as the author wrote them.
 */
export interface GoRequire {
  path: string;
  version: string;
  indirect: boolean;
  /** 0-based line of the requirement. */
  line: number;
}

export interface GoMod {
  module?: string;
  /** The `go` line. */
  go?: string;
  requires: GoRequire[];
  /** Module paths a `replace` directive points elsewhere (any version). */
  replaced: Set<string>;
  problems: string[];
}

const REQUIRE_ENTRY = /^\s*("?)([^\s"]+)\1\s+(v[^\s/]+)(\s*\/\/\s*indirect\b.*)?\s*(?:\/\/.*)?$/;

export function parseGoMod(text: string): GoMod {
  const lines = text.split("\n");
  const mod: GoMod = { requires: [], replaced: new Set(), problems: [] };
  let block: "require" | "replace" | "exclude" | "other" | undefined;
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    const trimmed = line.trim();
    if (block) {
      if (trimmed === ")") {
        block = undefined;
        return;
      }
      if (trimmed === "" || trimmed.startsWith("//")) return;
      if (block === "require") addRequire(mod, line, i);
      else if (block === "replace") addReplace(mod, trimmed);
      return;
    }
    const m = /^(module|go|require|replace|exclude|retract|toolchain|godebug)\b\s*(.*)$/.exec(trimmed);
    if (!m) return;
    const [, verb, rest] = m as unknown as [string, string, string];
    if (rest.startsWith("(")) {
      block = verb === "require" || verb === "replace" || verb === "exclude" ? verb : "other";
      return;
    }
    if (verb === "module") mod.module = rest.replace(/^"|"$/g, "").replace(/\s*\/\/.*$/, "");
    else if (verb === "go") mod.go = rest.replace(/\s*\/\/.*$/, "");
    else if (verb === "require") addRequire(mod, rest, i);
    else if (verb === "replace") addReplace(mod, rest);
  });
  if (block) mod.problems.push(`a \`${block} (\` block is never closed`);
  if (!mod.module) mod.problems.push("no `module` line");
  return mod;
}

function addRequire(mod: GoMod, text: string, line: number): void {
  const m = REQUIRE_ENTRY.exec(text);
  if (!m) {
    mod.problems.push(`line ${line + 1}: cannot read the requirement \`${text.trim()}\``);
    return;
  }
  mod.requires.push({ path: m[2]!, version: m[3]!, indirect: Boolean(m[4]), line });
}

function addReplace(mod: GoMod, text: string): void {
  const left = text.split("=>")[0]?.trim().split(/\s+/)[0];
  if (left) mod.replaced.add(left.replace(/^"|"$/g, ""));
}

/** go.mod with `path`'s requirement moved from `from` to `to`; undefined when the line is not there as read. */
export function setRequireVersion(text: string, req: Pick<GoRequire, "path" | "line">, from: string, to: string): string | undefined {
  const lines = text.split("\n");
  const line = lines[req.line];
  if (line === undefined) return undefined;
  const m = REQUIRE_ENTRY.exec(line.replace(/^\s*require\s+/, (s) => " ".repeat(s.length)));
  if (!m || m[2] !== req.path || m[3] !== from) return undefined;
  const at = line.indexOf(from, line.indexOf(req.path) + req.path.length);
  lines[req.line] = `${line.slice(0, at)}${to}${line.slice(at + from.length)}`;
  return lines.join("\n");
}

/** The proxy protocol's path escaping: an upper-case letter becomes `!` and its lower case. */
export function escapeModulePath(path: string): string {
  return path.replace(/[A-Z]/g, (c) => `!${c.toLowerCase()}`);
}

/** The module path's major suffix: `example.com/x/v3` → 3; none (v0 or v1) → undefined. */
export function majorSuffix(path: string): number | undefined {
  const m = /\/v(\d+)$/.exec(path) ?? /^gopkg\.in\/.*\.v(\d+)$/.exec(path);
  return m ? Number(m[1]) : undefined;
}

/** The path of the next major version of a module: `x` → `x/v2`, `x/v2` → `x/v3` (gopkg.in: not handled). */
export function nextMajorPath(path: string): string | undefined {
  if (path.startsWith("gopkg.in/")) return undefined;
  const major = majorSuffix(path);
  return major === undefined ? `${path}/v2` : path.replace(/\/v\d+$/, `/v${major + 1}`);
}

/** A pseudo-version (v0.0.0-20200101000000-abcdefabcdef) names a commit, not a release. */
export function isPseudoVersion(v: string): boolean {
  return /^v\d+\.\d+\.\d+-(?:0\.|[\w.]*\.0\.)?\d{14}-[0-9a-f]{12}$/.test(v) || /-\d{14}-[0-9a-f]{12}$/.test(v);
}

/**
 * go.work's `use` directives (single and in blocks): the workspace's module directories, relative
 * to the repository root ("." for the root), normalized; directories outside the repository dropped.
 */
export function parseGoWork(text: string): string[] {
  const dirs: string[] = [];
  let inBlock = false;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\/\/.*$/, "").trim();
    if (!line) continue;
    if (inBlock) {
      if (line === ")") inBlock = false;
      else dirs.push(line);
      continue;
    }
    const m = /^use\s+(.*)$/.exec(line);
    if (!m) continue;
    if (m[1]!.trim() === "(") inBlock = true;
    else dirs.push(m[1]!.trim());
  }
  const out: string[] = [];
  for (const d of dirs.map((x) => x.replace(/^"|"$/g, ""))) {
    const parts: string[] = [];
    let outside = d.startsWith("/");
    for (const seg of d.split("/")) {
      if (seg === "" || seg === ".") continue;
      if (seg === "..") {
        if (!parts.length) outside = true;
        parts.pop();
      } else parts.push(seg);
    }
    if (!outside) out.push(parts.join("/") || ".");
  }
  return [...new Set(out)];
}
