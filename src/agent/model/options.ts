import { z } from "zod";

/**
 * How to reach and drive one model: a plain object, so a job kind ("model profile") can point
 * at its own endpoint, model, protocol and sampling. Only src/main turns env into this; the
 * client never reads env. Defaults follow REFERENCE part B (IQuest's published sampling, 16K
 * tokens per call).
 */
export const samplingSchema = z.object({
  temperature: z.number().min(0).max(2).default(0.6),
  top_p: z.number().gt(0).max(1).default(0.85),
  top_k: z.number().int().min(-1).default(20),
  max_tokens: z.number().int().min(1).default(16384),
});

export const modelClientOptionsSchema = z.object({
  /** OpenAI base URLs including `/v1`. Several: a run sticks to one and fails over to the next. */
  baseUrls: z
    .array(z.string().regex(/^https?:\/\/\S+$/, "must be an http(s) URL such as http://127.0.0.1:8000/v1"))
    .min(1, "at least one model URL is needed"),
  model: z.string().min(1).default("IQuestLab/IQuest-Coder-V1-40B-Thinking"),
  apiKey: z.string().optional(),
  protocol: z.enum(["native", "text"]).default("native"),
  sampling: samplingSchema.prefault({}),
  /** Sent as `chat_template_kwargs.enable_thinking` when set (Qwen3-style templates). */
  enableThinking: z.boolean().optional(),
  /**
   * The longest silence in one call: calls stream, and one is cut when no chunk came for this
   * long (a stalled server); a slow but live answer may take as long as it needs.
   */
  timeoutMs: z.number().int().positive().default(120_000),
  /** Retries after the first attempt for 429/5xx/timeouts; connection failover to another URL is
   * free within one attempt. */
  maxRetries: z.number().int().min(0).max(20).default(3),
  retryBaseDelayMs: z.number().int().min(0).default(500),
  /** Longest wait between attempts; a `retry-after` longer than this gives up at once. */
  retryMaxDelayMs: z.number().int().min(0).default(60_000),
  /** Overrides /v1/models `max_model_len` (for servers that do not report it). */
  contextWindow: z.number().int().positive().optional(),
  /** Stable per-run id for `x-session-id`; generated when absent. */
  sessionId: z.string().min(1).optional(),
  /** vLLM `cache_salt`: isolates this tenant's prefix cache. */
  cacheSalt: z.string().min(1).optional(),
  /** Sampling seed (vLLM `seed`): a retry of a fix samples differently from the attempt before. */
  seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
  /** Which URL to start on; defaults to a hash of the session id, which spreads runs over the
   * URLs while keeping each run on one replica (its prefix cache lives there). */
  startIndex: z.number().int().min(0).optional(),
});

export type ModelClientInput = z.input<typeof modelClientOptionsSchema>;
export type ModelClientOptions = z.output<typeof modelClientOptionsSchema>;
export type Sampling = z.output<typeof samplingSchema>;

/** `MODEL_BASE_URL` form: one URL or several separated by commas; trailing slashes dropped. */
export function parseBaseUrls(value: string): string[] {
  return value
    .split(",")
    .map((u) => u.trim().replace(/\/+$/, ""))
    .filter((u) => u.length > 0);
}
