import { describe, expect, test } from "@jest/globals";
import semver from "semver";
import { changelogExcerpt } from "../../src/deps/changelog.js";
import { normalizeRepositoryUrl, packumentUrl, reducePackument } from "../../src/deps/npm/registry.js";
import { readTarGz } from "../../src/deps/tar.js";
import { packTarball } from "../support/npm-registry/tarball.js";

const between = (from: string, to: string) => (v: string) => semver.valid(v) !== null && semver.gt(v, from) && semver.lte(v, to);

describe("changelogExcerpt", () => {
  const md = ["# Changelog", "", "## 3.0.0", "- three", "", "## [2.1.0] - 2026-01-01", "- two one", "", "## v2.0.0", "BREAKING: greet() is now hello()", "", "## 1.2.0", "- old"].join("\n");
  test("the sections after the current version up to the new one", () => {
    const e = changelogExcerpt(md, between("1.2.0", "2.1.0"), 10_000)!;
    expect(e.fallback).toBe(false);
    expect(e.text).toContain("BREAKING: greet() is now hello()");
    expect(e.text).toContain("two one");
    expect(e.text).not.toContain("three");
    expect(e.text).not.toContain("old");
  });
  test("History.md style and setext headings", () => {
    const history = ["2.0.0 / 2026-01-02", "==================", "", "  * renamed greet", "", "1.0.0 / 2025-01-01", "==================", "  * first"].join("\n");
    expect(changelogExcerpt(history, between("1.0.0", "2.0.0"), 1000)!.text).toMatch(/renamed greet/);
    expect(changelogExcerpt(history, between("1.0.0", "2.0.0"), 1000)!.text).not.toMatch(/first/);
  });
  test("no heading in range: the top of the file, half the room, marked as a fallback; cut to size", () => {
    const e = changelogExcerpt("Some notes without versions.\n".repeat(100), between("1.0.0", "2.0.0"), 100)!;
    expect(e.fallback).toBe(true);
    expect(e.truncated).toBe(true);
    expect(e.text.length).toBeLessThanOrEqual(52);
    expect(changelogExcerpt("   ", between("1.0.0", "2.0.0"), 100)).toBeUndefined();
  });
});

describe("tar", () => {
  test("reads the files asked for, with ustar prefixes for long paths, and skips oversized ones", () => {
    const long = `${"d".repeat(90)}/${"e".repeat(40)}/CHANGELOG.md`;
    const gz = packTarball({ "package.json": "{}", "CHANGELOG.md": "# 2.0.0\nhello", [long]: "deep", "big.txt": "x".repeat(5000) });
    const got = readTarGz(gz, (p) => p.endsWith("CHANGELOG.md") || p.endsWith("big.txt"), { maxUnpackedBytes: 1e6, maxFileBytes: 1000 });
    expect([...got.keys()].sort()).toEqual([`package/${long}`, "package/CHANGELOG.md"].sort());
    expect(got.get("package/CHANGELOG.md")!.toString()).toBe("# 2.0.0\nhello");
  });
  test("an archive that unpacks beyond the cap is refused", () => {
    const gz = packTarball({ "a.txt": "a".repeat(200_000) });
    expect(() => readTarGz(gz, () => true, { maxUnpackedBytes: 10_000, maxFileBytes: 1e6 })).toThrow();
  });
});

describe("packuments", () => {
  test("reduced to versions, times, deprecations, tarballs, dist-tags and the repository", () => {
    const meta = reducePackument("x", {
      "dist-tags": { latest: "1.1.0", next: 5 },
      versions: { "1.0.0": { dist: { tarball: "https://r/x/-/x-1.0.0.tgz" } }, "1.1.0": { deprecated: "use 2", repository: "github:acme/x" } },
      time: { "1.0.0": "2026-01-01T00:00:00.000Z", "1.1.0": "garbage" },
    })!;
    expect(meta.versions).toEqual([
      { version: "1.0.0", publishedAt: Date.parse("2026-01-01T00:00:00.000Z"), tarball: "https://r/x/-/x-1.0.0.tgz" },
      { version: "1.1.0", deprecated: "use 2" },
    ]);
    expect(meta.distTags).toEqual({ latest: "1.1.0" });
    expect(meta.repositoryUrl).toBe("https://github.com/acme/x");
    expect(reducePackument("x", { error: "nope" })).toBeUndefined();
  });
  test.each([
    ["git+https://github.com/o/r.git", "https://github.com/o/r"],
    ["git://github.com/o/r.git", "https://github.com/o/r"],
    ["git@github.com:o/r.git", "https://github.com/o/r"],
    ["gitlab:o/r", "https://gitlab.com/o/r"],
    ["o/r", "https://github.com/o/r"],
    [{ type: "git", url: "https://gitlab.example.com/o/r" }, "https://gitlab.example.com/o/r"],
    ["not a url", undefined],
  ])("repository %j → %s", (input, url) => {
    expect(normalizeRepositoryUrl(input)).toBe(url);
  });
  test("scoped names are encoded as npm does", () => {
    expect(packumentUrl("https://r/", "@scope/name")).toBe("https://r/@scope%2Fname");
    expect(packumentUrl("https://r/", "plain")).toBe("https://r/plain");
  });
});
