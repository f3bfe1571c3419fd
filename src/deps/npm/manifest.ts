import { parse as parseYaml } from "yaml";
import type { RepoFiles, ScanProblem, SkippedUpdate } from "../types.js";
import { classifySpec, describeNonRegistry, isPackageName } from "./spec.js";

/**
 * package.json files: the root and its workspaces (npm's and yarn's `workspaces`, as an array of
 * globs or `{ packages: [...] }`; pnpm's `packages` in pnpm-workspace.yaml). A manifest that does not parse is a problem for the report, not an
 * exception: the others are still upgraded.
 */
export interface NpmManifest {
  /** "package.json" or "packages/a/package.json". */
  path: string;
  /** The directory: "" for the root, "packages/a". */
  dir: string;
  text: string;
  json: Record<string, unknown>;
}

/** The sections upgraded. peerDependencies are left alone: they state what a library accepts. */
export const DEP_TYPES = ["dependencies", "devDependencies", "optionalDependencies"] as const;

export interface RawDependency {
  /** The key in the section (the alias for `npm:` values). */
  key: string;
  /** The registry package name. */
  name: string;
  depType: string;
  value: string;
  /** The range inside the value (differs from value for aliases). */
  range: string;
  alias: boolean;
}

export async function readManifests(files: RepoFiles): Promise<{ manifests: NpmManifest[]; problems: ScanProblem[] } | undefined> {
  const problems: ScanProblem[] = [];
  const root = await readManifest(files, "", problems);
  if (root === undefined) return undefined;
  if (root === null) return { manifests: [], problems };
  const manifests: NpmManifest[] = [root];
  const patterns = [...workspacePatterns(root.json), ...pnpmWorkspacePatterns((await files.read("pnpm-workspace.yaml")) ?? "", problems)];
  if (patterns.length) {
    const dirs = await expandWorkspaces(files, patterns);
    for (const dir of dirs) {
      const m = await readManifest(files, dir, problems);
      if (m) manifests.push(m);
    }
  }
  return { manifests, problems };
}

/** undefined: no such file; null: present but unusable (a problem was recorded). */
async function readManifest(files: RepoFiles, dir: string, problems: ScanProblem[]): Promise<NpmManifest | null | undefined> {
  const path = dir ? `${dir}/package.json` : "package.json";
  const text = await files.read(path);
  if (text === undefined) return undefined;
  try {
    const json: unknown = JSON.parse(text);
    if (!json || typeof json !== "object" || Array.isArray(json)) throw new SyntaxError("the top level is not an object");
    return { path, dir, text, json: json as Record<string, unknown> };
  } catch (err) {
    problems.push({ kind: "manifest", manifest: path, message: `\`${path}\` is not valid JSON (${describeJsonError(err as Error, text)}), so its dependencies were not checked` });
    return null;
  }
}

/** JSON.parse's message with a line number, which Node 20's message lacks. */
export function describeJsonError(err: Error, text: string): string {
  const message = err.message.replace(/^JSON\.parse: /, "");
  const pos = /at position (\d+)/.exec(message);
  if (!pos) return message;
  const line = text.slice(0, Number(pos[1])).split("\n").length;
  return `${message.replace(/ in JSON at position \d+.*$/, "").replace(/ at position \d+.*$/, "")} at line ${line}`;
}

