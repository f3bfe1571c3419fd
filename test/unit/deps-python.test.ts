import { describe, expect, test } from "@jest/globals";
import { parsePoetryLock, poetrySources, poetryToRange } from "../../src/deps/python/poetry-ecosystem.js";
import { parsePyproject, setPyprojectPin } from "../../src/deps/python/pyproject.js";
import { pypiReleaseNotes, versionOfFile } from "../../src/deps/python/index-client.js";
import { comparePyVersions, isPyPrerelease, parsePyVersion, parseRequirements, setPin } from "../../src/deps/python/requirements.js";

const REQS = [
  "# app deps",
  "-r base.txt",
  "--index-url https://pypi.mirror.example/simple/",
  "Django==4.2.7  # LTS",
  "requests[socks]==2.31.0 ; python_version >= '3.8'",
  "urllib3>=1.26",
  "attrs",
  "cryptography==41.0.0 --hash=sha256:abc",
  "mylib @ https://example.com/mylib-1.0.tar.gz",
  "-e ./local",
  "",
].join("\n");

describe("requirements.txt", () => {
  test("exact pins (extras and markers kept), includes and the index; ranges, hashes and URLs reported", () => {
    const r = parseRequirements(REQS);
    expect(r.pins.map((p) => [p.name, p.normalized, p.version, p.line])).toEqual([
      ["Django", "django", "4.2.7", 3],
      ["requests", "requests", "2.31.0", 4],
    ]);
    expect(r.includes).toEqual(["base.txt"]);
    expect(r.indexUrl).toBe("https://pypi.mirror.example/simple/");
    expect(r.skipped).toEqual([
      { name: "urllib3", reason: "not an exact pin (`name==version`): the range is left to pip" },
      { name: "attrs", reason: "not an exact pin (`name==version`): the range is left to pip" },
      { name: "cryptography", reason: "hash-pinned (its hashes would need regenerating): not upgraded" },
      { name: "mylib", reason: "installed from a URL: not upgraded" },
    ]);
  });

  test("an edit moves one version, the rest of the line kept; a line that changed is refused", () => {
    const r = parseRequirements(REQS);
    const next = setPin(REQS, r.pins[1]!, "2.31.0", "2.32.3")!;
    expect(next.split("\n")[4]).toBe("requests[socks]==2.32.3 ; python_version >= '3.8'");
    expect(setPin(REQS, r.pins[0]!, "4.2.6", "4.2.8")).toBeUndefined();
  });
});

describe("PEP 440 versions, index file names", () => {
  test("ordering: dev < pre < release < post; prereleases known", () => {
    const order = ["1.0.dev1", "1.0a1", "1.0b2", "1.0rc1", "1.0", "1.0.post1", "1.0.1", "1.10"].map((v) => parsePyVersion(v)!);
    const shuffled = [...order].reverse().sort(comparePyVersions);
    expect(shuffled.map((v) => v.raw)).toEqual(["1.0.dev1", "1.0a1", "1.0b2", "1.0rc1", "1.0", "1.0.post1", "1.0.1", "1.10"]);
    expect(isPyPrerelease(parsePyVersion("2.0rc1")!)).toBe(true);
    expect(isPyPrerelease(parsePyVersion("2.0.post1")!)).toBe(false);
    expect(parsePyVersion("not-a-version")).toBeUndefined();
  });

  test("a file's version: wheels (underscored names) and sdists; another project's file is not ours", () => {
    expect(versionOfFile("zope_interface-6.1-cp311-cp311-manylinux.whl", "zope-interface")).toBe("6.1");
    expect(versionOfFile("Django-4.2.7.tar.gz", "django")).toBe("4.2.7");
    expect(versionOfFile("django_extensions-3.2.3-py3-none-any.whl", "django")).toBeUndefined();
  });
});

