import { describe, expect, test } from "@jest/globals";
import type { GatedFinding, GateResult } from "../../src/jobs/review/gate.js";
import { applyRefutes, parseRefuteVerdict, refuteMessages, type RefuteVerdict } from "../../src/jobs/review/refute.js";

/** The refute pass's pure parts: the check's messages, reading its verdict, and what the gate keeps. */
const gated = (title: string, line: number, placement: "inline" | "summary" = "inline"): GatedFinding => ({
  finding: { path: "src/a.js", line, severity: "major", title, explanation: `${title}.`, quote: "x" } as GatedFinding["finding"],
  startLine: line,
  line,
  codeHash: title,
  placement,
});

describe("refute", () => {
  test("verdicts: the first REFUTED/HOLDS line, thinking and decoration ignored; anything else is no verdict", () => {
    expect(parseRefuteVerdict("REFUTED: line 4 checks for null.")).toEqual({ verdict: "refuted", reason: "line 4 checks for null." });
    expect(parseRefuteVerdict("<think>REFUTED: maybe</think>\n**HOLDS** - nothing guards it")).toEqual({ verdict: "holds", reason: "nothing guards it" });
    expect(parseRefuteVerdict("Let me look.\n`REFUTED: the caller validates`")).toEqual({ verdict: "refuted", reason: "the caller validates" });
    expect(parseRefuteVerdict("I am not sure.")).toBeUndefined();
    expect(parseRefuteVerdict("")).toBeUndefined();
  });

  test("the check sees the claim and the numbered code around its lines (marked), bounded to the file", () => {
    const text = Array.from({ length: 100 }, (_, i) => `line ${i + 1}`).join("\n");
    const [system, user] = refuteMessages({ ...gated("Off by one", 50), startLine: 49 }, text);
    expect(system!.content).toMatch(/^You double-check one finding/);
    expect(user!.content).toContain("<finding>\nOff by one\n\nOff by one.\n</finding>");
    expect(user!.content).toContain("lines 19–80");
    expect(user!.content).toContain("   49 > line 49\n   50 > line 50\n   51   line 51");
    expect(user!.content).not.toContain("line 81");
    expect(refuteMessages(gated("Top", 2), "a\nb\nc")[1]!.content).toContain("lines 1–3");
  });

  test("refuted findings move to `dropped` with the reason; holds and unsettled stay, unsettled counted", () => {
    const a = gated("A", 1);
    const b = gated("B", 2);
    const c = gated("C", 3, "summary");
    const gate: GateResult = { inline: [a, b], summary: [c], overLimit: [], dropped: [] };
    const verdicts = new Map<GatedFinding, RefuteVerdict | undefined>([
      [a, { verdict: "refuted", reason: "guarded on line 1" }],
      [b, { verdict: "holds", reason: "nothing guards it" }],
      [c, undefined],
    ]);
    const out = applyRefutes(gate, verdicts);
    expect(out.gate.inline).toEqual([b]);
    expect(out.gate.summary).toEqual([c]);
    expect(out.gate.dropped).toEqual([{ finding: a.finding, reason: "refuted", detail: "guarded on line 1" }]);
    expect(out.refuted.map((r) => r.reason)).toEqual(["guarded on line 1"]);
    expect(out.unchecked).toBe(1);
  });
});
