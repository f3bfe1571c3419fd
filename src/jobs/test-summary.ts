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
