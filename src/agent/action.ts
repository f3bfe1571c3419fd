import type { Completion, ParsedToolCall } from "./model/types.js";
import type { AnyTool } from "./tools/types.js";

/**
 * What the loop does with one completion. Anything but a single valid call becomes a message
 * back to the model saying what was wrong; nothing is skipped silently and nothing throws.
 */
export type Action =
  | { kind: "call"; call: ParsedToolCall; tool: AnyTool; args: unknown }
  | { kind: "invalid"; problem: string; calls: ParsedToolCall[] }
  | { kind: "no-call" }
  | { kind: "truncated" };

export function selectAction(completion: Completion, tools: readonly AnyTool[]): Action {
  if (completion.truncatedInThinking) return { kind: "truncated" };
  const calls = completion.toolCalls;
  const cutNote = completion.finishReason === "length" ? " (your answer was cut off by the token limit; keep it shorter)" : "";
  if (calls.length === 0) {
    if (completion.toolCallProblem) return { kind: "invalid", problem: completion.toolCallProblem + cutNote, calls };
    return { kind: "no-call" };
  }
  if (calls.length > 1) {
    const names = calls.map((c) => c.name || "?").join(", ");
    return {
      kind: "invalid",
      problem: `you made ${calls.length} tool calls in one turn (${names}); make exactly one call per turn and wait for its result`,
      calls,
    };
  }
  const call = calls[0];
  if (call.error) return { kind: "invalid", problem: `${call.name || "the call"}: ${call.error}${cutNote}`, calls };
  const tool = tools.find((t) => t.spec.name === call.name);
  if (!tool) {
    return {
      kind: "invalid",
      problem: `there is no tool named "${call.name}"; the tools are ${tools.map((t) => t.spec.name).join(", ")}`,
      calls,
    };
  }
  const args = call.args ?? {};
  const parsed = tool.schema.safeParse(args);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? "");
      if (key && !(key in args)) return `missing required parameter \`${key}\``;
      return key ? `parameter \`${key}\`: ${issue.message}` : issue.message;
    });
    return { kind: "invalid", problem: `${call.name}: ${[...new Set(problems)].join("; ")}${cutNote}`, calls };
  }
  return { kind: "call", call, tool, args: parsed.data };
}
