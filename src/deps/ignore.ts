/**
 * `upgrade.ignore` entries: `name` ignores a dependency entirely; `name@range` ignores the
 * versions in the range (the ecosystem's range syntax). Names may use `*` (within one path
 * segment: `@types/*`, `eslint-*`). Pure.
 */
export interface IgnoreRule {
  pattern: string;
  range?: string;
}

export function parseIgnoreRules(entries: readonly string[]): IgnoreRule[] {
  return entries.map((entry) => {
    const e = entry.trim();
    const at = e.indexOf("@", e.startsWith("@") ? 1 : 0);
    return at > 0 ? { pattern: e.slice(0, at), range: e.slice(at + 1) } : { pattern: e };
  });
}

export function nameMatches(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\?]/g, "\\$&").replace(/\*/g, "[^/]*")}$`, "i");
  return re.test(name);
}

/** True when the whole dependency is ignored. */
export function isIgnored(name: string, rules: readonly IgnoreRule[]): boolean {
  return rules.some((r) => r.range === undefined && nameMatches(r.pattern, name));
}

/** Version ranges ignored for this dependency. */
export function ignoredRanges(name: string, rules: readonly IgnoreRule[]): string[] {
  return rules.filter((r) => r.range !== undefined && nameMatches(r.pattern, name)).map((r) => r.range!);
}
