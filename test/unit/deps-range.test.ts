import { describe, expect, test } from "@jest/globals";
import { bumpRange, rangeAllows } from "../../src/deps/npm/range.js";

describe("bumpRange: the new version becomes the floor, the operator stays", () => {
  test.each([
    ["^1.2.3", "2.0.1", "^2.0.1"],
    ["^1.2.3", "1.4.0", "^1.4.0"],
    ["~1.2.3", "1.4.0", "~1.4.0"],
    ["~1.2.3", "1.2.9", "~1.2.9"],
    ["1.2.3", "1.4.0", "1.4.0"],
    ["=1.2.3", "2.0.0", "=2.0.0"],
    ["v1.2.3", "2.0.0", "v2.0.0"],
    [">=1.2.3", "2.0.1", ">=2.0.1"],
    ["^1.2", "1.4.5", "^1.4"],
    ["^1", "2.3.4", "^2"],
    ["^1", "1.4.0", "^1"],
    ["~1.2", "1.4.2", "~1.4"],
    ["1.x", "2.1.0", "2.x"],
    ["1.x", "1.9.0", "1.x"],
    ["1.2.x", "1.4.2", "1.4.x"],
    ["1.x.x", "3.0.0", "3.x.x"],
    ["1", "2.0.0", "2"],
    ["1.2", "1.4.0", "1.4"],
    ["^0.2.3", "0.3.0", "^0.3.0"],
    ["^1.0.0-beta.1", "1.0.0-beta.3", "^1.0.0-beta.3"],
    ["^1.2", "2.0.0-rc.1", "^2.0.0-rc.1"],
  ])("%s with %s → %s", (range, version, expected) => {
    expect(bumpRange(range, version)).toBe(expected);
  });

  test.each(["*", "x", ""])("%j allows anything: unchanged, the lock file alone moves", (range) => {
    expect(bumpRange(range, "9.9.9")).toBe(range);
  });

  test.each(["<2.0.0", ">1.0.0", "1.0.0 - 1.5.0", "^1.0.0 || ^2.0.0", ">=1.0.0 <2.0.0", "latest", "next"])("%s is not rewritten (null)", (range) => {
    expect(bumpRange(range, "2.1.0")).toBeNull();
  });

  test("an invalid new version is refused", () => {
    expect(bumpRange("^1.0.0", "not-a-version")).toBeNull();
  });
});

describe("rangeAllows", () => {
  test("npm's semantics, with an empty range meaning any", () => {
    expect(rangeAllows("^1.2.0", "1.9.0")).toBe(true);
    expect(rangeAllows("^1.2.0", "2.0.0")).toBe(false);
    expect(rangeAllows("", "5.0.0")).toBe(true);
    expect(rangeAllows(">=1.0.0", "3.0.0")).toBe(true);
    expect(rangeAllows("not a range ((", "1.0.0")).toBe(false);
  });
});
