import type { Environment } from "../agent/environment.js";
import { recordSandboxKill, recordTestRun, type MaybeMetrics, type SandboxKillReason } from "../shared/recorders.js";
import type { BaselineVerdict, TestRun } from "../workspace/test-runner.js";

/** One line about a test run for a job card or PR body. Pure. */
export function describeTestRun(run: TestRun): string {
  const seconds = `${(run.durationMs / 1000).toFixed(1)} s`;
  if (run.killed) return `\`${run.command}\` was stopped (${run.killed}) after ${seconds}`;
  const p = run.parsed;
  if (!p) return `\`${run.command}\`: exit code ${run.exitCode} (${seconds}; output not parsed)`;
  const parts = [`${p.passed ?? "?"} passed`, `${p.failed} failed`];
  if (p.skipped) parts.push(`${p.skipped} skipped`);
  return `\`${run.command}\`: ${parts.join(", ")} (${seconds})`;
}

/** The verdict against the baseline, in words: what a reviewer needs to know. */
export function describeVerdict(v: BaselineVerdict): string {
  const lines = [`**${v.verdict === "pass" ? "No new failures" : v.verdict === "fail" ? "New failures" : "Unclear"}**: ${v.note}.`];
  const list = (title: string, names: string[]) => {
    if (names.length === 0) return;
    const shown = names.slice(0, 20).map((n) => `\`${n.replace(/`/g, "'")}\``).join(", ");
    lines.push(`${title}: ${shown}${names.length > 20 ? `, and ${names.length - 20} more` : ""}`);
  };
  list("Newly failing", v.newFailures);
  list("Fixed", v.fixed);
  list("Already failing on the base", v.stillFailing);
  return lines.join("\n");
}

const KILL_REASONS: Record<string, SandboxKillReason> = {
  timeout: "timeout",
  cancelled: "cancel",
  "output-limit": "output",
  memory: "memory",
  pids: "pids",
  "file-size": "disk",
};

/** Count a test run (and a sandbox kill, if it was one) in the metrics. */
export function recordTests(metrics: MaybeMetrics, run: TestRun): void {
  const outcome = run.killed === "timeout" ? "timeout" : run.killed ? "error" : run.exitCode === 0 ? "passed" : "failed";
  recordTestRun(metrics, outcome, run.durationMs);
  if (run.killed) recordSandboxKill(metrics, KILL_REASONS[run.killed] ?? "other");
}

/**
 * Keep the change for the run viewer: `git diff` in the job's sandbox, new files included
 * (intent-to-add touches only the sandbox's own index). Best effort: a viewer without the diff
 * is better than a job that failed for it.
 */
export async function saveDiff(ctx: { jobId: string; runs: { store: { writeDiff(jobId: string, diff: string): void } } }, env: Environment): Promise<void> {
  try {
    const r = await env.exec("git add -A -N -- . ':!node_modules' ':!.venv' >/dev/null 2>&1; git diff --no-color --no-ext-diff -- . ':!node_modules' ':!.venv'", { timeoutMs: 60_000, maxOutputBytes: 2 * 1024 * 1024 });
    if (r.exitCode === 0) ctx.runs.store.writeDiff(ctx.jobId, r.output);
  } catch {
    // see above
  }
}
