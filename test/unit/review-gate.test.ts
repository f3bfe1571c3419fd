import { describe, expect, test } from "@jest/globals";
import { codeHash } from "../../src/jobs/review/anchor.js";
import { indexDiff, mapIncrement } from "../../src/jobs/review/diff.js";
import type { Finding } from "../../src/jobs/review/finding.js";
import { gateFindings, type GateInput, type GateResult } from "../../src/jobs/review/gate.js";
import type { PostedFinding } from "../../src/jobs/review/memory.js";

/**
 * The evidence gate, as a table: each row is one finding and where it must end up (inline, in
 * the summary, or dropped, with the reason and the lines it is anchored on).
 */

const CALC = [
  "export function sum(xs: number[]): number {",
  "  let total = 0;",
  "  for (let i = 0; i < xs.length - 1; i++) {",
  "    total += xs[i];",
  "  }",
  "  return total;",
  "}",
  "",
  "export function avg(xs: number[]): number {",
  "  return sum(xs) / xs.length;",
  "}",
  "",
].join("\n");

// The PR changed line 3 only: one hunk showing new lines 1-7; lines 9-11 are outside the diff.
const PATCH = [
  "@@ -1,7 +1,7 @@",
  " export function sum(xs: number[]): number {",
  "   let total = 0;",
  "-  for (let i = 0; i < xs.length; i++) {",
  "+  for (let i = 0; i < xs.length - 1; i++) {",
  "     total += xs[i];",
  "   }",
  "   return total;",
  " }",
].join("\n");

const DIFF = indexDiff([{ filename: "src/calc.ts", status: "modified", additions: 1, deletions: 1, patch: PATCH }]);
const FILES: Record<string, string> = { "src/calc.ts": CALC, "src/other.ts": "export const unused = 1;\n" };

const LOOP = "  for (let i = 0; i < xs.length - 1; i++) {";
const base: Finding = {
  path: "src/calc.ts",
  line: 3,
  severity: "major",
  title: "Loop skips the last element",
  explanation: "The bound `xs.length - 1` stops one short, so the last number is never added to the total.",
  quote: LOOP,
};
const f = (over: Partial<Finding>): Finding => ({ ...base, ...over });

function gate(findings: Finding[], over: Partial<GateInput> = {}): GateResult {
  return gateFindings({
    findings,
    diff: DIFF,
    readFile: (p) => FILES[p],
    earlier: [],
    minSeverity: "minor",
    maxFindings: 10,
    observations: [],
    ...over,
  });
}

/** Where one finding went: "inline 3-3", "summary outside-diff 10-10", or "dropped <reason>". */
function fate(result: GateResult, finding: Finding): string {
  const inline = result.inline.find((g) => g.finding === finding);
  if (inline) return `inline ${inline.startLine}-${inline.line}`;
  const summary = result.summary.find((g) => g.finding === finding);
  if (summary) return `summary ${summary.whyNotInline} ${summary.startLine}-${summary.line}`;
  const over = result.overLimit.find((g) => g.finding === finding);
  if (over) return "over-limit";
  const dropped = result.dropped.find((d) => d.finding === finding);
  return dropped ? `dropped ${dropped.reason}` : "lost";
}

const earlierOf = (finding: Finding, code: string[], over: Partial<PostedFinding> = {}): PostedFinding => ({
  path: finding.path,
  codeHash: codeHash(code),
  title: finding.title,
  text: finding.explanation.slice(0, 300),
  severity: finding.severity,
  line: finding.line,
  head: "a".repeat(40),
  ...over,
});

