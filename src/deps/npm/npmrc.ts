/**
 * The project's `.npmrc`, for where packages come from: `registry=` and `@scope:registry=`.
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
