import { describe, expect, test } from "@jest/globals";
import { loadPrompts, PROMPT_NAMES, renderTemplate } from "../../src/agent/prompts.js";
import { resolveWorkspacePath, shellQuote } from "../../src/agent/workspace-path.js";
import { cutMiddle } from "../../src/agent/tools/truncate.js";
import { exhaustedBudget } from "../../src/agent/budgets.js";

describe("prompt templates", () => {
  test("every prompt file loads and is non-empty", async () => {
    const prompts = await loadPrompts();
    for (const name of PROMPT_NAMES) expect(prompts[name].trim().length).toBeGreaterThan(10);
  });

  test("placeholders are filled once; values are not expanded again", () => {
    expect(renderTemplate("a {{x}} b {{y}}", { x: "{{y}}", y: 2 })).toBe("a {{y}} b 2");
  });

  test("a missing value throws instead of sending a literal placeholder", () => {
    expect(() => renderTemplate("hello {{name}}", {})).toThrow(/no value for "\{\{name\}\}"/);
  });

  test("optional sections", () => {
    const t = "start\n{{#extra}}\nextra: {{extra}}\n{{/extra}}\nend";
    expect(renderTemplate(t, { extra: "yes" })).toBe("start\nextra: yes\nend");
    expect(renderTemplate(t, { extra: "" })).toBe("start\nend");
  });
});

describe("cutMiddle", () => {
  test("keeps head and tail lines with a marker saying how much was cut", () => {
    const text = Array.from({ length: 200 }, (_, i) => `line ${i + 1}`).join("\n");
    const out = cutMiddle(text, { maxLines: 80, maxChars: 100_000 }).split("\n");
    expect(out).toHaveLength(81);
    expect(out[0]).toBe("line 1");
    expect(out[39]).toBe("line 40");
    expect(out[40]).toMatch(/^\[\.\.\. 120 lines \(\d+ characters\) cut from the middle \.\.\.\]$/);
    expect(out[80]).toBe("line 200");
  });
  test("also caps characters", () => {
    const out = cutMiddle("x".repeat(10_000), { maxLines: 80, maxChars: 1000 });
    expect(out.length).toBeLessThan(1100);
    expect(out).toContain("9000 characters cut");
  });
  test("short text is unchanged", () => {
    expect(cutMiddle("a\nb", { maxLines: 80, maxChars: 100 })).toBe("a\nb");
  });
});

describe("resolveWorkspacePath", () => {
  const roots = ["/workspace", "/tmp/host/repo"];
  test.each([
    ["src/a.js", "src/a.js"],
    ["./src/../src/a.js", "src/a.js"],
    ["/workspace/src/a.js", "src/a.js"],
    ["/tmp/host/repo/src", "src"],
    ["/workspace", "."],
    [".", "."],
  ])("%s → %s", (input, relative) => {
    expect(resolveWorkspacePath(input, roots)).toEqual({ ok: true, relative });
  });
  test.each(["../etc/passwd", "src/../../x", "/etc/passwd", "/workspace2/x", ""])("%s is refused", (input) => {
    expect(resolveWorkspacePath(input, roots).ok).toBe(false);
  });
  test("shellQuote", () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});

describe("budgets", () => {
  const b = { maxSteps: 3, maxTotalTokens: 1000, maxWallClockMs: 5000 };
  test("each budget is exhausted exactly at its limit", () => {
    expect(exhaustedBudget(b, { steps: 2, tokens: 999, elapsedMs: 4999 })).toBeUndefined();
    expect(exhaustedBudget(b, { steps: 3, tokens: 0, elapsedMs: 0 })).toEqual({ budget: "steps", limit: 3, used: 3 });
    expect(exhaustedBudget(b, { steps: 0, tokens: 1000, elapsedMs: 0 })).toEqual({ budget: "tokens", limit: 1000, used: 1000 });
    expect(exhaustedBudget(b, { steps: 0, tokens: 0, elapsedMs: 5000 })).toEqual({ budget: "time", limit: 5000, used: 5000 });
  });
});
