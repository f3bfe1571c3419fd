/**
 * Typed errors that say what happens next. The worker reads `next` to decide between a BullMQ
 * retry, giving up for good (UnrecoverableError), or telling the user on the job card.
 *
 * - `retry`: transient (network, 5xx, rate limit, Redis blip). Backoff and try again.
 * - `give-up`: a bug or an impossible state. Retrying will not help; the card says it failed.
 * - `tell-user`: the user asked for something we will not or cannot do (bad config, no
 *   permission, forbidden change). The card explains; no retry.
 */
export type NextStep = "retry" | "give-up" | "tell-user";

export class IquestError extends Error {
  readonly next: NextStep;
  /** Text safe to show on a job card or comment (already free of secrets). */
  readonly userMessage: string;

  constructor(next: NextStep, message: string, options?: { userMessage?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.next = next;
    this.userMessage = options?.userMessage ?? message;
  }
}

/** A passing fault: retry with backoff. */
export class TransientError extends IquestError {
  constructor(message: string, options?: { userMessage?: string; cause?: unknown }) {
    super("retry", message, options);
  }
}

/** Will never succeed as asked: stop and report. */
export class PermanentError extends IquestError {
  constructor(message: string, options?: { userMessage?: string; cause?: unknown }) {
    super("give-up", message, options);
  }
}

/** The user must act (fix config, grant access, change the request). */
export class UserFacingError extends IquestError {
  constructor(message: string, options?: { userMessage?: string; cause?: unknown }) {
    super("tell-user", message, options);
  }
}

/**
 * GitHub's primary rate limit for an installation is spent (`x-ratelimit-remaining: 0`). The
 * job is not failed: the queue puts it back, delayed until `resetAt` (no attempt spent), and the
 * installation's other jobs wait too; other installations go on.
 */
export class RateLimitedError extends IquestError {
  constructor(
    readonly installationId: number,
    /** Epoch ms when GitHub resets the limit (`x-ratelimit-reset`). */
    readonly resetAt: number,
  ) {
    super("retry", `GitHub's API rate limit for installation ${installationId} is spent until ${new Date(resetAt).toISOString()}`);
  }
}

/**
 * The primary rate limit's reset (epoch ms) when `err` (or what it wraps, through `cause`) is
 * GitHub saying it is spent, else undefined.
 */
export function primaryRateLimitReset(err: unknown, now = Date.now()): number | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const reset = ownPrimaryRateLimitReset(e, now);
    if (reset !== undefined) return reset;
  }
  return undefined;
}

function ownPrimaryRateLimitReset(err: unknown, now: number): number | undefined {
  const e = err as { status?: unknown; response?: { headers?: Record<string, string | number | undefined> } };
  if (e?.status !== 403 && e?.status !== 429) return undefined;
  const headers = e.response?.headers ?? {};
  if (String(headers["x-ratelimit-remaining"]) !== "0") return undefined;
  const reset = Number(headers["x-ratelimit-reset"]);
  // A reset in the past (clock skew) or missing: GitHub's window is an hour; try again in a minute.
  return Number.isFinite(reset) && reset * 1000 > now ? reset * 1000 : now + 60_000;
}

/**
 * A GitHub call got no (complete) answer within GITHUB_TIMEOUT_MS and was aborted. Its name is
 * AbortError so that Octokit's retry plugin does not re-send it (a GitHub that hangs once
 * hangs again; the job's own backoff retries later), and its status 500 tells create-once that
 * a create may have landed before the answer was lost.
 */
export class GitHubTimeoutError extends TransientError {
  readonly code = "GITHUB_TIMEOUT";
  constructor(ms: number, what: string) {
    super(`GitHub did not answer ${what} within ${ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`}`);
    this.name = "AbortError";
  }
}

/** Startup refused: configuration or environment is unsafe or incomplete. Exit with the message. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupError";
  }
}

export type CancelReason = "stop" | "shutdown" | "superseded" | "lock-lost";

/**
 * The job was cancelled: `/iquest stop`, the worker shutting down, a newer request superseding
 * it, or the worker losing the job's lock (it stalled; another worker now owns the job, so this
 * one must not publish or write anything more).
 */
export class CancelledError extends IquestError {
  readonly reason: CancelReason;
  constructor(reason: CancelReason, message = `cancelled: ${reason}`) {
    super(reason === "shutdown" || reason === "lock-lost" ? "retry" : "tell-user", message);
    this.reason = reason;
  }
}

/** Classify anything thrown into a next step. Unknown errors are treated as transient once. */
export function nextStepOf(err: unknown): NextStep {
  if (err instanceof IquestError) return err.next;
  const status = (err as { status?: unknown })?.status;
  if (typeof status === "number") {
    if (status === 429 || status >= 500) return "retry";
    // A rate limit that outlasted the client's bounded waits: back off and retry the job.
    if (status === 403 && /rate limit/i.test(errorMessage(err))) return "retry";
    if (status === 401 || status === 403 || status === 404 || status === 422) return "give-up";
  }
  const code = (err as { code?: unknown })?.code;
  if (typeof code === "string" && /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|EPIPE)$/.test(code)) return "retry";
  return "retry";
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Turn an aborted signal's reason ("stop", "superseded", "shutdown") into the error to throw. */
export function cancelledFromSignal(signal: AbortSignal): CancelledError {
  const reason = String(signal.reason ?? "stop");
  return new CancelledError(reason === "shutdown" || reason === "superseded" || reason === "lock-lost" ? reason : "stop");
}