describe("pyproject.toml (PEP 621)", () => {
  const TEXT = `[build-system]
requires = ["setuptools==69.0.0"]

[project]
name = "app"
dependencies = [
    "requests==2.31.0",  # http
    "Flask[async] == 3.0.0 ; python_version >= '3.8'",
    "click>=8",
    "pkg @ https://example.com/pkg.whl",
]

[project.optional-dependencies]
dev = ["pytest==7.4.0", 'black==23.1.0']
docs = [
  "sphinx==7.2.6",
]

[tool.other]
x = ["nope==1.0.0"]
`;

  test("exact pins from [project] dependencies and each optional group, each on its line; ranges and URLs left alone; build requirements and other tables ignored", () => {
    const p = parsePyproject(TEXT);
    expect(p.pep621).toBe(true);
    expect(p.poetryDependencies).toBe(false);
    expect(p.pins.map((x) => `${x.depType} ${x.normalized}==${x.version} L${x.line + 1}`)).toEqual([
      "project.dependencies requests==2.31.0 L7",
      "project.dependencies flask==3.0.0 L8",
      "project.optional-dependencies.dev pytest==7.4.0 L14",
      "project.optional-dependencies.dev black==23.1.0 L14",
      "project.optional-dependencies.docs sphinx==7.2.6 L16",
    ]);
    expect(p.skipped.map((s) => s.name)).toEqual(["click", "pkg"]);
    expect(parsePyproject("[tool.poetry.group.dev.dependencies]\npytest = \"^7\"\n").poetryDependencies).toBe(true);
  });

  test("a bump rewrites one string on its line (extras, markers, quotes and comments kept); a line that changed is refused", () => {
    const p = parsePyproject(TEXT);
    const pin = (name: string) => p.pins.find((x) => x.normalized === name)!;
    const flask = setPyprojectPin(TEXT, pin("flask"), "3.0.0", "3.1.0")!;
    expect(flask.split("\n")[7]).toBe(`    "Flask[async] == 3.1.0 ; python_version >= '3.8'",`);
    expect(flask.split("\n").filter((l, i) => l !== TEXT.split("\n")[i])).toHaveLength(1);
    const black = setPyprojectPin(TEXT, pin("black"), "23.1.0", "24.0.0")!;
    expect(black.split("\n")[13]).toBe(`dev = ["pytest==7.4.0", 'black==24.0.0']`);
    expect(setPyprojectPin(TEXT, pin("requests"), "2.30.0", "2.32.0")).toBeUndefined();
  });
});

describe("Poetry", () => {
  test("constraints as node-semver ranges: caret, tilde, compatible release, a bare version is exact; unions and exclusions are not guessed", () => {
    expect(poetryToRange("^1.2")).toBe("^1.2");
    expect(poetryToRange("~1.2.3")).toBe("~1.2.3");
    expect(poetryToRange("1.2.3")).toBe("=1.2.3");
    expect(poetryToRange("==1.2.3")).toBe("=1.2.3");
    expect(poetryToRange("~=1.2")).toBe(">=1.2 <2");
    expect(poetryToRange("~=1.2.3")).toBe("~1.2.3");
    expect(poetryToRange(">=1.0, <2.0")).toBe(">=1.0 <2.0");
    expect(poetryToRange("1.2.*")).toBe("1.2.*");
    expect(poetryToRange("^1.0 || ^2.0")).toBeUndefined();
    expect(poetryToRange(">=1,!=1.5")).toBeUndefined();
  });

  test("sources: the one replacing PyPI (old `default = true` and newer `priority`), supplemental ones not; poetry.lock by normalized name", () => {
    const text = `[[tool.poetry.source]]\nname = "extra"\nurl = "https://extra.example/simple"\npriority = "supplemental"\n\n[[tool.poetry.source]]\nname = "corp"\nurl = "https://corp.example/simple/"\ndefault = true\n\n[tool.poetry.dependencies]\npython = "^3.8"\n`;
    expect(poetrySources(text)).toEqual([
      { name: "extra", url: "https://extra.example/simple/", primary: false },
      { name: "corp", url: "https://corp.example/simple/", primary: true },
    ]);
    expect(Object.fromEntries(parsePoetryLock('[[package]]\nname = "Foo_Bar"\nversion = "1.2"\n\n[package.source]\ntype = "legacy"\n\n[[package]]\nname = "baz"\nversion = "2.0.0"\n'))).toEqual({ "foo-bar": "1.2", baz: "2.0.0" });
  });
});

test("release notes: PyPI's page for a release from pypi.org; nothing for another index", () => {
  expect(pypiReleaseNotes("requests", "2.32.0", "https://pypi.org/simple/")).toEqual({ releaseNotesUrl: "https://pypi.org/project/requests/2.32.0/" });
  expect(pypiReleaseNotes("requests", "2.32.0", "https://mirror.example/simple/")).toEqual({});
});
