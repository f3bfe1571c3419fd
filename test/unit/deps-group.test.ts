import { describe, expect, test } from "@jest/globals";
import { branchFor, groupUpdates, slug } from "../../src/deps/group.js";
import { ignoredRanges, isIgnored, parseIgnoreRules } from "../../src/deps/ignore.js";
import type { ProposedUpdate, UpdateType } from "../../src/deps/types.js";
import { branchProblem } from "../../src/workspace/publish-policy.js";

const u = (name: string, updateType: UpdateType, newVersion: string, manifest = "package.json"): Omit<ProposedUpdate, "group"> => ({
  ecosystem: "npm",
  name,
  depType: "dependencies",
  manifest,
  currentValue: "^1.0.0",
  newValue: `^${newVersion}`,
  currentVersion: "1.0.0",
  newVersion,
  updateType,
  registry: "https://registry.npmjs.org/",
});

describe("grouping", () => {
  test("default: every non-major together, each major alone (scoped names made branch-safe)", () => {
    const groups = groupUpdates([u("b", "minor", "1.2.0"), u("a", "patch", "1.0.1"), u("a", "major", "2.0.0"), u("@types/node", "major", "22.1.0"), u("c", "lockfile", "1.0.3")], []);
    expect(groups.map((g) => [g.name, g.branch, g.updates.map((x) => `${x.name}@${x.newVersion}`)])).toEqual([
      ["non-major", "iquest/deps-non-major", ["a@1.0.1", "b@1.2.0", "c@1.0.3"]],
      ["a-2", "iquest/deps-a-2", ["a@2.0.0"]],
      ["types-node-22", "iquest/deps-types-node-22", ["@types/node@22.1.0"]],
    ]);
    expect(groups.every((g) => g.updates.every((x) => x.group === g.name))).toBe(true);
    expect(groups.map((g) => g.major)).toEqual([false, true, true]);
  });

  test("config groups collect by name pattern; majors only when asked, keeping one update per dependency", () => {
    const rules = [{ name: "ESLint", match: ["eslint*", "@typescript-eslint/*"], majors: true }, { name: "types", match: ["@types/*"], majors: false }];
    const groups = groupUpdates(
      [u("eslint", "minor", "1.5.0"), u("eslint", "major", "9.0.0"), u("@typescript-eslint/parser", "patch", "1.0.2"), u("@types/node", "minor", "1.1.0"), u("@types/node", "major", "22.0.0"), u("left-pad", "minor", "1.1.0")],
      rules,
    );
    expect(groups.map((g) => [g.name, g.updates.map((x) => `${x.name}@${x.newVersion}`)])).toEqual([
      ["non-major", ["left-pad@1.1.0"]],
      ["eslint", ["@typescript-eslint/parser@1.0.2", "eslint@9.0.0"]],
      ["types", ["@types/node@1.1.0"]],
      ["types-node-22", ["@types/node@22.0.0"]],
    ]);
  });

  test("the same dependency in two workspaces travels in one group", () => {
    const groups = groupUpdates([u("a", "major", "2.0.0", "package.json"), u("a", "major", "2.0.0", "packages/x/package.json")], []);
    expect(groups).toHaveLength(1);
    expect(groups[0]!.updates.map((x) => x.manifest)).toEqual(["package.json", "packages/x/package.json"]);
  });

  test.each(["@Scope/Name", "a..b", ".hidden", "x.lock", "weird name!", "-lead", "@", "a/b/c"])("branch names are always safe to push: %j", (name) => {
    const branch = branchFor(name);
    expect(branchProblem(branch)).toBeNull();
    expect(slug(name)).toMatch(/^[a-z0-9][a-z0-9._-]*$/);
  });
});

describe("ignore rules", () => {
  const rules = parseIgnoreRules(["left-pad", "@types/*", "react@>=19", "@scope/pkg@2.x"]);
  test("whole dependencies, name patterns and version ranges", () => {
    expect(rules).toEqual([{ pattern: "left-pad" }, { pattern: "@types/*" }, { pattern: "react", range: ">=19" }, { pattern: "@scope/pkg", range: "2.x" }]);
    expect(isIgnored("left-pad", rules)).toBe(true);
    expect(isIgnored("@types/node", rules)).toBe(true);
    expect(isIgnored("@types-x/node", rules)).toBe(false);
    expect(isIgnored("react", rules)).toBe(false);
    expect(ignoredRanges("react", rules)).toEqual([">=19"]);
    expect(ignoredRanges("@scope/pkg", rules)).toEqual(["2.x"]);
  });
});
