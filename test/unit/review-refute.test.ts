import { describe, expect, test } from "@jest/globals";
import type { ChatMessage, Completion } from "../../src/agent/model/types.js";
import type { GatedFinding, GateResult } from "../../src/jobs/review/gate.js";
import { runRefutePass } from "../../src/jobs/review/refute-run.js";
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

describe("runRefutePass", () => {
  // A model seam double: the pass's own logic (order, budget, errors) under test, not a model.
  const modelAnswering = (answers: Array<string | Error>, tokensPerCall: number) => {
    const seen: string[] = [];
    const model = {
      protocol: "native" as const,
      model: "m",
      maxTokens: 4096,
      sessionId: "s",
      contextWindow: async () => undefined,
      async complete(messages: readonly ChatMessage[]) {
        seen.push(messages[1]!.content.split("\n")[2]!);
        const a = answers.shift();
        if (a instanceof Error) throw a;
        return { content: a ?? "", reasoning: "", reasoningSource: "none", toolCalls: [], usage: { promptTokens: tokensPerCall, completionTokens: 0, totalTokens: tokensPerCall }, finishReason: "stop", truncatedInThinking: false } as unknown as Completion;
      },
    };
    return { model, seen };
  };
  const sev = (g: GatedFinding, severity: string) => ({ ...g, finding: { ...g.finding, severity } }) as GatedFinding;
  const files = () => "a\nb\nc\nd\n";

  test("most severe first; when the pass's token budget is spent the rest are posted as found, unasked", async () => {
    const minor = sev(gated("Minor one", 1), "minor");
    const critical = sev(gated("Critical one", 2), "critical");
    const major = sev(gated("Major one", 3, "summary"), "major");
    const gate: GateResult = { inline: [minor, critical], summary: [major], overLimit: [], dropped: [] };
    const { model, seen } = modelAnswering(["REFUTED: guarded on line 1", "HOLDS: nothing guards it"], 600);
    const out = await runRefutePass(model, gate, files, { maxTokens: 1000 });
    // Two calls (600, then 1,200 ≥ 1,000 tokens): the minor finding is never asked about.
    expect(seen).toHaveLength(2);
    expect(out.refuted.map((r) => r.finding.finding.title)).toEqual(["Critical one"]);
    expect(out.gate.inline).toEqual([minor]);
    expect(out.gate.summary).toEqual([major]);
    expect(out.unchecked).toBe(1);
    expect(out.tokens).toBe(1200);
  });

  test("a failed call or an answer without a verdict leaves its finding as found, and the pass goes on", async () => {
    const a = gated("A", 1);
    const b = gated("B", 2);
    const c = gated("C", 3);
    const warned: string[] = [];
    const { model } = modelAnswering([new Error("HTTP 500"), "Maybe.", "REFUTED: c is fine"], 10);
    const out = await runRefutePass(model, { inline: [a, b, c], summary: [], overLimit: [], dropped: [] }, files, { maxTokens: 1000, warn: (m, p) => warned.push(`${p}: ${m}`) });
    expect(out.gate.inline).toEqual([a, b]);
    expect(out.unchecked).toBe(2);
    expect(warned).toEqual(["src/a.js: HTTP 500"]);
  });

  test("a cancelled run stops the pass (the error is not swallowed)", async () => {
    const controller = new AbortController();
    controller.abort("stop");
    const { model } = modelAnswering([new Error("aborted")], 10);
    const gate: GateResult = { inline: [gated("A", 1)], summary: [], overLimit: [], dropped: [] };
    await expect(runRefutePass(model, gate, files, { maxTokens: 1000, signal: controller.signal })).rejects.toThrow("aborted");
  });
});
