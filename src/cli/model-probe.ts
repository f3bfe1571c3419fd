import { ModelRequestError, ModelUnavailableError } from "../agent/model/errors.js";
import { modelClientOptionsSchema, type ModelClientInput } from "../agent/model/options.js";
import type { Completion, ToolSpec } from "../agent/model/types.js";
import { createVllmClient } from "../agent/model/vllm-client.js";

/**
 * `iquest-bot check`'s questions to the model server, before a team installs anything: does it
 * answer, does it serve the model, how long a context, does a tool call round-trip in the
 * configured protocol, and where does the thinking arrive. Each problem comes with the setting
 * or vLLM flag that fixes it.
 */
export interface Problem {
  what: string;
  fix: string;
}

export interface ModelReport {
  baseUrl: string;
  model: string;
  protocol: "native" | "text";
  reachable: boolean;
  servedModels: string[];
  maxModelLen?: number;
  /** "ok": a call came back parsed; "text-fallback": native asked, the call came back as text. */
  toolCall: "ok" | "text-fallback" | "failed" | "not-tried";
  reasoning: Completion["reasoningSource"] | "unknown";
  /** Seconds the round-trip took (the model's thinking included). */
  roundTripSeconds?: number;
  problems: Problem[];
  notes: string[];
}

/** Below this, an agent run (system prompt, tools, a few files, tool output) hardly fits. */
export const MIN_CONTEXT = 16_384;

const PROBE_TOOL: ToolSpec = {
  name: "submit",
  description: "Report that the task is done.",
  parameters: { type: "object", properties: { summary: { type: "string", description: "One sentence." } }, required: ["summary"] },
};

const SERVE_HINT = "vllm serve IQuestLab/IQuest-Coder-V1-40B-Thinking --port 8000 --enable-auto-tool-choice --tool-call-parser qwen3_coder --reasoning-parser qwen3";

