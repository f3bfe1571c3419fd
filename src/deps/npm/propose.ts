import semver from "semver";
import type { Dependency, PackageMeta, ProposedUpdate, SkippedUpdate, UpdateType, VersionMeta } from "../types.js";
import { bumpRange, rangeAllows } from "./range.js";

/**
 * What to propose for one npm dependency, from its registry metadata. Pure.
 *
 * At most two updates per dependency:
 * - the newest **compatible** version (minor/patch; within `^current`, so for 0.x a minor step
 *   counts as major, as npm's caret does), with the range bumped to it; when the range cannot be
 *   rewritten or already allows it (`*`, `>=1`, `1.x`), the update is the lock file's alone
 *   ("lockfile": the newest version the current range allows);
 * - the newest **major**, when there is one beyond the compatible line.
 *
 * Candidates are newer than the current (locked) version; prereleases only when the current
 * version is a prerelease of the same major.minor.patch; deprecated versions only when the current
 * one is deprecated too; never a version younger than the minimum age (a version without a
 * publish time counts as too young: the age cannot be checked); never one the config ignores.
 */
export interface ProposePolicy {
  /** Now, in ms since the epoch. */
  now: number;
  /** Versions younger than this are held back. */
  minimumAgeMs: number;
  /** Ranges of versions the config ignores for this package (`name@range` entries). */
  ignoreRanges?: readonly string[];
}

export interface DependencyProposal {
  updates: Array<Omit<ProposedUpdate, "group">>;
  skipped: SkippedUpdate[];
}

const DAY = 24 * 60 * 60 * 1000;

export function proposeUpdates(dep: Dependency, meta: PackageMeta, policy: ProposePolicy): DependencyProposal {
  const skipped: SkippedUpdate[] = [];
  const skip = (reason: SkippedUpdate["reason"], detail: string, version?: string) =>
    skipped.push({ name: dep.name, manifest: dep.manifest, reason, detail, ...(version ? { version } : {}) });
  const value = dep.currentValue;

  if (semver.validRange(value.trim() === "" ? "*" : value) === null) {
    skip("range", `"${value}" is not a version range (a dist-tag or URL?), so it is left alone`);
    return { updates: [], skipped };
  }
  const current = dep.currentVersion && semver.valid(dep.currentVersion) ? dep.currentVersion : semver.minVersion(value)?.version;
  if (!current) {
    skip("range", `no version can be read from "${value}"`);
    return { updates: [], skipped };
  }
  const currentMeta = meta.versions.find((v) => v.version === current);
  const currentPre = semver.prerelease(current) !== null;
  const currentDeprecated = Boolean(currentMeta?.deprecated);
  const ignoreRanges = policy.ignoreRanges ?? [];

  const compat = `^${current}`;
  const eligible: VersionMeta[] = [];
  // The newest version held back, per line (compatible, major), to say why it was not proposed.
  const held: Record<"too-young" | "ignored", { compat?: VersionMeta; major?: VersionMeta }> = { "too-young": {}, ignored: {} };
  const hold = (reason: "too-young" | "ignored", v: VersionMeta) => {
    const line = safeSatisfies(v.version, compat) ? "compat" : "major";
    const prev = held[reason][line];
    if (!prev || semver.gt(v.version, prev.version)) held[reason][line] = v;
  };
  for (const v of meta.versions) {
    if (!semver.valid(v.version) || !semver.gt(v.version, current)) continue;
    if (semver.prerelease(v.version) !== null) {
      if (!currentPre) continue;
      const a = semver.parse(v.version)!;
      const b = semver.parse(current)!;
      if (a.major !== b.major || a.minor !== b.minor || a.patch !== b.patch) continue;
    }
    if (v.deprecated && !currentDeprecated) continue;
    if (ignoreRanges.some((r) => safeSatisfies(v.version, r))) {
      hold("ignored", v);
      continue;
    }
    if (policy.minimumAgeMs > 0 && (v.publishedAt === undefined || policy.now - v.publishedAt < policy.minimumAgeMs)) {
      hold("too-young", v);
      continue;
    }
    eligible.push(v);
  }

  const newest = (list: VersionMeta[]) => list.reduce<VersionMeta | undefined>((a, v) => (!a || semver.gt(v.version, a.version) ? v : a), undefined);
  const nonMajor = newest(eligible.filter((v) => safeSatisfies(v.version, compat)));
  const major = newest(eligible.filter((v) => !safeSatisfies(v.version, compat)));

  const updates: DependencyProposal["updates"] = [];
  const propose = (target: VersionMeta, isMajor: boolean) => {
    let version = target.version;
    let newValue = bumpRange(value, version);
    if (newValue === null) {
      if (rangeAllows(value, version)) newValue = value;
      else if (!isMajor) {
        // The range cannot be rewritten: the newest version it already allows, in the lock only.
        const inRange = newest(eligible.filter((v) => rangeAllows(value, v.version) && safeSatisfies(v.version, compat)));
        if (!inRange) {
          skip("range", `the range "${value}" cannot be rewritten for ${version}; change it by hand`, version);
          return;
        }
        version = inRange.version;
        newValue = value;
      } else {
        skip("range", `the range "${value}" cannot be rewritten for ${version}; change it by hand`, version);
        return;
      }
    }
    if (newValue === value && !dep.currentVersion) {
      skip("no-lockfile", `${version} is within "${value}" already, and there is no lock entry to update`, version);
      return;
    }
    updates.push({
      ecosystem: dep.ecosystem,
      name: dep.name,
      ...(dep.alias ? { alias: dep.alias } : {}),
      depType: dep.depType,
      manifest: dep.manifest,
      currentValue: value,
      newValue,
      currentVersion: dep.currentVersion ?? null,
      newVersion: version,
      updateType: updateTypeOf(current, version, isMajor, newValue === value),
      registry: dep.registry,
      ...releaseNotes(meta, version, dep.registry),
    });
  };
  if (nonMajor) propose(nonMajor, false);
  if (major) propose(major, true);

  for (const line of ["compat", "major"] as const) {
    const proposed = line === "compat" ? nonMajor : major;
    const young = held["too-young"][line];
    if (young && (!proposed || semver.gt(young.version, proposed.version))) {
      const age = young.publishedAt === undefined ? "has no publish time" : `was published ${formatAge(policy.now - young.publishedAt)} ago`;
      skip("too-young", `${young.version} ${age}; it waits until it is ${formatAge(policy.minimumAgeMs)} old`, young.version);
    }
    const ignored = held.ignored[line];
    if (ignored && (!proposed || semver.gt(ignored.version, proposed.version))) {
      skip("ignored", `${ignored.version} is ignored by \`upgrade.ignore\``, ignored.version);
    }
  }
  return { updates, skipped };
}

