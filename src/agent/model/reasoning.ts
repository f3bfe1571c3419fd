/**
 * Where a Thinking model's reasoning arrives (REFERENCE part B, "Thinking output"):
 * - vLLM with `--reasoning-parser`: in `message.reasoning` (newer) or `reasoning_content` (older);
 * - without a parser: inline in the content as `<think>…</think>`, and Qwen3-style chat templates
 *   that open `<think>` in the prompt make the output start mid-thought with only `</think>`;
 * - cut by max_tokens while thinking: reasoning only, or an unclosed `<think>`, with
 *   `finish_reason: "length"`.
 */

export interface SplitReasoning {
  content: string;
  reasoning: string;
  /** The thinking never ended: an open `<think>` without `</think>`. */
  unterminated: boolean;
}

const OPEN = "<think>";
const CLOSE = "</think>";

/** Take the reasoning from the message fields, else out of the content. */
export function splitReasoning(fields: {
  content?: string | null;
  reasoning?: unknown;
  reasoning_content?: unknown;
}): SplitReasoning {
  const raw = fields.content ?? "";
  const fieldReasoning =
    typeof fields.reasoning === "string"
      ? fields.reasoning
      : typeof fields.reasoning_content === "string"
        ? fields.reasoning_content
        : undefined;
  const inline = splitInlineThink(raw);
  if (fieldReasoning !== undefined && fieldReasoning !== "") {
    // A parser already took the thinking out; a stray inline block (some templates echo one) is
    // still not part of the answer.
    return {
      content: inline.content,
      reasoning: inline.reasoning ? `${fieldReasoning}\n${inline.reasoning}` : fieldReasoning,
      unterminated: inline.unterminated,
    };
  }
  return inline;
}

export function splitInlineThink(text: string): SplitReasoning {
  const open = text.indexOf(OPEN);
  const close = text.indexOf(CLOSE);
  if (open === -1 && close === -1) return { content: text, reasoning: "", unterminated: false };
  if (open !== -1 && (close === -1 || close < open)) {
    // `<think>` opened and never closed (or only a stray close before it): all thinking.
    if (close === -1) {
      return {
        content: text.slice(0, open).trim(),
        reasoning: text.slice(open + OPEN.length).trim(),
        unterminated: true,
      };
    }
  }
  if (open === -1 || close < open) {
    // Only `</think>`: the template opened the block in the prompt.
    return {
      content: text.slice(close + CLOSE.length).trim(),
      reasoning: text.slice(0, close).trim(),
      unterminated: false,
    };
  }
  return {
    content: (text.slice(0, open) + text.slice(close + CLOSE.length)).trim(),
    reasoning: text.slice(open + OPEN.length, close).trim(),
    unterminated: false,
  };
}
