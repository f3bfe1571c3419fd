import { createHash, randomUUID } from "node:crypto";
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError } from "openai";
import type { ChatCompletionCreateParamsStreaming } from "openai/resources/chat/completions";
import { cancelledFromSignal } from "../../shared/errors.js";
import { loadPrompt } from "../prompts.js";
import { ContextLengthError, ModelRequestError, ModelUnavailableError, type UnavailableReason } from "./errors.js";
import type { ModelCallOutcome, ModelGate, ModelSlot } from "./gate.js";
import { modelClientOptionsSchema, type ModelClientInput, type ModelClientOptions } from "./options.js";
import { backoffMs, retryAfterMs, sleep } from "./retry.js";
import { renderTextToolDocs } from "./text-protocol.js";
import type { ChatMessage, CompleteOptions, Completion, ModelClient, ToolSpec } from "./types.js";
import { chatCompletionSchema, fromWireCompletion, toWireMessages, type WireMessage, type WireTemplates } from "./wire.js";
import { assembleStream } from "./stream.js";

/**
 * The model client for vLLM's OpenAI-compatible API (any OpenAI-compatible server works).
 *
 * The SDK's own retries are off (`maxRetries: 0`): it would retry timeouts of a 10-minute call
 * and knows nothing of several URLs. Here instead:
 * - connection errors and timeouts fail over to the next URL at once; once every URL failed, that
 *   counts as one failed attempt;
 * - 429 waits for `retry-after` (giving up at once if it asks for longer than retryMaxDelayMs),
 *   5xx backs off exponentially and moves to the next URL;
 * - after `maxRetries` failed attempts: ModelUnavailableError, which says what to check;
 * - a 400 about the context length: ContextLengthError, for the loop to condense;
 * - other 4xx: ModelRequestError (wrong key, wrong model name), never retried;
 * - an abort: CancelledError at once, even in the middle of a backoff.
 */

/** vLLM's extra parameters pass through the SDK unchanged (REFERENCE A§4); our messages carry
 * `reasoning`, which the SDK's message types do not know. */
type CreateParams = Omit<ChatCompletionCreateParamsStreaming, "messages"> & {
  messages: WireMessage[];
  top_k?: number;
  chat_template_kwargs?: Record<string, unknown>;
  cache_salt?: string;
};

/** A streamed answer that ended without its finish (a dropped connection, our idle abort). */
class StreamEndedEarly extends Error {
  constructor(readonly how: "aborted" | "cut") {
    super(`stream ended early (${how})`);
    this.name = "StreamEndedEarly";
  }
}

export interface VllmClientDeps {
  /** Injected for tests of the backoff; defaults to Math.random. */
  random?: () => number;
  /** Admission for each HTTP attempt (how many model calls may be in flight; see gate.ts).
   * Without one, calls start at once. */
  gate?: ModelGate;
}

interface Failure {
  kind: UnavailableReason;
  detail: string;
  retryAfterMs?: number;
  cause: unknown;
}