export function workspacePatterns(json: Record<string, unknown>): string[] {
  const ws = json.workspaces;
  const list = Array.isArray(ws) ? ws : ws && typeof ws === "object" && Array.isArray((ws as { packages?: unknown }).packages) ? (ws as { packages: unknown[] }).packages : [];
  return list.filter((p): p is string => typeof p === "string" && p.trim() !== "").map((p) => p.trim().replace(/^\.\//, "").replace(/\/+$/, ""));
}

/** pnpm's workspaces: `packages:` in pnpm-workspace.yaml. */
export function pnpmWorkspacePatterns(text: string, problems: ScanProblem[]): string[] {
  if (!text.trim()) return [];
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    problems.push({ kind: "manifest", manifest: "pnpm-workspace.yaml", message: `\`pnpm-workspace.yaml\` is not valid YAML (${(err as Error).message.split("\n")[0]}), so only the root package.json was checked` });
    return [];
  }
  const list = doc && typeof doc === "object" ? (doc as { packages?: unknown }).packages : undefined;
  return workspacePatterns({ workspaces: Array.isArray(list) ? list : [] });
}

const MAX_DEPTH = 6;

/** Directories matching the workspace globs (`*` one level, `**` any depth), minus `!` negations. */
export async function expandWorkspaces(files: RepoFiles, patterns: readonly string[]): Promise<string[]> {
  const include = new Set<string>();
  const exclude: RegExp[] = [];
  for (const pattern of patterns) {
    if (pattern.startsWith("!")) {
      exclude.push(globToRegExp(pattern.slice(1).replace(/^\.\//, "")));
      continue;
    }
    if (pattern.split("/").some((s) => s === ".." || s === ".")) continue;
    for (const dir of await matchDirs(files, "", pattern.split("/"), 0)) include.add(dir);
  }
  return [...include].filter((d) => d !== "" && !exclude.some((re) => re.test(d))).sort();
}

async function matchDirs(files: RepoFiles, base: string, segments: string[], depth: number): Promise<string[]> {
  if (segments.length === 0) return [base];
  if (depth > MAX_DEPTH) return [];
  const [head, ...rest] = segments as [string, ...string[]];
  const join = (name: string) => (base ? `${base}/${name}` : name);
  const children = async () => (await files.listDirs(base)).filter((n) => n !== "node_modules" && !n.startsWith("."));
  if (head === "**") {
    const here = await matchDirs(files, base, rest, depth + 1);
    const deeper: string[] = [];
    for (const name of await children()) deeper.push(...(await matchDirs(files, join(name), segments, depth + 1)));
    return [...here, ...deeper];
  }
  if (/[*?]/.test(head)) {
    const re = globToRegExp(head);
    const out: string[] = [];
    for (const name of (await children()).filter((n) => re.test(n))) out.push(...(await matchDirs(files, join(name), rest, depth + 1)));
    return out;
  }
  if (!(await files.listDirs(base)).includes(head)) return [];
  return matchDirs(files, join(head), rest, depth + 1);
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .split("/")
    .map((seg) => (seg === "**" ? ".*" : seg.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]")))
    .join("/");
  return new RegExp(`^${body}$`);
}

/** The workspace packages' own names: dependencies on them are local, never upgraded. */
export function localNames(manifests: readonly NpmManifest[]): Set<string> {
  return new Set(manifests.map((m) => m.json.name).filter((n): n is string => typeof n === "string"));
}

export function dependenciesOf(manifest: NpmManifest, local: ReadonlySet<string>): { deps: RawDependency[]; skipped: SkippedUpdate[]; problems: ScanProblem[] } {
  const deps: RawDependency[] = [];
  const skipped: SkippedUpdate[] = [];
  const problems: ScanProblem[] = [];
  for (const depType of DEP_TYPES) {
    const section = manifest.json[depType];
    if (section === undefined) continue;
    if (!section || typeof section !== "object" || Array.isArray(section)) {
      problems.push({ kind: "manifest", manifest: manifest.path, message: `\`${depType}\` in \`${manifest.path}\` is not an object, so it was not checked` });
      continue;
    }
    for (const [key, raw] of Object.entries(section as Record<string, unknown>)) {
      if (typeof raw !== "string") {
        problems.push({ kind: "manifest", manifest: manifest.path, name: key, message: `\`${key}\` in \`${manifest.path}\` (${depType}) is not a string` });
        continue;
      }
      const spec = classifySpec(raw);
      if (spec.kind === "range" || spec.kind === "alias") {
        const name = spec.kind === "alias" ? spec.name : key;
        if (local.has(name) && spec.kind === "range") {
          skipped.push({ name: key, manifest: manifest.path, reason: "not-registry", detail: describeNonRegistry("workspace", raw) });
          continue;
        }
        if (!isPackageName(name)) {
          problems.push({ kind: "manifest", manifest: manifest.path, name: key, message: `\`${name}\` in \`${manifest.path}\` is not a valid package name` });
          continue;
        }
        deps.push({ key, name, depType, value: raw, range: spec.range, alias: spec.kind === "alias" });
      } else {
        skipped.push({ name: key, manifest: manifest.path, reason: "not-registry", detail: describeNonRegistry(spec.kind, raw) });
      }
    }
  }
  return { deps, skipped, problems };
}
