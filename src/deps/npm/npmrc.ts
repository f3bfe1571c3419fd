import { parse as parseYaml } from "yaml";

/**
 * The project's `.npmrc` (and yarn's `.yarnrc` and `.yarnrc.yml`), for where packages come from: `registry=` and `@scope:registry=`.
 * Credentials (`//host/:_authToken=…`) are never read: the bot has none to give, and the
 * sandbox's install sees the same file. Pure.
 */
export interface NpmrcRegistries {
  registry?: string;
  scopes: Record<string, string>;
  problems: string[];
}

export function parseNpmrc(text: string): NpmrcRegistries {
  const out: NpmrcRegistries = { scopes: {}, problems: [] };
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1").replace(/^'(.*)'$/, "$1");
    const scope = /^(@[^:]+):registry$/.exec(key);
    if (key !== "registry" && !scope) continue;
    if (/\$\{[^}]*\}/.test(value)) {
      out.problems.push(`\`.npmrc\`: \`${key}\` uses an environment variable, which iquest-bot cannot resolve; it was ignored`);
      continue;
    }
    const url = normalizeRegistry(value);
    if (!url) {
      out.problems.push(`\`.npmrc\`: \`${key}\` is not an http(s) URL; it was ignored`);
      continue;
    }
    value = url;
    if (scope) out.scopes[scope[1]!.toLowerCase()] = value;
    else out.registry = value;
  }
  return out;
}

/** An http(s) URL with a trailing slash, without credentials; undefined when it is not one. */
export function normalizeRegistry(value: string): string | undefined {
  try {
    const url = new URL(value);
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    if (url.username || url.password) return undefined;
    url.search = "";
    url.hash = "";
    return url.href.endsWith("/") ? url.href : `${url.href}/`;
  } catch {
    return undefined;
  }
}

export function registryFor(name: string, rc: NpmrcRegistries, fallback: string): string {
  if (name.startsWith("@")) {
    const scoped = rc.scopes[name.slice(0, name.indexOf("/")).toLowerCase()];
    if (scoped) return scoped;
  }
  return rc.registry ?? fallback;
}

/** yarn classic's `.yarnrc`: `registry "url"` and `"@scope:registry" "url"` (it also reads `.npmrc`). */
export function parseYarnrc(text: string): NpmrcRegistries {
  const lines = text
    .split(/\r?\n/)
    .map((l) => /^\s*"?(registry|@[^:"\s]+:registry)"?\s+"?([^"\s]+)"?\s*$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => `${m[1]}=${m[2]}`);
  const parsed = parseNpmrc(lines.join("\n"));
  return { ...parsed, problems: parsed.problems.map((p) => p.replace("`.npmrc`", "`.yarnrc`")) };
}

/** Later files win, as yarn classic reads `.yarnrc` over `.npmrc`. */
export function mergeRegistries(base: NpmrcRegistries, over: NpmrcRegistries | undefined): NpmrcRegistries {
  if (!over) return base;
  return { ...(over.registry ?? base.registry ? { registry: over.registry ?? base.registry } : {}), scopes: { ...base.scopes, ...over.scopes }, problems: [...base.problems, ...over.problems] };
}

/**
 * yarn berry's `.yarnrc.yml`: `npmRegistryServer` and `npmScopes.<scope>.npmRegistryServer`
 * (berry ignores `.npmrc`). A bare host is https, as berry reads it.
 */
export function parseYarnrcYml(text: string): NpmrcRegistries {
  const out: NpmrcRegistries = { scopes: {}, problems: [] };
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    out.problems.push(`\`.yarnrc.yml\` is not valid YAML (${(err as Error).message.split("\n")[0]}); the default registry was used`);
    return out;
  }
  if (!doc || typeof doc !== "object") return out;
  const rc = doc as { npmRegistryServer?: unknown; npmScopes?: Record<string, { npmRegistryServer?: unknown } | null> };
  const url = (key: string, value: unknown): string | undefined => {
    if (typeof value !== "string") return undefined;
    if (/\$\{[^}]*\}/.test(value)) {
      out.problems.push(`\`.yarnrc.yml\`: \`${key}\` uses an environment variable, which iquest-bot cannot resolve; it was ignored`);
      return undefined;
    }
    const normalized = normalizeRegistry(/^[a-z]+:\/\//i.test(value) ? value : `https://${value}`);
    if (!normalized) out.problems.push(`\`.yarnrc.yml\`: \`${key}\` is not an http(s) URL; it was ignored`);
    return normalized;
  };
  const registry = url("npmRegistryServer", rc.npmRegistryServer);
  if (registry) out.registry = registry;
  for (const [scope, entry] of Object.entries(rc.npmScopes && typeof rc.npmScopes === "object" ? rc.npmScopes : {})) {
    const scoped = url(`npmScopes.${scope}.npmRegistryServer`, entry?.npmRegistryServer);
    if (scoped) out.scopes[`@${scope.replace(/^@/, "").toLowerCase()}`] = scoped;
  }
  return out;
}
