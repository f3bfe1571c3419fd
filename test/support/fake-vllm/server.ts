import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { createCapacityModel, type CapacityModel, type CapacityOptions } from "./capacity.js";

/**
 * A fake vLLM: a real HTTP server on 127.0.0.1 (random port) that speaks the OpenAI-compatible
 * API the way vLLM serves IQuest-Coder, and plays a script of replies. See README.md here.
 *
 *   const vllm = await startFakeVllm({ script: [call("execute_bash", { command: "ls" }), call("submit", {})] });
 *   // client → vllm.url ("http://127.0.0.1:PORT/v1")
 *   vllm.requests[0].body.messages   // what the client sent
 *   await vllm.close();
 */

export type ReasoningFormat =
  /** `message.reasoning` (newer vLLM with --reasoning-parser). */
  | "reasoning"
  /** `message.reasoning_content` (older vLLM). */
  | "reasoning_content"
  /** `<think>…</think>` inline in the content (no reasoning parser). */
  | "think-inline"
  /** Only `…</think>` in the content: the chat template opened `<think>` in the prompt. */
  | "think-close-only";

export type FakeToolProtocol = "native" | "text";

export interface FakeToolCall {
  name: string;
  /** An object (serialized for you) or a raw string (sent verbatim: use it for bad JSON). */
  arguments?: Record<string, unknown> | string;
  id?: string;
}

/** One assistant answer. */
export interface FakeReply {
  kind?: "reply";
  content?: string;
  reasoning?: string;
  /** Sent as native `tool_calls` or written into the content as the text protocol, following
   * `toolProtocol` (of the step, else of the server). */
  toolCalls?: FakeToolCall[];
  /** Default: "tool_calls" for native calls, else "stop". Use "length" for a cut-off answer. */
  finishReason?: string;
  usage?: { prompt_tokens?: number; completion_tokens?: number };
  reasoningFormat?: ReasoningFormat;
  toolProtocol?: FakeToolProtocol;
  /** Wait this long before answering (model latency). */
  delayMs?: number;
  /**
   * Streamed replies only: wait this long between chunks, and send the text in small pieces
   * (a slow but live generation, as a busy Thinking model writes).
   */
  streamDelayMs?: number;
  /** Streamed replies only: stop after this many chunks and keep the connection open (a stall). */
  stallAfterChunks?: number;
}

export type FakeFault =
  /** Any HTTP error. `body` defaults to vLLM's `{"error": {"message", "type", "code"}}`. */
  | { kind: "error"; status: number; message?: string; headers?: Record<string, string>; body?: unknown }
  /** HTTP 400 "This model's maximum context length is N tokens…". */
  | { kind: "context-overflow"; maxModelLen?: number }
  /** Never answer (until the client gives up or the server closes). */
  | { kind: "hang" }
  /** Close the connection without an answer. */
  | { kind: "drop" }
  /** A 200 with this exact body (unreadable answers). */
  | { kind: "raw"; status?: number; body: string; contentType?: string };

export type ScriptStep = FakeReply | FakeFault | ((request: RecordedRequest) => ScriptStep | Promise<ScriptStep>);

export interface RecordedRequest {
  /** 0-based, over chat completion requests only. */
  index: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The body exactly as received (for byte-level prefix checks). */
  rawBody: string;
  // The parsed JSON body; `any` so tests can reach into it without casts.
  body: any;
  receivedAt: number;
  /** What the server answered: an HTTP status, "hang" or "drop". */
  answer?: number | "hang" | "drop";
}

export interface FakeMetrics {
  /** Default: the number of chat requests in flight. */
  running?: number;
  waiting?: number;
  kvCacheUsage?: number;
}

