import type { AgentOutcome, StepEvent } from "../agent/loop.js";
import { ModelRequestError, ModelUnavailableError } from "../agent/model/errors.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";

/** A step as one progress line (stderr). */
export function progressLine(e: StepEvent): string {
  const width = String(e.maxSteps).length;
  const where = `[step ${String(e.step).padStart(width)}/${e.maxSteps}]`;
  const what = e.kind === "condensation" ? e.summary : `${e.tool ?? "-"}: ${e.summary}`;
  const flag = e.isError ? " !" : "";
  return `${where} ${what}${flag}  (${(e.elapsedMs / 1000).toFixed(1)} s, ${e.totalTokens.toLocaleString("en-US")} tokens)`;
}

/** The exit code for how the agent's run ended. */
export function exitCodeFor(outcome: AgentOutcome): ExitCode {
  switch (outcome.kind) {
    case "submitted":
      return EXIT_CODES.submitted;
    case "budget-exhausted":
      return EXIT_CODES.budgetExhausted;
    case "cancelled":
      return EXIT_CODES.cancelled;
    case "error":
      if (outcome.error instanceof ModelUnavailableError) return EXIT_CODES.modelUnreachable;
      if (outcome.error instanceof ModelRequestError) return EXIT_CODES.modelRefused;
      return EXIT_CODES.error;
  }
}
