import type { Metrics } from "./metrics.js";

/**
 * Small recording helpers for the operational metrics, so job code records a fact in one line
 * and never touches label names or units. Each takes the process's `Metrics` (or undefined, when
 * a caller such as the CLI has none) and does nothing without it.
 */

export type MaybeMetrics = Metrics | undefined;

/** After an agent run: its steps and tokens, and which profile and model ran it. `kind` is the job kind (fix, review, upgrade). */
export function recordAgentRun(
  metrics: MaybeMetrics,
  kind: string,
  run: { steps: number; usage: { promptTokens: number; completionTokens: number } },
  by?: { profile: string; model: string; outcome: string },
): void {
  if (!metrics) return;
  if (by) metrics.agentRuns.inc({ kind, ...by });
  metrics.agentSteps.observe({ kind }, run.steps);
  metrics.agentTokens.observe({ kind, type: "prompt" }, run.usage.promptTokens);
  metrics.agentTokens.observe({ kind, type: "completion" }, run.usage.completionTokens);
}

export type TestRunOutcome = "passed" | "failed" | "timeout" | "error";

/** After a repository test run in the sandbox. */
export function recordTestRun(metrics: MaybeMetrics, outcome: TestRunOutcome, durationMs: number): void {
  metrics?.testRunDuration.observe({ outcome }, durationMs / 1000);
}

export type SandboxKillReason = "timeout" | "memory" | "pids" | "disk" | "output" | "cancel" | "other";

/** When the sandbox kills a command (time limit, out of memory, too many processes, …). */
export function recordSandboxKill(metrics: MaybeMetrics, reason: SandboxKillReason): void {
  metrics?.sandboxKills.inc({ reason });
}

/** One job attempt's wall time. Recorded by the worker wiring for every job. */
export function recordJobDuration(metrics: MaybeMetrics, kind: string, outcome: string, durationMs: number): void {
  metrics?.jobDuration.observe({ kind, outcome }, durationMs / 1000);
}

/** A GitHub rate limit was hit; `decision` says whether we wait `retryAfterSeconds` or give up. */
export function recordGitHubRateLimit(
  metrics: MaybeMetrics,
  kind: "primary" | "secondary",
  decision: "wait" | "give-up",
  retryAfterSeconds: number,
): void {
  if (!metrics) return;
  metrics.githubRateLimits.inc({ kind, decision });
  if (decision === "wait") metrics.githubRateLimitWaitSeconds.inc({ kind }, Math.max(0, retryAfterSeconds));
}

/** One GitHub REST call. `route` is octokit's URL template (bounded cardinality), never the expanded URL. */
export function recordGitHubRequest(metrics: MaybeMetrics, route: string, method: string, status: number | "error"): void {
  metrics?.githubRequests.inc({ route, method: method.toUpperCase(), status: String(status) });
}