export interface FakeVllmOptions {
  /** Replies in order, or a function of the request (and its index) for every request. */
  script?: ScriptStep[] | ((request: RecordedRequest) => ScriptStep | Promise<ScriptStep>);
  model?: string;
  /** Reported by /v1/models; null leaves it out. Default 131072. */
  maxModelLen?: number | null;
  reasoningFormat?: ReasoningFormat;
  toolProtocol?: FakeToolProtocol;
  /** Answer a 400 overflow, as vLLM does, when prompt bytes/4 + max_tokens > maxModelLen. */
  enforceMaxModelLen?: boolean;
  /** /health answers 503 when false. */
  healthy?: boolean;
  metrics?: FakeMetrics;
  /** Simulate a GPU server's capacity: latency grows with concurrent requests, the excess
   * waits, and /metrics reports running, waiting and KV-cache usage (see capacity.ts). Applies
   * to replies (not faults), on top of a step's own `delayMs`. */
  capacity?: CapacityOptions;
}

export interface FakeVllm {
  /** OpenAI base URL, with /v1. */
  url: string;
  /** http://127.0.0.1:PORT, for /metrics and /health. */
  origin: string;
  /** Chat completion requests, in order. */
  requests: RecordedRequest[];
  /** Every request, whatever its path. */
  allRequests: RecordedRequest[];
  /** The most chat completions it was serving at once (a shared concurrency limit holds if ≤ it). */
  peakInFlight(): number;
  /** Append steps to the script. */
  push(...steps: ScriptStep[]): void;
  /** Script steps not played yet (array scripts only). */
  remaining(): number;
  setHealthy(healthy: boolean): void;
  setMetrics(metrics: FakeMetrics): void;
  /** The capacity model, when the server has one. */
  capacity?: CapacityModel;
  /** Make /metrics answer 503 (false) or work again (true): an unreachable metrics endpoint. */
  setMetricsAvailable(available: boolean): void;
  close(): Promise<void>;
}

/** Token counts are estimated as bytes / 4, which is close enough for budgets in tests. */
export function estimateTokens(text: string): number {
  return Math.ceil(Buffer.byteLength(text) / 4);
}

export function contextOverflowMessage(maxModelLen: number, requested: number): string {
  return `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${requested} tokens. Please reduce the length of the messages or completion.`;
}

function renderTextCall(call: FakeToolCall): string {
  if (typeof call.arguments === "string") return `<function=${call.name}>\n${call.arguments}\n</function>`;
  const params = Object.entries(call.arguments ?? {}).map(([k, v]) => {
    const value = typeof v === "string" ? v : JSON.stringify(v);
    return `<parameter=${k}>\n${value}\n</parameter>`;
  });
  return `<function=${call.name}>\n${params.join("\n")}\n</function>`;
}

type Json = any;

/** Build the assistant message and finish reason vLLM would send for `reply`. */
export function renderReply(
  reply: FakeReply,
  defaults: { reasoningFormat: ReasoningFormat; toolProtocol: FakeToolProtocol },
  nextCallId: () => string,
): { message: Json; finishReason: string } {
  const protocol = reply.toolProtocol ?? defaults.toolProtocol;
  const format = reply.reasoningFormat ?? defaults.reasoningFormat;
  const calls = reply.toolCalls ?? [];
  let content = reply.content ?? "";
  const message: Json = { role: "assistant" };
  if (protocol === "text" && calls.length > 0) {
    content = [content, ...calls.map(renderTextCall)].filter((s) => s !== "").join("\n\n");
  }
  const reasoning = reply.reasoning;
  if (reasoning !== undefined && reasoning !== "") {
    if (format === "reasoning") message.reasoning = reasoning;
    else if (format === "reasoning_content") message.reasoning_content = reasoning;
    else if (format === "think-inline") {
      // Cut off while thinking: the block never closes.
      const unterminated = reply.finishReason === "length" && content === "";
      content = unterminated ? `<think>\n${reasoning}` : `<think>\n${reasoning}\n</think>\n\n${content}`;
    } else {
      content = `${reasoning}\n</think>\n\n${content}`;
    }
  }
  message.content = content === "" && protocol === "native" && calls.length > 0 ? null : content;
  if (protocol === "native" && calls.length > 0) {
    message.tool_calls = calls.map((c) => ({
      id: c.id ?? nextCallId(),
      type: "function",
      function: { name: c.name, arguments: typeof c.arguments === "string" ? c.arguments : JSON.stringify(c.arguments ?? {}) },
    }));
  }
  const finishReason = reply.finishReason ?? (protocol === "native" && calls.length > 0 ? "tool_calls" : "stop");
  return { message, finishReason };
}