function updateTypeOf(current: string, next: string, isMajor: boolean, lockOnly: boolean): UpdateType {
  if (isMajor) return "major";
  if (lockOnly) return "lockfile";
  const diff = semver.diff(current, next);
  return diff === "patch" || diff === "prepatch" || diff === "prerelease" ? "patch" : "minor";
}

function safeSatisfies(version: string, range: string): boolean {
  try {
    return semver.satisfies(version, range, { includePrerelease: true });
  } catch {
    return false;
  }
}

/** A link a reviewer can follow: the source repository's releases, else the npm page (npmjs only). */
function releaseNotes(meta: PackageMeta, version: string, registry: string): { releaseNotesUrl?: string } {
  if (meta.repositoryUrl && /^https:\/\/(github\.com|gitlab\.com)\//.test(meta.repositoryUrl)) {
    return { releaseNotesUrl: `${meta.repositoryUrl}/releases` };
  }
  if (/^https:\/\/registry\.npmjs\.org\//.test(registry)) return { releaseNotesUrl: `https://www.npmjs.com/package/${meta.name}/v/${version}` };
  return meta.homepage && /^https?:\/\//.test(meta.homepage) ? { releaseNotesUrl: meta.homepage } : {};
}

export function formatAge(ms: number): string {
  if (ms >= DAY) {
    const days = Math.round((ms / DAY) * 10) / 10;
    return `${days} day${days === 1 ? "" : "s"}`;
  }
  const hours = Math.max(0, Math.round(ms / 3_600_000));
  return `${hours} hour${hours === 1 ? "" : "s"}`;
}
