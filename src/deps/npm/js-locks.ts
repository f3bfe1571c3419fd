import { parse as parseYaml } from "yaml";
import { lockedVersion, parseLock } from "./lockfile.js";

/**
 * The lock files of the three npm-registry package managers, read for one question: which version
 * is locked for a manifest's dependency. npm and pnpm lock per project directory (and key); yarn
 * locks per descriptor (`name@range`), wherever it is used. Pure.
 *
 * - package-lock.json / npm-shrinkwrap.json: lockfile.ts.
 * - pnpm-lock.yaml: v6 and v9 (`importers[dir][section][key] = { specifier, version }`), and v5
 *   (`importers[dir][section][key] = version`, or the same at the top level without workspaces).
 *   Versions carry peer suffixes (`1.2.3(react@18.0.0)`, v5's `1.2.3_react@18.0.0`) and aliases
 *   carry the real name (`string-width@4.2.3`).
 * - yarn.lock: classic (v1's own format: `"a@^1.0.0", a@^1.1.0:` then `  version "1.2.0"`) and
 *   berry (YAML with `__metadata`; descriptors `a@npm:^1.0.0`).
 */
export type JsManager = "npm" | "pnpm" | "yarn" | "yarn-berry";

export interface JsLock {
  manager: JsManager;
  file: string;
  /** The locked version for `key` as the manifest in `dir` asks for it with `value` (the manifest's raw value). */
  locked(dir: string, key: string, value: string): string | undefined;
}

export type LockRead = { lock: JsLock } | { file: string; manager: JsManager; error: string };

export function readJsLock(file: string, text: string): LockRead {
  if (file === "pnpm-lock.yaml") return readPnpmLock(text);
  if (file === "yarn.lock") return readYarnLock(text);
  const parsed = parseLock(text);
  if ("error" in parsed) return { file, manager: "npm", error: `not valid JSON (${parsed.error})` };
  return { lock: { manager: "npm", file, locked: (dir, key) => lockedVersion(parsed.lock, dir, key) } };
}

type PnpmDeps = Record<string, unknown>;
interface PnpmImporter {
  dependencies?: PnpmDeps;
  devDependencies?: PnpmDeps;
  optionalDependencies?: PnpmDeps;
}

function readPnpmLock(text: string): LockRead {
  const fail = (error: string): LockRead => ({ file: "pnpm-lock.yaml", manager: "pnpm", error });
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    return fail(`not valid YAML (${(err as Error).message.split("\n")[0]})`);
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) return fail("not a pnpm lock file (no top-level map)");
  const top = doc as { lockfileVersion?: unknown; importers?: Record<string, PnpmImporter> } & PnpmImporter;
  if (top.lockfileVersion === undefined) return fail("not a pnpm lock file (no `lockfileVersion`)");
  const importers: Record<string, PnpmImporter> = top.importers && typeof top.importers === "object" ? top.importers : { ".": top };
  return {
    lock: {
      manager: "pnpm",
      file: "pnpm-lock.yaml",
      locked(dir, key) {
        const importer = importers[dir || "."];
        if (!importer) return undefined;
        for (const section of [importer.dependencies, importer.devDependencies, importer.optionalDependencies]) {
          const entry = section?.[key];
          if (entry === undefined) continue;
          const raw = typeof entry === "object" && entry !== null ? (entry as { version?: unknown }).version : entry;
          return typeof raw === "string" || typeof raw === "number" ? pnpmVersion(String(raw)) : undefined;
        }
        return undefined;
      },
    },
  };
}

/** "1.2.3(peer@1.0.0)" / "1.2.3_peer@1.0.0" / "real-name@1.2.3" / "/real-name/1.2.3" → "1.2.3"; links → undefined. */
function pnpmVersion(raw: string): string | undefined {
  if (/^(link|file|workspace):/.test(raw)) return undefined;
  let v = raw.replace(/\(.*$/, "");
  if (v.startsWith("/")) v = v.slice(v.lastIndexOf("/") + 1); // v5 alias: /real-name/1.2.3
  else if (v.lastIndexOf("@") > 0) v = v.slice(v.lastIndexOf("@") + 1);
  v = v.replace(/_.*$/, "");
  return /^\d+\.\d+\.\d+/.test(v) ? v : undefined;
}

function readYarnLock(text: string): LockRead {
  const berry = /^__metadata:/m.test(text);
  return berry ? readBerryLock(text) : readClassicLock(text);
}

function readClassicLock(text: string): LockRead {
  const versions = new Map<string, string>();
  let current: string[] | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.trim() || line.startsWith("#")) continue;
    if (!/^\s/.test(line)) {
      if (!line.endsWith(":")) return { file: "yarn.lock", manager: "yarn", error: `line ${i + 1} is neither an entry nor a field: \`${line.slice(0, 80)}\`` };
      current = line
        .slice(0, -1)
        .split(/,\s*/)
        .map((d) => d.trim().replace(/^"(.*)"$/, "$1"));
      continue;
    }
    const m = /^ {2}version:? "?([^"\s]+)"?$/.exec(line);
    if (m && current) for (const d of current) versions.set(d, m[1]!);
  }
  return { lock: { manager: "yarn", file: "yarn.lock", locked: (_dir, key, value) => versions.get(`${key}@${value}`) } };
}

function readBerryLock(text: string): LockRead {
  const fail = (error: string): LockRead => ({ file: "yarn.lock", manager: "yarn-berry", error });
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    return fail(`not valid YAML (${(err as Error).message.split("\n")[0]})`);
  }
  if (!doc || typeof doc !== "object") return fail("not a yarn lock file");
  const versions = new Map<string, string>();
  for (const [descriptors, entry] of Object.entries(doc as Record<string, unknown>)) {
    if (descriptors === "__metadata" || !entry || typeof entry !== "object") continue;
    const version = (entry as { version?: unknown }).version;
    if (typeof version !== "string" && typeof version !== "number") continue;
    for (const d of descriptors.split(/,\s*/)) versions.set(d.trim(), String(version));
  }
  return {
    lock: {
      manager: "yarn-berry",
      file: "yarn.lock",
      // The manifest's `^1.2.0` is locked as `name@npm:^1.2.0`; an alias's `npm:real@^1` as `key@npm:real@^1`.
      locked: (_dir, key, value) => (/^[a-z]+:/.test(value) && !value.startsWith("npm:") ? undefined : versions.get(`${key}@${value.startsWith("npm:") ? value : `npm:${value}`}`)),
    },
  };
}
