import { describe, expect, test } from "@jest/globals";
import { matchesPrivate } from "../../src/deps/go/go-ecosystem.js";
import { escapeModulePath, isPseudoVersion, nextMajorPath, parseGoMod, setRequireVersion, parseGoWork } from "../../src/deps/go/gomod.js";
import { compareGoVersions, parseGoVersion } from "../../src/deps/go/semver.js";

const GO_MOD = [
  "module example.com/app",
  "",
  "go 1.21",
  "",
  "require github.com/Azure/azure-sdk v1.2.3",
  "",
  "require (",
  "\t// the logger",
  "\tgo.uber.org/zap v1.26.0",
  '\t"example.com/quoted" v0.3.0',
  "\tgolang.org/x/text v0.14.0 // indirect",
  "\texample.com/forked v1.0.0",
  ")",
  "",
  "replace example.com/forked => ../forked",
  "",
].join("\n");

describe("go.mod", () => {
  test("requirements: single-line and in blocks, quoted paths, indirect marked; replaced modules known", () => {
    const mod = parseGoMod(GO_MOD);
    expect(mod.module).toBe("example.com/app");
    expect(mod.go).toBe("1.21");
    expect(mod.requires.map((r) => [r.path, r.version, r.indirect])).toEqual([
      ["github.com/Azure/azure-sdk", "v1.2.3", false],
      ["go.uber.org/zap", "v1.26.0", false],
      ["example.com/quoted", "v0.3.0", false],
      ["golang.org/x/text", "v0.14.0", true],
      ["example.com/forked", "v1.0.0", false],
    ]);
    expect([...mod.replaced]).toEqual(["example.com/forked"]);
    expect(mod.problems).toEqual([]);
  });

  test("malformed: an unclosed block and an unreadable requirement are problems, not crashes", () => {
    const mod = parseGoMod("module x\n\nrequire (\n\tnot-a-version\n");
    expect(mod.problems).toEqual(["line 4: cannot read the requirement `not-a-version`", "a `require (` block is never closed"]);
    expect(parseGoMod("").problems).toEqual(["no `module` line"]);
  });

  test("an edit changes one version on one line, comments and layout kept; a line that moved is refused", () => {
    const mod = parseGoMod(GO_MOD);
    const zap = mod.requires.find((r) => r.path === "go.uber.org/zap")!;
    const edited = setRequireVersion(GO_MOD, zap, "v1.26.0", "v1.27.0")!;
    expect(edited.split("\n")[8]).toBe("\tgo.uber.org/zap v1.27.0");
    expect(edited.replace("v1.27.0", "v1.26.0")).toBe(GO_MOD);
    const single = mod.requires[0]!;
    expect(setRequireVersion(GO_MOD, single, "v1.2.3", "v1.3.0")!.split("\n")[4]).toBe("require github.com/Azure/azure-sdk v1.3.0");
    expect(setRequireVersion(GO_MOD, zap, "v1.25.0", "v1.27.0")).toBeUndefined();
    expect(setRequireVersion(GO_MOD, { path: "go.uber.org/zap", line: 2 }, "v1.26.0", "v1.27.0")).toBeUndefined();
  });

  test("proxy path escaping, major paths, pseudo-versions", () => {
    expect(escapeModulePath("github.com/Azure/azure-sdk")).toBe("github.com/!azure/azure-sdk");
    expect(nextMajorPath("example.com/x")).toBe("example.com/x/v2");
    expect(nextMajorPath("example.com/x/v3")).toBe("example.com/x/v4");
    expect(nextMajorPath("gopkg.in/yaml.v3")).toBeUndefined();
    expect(isPseudoVersion("v0.0.0-20231010123456-abcdefabcdef")).toBe(true);
    expect(isPseudoVersion("v1.2.4-0.20231010123456-abcdefabcdef")).toBe(true);
    expect(isPseudoVersion("v1.2.3")).toBe(false);
    expect(isPseudoVersion("v1.2.3-rc.1")).toBe(false);
  });
});

describe("Go versions and GOPRIVATE", () => {
  test("ordering: numbers, then a release above its prereleases", () => {
    const v = (s: string) => parseGoVersion(s)!;
    const sorted = ["v1.10.0", "v1.2.0", "v1.2.0-rc.1", "v0.9.9", "v2.0.0+incompatible"].map(v).sort(compareGoVersions).map((x) => x.raw);
    expect(sorted).toEqual(["v0.9.9", "v1.2.0-rc.1", "v1.2.0", "v1.10.0", "v2.0.0+incompatible"]);
    expect(parseGoVersion("1.2.3")).toBeUndefined();
  });

  test("GOPRIVATE patterns match path prefixes of whole elements", () => {
    expect(matchesPrivate("*.corp.example,github.com/acme", "git.corp.example/team/lib")).toBe(true);
    expect(matchesPrivate("github.com/acme", "github.com/acme/tool/v2")).toBe(true);
    expect(matchesPrivate("github.com/acme", "github.com/acmex/tool")).toBe(false);
    expect(matchesPrivate(undefined, "github.com/acme/tool")).toBe(false);
  });
});

test("go.work: `use` lines and blocks, comments, quoted paths; the root as '.'; paths leaving the repository dropped", () => {
  expect(parseGoWork('go 1.21\n\nuse ./tools // the tools\nuse (\n\t.\n\t./svc/api\n\t"./svc/web/"\n\t../outside\n\t/abs/path\n\t./a/../b\n)\n')).toEqual(["tools", ".", "svc/api", "svc/web", "b"]);
  expect(parseGoWork("go 1.21\n")).toEqual([]);
});
