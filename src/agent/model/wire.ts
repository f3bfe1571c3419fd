import { z } from "zod";
import { renderTemplate } from "../prompts.js";
import { splitReasoning } from "./reasoning.js";
import { parseTextToolCalls } from "./text-protocol.js";
import type { ChatMessage, Completion, FinishReason, ParsedToolCall, ToolProtocol, Usage } from "./types.js";

/**
 * Conversion between our protocol-neutral history and the OpenAI wire format, both ways.
 *
 * Prefix caching depends on this being a pure function of the history: the same messages give
 * the same bytes on every request, so each request's prompt starts with the previous one.
 */

export interface WireMessage {
  role: "system" | "user" | "assistant" | "tool";
  content: string;
  reasoning?: string;
  tool_calls?: Array<{ id: string; type: "function"; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
}

export interface WireTemplates {
  /** Appended to the first system message in text mode: the tool list and call format. */
  textToolDocs: string;
  /** How a tool result is shown as a user message in text mode. */
  textObservation: string;
}

export function toWireMessages(
  messages: readonly ChatMessage[],
  protocol: ToolProtocol,
  templates: WireTemplates,
): WireMessage[] {
  let systemSeen = false;
  return messages.map((m): WireMessage => {
    switch (m.role) {
      case "system": {
        const first = !systemSeen;
        systemSeen = true;
        return {
          role: "system",
          content: protocol === "text" && first && templates.textToolDocs ? `${m.content}\n\n${templates.textToolDocs}` : m.content,
        };
      }
      case "user":
        return { role: "user", content: m.content };
      case "assistant": {
        const out: WireMessage = { role: "assistant", content: m.content };
        // Newer vLLM renders a past turn's thinking only from a field named `reasoning`.
        if (m.reasoning) out.reasoning = m.reasoning;
        const native = (m.toolCalls ?? []).filter((c) => c.protocol === "native");
        if (native.length > 0) {
          out.tool_calls = native.map((c) => ({
            id: c.id,
            type: "function",
            function: { name: c.name, arguments: c.arguments },
          }));
        }
        return out;
      }
      case "tool":
        return m.protocol === "native"
          ? { role: "tool", tool_call_id: m.toolCallId, content: m.content }
          : { role: "user", content: renderTemplate(templates.textObservation, { name: m.name, content: m.content }) };
    }
  });
}

/** The part of a chat completion we read; anything else the server adds is ignored. */
export const chatCompletionSchema = z.object({
  choices: z
    .array(
      z.object({
        finish_reason: z.string().nullish(),
        message: z.object({
          content: z.string().nullish(),
          reasoning: z.string().nullish(),
          reasoning_content: z.string().nullish(),
          tool_calls: z
            .array(
              z.object({
                id: z.string().nullish(),
                function: z.object({ name: z.string().nullish(), arguments: z.string().nullish() }),
              }),
            )
            .nullish(),
        }),
      }),
    )
    .min(1, "the response has no choices"),
  usage: z
    .object({
      prompt_tokens: z.number().nullish(),
      completion_tokens: z.number().nullish(),
      total_tokens: z.number().nullish(),
    })
    .nullish(),
});

export type ChatCompletionBody = z.infer<typeof chatCompletionSchema>;

const FINISH: Record<string, FinishReason> = {
  stop: "stop",
  tool_calls: "tool_calls",
  length: "length",
  content_filter: "content_filter",
  error: "error",
};

/** Parse native call arguments: a JSON object, or an error the model can act on. */
function parseNativeArguments(raw: string): { args?: Record<string, unknown>; error?: string } {
  if (raw.trim() === "") return { args: {} };
  try {
    const value: unknown = JSON.parse(raw);
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      return { error: "the arguments must be a JSON object" };
    }
    return { args: value as Record<string, unknown> };
  } catch (err) {
    return { error: `the arguments are not valid JSON (${(err as Error).message})` };
  }
}

export function fromWireCompletion(
  body: ChatCompletionBody,
  protocol: ToolProtocol,
  nextId: () => string,
): Pick<Completion, "content" | "reasoning" | "reasoningSource" | "toolCalls" | "toolCallProblem" | "usage" | "finishReason" | "truncatedInThinking" | "message"> {
  const choice = body.choices[0];
  const msg = choice.message;
  const split = splitReasoning({ content: msg.content, reasoning: msg.reasoning, reasoning_content: msg.reasoning_content });
  const finishReason = FINISH[choice.finish_reason ?? ""] ?? "unknown";
  const reasoningSource: Completion["reasoningSource"] =
    typeof msg.reasoning === "string" && msg.reasoning !== ""
      ? "reasoning"
      : typeof msg.reasoning_content === "string" && msg.reasoning_content !== ""
        ? "reasoning_content"
        : split.reasoning !== ""
          ? "inline"
          : "none";

  let toolCalls: ParsedToolCall[] = [];
  let toolCallProblem: string | undefined;
  if (protocol === "native" && msg.tool_calls && msg.tool_calls.length > 0) {
    toolCalls = msg.tool_calls.map((c) => {
      const raw = c.function.arguments ?? "";
      const parsed = parseNativeArguments(raw);
      return {
        id: c.id || nextId(),
        name: c.function.name ?? "",
        arguments: raw,
        protocol: "native" as const,
        ...(parsed.args ? { args: parsed.args } : {}),
        ...(parsed.error ? { error: parsed.error } : {}),
      };
    });
  } else if (!split.unterminated) {
    // Text mode, or native mode where the server's tool parser missed a call written as text
    // (users report IQuest calls that neither qwen3_coder nor hermes parse).
    const text = parseTextToolCalls(split.content, nextId);
    toolCalls = text.calls;
    toolCallProblem = text.problem;
  }

  const usage: Usage = {
    promptTokens: body.usage?.prompt_tokens ?? 0,
    completionTokens: body.usage?.completion_tokens ?? 0,
    totalTokens: body.usage?.total_tokens ?? (body.usage?.prompt_tokens ?? 0) + (body.usage?.completion_tokens ?? 0),
  };
  const truncatedInThinking =
    finishReason === "length" && (split.unterminated || (split.content.trim() === "" && toolCalls.length === 0));

  const message: Extract<ChatMessage, { role: "assistant" }> = { role: "assistant", content: split.content };
  if (split.reasoning) message.reasoning = split.reasoning;
  if (toolCalls.length > 0) {
    // vLLM json-decodes a past native call's arguments to render the chat template, so invalid
    // JSON kept in the history would fail every later request. The history gets "{}" for such a
    // call (decided once, so still byte-stable); the raw text stays in `toolCalls` for the
    // trajectory and the error message.
    message.toolCalls = toolCalls.map((c) => ({
      id: c.id,
      name: c.name,
      arguments: c.protocol === "native" && c.error ? "{}" : c.arguments,
      protocol: c.protocol,
    }));
  }
  return {
    content: split.content,
    reasoning: split.reasoning,
    reasoningSource,
    toolCalls,
    ...(toolCallProblem ? { toolCallProblem } : {}),
    usage,
    finishReason,
    truncatedInThinking,
    message,
  };
}
