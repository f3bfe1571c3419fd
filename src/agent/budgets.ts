import { z } from "zod";

/**
 * The limits the loop enforces on one run. A run that hits one ends with `budget-exhausted`
 * naming it; nothing is left running. Steps count model turns of the agent (a condensation
 * summary is not a step, but its tokens count).
 */
export const budgetsSchema = z.object({
  maxSteps: z.number().int().positive().default(100),
  /** Prompt plus completion tokens over all model calls, as the server reports them. */
  maxTotalTokens: z.number().int().positive().default(5_000_000),
  /** At most 24 days: a longer timer would overflow setTimeout and fire at once. */
  maxWallClockMs: z.number().int().positive().max(2 ** 31 - 1).default(60 * 60_000),
});

export type Budgets = z.output<typeof budgetsSchema>;
export type BudgetName = "steps" | "tokens" | "time";

export interface BudgetUse {
  steps: number;
  tokens: number;
  elapsedMs: number;
}

export interface ExhaustedBudget {
  budget: BudgetName;
  limit: number;
  used: number;
}

/** The first budget that is spent before another model turn may start, if any. */
export function exhaustedBudget(budgets: Budgets, use: BudgetUse): ExhaustedBudget | undefined {
  if (use.elapsedMs >= budgets.maxWallClockMs) return { budget: "time", limit: budgets.maxWallClockMs, used: Math.round(use.elapsedMs) };
  if (use.steps >= budgets.maxSteps) return { budget: "steps", limit: budgets.maxSteps, used: use.steps };
  if (use.tokens >= budgets.maxTotalTokens) return { budget: "tokens", limit: budgets.maxTotalTokens, used: use.tokens };
  return undefined;
}
