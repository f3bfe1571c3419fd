import semver from "semver";

/**
 * The range strategy, as Renovate's default for applications ("bump"): the new version becomes
 * the range's floor and the operator stays as it was. Pure.
 *
 *   ^1.2.3 → ^2.0.1      ~1.2.3 → ~1.4.0      1.2.3 → 1.4.0      =1.2.3 → =1.4.0
 *   >=1.2.3 → >=2.0.1    1.2.x → 1.4.x        1.x → 2.x          ^1.2 → ^1.4      ^1 → ^2
 *   *, x, "" (any version) → unchanged: the update is the lock file's alone.
 *
 * The number of version components written is kept (`^1.2` stays two), so a range the project
 * wrote loosely stays loose. Anything else (`<2`, `>1.0.0`, hyphen ranges, `||` unions, tags) is
 * not rewritten: `bumpRange` answers null and the caller can only update the lock file within it.
 */
export function bumpRange(currentValue: string, newVersion: string): string | null {
  const value = currentValue.trim();
  const v = semver.parse(newVersion);
  if (!v) return null;
  if (value === "" || value === "*" || value === "x" || value === "X") return currentValue;

  // x-ranges without an operator: 1, 1.x, 1.x.x, 1.2, 1.2.x (a partial version means "any of the rest").
  const xr = /^v?(\d+)(?:\.(\d+|[xX*]))?(?:\.([xX*]))?$/.exec(value);
  if (xr) {
    const [, , second, third] = xr;
    if (second === undefined) return String(v.major);
    if (/[xX*]/.test(second)) return third === undefined ? `${v.major}.${second}` : `${v.major}.${second}.${third}`;
    return third === undefined ? `${v.major}.${v.minor}` : `${v.major}.${v.minor}.${third}`;
  }

  const m = /^(\^|~|>=|=|v)?\s*(\d+(?:\.\d+){0,2}(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)$/.exec(value);
  if (!m) return null;
  const operator = m[1] ?? "";
  const written = m[2]!;
  // Two components ("^1.2") written without a patch: keep that shape; prereleases need all three.
  const parts = written.split(/[-+]/)[0]!.split(".").length;
  if (operator === "v") return `v${formatVersion(v, 3)}`;
  if (operator === "" || operator === "=") {
    // An exact pin (a partial "1.2" without operator is an x-range, handled above).
    return `${operator}${formatVersion(v, 3)}`;
  }
  return `${operator}${formatVersion(v, v.prerelease.length ? 3 : parts)}`;
}

function formatVersion(v: semver.SemVer, parts: number): string {
  if (parts >= 3 || v.prerelease.length) return v.version;
  if (parts === 2) return `${v.major}.${v.minor}`;
  return String(v.major);
}

/**
 * The versions a value may lock: true when `version` satisfies the range as written. Prereleases
 * count only where the range names one on the same [major, minor, patch] (npm's rule).
 */
export function rangeAllows(value: string, version: string): boolean {
  const range = value.trim() === "" ? "*" : value;
  try {
    return semver.satisfies(version, range);
  } catch {
    return false;
  }
}
