/**
 * Cargo.toml, read line by line for what upgrades need: the dependency tables and, for each
 * registry dependency, its requirement and where it is written, so that a bump rewrites that one
 * string and nothing else (comments, order and formatting stay). Pure.
 *
 * Tables: `[dependencies]`, `[dev-dependencies]`, `[build-dependencies]`, their
 * `[target.'cfg(…)'.…]` forms, `[workspace.dependencies]`, and the one-dependency tables
 * `[dependencies.name]`. Entries: `name = "1.2"`, `name = { version = "1.2", … }` (one line, as
 * TOML requires of inline tables), `package = "real"` renames, `registry = "other"`. Path, git and
 * `workspace = true` entries are not registry dependencies (reported, not upgraded). Poetry's
 * dependency tables in pyproject.toml have the same shapes and are read with POETRY_DEP_TABLE.
 */
export interface CargoDep {
  /** The key in the table (the name the code uses). */
  key: string;
  /** The crate's name at the registry (`package = …`, else the key). */
  name: string;
  /** The table: "dependencies", "dev-dependencies", "target.'cfg(unix)'.dependencies", "workspace.dependencies". */
  table: string;
  /** The requirement as written ("1.2", "^0.3", "=1.0.0", ">=1, <3"). */
  req: string;
  /** `registry = "name"`: an alternative registry named in .cargo/config.toml. */
  registry?: string;
  /** The line (0-based) holding the `version` string. */
  line: number;
}

export interface CargoOther {
  key: string;
  table: string;
  kind: "path" | "git" | "url" | "workspace" | "no-version";
}

export interface CargoManifest {
  deps: CargoDep[];
  others: CargoOther[];
  /** `[workspace] members = [...]` globs. */
  members: string[];
  /** `[workspace] exclude = [...]`. */
  exclude: string[];
  hasPackage: boolean;
  /** `[package] name` (a workspace member's own crate: dependencies on it are local). */
  packageName?: string;
  problems: string[];
}

/** Why a dependency-table entry is not upgraded, for the dashboard. */
export const OTHER_KIND_NOTE: Record<CargoOther["kind"], string> = { path: "a path dependency", git: "a git dependency", url: "a URL dependency", workspace: "inherited from [workspace.dependencies]", "no-version": "has no version requirement" };

const DEP_TABLE = /^(?:target\.(?:'[^']*'|"[^"]*"|[^.\]]+)\.)?(?:dev-|build-)?dependencies$|^workspace\.dependencies$/;
/** Poetry's tables (pyproject.toml), read the same way: `[tool.poetry.dependencies]`, dev and groups. */
export const POETRY_DEP_TABLE = /^tool\.poetry\.(?:dev-)?dependencies$|^tool\.poetry\.group\.[^.]+\.dependencies$/;

/** A TOML basic or literal string at the start of `s` (after `=`), unescaped enough for versions and names. */
function stringValue(s: string): string | undefined {
  const m = /^\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)')/.exec(s);
  return m ? (m[1] ?? m[2])!.replace(/\\(.)/g, "$1") : undefined;
}

/** key = value pairs of a one-line inline table `{ a = "x", b = true }` (strings and booleans only; arrays skipped). */
function inlineTable(s: string): Record<string, string | boolean> | undefined {
  const m = /^\s*\{(.*)\}\s*(?:#.*)?$/.exec(s);
  if (!m) return undefined;
  const out: Record<string, string | boolean> = {};
  const body = m[1]!.replace(/\[[^\]]*\]/g, "[]");
  for (const part of body.split(",")) {
    const kv = /^\s*([A-Za-z0-9_-]+|"[^"]+")\s*=\s*(.+?)\s*$/.exec(part);
    if (!kv) continue;
    const key = kv[1]!.replace(/^"|"$/g, "");
    const str = stringValue(kv[2]!);
    if (str !== undefined) out[key] = str;
    else if (kv[2] === "true" || kv[2] === "false") out[key] = kv[2] === "true";
  }
  return out;
}