describe("the evidence gate", () => {
  const cases: Array<[string, Finding, string, Partial<GateInput>]> = [
    ["on a changed line, quoting it", f({}), "inline 3-3", {}],
    ["with the wrong line number: anchored where the quote is", f({ line: 6 }), "inline 3-3", {}],
    ["on several lines of one hunk", f({ line: 4, startLine: 3, quote: `${LOOP}\n    total += xs[i];` }), "inline 3-4", {}],
    ["quoting view output with line numbers", f({ quote: `     3\t${LOOP}` }), "inline 3-3", {}],
    ["outside the diff (real code, unchanged line): summary", f({ line: 10, quote: "return sum(xs) / xs.length;", title: "Division by zero on an empty list" }), "summary outside-diff 10-10", {}],
    ["in a file the PR does not change: summary", f({ path: "src/other.ts", line: 1, quote: "export const unused = 1;", title: "Unused export" }), "summary outside-diff 1-1", {}],
    ["spanning the diff's edge (lines 6-9): summary", f({ line: 9, startLine: 6, quote: "  return total;\n}\n\nexport function avg(xs: number[]): number {" }), "summary outside-diff 6-9", {}],
    ["quoting code that does not exist", f({ quote: "for (const x of xs) total += x;" }), "dropped quote-not-found", {}],
    ["quoting nothing", f({ quote: "  \n " }), "dropped empty-quote", {}],
    ["about a file that is not in the head", f({ path: "src/gone.ts" }), "dropped file-not-found", {}],
    ["below the minimum severity", f({ severity: "nit" }), "dropped below-severity", {}],
    ["at the minimum severity", f({ severity: "minor" }), "inline 3-3", {}],
    ["below a raised minimum", f({ severity: "major" }), "dropped below-severity", { minSeverity: "critical" }],
  ];
  test.each(cases)("a finding %s", (_name, finding, expected, over) => {
    expect(fate(gate([finding], over), finding)).toBe(expected);
  });

  test("a duplicate within the run: the reworded twin is dropped, the more severe one kept", () => {
    const first = f({ severity: "minor" });
    const twin = f({ severity: "critical", title: "The loop skips the last element of xs", explanation: "Off by one: the last element is never added to total." });
    const result = gate([first, twin]);
    expect(fate(result, twin)).toBe("inline 3-3");
    expect(fate(result, first)).toBe("dropped duplicate-in-run");
    expect(result.inline).toHaveLength(1);
  });

  test("two different problems on the same line are both kept", () => {
    const other = f({ title: "Mutates total with an implicit any index", explanation: "xs[i] may be undefined under noUncheckedIndexedAccess." });
    const result = gate([base, other]);
    expect([fate(result, base), fate(result, other)]).toEqual(["inline 3-3", "inline 3-3"]);
  });

  test("a repeat of a finding posted on an earlier push (same path, same code, near-identical text) is dropped", () => {
    const earlier = earlierOf(base, [LOOP], { title: "Off-by-one: loop skips the last element", line: 12 });
    const again = f({ title: "The loop skips the last element (off by one)" });
    expect(fate(gate([again], { earlier: [earlier] }), again)).toBe("dropped repeat-of-earlier");
  });

  test("the same point about changed code is posted again: the code under it is not the same", () => {
    const earlier = earlierOf(base, ["  for (let i = 0; i < xs.length - 2; i++) {"]);
    expect(fate(gate([base], { earlier: [earlier] }), base)).toBe("inline 3-3");
  });

  test("a different point about the same code is posted", () => {
    const earlier = earlierOf(base, [LOOP], { title: "Use for...of instead of an index loop", text: "Readability: iterate values directly." });
    expect(fate(gate([base], { earlier: [earlier] }), base)).toBe("inline 3-3");
  });

  test("the same point on another path is posted", () => {
    const earlier = earlierOf(base, [LOOP], { path: "src/calc-old.ts" });
    expect(fate(gate([base], { earlier: [earlier] }), base)).toBe("inline 3-3");
  });

  test("a later push: a finding in the PR's diff but in lines the new commits did not touch goes to the summary", () => {
    // The new commits changed line 2 only (their hunk shows new lines 1-2).
    const increment = [{ filename: "src/calc.ts", status: "modified", additions: 1, deletions: 1, patch: "@@ -1,2 +1,2 @@\n export function sum(xs: number[]): number {\n-  let total = 1;\n+  let total = 0;" }];
    const scope = mapIncrement(DIFF, increment);
    const onNew = f({ line: 2, quote: "  let total = 0;", title: "Total starts at zero" });
    const result = gate([base, onNew], { scope });
    expect(fate(result, onNew)).toBe("inline 2-2");
    expect(fate(result, base)).toBe("summary outside-new-commits 3-3");
  });

  test("maxFindings keeps the most severe; the rest are over the limit, not dropped silently", () => {
    const minor = f({ severity: "minor", line: 2, quote: "  let total = 0;", title: "Name total is vague" });
    const critical = f({ severity: "critical" });
    const outside = f({ severity: "major", line: 10, quote: "return sum(xs) / xs.length;", title: "Division by zero on an empty list" });
    const result = gate([minor, critical, outside], { maxFindings: 2 });
    expect([fate(result, critical), fate(result, outside), fate(result, minor)]).toEqual(["inline 3-3", "summary outside-diff 10-10", "over-limit"]);
  });

  test("a replacement becomes a suggestion for the whole anchored lines", () => {
    const fixed = f({ replacement: "  for (let i = 0; i < xs.length; i++) {\n" });
    const g = gate([fixed]).inline[0]!;
    expect(g.suggestion).toEqual(["  for (let i = 0; i < xs.length; i++) {"]);
  });

  test("a replacement of part of a line is applied to that line", () => {
    const partial = f({ quote: "xs.length - 1", replacement: "xs.length" });
    const g = gate([partial]).inline[0]!;
    expect([g.startLine, g.suggestion]).toEqual([3, ["  for (let i = 0; i < xs.length; i++) {"]]);
  });

  test("a replacement that changes nothing is no suggestion", () => {
    const same = f({ replacement: LOOP });
    expect(gate([same]).inline[0]!.suggestion).toBeUndefined();
  });

  test("evidence is kept only if a command of this run printed it", () => {
    const output = "not ok 1 - sum adds every element\n  ---\n  expected: 6\n  actual: 3\n  ...\n# fail 1";
    const backed = f({ evidence: "expected: 6\n   actual: 3" });
    const invented = f({ line: 10, quote: "return sum(xs) / xs.length;", title: "Division by zero on an empty list", evidence: "TypeError: division by zero" });
    const result = gate([backed, invented], { observations: [output] });
    const kept = result.inline.find((g) => g.finding === backed)!;
    const unbacked = result.summary.find((g) => g.finding === invented)!;
    expect(kept.evidence).toBe("expected: 6\n   actual: 3");
    expect(kept.evidenceUnverified).toBeUndefined();
    expect(unbacked.evidence).toBeUndefined();
    expect(unbacked.evidenceUnverified).toBe(true);
  });

  test("inline comments come out in file order whatever the report order", () => {
    const later = f({ line: 4, quote: "    total += xs[i];", title: "Possible undefined element" });
    const result = gate([later, f({ line: 1, quote: "export function sum(xs: number[]): number {", title: "Missing doc for exported function", severity: "minor" })]);
    expect(result.inline.map((g) => g.line)).toEqual([1, 4]);
  });
});