const CONTEXT_LENGTH = /maximum context length|context length (?:is|of)|maximum model length|exceeds? the (?:model'?s )?(?:maximum )?context|prompt is too long/i;

export function createVllmClient(input: ModelClientInput, deps: VllmClientDeps = {}): ModelClient & {
  readonly options: ModelClientOptions;
  readonly baseUrls: readonly string[];
} {
  const options = modelClientOptionsSchema.parse(input);
  const baseUrls = options.baseUrls.map((u) => u.replace(/\/+$/, ""));
  const sessionId = options.sessionId ?? randomUUID();
  const sdks = baseUrls.map(
    (baseURL) =>
      new OpenAI({
        baseURL,
        apiKey: options.apiKey ?? "EMPTY",
        maxRetries: 0,
        // A backstop only: the per-call timer in complete() fires first.
        timeout: options.timeoutMs + 60_000,
        defaultHeaders: { "x-session-id": sessionId },
      }),
  );
  // Per-client state only: the URL this run is on, and text-call ids.
  let current =
    options.startIndex !== undefined
      ? options.startIndex % baseUrls.length
      : createHash("sha256").update(sessionId).digest().readUInt32BE(0) % baseUrls.length;
  let callCounter = 0;
  const nextId = () => `call_${sessionId.slice(0, 8)}_${++callCounter}`;

  let templates: Promise<{ docs: string; observation: string }> | undefined;
  const loadTemplates = () =>
    (templates ??= Promise.all([loadPrompt("text-protocol"), loadPrompt("text-observation")]).then(([docs, observation]) => ({
      docs,
      observation,
    })));
  // The tool docs depend only on the (fixed) tool list: render once per list, byte-identical after.
  const docsCache = new WeakMap<readonly ToolSpec[], string>();
  let contextWindowPromise: Promise<number | undefined> | undefined;

  async function wireTemplates(tools: readonly ToolSpec[]): Promise<WireTemplates> {
    if (options.protocol !== "text") return { textToolDocs: "", textObservation: "" };
    const t = await loadTemplates();
    let docs = docsCache.get(tools);
    if (docs === undefined) {
      docs = tools.length > 0 ? renderTextToolDocs(t.docs, tools) : "";
      docsCache.set(tools, docs);
    }
    return { textToolDocs: docs, textObservation: t.observation };
  }

  function classify(err: unknown, baseUrl: string): Failure | Error {
    if (err instanceof APIConnectionTimeoutError) {
      return { kind: "timeout", detail: `no answer from ${baseUrl} in time`, cause: err };
    }
    if (err instanceof APIConnectionError) {
      const cause = (err as { cause?: { code?: string; message?: string; cause?: { code?: string } } }).cause;
      const code = cause?.code ?? cause?.cause?.code ?? cause?.message ?? err.message;
      return { kind: "connection", detail: `${baseUrl}: ${code}`, cause: err };
    }
    if (err instanceof APIError && typeof err.status === "number") {
      const status = err.status;
      const serverMessage = serverMessageOf(err);
      if ((status === 400 || status === 413 || status === 422) && CONTEXT_LENGTH.test(serverMessage)) {
        return new ContextLengthError(serverMessage, { cause: err });
      }
      if (status === 429) {
        return { kind: "rate-limited", detail: `HTTP 429 from ${baseUrl}: ${serverMessage}`, retryAfterMs: retryAfterMs(err.headers), cause: err };
      }
      if (status >= 500 || status === 408 || status === 409) {
        return { kind: "server-error", detail: `HTTP ${status} from ${baseUrl}: ${serverMessage}`, retryAfterMs: retryAfterMs(err.headers), cause: err };
      }
      if (status === 401 || status === 403) {
        return new ModelRequestError(status, serverMessage, "Check MODEL_API_KEY.", err);
      }
      if (status === 404) {
        return new ModelRequestError(
          status,
          serverMessage,
          `Check MODEL_NAME ("${options.model}") against the server's /v1/models, and that MODEL_BASE_URL ends with /v1.`,
          err,
        );
      }
      return new ModelRequestError(status, serverMessage, "The request was rejected; see the server's message.", err);
    }
    return new ModelRequestError(undefined, (err as Error)?.message ?? String(err), "The answer could not be read.", err);
  }

  async function complete(messages: readonly ChatMessage[], tools: readonly ToolSpec[], callOptions: CompleteOptions = {}): Promise<Completion> {
    const signal = callOptions.signal;
    if (signal?.aborted) throw cancelledFromSignal(signal);
    const wire = toWireMessages(messages, options.protocol, await wireTemplates(tools));
    const params: CreateParams = {
      model: options.model,
      messages: wire,
      temperature: options.sampling.temperature,
      top_p: options.sampling.top_p,
      top_k: options.sampling.top_k,
      max_tokens: callOptions.maxTokens ?? options.sampling.max_tokens,
      // Streamed (stream.ts says why); the usage arrives in a last chunk.
      stream: true,
      stream_options: { include_usage: true },
    };
    if (options.protocol === "native" && tools.length > 0) {
      params.tools = tools.map((t) => ({
        type: "function" as const,
        function: { name: t.name, description: t.description, parameters: t.parameters as unknown as Record<string, unknown> },
      }));
      params.tool_choice = "auto";
    }
    if (options.enableThinking !== undefined) params.chat_template_kwargs = { enable_thinking: options.enableThinking };
    if (options.cacheSalt) params.cache_salt = options.cacheSalt;
    if (options.seed !== undefined) params.seed = options.seed;
    const promptBytes = Buffer.byteLength(JSON.stringify(wire));

    let failures = 0;
    let hopsSinceFailure = 0;
    let attempts = 0;
    for (;;) {
      const index = current;
      const baseUrl = baseUrls[index];
      attempts++;
      // The slot is taken per attempt, not per call: a backoff sleep holds no slot.
      let slot: ModelSlot | undefined;
      if (deps.gate) {
        try {
          slot = await deps.gate.acquire(signal);
        } catch (err) {
          if (signal?.aborted) throw cancelledFromSignal(signal);
          throw err;
        }
      }
      let outcome: ModelCallOutcome = "rejected";
      let tokens: { promptTokens?: number; completionTokens?: number } = {};
      const started = performance.now();
      // Our own idle timer rather than the SDK's total one: a slow but live generation (a long
      // thinking turn) must finish, and a server that stops sending is cut after `timeoutMs`
      // without a chunk. We must also tell a timeout from a cancel and from a refused
      // connection, and the SDK's abort error loses its name across realms (it arrives as a
      // plain connection error under jest's VM modules).
      const attempt = new AbortController();
      let timedOut = false;
      const onIdle = () => {
        timedOut = true;
        attempt.abort();
      };
      let timer = setTimeout(onIdle, options.timeoutMs);
      // Set once the server answered 200 and chunks flow: an error from here on is a broken
      // stream (retryable), not an unreadable answer.
      let receiving = false;
      const forward = () => attempt.abort();
      signal?.addEventListener("abort", forward, { once: true });
      try {
        const stream = await sdks[index].chat.completions.create(params as unknown as ChatCompletionCreateParamsStreaming, {
          signal: attempt.signal,
        });
        receiving = true;
        const streamed = await assembleStream(stream, (progress) => {
          clearTimeout(timer);
          timer = setTimeout(onIdle, options.timeoutMs);
          callOptions.onProgress?.(progress);
        });
        // An abort or a dropped connection can end the stream quietly: what came is not an answer.
        if (timedOut || signal?.aborted) throw new StreamEndedEarly("aborted");
        if (!streamed.finished && streamed.body.choices && (streamed.body.choices as unknown[]).length > 0) throw new StreamEndedEarly("cut");
        const raw = streamed.body;
        const httpMs = performance.now() - started;
        const parsed = chatCompletionSchema.safeParse(raw);
        if (!parsed.success) {
          throw new ModelRequestError(
            undefined,
            `unexpected response shape from ${baseUrl}: ${parsed.error.issues[0]?.message}`,
            "Is MODEL_BASE_URL an OpenAI-compatible /v1 endpoint?",
          );
        }
        const completion = fromWireCompletion(parsed.data, options.protocol, nextId);
        outcome = "ok";
        tokens = { promptTokens: completion.usage.promptTokens, completionTokens: completion.usage.completionTokens };
        return {
          ...completion,
          request: { messageCount: wire.length, promptBytes },
          endpoint: baseUrl,
          attempts,
          httpMs,
        };
      } catch (err) {
        clearTimeout(timer);
        if (signal?.aborted) {
          outcome = "cancelled";
          throw cancelledFromSignal(signal);
        }
        if (err instanceof ModelRequestError) throw err;
        const failure: Failure | Error = timedOut
          ? { kind: "timeout", detail: `nothing from ${baseUrl} for ${options.timeoutMs} ms`, cause: err }
          : err instanceof StreamEndedEarly || (receiving && !(err instanceof APIError && typeof err.status === "number"))
            ? { kind: "connection", detail: `the answer from ${baseUrl} stopped before it ended (the connection was closed mid-stream)`, cause: err }
            : classify(err, baseUrl);
        if (failure instanceof Error) throw failure;
        outcome = failure.kind;
        // The attempt is over: give the slot back before any backoff sleep.
        slot?.release({ outcome, ms: performance.now() - started, endpoint: baseUrl });
        slot = undefined;

        const failover = failure.kind === "connection" || failure.kind === "timeout" || failure.kind === "server-error";
        if (failover && baseUrls.length > 1) current = (current + 1) % baseUrls.length;
        // A dead URL costs no retry while another URL is left to try: fail over at once.
        if ((failure.kind === "connection" || failure.kind === "timeout") && ++hopsSinceFailure < baseUrls.length) continue;
        hopsSinceFailure = 0;
        failures++;
        if (failures > options.maxRetries) {
          throw new ModelUnavailableError(failure.kind, baseUrls, attempts, failure.detail, failure.cause);
        }
        if (failure.retryAfterMs !== undefined && failure.retryAfterMs > options.retryMaxDelayMs) {
          throw new ModelUnavailableError(
            failure.kind,
            baseUrls,
            attempts,
            `${failure.detail} (the server asked to wait ${Math.ceil(failure.retryAfterMs / 1000)} s, longer than the ${Math.ceil(options.retryMaxDelayMs / 1000)} s allowed)`,
            failure.cause,
          );
        }
        const wait = failure.retryAfterMs ?? backoffMs(failures, options.retryBaseDelayMs, options.retryMaxDelayMs, deps.random);
        try {
          await sleep(wait, signal);
        } catch {
          throw cancelledFromSignal(signal as AbortSignal);
        }
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener("abort", forward);
        slot?.release({ outcome, ms: performance.now() - started, endpoint: baseUrl, ...tokens });
      }
    }
  }

  async function readContextWindow(signal?: AbortSignal): Promise<number | undefined> {
    if (options.contextWindow) return options.contextWindow;
    for (let i = 0; i < baseUrls.length; i++) {
      const index = (current + i) % baseUrls.length;
      try {
        const page = await sdks[index].models.list({ signal: signal ?? null, timeout: Math.min(options.timeoutMs, 10_000) });
        const models = page.data as Array<{ id: string; max_model_len?: unknown }>;
        const entry = models.find((m) => m.id === options.model) ?? (models.length === 1 ? models[0] : undefined);
        const len = entry?.max_model_len;
        return typeof len === "number" && Number.isInteger(len) && len > 0 ? len : undefined;
      } catch (err) {
        if (signal?.aborted) throw cancelledFromSignal(signal);
        // Unreachable or not reported: try the next URL; the first completion will say what is wrong.
        void err;
      }
    }
    return undefined;
  }

  return {
    options,
    baseUrls,
    protocol: options.protocol,
    model: options.model,
    maxTokens: options.sampling.max_tokens,
    sessionId,
    contextWindow(signal?: AbortSignal) {
      // Cached per client (one run); a failed read is not cached so a later call can succeed.
      contextWindowPromise ??= readContextWindow(signal).then((v) => {
        if (v === undefined) contextWindowPromise = undefined;
        return v;
      });
      return contextWindowPromise;
    },
    complete,
  };
}

function serverMessageOf(err: APIError): string {
  const body = err.error as { message?: unknown; error?: { message?: unknown } } | undefined;
  const msg = body?.message ?? body?.error?.message;
  return typeof msg === "string" ? msg : err.message;
}
