import { describe, expect, test } from "@jest/globals";
import { lineForPosition, parseSection, resolveAnchor, type FileDiff } from "../support/github-sim/diff-lines.js";

/**
 * The simulator's review-comment rules on a hand-written diff, where every line number and
 * position can be checked by eye. (The integration test does the same against real git.)
 */

const section = [
  "diff --git a/src/a.ts b/src/a.ts",
  "index 1111111..2222222 100644",
  "--- a/src/a.ts",
  "+++ b/src/a.ts",
  "@@ -1,4 +1,4 @@", // position 0
  " one", // 1: old 1, new 1
  "-two", // 2: old 2
  "+TWO", // 3: new 2
  " three", // 4: old 3, new 3
  " four", // 5: old 4, new 4
  "@@ -10,3 +10,4 @@ function f() {", // 6: the second header counts as a position too
  " ten", // 7: old 10, new 10
  "+ten and a half", // 8: new 11
  " eleven", // 9: old 11, new 12
  " twelve", // 10: old 12, new 13
  "\\ No newline at end of file", // 11
].join("\n");

const file: FileDiff = { filename: "src/a.ts", status: "modified", ...parseSection(section) };

describe("diff parsing", () => {
  test("counts, hunks and GitHub's patch (from the first @@)", () => {
    expect(file.additions).toBe(2);
    expect(file.deletions).toBe(1);
    expect(file.hunks.map((h) => [h.oldStart, h.newStart, h.headerPosition])).toEqual([
      [1, 1, 0],
      [10, 10, 6],
    ]);
    expect(file.patch?.startsWith("@@ -1,4 +1,4 @@\n one")).toBe(true);
  });

  test("positions map to lines and sides", () => {
    expect(lineForPosition(file, 2)).toEqual({ line: 2, side: "LEFT" });
    expect(lineForPosition(file, 3)).toEqual({ line: 2, side: "RIGHT" });
    expect(lineForPosition(file, 8)).toEqual({ line: 11, side: "RIGHT" });
    expect(lineForPosition(file, 6)).toBeUndefined(); // a hunk header
    expect(lineForPosition(file, 11)).toBeUndefined(); // "\ No newline"
  });

  test("a binary change has no patch and no lines", () => {
    const bin = parseSection("diff --git a/x.png b/x.png\nindex 1..2 100644\nBinary files a/x.png and b/x.png differ");
    expect(bin).toMatchObject({ binary: true, hunks: [], additions: 0 });
    expect(bin.patch).toBeUndefined();
  });
});

describe("review comment anchors", () => {
  const resolve = (anchor: Parameters<typeof resolveAnchor>[1]) => resolveAnchor([file], anchor);

  test.each([
    [{ path: "src/a.ts", line: 2 }, { line: 2, side: "RIGHT", position: 3 }],
    [{ path: "src/a.ts", line: 2, side: "LEFT" as const }, { line: 2, side: "LEFT", position: 2 }],
    [{ path: "src/a.ts", line: 13 }, { line: 13, side: "RIGHT", position: 10 }],
    [{ path: "src/a.ts", position: 8 }, { line: 11, side: "RIGHT", position: 8 }],
    [{ path: "src/a.ts", start_line: 1, line: 3 }, { startLine: 1, line: 3, side: "RIGHT" }],
    [{ path: "src/a.ts", start_line: 2, start_side: "LEFT" as const, line: 2 }, { startLine: 2, startSide: "LEFT", line: 2, side: "RIGHT" }],
    // A context line is on both sides: old 11 ("eleven") can take a LEFT comment.
    [{ path: "src/a.ts", line: 11, side: "LEFT" as const }, { line: 11, side: "LEFT", position: 9 }],
  ])("accepts %j", (anchor, expected) => {
    const r = resolve(anchor);
    expect("anchor" in r && r.anchor).toMatchObject(expected);
  });

  test.each([
    [{ path: "src/b.ts", line: 1 }, "Path could not be resolved"],
    [{ path: "src/a.ts", line: 7 }, "Line could not be resolved"], // between hunks
    [{ path: "src/a.ts", line: 2, side: "LEFT" as const, start_line: 3, start_side: "RIGHT" as const }, "precede"],
    [{ path: "src/a.ts", line: 14 }, "Line could not be resolved"], // past the hunk
    [{ path: "src/a.ts", line: 11, start_line: 3 }, "same hunk"],
    [{ path: "src/a.ts", line: 3, start_line: 4 }, "precede"],
    [{ path: "src/a.ts", position: 6 }, "Position could not be resolved"],
    [{ path: "src/a.ts" }, "Line could not be resolved"],
  ])("refuses %j", (anchor, message) => {
    const r = resolve(anchor);
    expect("error" in r && r.error).toContain(message);
  });

  test("the diff hunk of a comment runs from its header to the commented line", () => {
    const r = resolve({ path: "src/a.ts", line: 11 });
    expect("anchor" in r && r.anchor.diffHunk).toBe("@@ -10,3 +10,4 @@ function f() {\n ten\n+ten and a half");
  });

  test("a file-level comment needs only a path in the diff", () => {
    expect(resolve({ path: "src/a.ts", subject_type: "file" })).toEqual({ anchor: { path: "src/a.ts", subjectType: "file" } });
  });
});
