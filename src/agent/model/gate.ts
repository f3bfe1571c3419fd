/**
 * The model client's admission seam: before each HTTP attempt the client takes a slot from a
 * `ModelGate`, and gives it back with what happened. The gate decides how many model calls may be
 * in flight (a fixed number, or one that adapts to the server's load across every worker); the
 * agent only knows this interface, so it stays free of Redis and queues.
 *
 * Contract:
 * - `acquire` resolves with a slot once the call may start, or rejects with the signal's reason
 *   when the signal aborts while waiting (the client turns that into a CancelledError);
 * - every slot is released exactly once, after the attempt, successful or not;
 * - the report's `ms` is the HTTP attempt alone, not the wait for the slot.
 */

/** How one HTTP attempt ended. */
export type ModelCallOutcome =
  | "ok"
  | "rate-limited"
  | "server-error"
  | "timeout"
  | "connection"
  /** A 4xx other than 429 (wrong key or model, context length), or an unreadable answer. */
  | "rejected"
  | "cancelled";

export interface ModelCallReport {
  outcome: ModelCallOutcome;
  /** Duration of the HTTP attempt in milliseconds. */
  ms: number;
  /** The base URL the attempt went to. */
  endpoint: string;
  /** Prompt and completion tokens, for successful calls. */
  promptTokens?: number;
  completionTokens?: number;
}

export interface ModelSlot {
  release(report: ModelCallReport): void;
}

export interface ModelGate {
  acquire(signal?: AbortSignal): Promise<ModelSlot>;
}

/** A gate that never waits: the default when none is given. */
export const openGate: ModelGate = {
  acquire: async () => ({ release() {} }),
};