export async function probeModel(input: ModelClientInput, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<ModelReport> {
  const resolved = modelClientOptionsSchema.parse(input);
  const baseUrl = resolved.baseUrls[0]!.replace(/\/+$/, "");
  const report: ModelReport = {
    baseUrl,
    model: resolved.model,
    protocol: resolved.protocol,
    reachable: false,
    servedModels: [],
    toolCall: "not-tried",
    reasoning: "unknown",
    problems: [],
    notes: [],
  };
  const problem = (what: string, fix: string) => report.problems.push({ what, fix });

  // 1. GET /models: up, the model served, its context length.
  let body: unknown;
  try {
    const res = await fetch(`${baseUrl}/models`, {
      headers: resolved.apiKey ? { authorization: `Bearer ${resolved.apiKey}` } : {},
      signal: AbortSignal.any([AbortSignal.timeout(options.timeoutMs ?? 10_000), ...(options.signal ? [options.signal] : [])]),
    });
    if (res.status === 401 || res.status === 403) {
      problem(`${baseUrl}/models answered HTTP ${res.status}`, "set MODEL_API_KEY to the key the server was started with (vllm serve --api-key)");
      return report;
    }
    if (!res.ok) {
      problem(`${baseUrl}/models answered HTTP ${res.status}`, `check that --model-url (MODEL_BASE_URL) is the server's OpenAI base URL, ending in /v1 (e.g. http://127.0.0.1:8000/v1)`);
      return report;
    }
    body = await res.json().catch(() => undefined);
  } catch (err) {
    const e = err as { name?: string; cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> }; message?: string };
    // fetch wraps the socket's error; with several addresses tried, in an AggregateError.
    const code = e.cause?.code ?? e.cause?.errors?.find((x) => x.code)?.code;
    const why = e.name === "TimeoutError" ? "no answer in time" : (code ?? e.cause?.message ?? e.message ?? String(err));
    problem(`no model server at ${baseUrl} (${why})`, `start one (${SERVE_HINT}), or pass --model-url / set MODEL_BASE_URL`);
    return report;
  }
  const data = (body as { data?: unknown })?.data;
  if (!Array.isArray(data)) {
    problem(`${baseUrl}/models does not answer as an OpenAI-compatible server (no "data" list)`, "point --model-url at vLLM's OpenAI API, ending in /v1");
    return report;
  }
  report.reachable = true;
  const entries = data.filter((m): m is { id: string; max_model_len?: unknown } => typeof (m as { id?: unknown })?.id === "string");
  report.servedModels = entries.map((m) => m.id);
  const entry = entries.find((m) => m.id === resolved.model);
  if (!entry) {
    problem(
      `${baseUrl} does not serve "${resolved.model}" (it serves: ${report.servedModels.join(", ") || "nothing"})`,
      report.servedModels.length ? `pass --model ${report.servedModels[0]} (or set MODEL_NAME), or start vLLM with --served-model-name ${resolved.model}` : "start vLLM with the model",
    );
    return report;
  }
  if (typeof entry.max_model_len === "number") {
    report.maxModelLen = entry.max_model_len;
    if (entry.max_model_len < MIN_CONTEXT) {
      problem(`max_model_len is ${entry.max_model_len} tokens: too short for agent runs`, `start vLLM with --max-model-len 131072 (IQuest-Coder-V1 supports 128K; at least ${MIN_CONTEXT})`);
    }
  } else {
    report.notes.push("the server does not report max_model_len: set MODEL_CONTEXT_WINDOW so long runs are condensed in time");
  }

  // 2. One tool call through the real client, in the configured protocol.
  const client = createVllmClient({ ...input, maxRetries: 0, timeoutMs: Math.min(resolved.timeoutMs, options.timeoutMs ?? 300_000) });
  const started = Date.now();
  try {
    const completion = await client.complete(
      [
        { role: "system", content: "You are a coding agent. You act only by calling tools." },
        { role: "user", content: 'This is a connectivity check. Call the submit tool now, with the summary "ok". Do not explain.' },
      ],
      [PROBE_TOOL],
      { maxTokens: 4096, ...(options.signal ? { signal: options.signal } : {}) },
    );
    report.roundTripSeconds = Math.round((Date.now() - started) / 100) / 10;
    report.reasoning = completion.reasoningSource;
    const call = completion.toolCalls.find((c) => c.name === "submit");
    if (call && report.protocol === "native" && call.protocol === "text") {
      report.toolCall = "text-fallback";
      report.notes.push(
        "native tool calls came back as text in the content (the server's tool-call parser did not parse them); the agent reads them anyway, but start vLLM with --enable-auto-tool-choice --tool-call-parser qwen3_coder, or use --protocol text",
      );
    } else if (call && !call.error) {
      report.toolCall = "ok";
    } else {
      report.toolCall = "failed";
      const said = (completion.content || completion.reasoning).trim().slice(0, 160);
      problem(
        call?.error ? `the model's tool call could not be read: ${call.error}` : `the model answered without calling the tool${said ? ` (it said: "${said}")` : ""}${completion.truncatedInThinking ? "; it was cut off while thinking" : ""}`,
        report.protocol === "native"
          ? "start vLLM with --enable-auto-tool-choice --tool-call-parser qwen3_coder, or try --protocol text (MODEL_TOOL_PROTOCOL=text)"
          : "check that the server's chat template is the model's own; or try --protocol native with vLLM's --tool-call-parser qwen3_coder",
      );
    }
    if (report.reasoning === "inline") {
      report.notes.push("the thinking arrives inline as <think>…</think> in the content; the agent handles it, and vLLM's --reasoning-parser qwen3 separates it");
    }
  } catch (err) {
    report.roundTripSeconds = Math.round((Date.now() - started) / 100) / 10;
    report.toolCall = "failed";
    const message = (err as Error).message;
    if (err instanceof ModelRequestError && /tool[ -_]?choice|enable-auto-tool-choice|tool-call-parser/i.test(message)) {
      problem(`the server refuses native tool calls: ${message.split("\n")[0]!.slice(0, 200)}`, "start vLLM with --enable-auto-tool-choice --tool-call-parser qwen3_coder, or use --protocol text (MODEL_TOOL_PROTOCOL=text)");
    } else if (err instanceof ModelUnavailableError) {
      problem(`the chat request failed: ${message.split("\n")[0]!.slice(0, 200)}`, "check the server's log; a slow first answer may need a longer MODEL_TIMEOUT_MS");
    } else {
      problem(`the chat request failed: ${message.split("\n")[0]!.slice(0, 200)}`, "check the server's log and the model settings (MODEL_NAME, MODEL_MAX_TOKENS)");
    }
  }
  return report;
}