function stringArray(s: string): string[] {
  const m = /^\s*\[(.*)\]/.exec(s);
  if (!m) return [];
  return [...m[1]!.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'/g)].map((x) => (x[1] ?? x[2])!);
}

export function parseCargoToml(text: string, depTable: RegExp = DEP_TABLE): CargoManifest {
  const out: CargoManifest = { deps: [], others: [], members: [], exclude: [], hasPackage: false, problems: [] };
  const lines = text.split("\n");
  let table = "";
  // A `[dependencies.name]` table being read: its fields until the next header.
  let single: { key: string; table: string; fields: Record<string, string | boolean>; versionLine?: number } | undefined;
  const flushSingle = () => {
    if (single) classify(single.key, single.table, single.fields, single.versionLine);
    single = undefined;
  };
  const classify = (key: string, tbl: string, fields: Record<string, string | boolean>, line: number | undefined) => {
    if (fields.path !== undefined) return void out.others.push({ key, table: tbl, kind: "path" });
    if (fields.git !== undefined) return void out.others.push({ key, table: tbl, kind: "git" });
    if (fields.workspace === true) return void out.others.push({ key, table: tbl, kind: "workspace" });
    if (fields.url !== undefined) return void out.others.push({ key, table: tbl, kind: "url" });
    if (typeof fields.version !== "string" || line === undefined) return void out.others.push({ key, table: tbl, kind: "no-version" });
    // Cargo names another registry with `registry`, Poetry with `source`.
    const registry = typeof fields.registry === "string" ? fields.registry : typeof fields.source === "string" ? fields.source : undefined;
    out.deps.push({ key, name: typeof fields.package === "string" ? fields.package : key, table: tbl, req: fields.version, ...(registry ? { registry } : {}), line });
  };
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const header = /^\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$/.exec(line);
    if (header) {
      flushSingle();
      table = header[1]!.replace(/\s*\.\s*/g, ".");
      if (table === "package") out.hasPackage = true;
      const sub = /^(.*dependencies)\.("?)([A-Za-z0-9_-]+)\2$/.exec(table);
      if (sub && depTable.test(sub[1]!)) single = { key: sub[3]!, table: sub[1]!, fields: {} };
      continue;
    }
    if (/^\[\[/.test(line)) {
      flushSingle();
      table = "";
      continue;
    }
    const kv = /^([A-Za-z0-9_-]+|"[^"]+"|'[^']+')\s*=\s*(.*)$/.exec(line);
    if (!kv) continue;
    const key = kv[1]!.replace(/^["']|["']$/g, "");
    const value = kv[2]!;
    if (single) {
      const str = stringValue(value);
      if (str !== undefined) single.fields[key] = str;
      else if (value.startsWith("true") || value.startsWith("false")) single.fields[key] = value.startsWith("true");
      if (key === "version" && str !== undefined) single.versionLine = i;
      continue;
    }
    if (table === "package" && key === "name") out.packageName = stringValue(value) ?? out.packageName;
    if (table === "workspace" && key === "members") out.members = stringArray(value);
    if (table === "workspace" && key === "exclude") out.exclude = stringArray(value);
    if (!depTable.test(table)) continue;
    const str = stringValue(value);
    if (str !== undefined) {
      out.deps.push({ key, name: key, table, req: str, line: i });
      continue;
    }
    const fields = inlineTable(value);
    if (!fields) {
      out.problems.push(`line ${i + 1}: \`${key}\` in [${table}] is neither a version string nor a one-line table, so it was not checked`);
      continue;
    }
    classify(key, table, fields, i);
  }
  flushSingle();
  return out;
}

/**
 * The manifest with one dependency's requirement replaced, on its own line; null when that line
 * no longer holds `from` for this key (the file changed since it was read).
 */
export function setCargoRequirement(text: string, dep: Pick<CargoDep, "key" | "line">, from: string, to: string): string | null {
  const lines = text.split("\n");
  const line = lines[dep.line];
  if (line === undefined) return null;
  const quoted = (s: string) => [`"${s}"`, `'${s}'`];
  // `key = "1.2"` or `key = { version = "1.2" … }` or, in a [dependencies.key] table, `version = "1.2"`.
  const patterns = [
    new RegExp(`^(\\s*["']?${escape(dep.key)}["']?\\s*=\\s*)(${quoted(from).map(escape).join("|")})`),
    new RegExp(`^(\\s*["']?${escape(dep.key)}["']?\\s*=\\s*\\{.*?\\bversion\\s*=\\s*)(${quoted(from).map(escape).join("|")})`),
    new RegExp(`^(\\s*version\\s*=\\s*)(${quoted(from).map(escape).join("|")})`),
  ];
  for (const re of patterns) {
    const m = re.exec(line);
    if (!m) continue;
    const q = m[2]!.charAt(0);
    lines[dep.line] = `${m[1]}${q}${to}${q}${line.slice(m[0].length)}`;
    return lines.join("\n");
  }
  return null;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
