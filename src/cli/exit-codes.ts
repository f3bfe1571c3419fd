/**
 * Exit codes of `iquest-bot`, distinct so scripts and CI can tell what happened. Documented in
 * the usage text and docs/CLI.md.
 */
export const EXIT_CODES = {
  /** The agent submitted a result. */
  submitted: 0,
  /** Anything else that went wrong (an agent error, an unexpected failure). */
  error: 1,
  /** Bad arguments or configuration: nothing was run. */
  usage: 2,
  /** A budget (steps, tokens or time) ran out before the agent submitted. */
  budgetExhausted: 3,
  /** The model server could not be reached (connection refused, timeouts, 5xx/429 after retries). */
  modelUnreachable: 4,
  /** The model server refused the request (wrong API key, unknown model name). */
  modelRefused: 5,
  /** `--attempts`: no attempt passed verification (nothing applied; the last change saved as a patch). */
  unverified: 6,
  /** Interrupted (Ctrl-C) or cancelled. */
  cancelled: 130,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];
