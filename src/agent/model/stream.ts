/**
 * A streamed chat completion (vLLM's SSE chunks: `delta.content`, `delta.reasoning` or
 * `delta.reasoning_content`, `delta.tool_calls[i]` pieces, a `finish_reason`, and with
 * `stream_options.include_usage` a last chunk with `usage`) assembled into the body a
 * non-streaming call returns, so one parser (wire.ts fromWireCompletion) reads both.
 *
 * Why stream at all: a Thinking model writing 16K tokens at 20–30 tokens/s needs 9–14 minutes
 * for one call, longer than any sane total timeout, and proxies in front of vLLM cut idle
 * connections (often after 60 s). A stream is never idle while the model writes, and the client
 * can cut a stalled server after `timeoutMs` without a token instead of a total limit.
 */
export interface StreamProgress {
  /** Characters received so far in this call (content, reasoning and tool-call arguments). */
  chars: number;
}

interface ToolCallParts {
  id?: string;
  type?: string;
  name: string;
  arguments: string;
}

type Json = Record<string, unknown>;

/**
 * The answer, and whether it ended properly (a `finish_reason` came). A stream cut short (a
 * dropped connection, an abort) can end the iteration without an error: the caller must not take
 * the part received for the answer.
 */
export async function assembleStream(chunks: AsyncIterable<unknown>, onChunk: (progress: StreamProgress) => void): Promise<{ body: Json; finished: boolean }> {
  let content = "";
  let reasoning = "";
  let reasoningContent = "";
  let finish: string | null = null;
  let usage: unknown = undefined;
  let seenChoice = false;
  let id: unknown;
  let model: unknown;
  const calls: ToolCallParts[] = [];
  let chars = 0;
  for await (const raw of chunks) {
    const chunk = (raw ?? {}) as Json;
    id ??= chunk.id;
    model ??= chunk.model;
    if (chunk.usage) usage = chunk.usage;
    const choice = (Array.isArray(chunk.choices) ? chunk.choices[0] : undefined) as Json | undefined;
    if (choice) {
      seenChoice = true;
      const delta = (choice.delta ?? {}) as Json;
      if (typeof delta.content === "string") {
        content += delta.content;
        chars += delta.content.length;
      }
      if (typeof delta.reasoning === "string") {
        reasoning += delta.reasoning;
        chars += delta.reasoning.length;
      }
      if (typeof delta.reasoning_content === "string") {
        reasoningContent += delta.reasoning_content;
        chars += delta.reasoning_content.length;
      }
      if (Array.isArray(delta.tool_calls)) {
        for (const piece of delta.tool_calls as Json[]) {
          const index = typeof piece.index === "number" ? piece.index : calls.length;
          const call = (calls[index] ??= { name: "", arguments: "" });
          if (typeof piece.id === "string") call.id = piece.id;
          if (typeof piece.type === "string") call.type = piece.type;
          const fn = (piece.function ?? {}) as Json;
          if (typeof fn.name === "string") call.name += fn.name;
          if (typeof fn.arguments === "string") {
            call.arguments += fn.arguments;
            chars += fn.arguments.length;
          }
        }
      }
      if (typeof choice.finish_reason === "string") finish = choice.finish_reason;
    }
    onChunk({ chars });
  }
  if (!seenChoice) return { body: { id, model, choices: [], ...(usage ? { usage } : {}) }, finished: false };
  const message: Json = { role: "assistant", content };
  if (reasoning) message.reasoning = reasoning;
  if (reasoningContent) message.reasoning_content = reasoningContent;
  const toolCalls = calls.filter(Boolean).map((c) => ({ id: c.id ?? null, type: c.type ?? "function", function: { name: c.name, arguments: c.arguments } }));
  if (toolCalls.length) message.tool_calls = toolCalls;
  return { body: { id, model, object: "chat.completion", choices: [{ index: 0, message, finish_reason: finish }], ...(usage ? { usage } : {}) }, finished: finish !== null };
}
