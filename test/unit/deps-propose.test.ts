import { describe, expect, test } from "@jest/globals";
import { proposeUpdates } from "../../src/deps/npm/propose.js";
import type { Dependency, PackageMeta } from "../../src/deps/types.js";

const DAY = 24 * 3600 * 1000;
const NOW = Date.UTC(2026, 0, 31);
const policy = { now: NOW, minimumAgeMs: 3 * DAY };

/** versions: "1.0.0" (30 days old) or ["1.3.0", { ageDays: 1, deprecated: "…" }] */
function meta(...versions: Array<string | [string, { ageDays?: number; deprecated?: string; noTime?: boolean }]>): PackageMeta {
  return {
    name: "pkg",
    distTags: {},
    repositoryUrl: "https://github.com/acme/pkg",
    versions: versions.map((v) => {
      const [version, o] = typeof v === "string" ? [v, {}] : v;
      return {
        version,
        ...(o.noTime ? {} : { publishedAt: NOW - (o.ageDays ?? 30) * DAY }),
        ...(o.deprecated ? { deprecated: o.deprecated } : {}),
      };
    }),
  };
}

const dep = (currentValue: string, currentVersion?: string, over: Partial<Dependency> = {}): Dependency => ({
  ecosystem: "npm",
  name: "pkg",
  depType: "dependencies",
  manifest: "package.json",
  currentValue,
  ...(currentVersion ? { currentVersion } : {}),
  registry: "https://registry.npmjs.org/",
  ...over,
});

const brief = (r: ReturnType<typeof proposeUpdates>) => r.updates.map((u) => `${u.updateType} ${u.currentValue}→${u.newValue} ${u.currentVersion}→${u.newVersion}`);