export async function startFakeVllm(options: FakeVllmOptions = {}): Promise<FakeVllm> {
  const model = options.model ?? "IQuestLab/IQuest-Coder-V1-40B-Thinking";
  const maxModelLen = options.maxModelLen === undefined ? 131072 : options.maxModelLen;
  const defaults = {
    reasoningFormat: options.reasoningFormat ?? "reasoning",
    toolProtocol: options.toolProtocol ?? "native",
  } as const;
  const queue: ScriptStep[] = Array.isArray(options.script) ? [...options.script] : [];
  const scriptFn = typeof options.script === "function" ? options.script : undefined;
  const requests: RecordedRequest[] = [];
  const allRequests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  let healthy = options.healthy ?? true;
  let metrics: FakeMetrics = { ...options.metrics };
  let metricsAvailable = true;
  const capacity = options.capacity ? createCapacityModel(options.capacity) : undefined;
  let inFlight = 0;
  let peak = 0;
  let callCounter = 0;
  let prefixQueries = 0;
  let prefixHits = 0;
  let previousPrompt = "";

  const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
    res.end(text);
  };
  const vllmError = (message: string, status: number) => ({
    error: { message, type: status === 400 ? "BadRequestError" : status === 404 ? "NotFoundError" : "Error", param: null, code: status },
  });

  async function nextStep(request: RecordedRequest): Promise<FakeReply | FakeFault | undefined> {
    let step: ScriptStep | undefined = scriptFn ? await scriptFn(request) : queue.shift();
    // A step may be a function of the request; it may return another step (or function).
    while (typeof step === "function") step = await step(request);
    return step;
  }

  async function streamReply(res: ServerResponse, id: string, created: number, message: Json, finishReason: string, usage: Json, includeUsage: boolean, pace: { delayMs?: number; stallAfter?: number }) {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const lines: string[] = [];
    const chunk = (delta: Json, finish: string | null = null) =>
      lines.push(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`);
    // Halves by default; with a pace, pieces of 4 characters (about a token each).
    const pieces = (s: string) => {
      if (!pace.delayMs) return [s.slice(0, Math.ceil(s.length / 2)), s.slice(Math.ceil(s.length / 2))].filter(Boolean);
      const out: string[] = [];
      for (let i = 0; i < s.length; i += 4) out.push(s.slice(i, i + 4));
      return out;
    };
    chunk({ role: "assistant", content: "" });
    for (const field of ["reasoning", "reasoning_content"]) {
      for (const part of pieces(message[field] ?? "")) chunk({ [field]: part });
    }
    for (const part of pieces(message.content ?? "")) chunk({ content: part });
    (message.tool_calls ?? []).forEach((c: Json, index: number) => {
      const [a, b] = [c.function.arguments.slice(0, 5), c.function.arguments.slice(5)];
      chunk({ tool_calls: [{ index, id: c.id, type: "function", function: { name: c.function.name, arguments: a } }] });
      if (b) chunk({ tool_calls: [{ index, function: { arguments: b } }] });
    });
    chunk({}, finishReason);
    if (includeUsage) lines.push(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [], usage })}\n\n`);
    lines.push("data: [DONE]\n\n");
    for (let i = 0; i < lines.length; i++) {
      if (res.destroyed) return;
      if (pace.stallAfter !== undefined && i >= pace.stallAfter) return; // stalled: the connection stays open
      if (pace.delayMs && i > 0) await new Promise((r) => setTimeout(r, pace.delayMs));
      if (res.destroyed) return;
      res.write(lines[i]);
    }
    res.end();
  }

  async function handleChat(request: RecordedRequest, res: ServerResponse) {
    const body = request.body;
    if (!body || !Array.isArray(body.messages)) {
      request.answer = 400;
      return sendJson(res, 400, vllmError("messages: field required", 400));
    }
    if (body.model !== model) {
      request.answer = 404;
      return sendJson(res, 404, vllmError(`The model \`${body.model}\` does not exist.`, 404));
    }
    const promptText = JSON.stringify(body.messages);
    const promptTokens = estimateTokens(promptText);
    // Prefix cache accounting, as bytes/4 "tokens" shared with the previous request.
    let common = 0;
    while (common < promptText.length && common < previousPrompt.length && promptText[common] === previousPrompt[common]) common++;
    prefixQueries += promptTokens;
    prefixHits += Math.floor(common / 4);
    previousPrompt = promptText;

    if (options.enforceMaxModelLen && maxModelLen) {
      const requested = promptTokens + (Number(body.max_tokens) || 0);
      if (requested > maxModelLen) {
        request.answer = 400;
        return sendJson(res, 400, vllmError(contextOverflowMessage(maxModelLen, requested), 400));
      }
    }

    const step = await nextStep(request);
    if (step === undefined) {
      request.answer = 400;
      return sendJson(res, 400, vllmError(`fake-vllm: the script has no reply for request #${request.index}`, 400));
    }
    if (step.kind === "hang") {
      request.answer = "hang";
      return; // keep the response open; closed when the client aborts or the server closes
    }
    if (step.kind === "drop") {
      request.answer = "drop";
      res.socket?.destroy();
      return;
    }
    if (step.kind === "error") {
      request.answer = step.status;
      return sendJson(res, step.status, step.body ?? vllmError(step.message ?? `fake-vllm: HTTP ${step.status}`, step.status), step.headers);
    }
    if (step.kind === "context-overflow") {
      request.answer = 400;
      const limit = step.maxModelLen ?? maxModelLen ?? 131072;
      return sendJson(res, 400, vllmError(contextOverflowMessage(limit, promptTokens + (Number(body.max_tokens) || 0)), 400));
    }
    if (step.kind === "raw") {
      request.answer = step.status ?? 200;
      res.writeHead(step.status ?? 200, { "content-type": step.contentType ?? "application/json" });
      return res.end(step.body);
    }

    if (step.delayMs) {
      // Model latency ends early when the client goes away (a cancel, a killed worker), so a
      // long scripted delay never outlives the request or keeps a test process alive.
      await new Promise<void>((r) => {
        const timer = setTimeout(r, step.delayMs);
        res.once("close", () => {
          clearTimeout(timer);
          r();
        });
      });
    }
    if (capacity) {
      const gone = new AbortController();
      const onClose = () => gone.abort();
      res.once("close", onClose);
      try {
        await capacity.serve(gone.signal);
      } catch {
        return; // the client went away (or the server is closing) while the request ran or waited
      } finally {
        res.off("close", onClose);
      }
    }
    if (res.destroyed || res.writableEnded) return;
    const { message, finishReason } = renderReply(step, defaults, () => `chatcmpl-tool-${++callCounter}`);
    const completionText = `${message.content ?? ""}${message.reasoning ?? ""}${message.reasoning_content ?? ""}${JSON.stringify(message.tool_calls ?? [])}`;
    const usage = {
      prompt_tokens: step.usage?.prompt_tokens ?? promptTokens,
      completion_tokens: step.usage?.completion_tokens ?? estimateTokens(completionText),
      total_tokens: 0,
    };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    const id = `chatcmpl-${request.index}`;
    const created = Math.floor(Date.now() / 1000);
    request.answer = 200;
    if (body.stream) {
      return streamReply(res, id, created, message, finishReason, usage, body.stream_options?.include_usage === true, {
        ...(step.streamDelayMs ? { delayMs: step.streamDelayMs } : {}),
        ...(step.stallAfterChunks !== undefined ? { stallAfter: step.stallAfterChunks } : {}),
      });
    }
    sendJson(res, 200, {
      id,
      object: "chat.completion",
      created,
      model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason, stop_reason: null }],
      usage,
    });
  }

  function metricsText(): string {
    const label = `{model_name="${model}"}`;
    const lines = [
      "# HELP vllm:num_requests_running Number of requests in model execution batches.",
      "# TYPE vllm:num_requests_running gauge",
      `vllm:num_requests_running${label} ${metrics.running ?? capacity?.running ?? inFlight}`,
      "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
      "# TYPE vllm:num_requests_waiting gauge",
      `vllm:num_requests_waiting${label} ${metrics.waiting ?? capacity?.waiting ?? 0}`,
      "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.",
      "# TYPE vllm:kv_cache_usage_perc gauge",
      `vllm:kv_cache_usage_perc${label} ${metrics.kvCacheUsage ?? capacity?.kvUsage ?? 0}`,
      "# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.",
      "# TYPE vllm:prefix_cache_queries_total counter",
      `vllm:prefix_cache_queries_total${label} ${prefixQueries}`,
      "# HELP vllm:prefix_cache_hits_total Prefix cache hits, in terms of number of cached tokens.",
      "# TYPE vllm:prefix_cache_hits_total counter",
      `vllm:prefix_cache_hits_total${label} ${prefixHits}`,
    ];
    return `${lines.join("\n")}\n`;
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const rawBody = Buffer.concat(chunks).toString("utf8");
      const path = (req.url ?? "/").split("?")[0];
      let body: unknown;
      try {
        body = rawBody ? JSON.parse(rawBody) : undefined;
      } catch {
        body = undefined;
      }
      const recorded: RecordedRequest = {
        index: -1,
        method: req.method ?? "GET",
        path,
        headers: req.headers,
        rawBody,
        body,
        receivedAt: Date.now(),
      };
      allRequests.push(recorded);
      if (req.method === "POST" && path === "/v1/chat/completions") {
        recorded.index = requests.length;
        requests.push(recorded);
        inFlight++;
        peak = Math.max(peak, inFlight);
        let done = false;
        const finish = () => {
          if (!done) {
            done = true;
            inFlight--;
          }
        };
        res.on("close", finish);
        handleChat(recorded, res).catch((err: unknown) => {
          if (!res.headersSent) sendJson(res, 500, vllmError(`fake-vllm: ${(err as Error).message}`, 500));
          else res.destroy();
        });
        return;
      }
      if (req.method === "GET" && path === "/v1/models") {
        return sendJson(res, 200, {
          object: "list",
          data: [
            {
              id: model,
              object: "model",
              created: 1700000000,
              owned_by: "vllm",
              root: model,
              parent: null,
              ...(maxModelLen !== null ? { max_model_len: maxModelLen } : {}),
            },
          ],
        });
      }
      if (req.method === "GET" && path === "/metrics") {
        if (!metricsAvailable) {
          res.writeHead(503);
          return res.end();
        }
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
        return res.end(metricsText());
      }
      if (req.method === "GET" && path === "/health") {
        res.writeHead(healthy ? 200 : 503);
        return res.end();
      }
      sendJson(res, 404, vllmError(`fake-vllm: no route ${req.method} ${path}`, 404));
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  return {
    url: `${origin}/v1`,
    origin,
    requests,
    allRequests,
    peakInFlight: () => peak,
    push: (...steps) => {
      queue.push(...steps);
    },
    remaining: () => queue.length,
    setHealthy: (value) => {
      healthy = value;
    },
    setMetrics: (value) => {
      metrics = { ...value };
    },
    ...(capacity ? { capacity } : {}),
    setMetricsAvailable: (value) => {
      metricsAvailable = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        capacity?.close();
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
