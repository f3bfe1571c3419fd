/**
 * The model seam: `complete(messages, tools, options) → completion`. The loop speaks only these
 * types; how they travel (native `tools`/`tool_calls` or IQuest's text protocol, where the
 * reasoning comes from) is the client's business. Tests and "model profiles" swap clients.
 */

export type ToolProtocol = "native" | "text";

/** A tool call as the assistant made it, kept verbatim so the history can be replayed byte for byte. */
export interface AssistantToolCall {
  id: string;
  name: string;
  /** The arguments exactly as the model wrote them: a JSON string (native) or the JSON of the
   * parsed text-protocol parameters (text). Never re-serialized. */
  arguments: string;
  /** Where the call came from. Text calls live in the assistant's content, so the wire format
   * sends no `tool_calls` for them and their results go back as user messages. */
  protocol: ToolProtocol;
}

export type ChatMessage =
  | { role: "system"; content: string }
  | { role: "user"; content: string }
  | { role: "assistant"; content: string; reasoning?: string; toolCalls?: AssistantToolCall[] }
  | { role: "tool"; toolCallId: string; name: string; content: string; protocol: ToolProtocol };

/** A JSON-schema tool definition, the same for both protocols (text renders it into the prompt). */
export interface ToolSpec {
  name: string;
  description: string;
  parameters: {
    type: "object";
    properties: Record<string, { type: string; description?: string; enum?: readonly string[]; items?: unknown }>;
    required?: readonly string[];
  };
}

/** A tool call parsed from a completion. `args` is absent when the call could not be parsed. */
export interface ParsedToolCall extends AssistantToolCall {
  args?: Record<string, unknown>;
  /** Why the arguments could not be parsed (bad JSON, unclosed parameter…), for the model. */
  error?: string;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** "length" means the answer was cut by max_tokens. */
export type FinishReason = "stop" | "tool_calls" | "length" | "content_filter" | "error" | "unknown";

export interface Completion {
  /** The visible answer, without any `<think>` block. */
  content: string;
  /** The model's thinking, from `reasoning`, `reasoning_content` or inline `<think>`. */
  reasoning: string;
  /** Where the thinking arrived: vLLM's reasoning parser puts it in a field; without one it is inline. */
  reasoningSource: "reasoning" | "reasoning_content" | "inline" | "none";
  toolCalls: ParsedToolCall[];
  /** A text-protocol problem that is not tied to one call (e.g. an unclosed `<function=`). */
  toolCallProblem?: string;
  usage: Usage;
  finishReason: FinishReason;
  /** Cut by max_tokens before the thinking ended: a truncated turn, not an answer. */
  truncatedInThinking: boolean;
  /** The assistant message to append to the history, exactly as it must be sent back. */
  message: Extract<ChatMessage, { role: "assistant" }>;
  /** Size of the request, for the trajectory: messages sent and bytes of the serialized prompt. */
  request: { messageCount: number; promptBytes: number };
  /** The base URL that answered and how many attempts it took. */
  endpoint: string;
  attempts: number;
  /** Time spent waiting on the successful HTTP call (the model's time, not the harness's). */
  httpMs: number;
}

export interface CompleteOptions {
  signal?: AbortSignal;
  /** Override max_tokens for this call (e.g. a short summary). */
  maxTokens?: number;
  /** Called as the answer streams in: characters received so far (live progress). */
  onProgress?: (progress: { chars: number }) => void;
}

export interface ModelClient {
  readonly protocol: ToolProtocol;
  readonly model: string;
  /** max_tokens per call; the loop keeps room for it in the context window. */
  readonly maxTokens: number;
  /** The stable id sent as `x-session-id` on every request of this run. */
  readonly sessionId: string;
  /** The context window in tokens (`max_model_len` from /v1/models, or configured), if known. */
  contextWindow(signal?: AbortSignal): Promise<number | undefined>;
  complete(messages: readonly ChatMessage[], tools: readonly ToolSpec[], options?: CompleteOptions): Promise<Completion>;
}