describe("proposeUpdates", () => {
  test("in-range outdated and major outdated: one compatible update (range bumped) and one major", () => {
    const r = proposeUpdates(dep("^1.0.0", "1.0.0"), meta("1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0"), policy);
    expect(brief(r)).toEqual(["minor ^1.0.0→^1.2.0 1.0.0→1.2.0", "major ^1.0.0→^2.1.0 1.0.0→2.1.0"]);
    expect(r.updates[0]!.releaseNotesUrl).toBe("https://github.com/acme/pkg/releases");
  });

  test("~ keeps its operator; a patch is a patch", () => {
    expect(brief(proposeUpdates(dep("~1.2.0", "1.2.0"), meta("1.2.0", "1.2.4"), policy))).toEqual(["patch ~1.2.0→~1.2.4 1.2.0→1.2.4"]);
  });

  test("exact pins stay exact", () => {
    expect(brief(proposeUpdates(dep("1.0.0", "1.0.0"), meta("1.0.0", "1.0.1", "3.0.0"), policy))).toEqual([
      "patch 1.0.0→1.0.1 1.0.0→1.0.1",
      "major 1.0.0→3.0.0 1.0.0→3.0.0",
    ]);
  });

  test("* is a lock-file update, for a major too; >= is bumped", () => {
    expect(brief(proposeUpdates(dep("*", "1.0.0"), meta("1.0.0", "1.5.0", "2.0.0"), policy))).toEqual([
      "lockfile *→* 1.0.0→1.5.0",
      "major *→* 1.0.0→2.0.0",
    ]);
    expect(brief(proposeUpdates(dep(">=1.0.0", "1.0.0"), meta("1.0.0", "1.5.0", "2.0.0"), policy))).toEqual([
      "minor >=1.0.0→>=1.5.0 1.0.0→1.5.0",
      "major >=1.0.0→>=2.0.0 1.0.0→2.0.0",
    ]);
  });

  test("a range that cannot be rewritten gets the newest version it allows, in the lock only; its major is reported", () => {
    const r = proposeUpdates(dep(">=1.0.0 <1.3.0", "1.0.0"), meta("1.0.0", "1.2.0", "1.4.0", "2.0.0"), policy);
    expect(brief(r)).toEqual(["lockfile >=1.0.0 <1.3.0→>=1.0.0 <1.3.0 1.0.0→1.2.0"]);
    expect(r.skipped.map((s) => [s.reason, s.version])).toEqual([["range", "2.0.0"]]);
  });

  test("0.x: a minor step is breaking, so it is a major", () => {
    expect(brief(proposeUpdates(dep("^0.2.0", "0.2.0"), meta("0.2.0", "0.2.5", "0.3.0"), policy))).toEqual([
      "patch ^0.2.0→^0.2.5 0.2.0→0.2.5",
      "major ^0.2.0→^0.3.0 0.2.0→0.3.0",
    ]);
  });

  test("versions younger than the minimum age are held back and said", () => {
    const r = proposeUpdates(dep("^1.0.0", "1.0.0"), meta("1.0.0", "1.1.0", ["1.2.0", { ageDays: 1 }]), policy);
    expect(brief(r)).toEqual(["minor ^1.0.0→^1.1.0 1.0.0→1.1.0"]);
    expect(r.skipped).toEqual([expect.objectContaining({ reason: "too-young", version: "1.2.0", detail: expect.stringMatching(/published 1 day ago; it waits until it is 3 days old/) })]);
  });

  test("a version without a publish time cannot be aged, so it waits; a minimum age of 0 takes it", () => {
    const m = meta("1.0.0", ["1.1.0", { noTime: true }]);
    expect(proposeUpdates(dep("^1.0.0", "1.0.0"), m, policy).updates).toEqual([]);
    expect(brief(proposeUpdates(dep("^1.0.0", "1.0.0"), m, { ...policy, minimumAgeMs: 0 }))).toEqual(["minor ^1.0.0→^1.1.0 1.0.0→1.1.0"]);
  });

  test("deprecated versions are skipped, unless the current one is deprecated too", () => {
    const m = meta("1.0.0", "1.1.0", ["1.2.0", { deprecated: "broken, use 1.1.0" }]);
    expect(brief(proposeUpdates(dep("^1.0.0", "1.0.0"), m, policy))).toEqual(["minor ^1.0.0→^1.1.0 1.0.0→1.1.0"]);
    const fromDeprecated = meta(["1.0.0", { deprecated: "old" }], ["1.2.0", { deprecated: "also old" }]);
    expect(brief(proposeUpdates(dep("^1.0.0", "1.0.0"), fromDeprecated, policy))).toEqual(["minor ^1.0.0→^1.2.0 1.0.0→1.2.0"]);
  });

  test("prereleases are skipped, unless the current version is a prerelease of the same version", () => {
    const m = meta("1.0.0", "1.1.0", "2.0.0-beta.1", "2.0.0-beta.2", "3.0.0-alpha.1");
    expect(brief(proposeUpdates(dep("^1.0.0", "1.0.0"), m, policy))).toEqual(["minor ^1.0.0→^1.1.0 1.0.0→1.1.0"]);
    expect(brief(proposeUpdates(dep("^2.0.0-beta.1", "2.0.0-beta.1"), m, policy))).toEqual(["patch ^2.0.0-beta.1→^2.0.0-beta.2 2.0.0-beta.1→2.0.0-beta.2"]);
  });

  test("ignored version ranges are skipped and reported", () => {
    const r = proposeUpdates(dep("^1.0.0", "1.0.0"), meta("1.0.0", "1.1.0", "2.0.0"), { ...policy, ignoreRanges: [">=2"] });
    expect(brief(r)).toEqual(["minor ^1.0.0→^1.1.0 1.0.0→1.1.0"]);
    expect(r.skipped).toEqual([expect.objectContaining({ reason: "ignored", version: "2.0.0" })]);
  });

  test("without a lock file the range's floor is the current version, and an in-range move has nothing to change", () => {
    const r = proposeUpdates(dep("^1.0.0"), meta("1.0.0", "1.3.0", "2.0.0"), policy);
    expect(brief(r)).toEqual(["minor ^1.0.0→^1.3.0 null→1.3.0", "major ^1.0.0→^2.0.0 null→2.0.0"]);
    const star = proposeUpdates(dep("*"), meta("1.0.0", "1.3.0"), policy);
    expect(star.updates).toEqual([]);
    expect(star.skipped[0]).toEqual(expect.objectContaining({ reason: "no-lockfile" }));
  });

  test("up to date: nothing; a dist-tag value: left alone with a reason", () => {
    expect(proposeUpdates(dep("^2.0.0", "2.1.0"), meta("1.0.0", "2.0.0", "2.1.0"), policy)).toEqual({ updates: [], skipped: [] });
    expect(proposeUpdates(dep("latest"), meta("1.0.0"), policy).skipped[0]).toEqual(expect.objectContaining({ reason: "range" }));
  });

  test("an alias keeps its key", () => {
    const r = proposeUpdates(dep("^1.0.0", "1.0.0", { alias: "my-pkg" }), meta("1.0.0", "1.1.0"), policy);
    expect(r.updates[0]).toEqual(expect.objectContaining({ name: "pkg", alias: "my-pkg", newValue: "^1.1.0" }));
  });
});
