import { PermanentError, TransientError } from "../../shared/errors.js";

/**
 * The request did not fit the model's context window (vLLM's HTTP 400 "maximum context
 * length"). Not retried as is: the loop condenses the history and asks again.
 */
export class ContextLengthError extends PermanentError {
  /** The window the server reported in its message, when it did. */
  readonly maxContextTokens: number | undefined;
  constructor(serverMessage: string, options?: { cause?: unknown }) {
    const m = /maximum context length is (\d+)/i.exec(serverMessage);
    const max = m ? Number(m[1]) : undefined;
    super(`the request exceeds the model's context window: ${serverMessage}`, {
      cause: options?.cause,
      userMessage: `The conversation outgrew the model's context window${max ? ` (${max} tokens)` : ""}.`,
    });
    this.maxContextTokens = max;
  }
}

export type UnavailableReason = "connection" | "timeout" | "server-error" | "rate-limited";

/**
 * No endpoint gave an answer after the bounded retries. Transient for the queue (vLLM may be
 * restarting), and the message tells a maintainer what to check.
 */
export class ModelUnavailableError extends TransientError {
  readonly reason: UnavailableReason;
  readonly endpoints: readonly string[];
  readonly attempts: number;
  constructor(reason: UnavailableReason, endpoints: readonly string[], attempts: number, detail: string, cause?: unknown) {
    const where = endpoints.join(", ");
    const hint: Record<UnavailableReason, string> = {
      connection: `Check that vLLM is running and that MODEL_BASE_URL is right (try: curl ${endpoints[0]}/models).`,
      timeout: "The server accepted the request but did not answer in time: it may be overloaded, or the per-call timeout is too short for max_tokens.",
      "server-error": "The server kept failing (HTTP 5xx); look at the vLLM logs.",
      "rate-limited": "The server kept rejecting requests as over capacity (HTTP 429); lower concurrency or add replicas.",
    };
    super(`model unavailable (${reason}) at ${where} after ${attempts} attempt(s): ${detail}. ${hint[reason]}`, {
      cause,
      userMessage: `The model server could not be reached (${reason}) after ${attempts} attempt(s). ${hint[reason]}`,
    });
    this.reason = reason;
    this.endpoints = endpoints;
    this.attempts = attempts;
  }
}

/**
 * The server refused the request for a reason retrying cannot fix: a wrong API key (401/403), an
 * unknown model name (404), a malformed request (400/422), or an answer we cannot read.
 */
export class ModelRequestError extends PermanentError {
  readonly status: number | undefined;
  constructor(status: number | undefined, detail: string, hint: string, cause?: unknown) {
    super(`model request failed${status ? ` (HTTP ${status})` : ""}: ${detail}. ${hint}`.trim(), {
      cause,
      userMessage: `The model server refused the request${status ? ` (HTTP ${status})` : ""}. ${hint}`.trim(),
    });
    this.status = status;
  }
}
