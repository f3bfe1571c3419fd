import type { RepoConfig } from "../../config/repo-config.js";
import { sanitizeLine, sanitizeModelText } from "../../shared/model-text.js";
import type { BaselineVerdict } from "../../workspace/test-runner.js";
import type { Reproduction } from "./reproduction.js";

/**
 * Several attempts, the verified one wins. Pure: what counts as a verified attempt, which one
 * wins, what the next attempt is told about the last, each attempt's budget and profile, and how
 * the attempts read on the card and in the PR. The I/O (agent runs, test runs, resets) is in
 * attempt-loop.ts and its callers (the fix job and the CLI).
 */

/** How the agent's run ended, as far as verification cares. */
export type AttemptEnd =
  | { kind: "submitted"; summary: string }
  | { kind: "budget-exhausted"; budget: string; limit: number; used: number };

/** What one attempt's verification found (the I/O shell fills it in). */
export interface AttemptCheck {
  end: AttemptEnd;
  /** The attempt's change against the base, as a binary patch ("" when none). */
  patch: string;
  /** Compared with the baseline run; absent when no tests ran. */
  verdict?: BaselineVerdict;
  /** The test command failed after the change (also for tests that failed on the base). */
  testsFailAfter: boolean;
  /** The reproduction in force for this attempt, and how it did after the change. */
  reproduction?: { declared: Reproduction; after: { exitCode: number | null; killed?: string }; touched: string[] };
}

export type AttemptVerdict = { passed: true; note: string } | { passed: false; reason: string };

export function verifyAttempt(c: AttemptCheck): AttemptVerdict {
  if (c.end.kind === "budget-exhausted") {
    return { passed: false, reason: `ran out of budget (${c.end.limit.toLocaleString("en-US")} ${c.end.budget})` };
  }
  if (!c.patch.trim()) return { passed: false, reason: "made no change" };
  if (c.verdict?.verdict === "fail") return { passed: false, reason: `tests: ${c.verdict.note}` };
  const repro = c.reproduction;
  if (repro) {
    if (repro.touched.length) return { passed: false, reason: `it changed the reproduction test after it reproduced the issue (${repro.touched.map((f) => `\`${sanitizeLine(f, 200)}\``).join(", ")})` };
    if (repro.after.killed) return { passed: false, reason: `the reproduction was stopped (${repro.after.killed})` };
    if (repro.after.exitCode !== 0) return { passed: false, reason: `the reproduction still fails (exit ${repro.after.exitCode})` };
    const still = c.verdict?.stillFailing.length ? `; ${c.verdict.stillFailing.length} test(s) already failed on the base and still fail` : "";
    return { passed: true, note: `the reproduction passes and no test regressed${still}` };
  }
  // Without a reproduction, a test that failed on the base and still fails may be the very bug:
  // the whole test command must pass.
  if (c.testsFailAfter) {
    const still = c.verdict?.stillFailing.length ? `${c.verdict.stillFailing.length} already failed on the base` : "the test command fails";
    return { passed: false, reason: `tests still fail (${still})` };
  }
  return { passed: true, note: c.verdict ? `no test regressed (${c.verdict.note})` : "no tests ran" };
}

/** One attempt, as the card, the PR and the next attempt see it. */
export interface AttemptRecord {
  n: number;
  profile: string;
  model: string;
  steps: number;
  tokens: number;
  minutes: number;
  end: AttemptEnd;
  verdict: AttemptVerdict;
  patch: string;
  size: DiffSize;
  /** The agent's last steps, for the next attempt and the card. */
  tried: string;
  /** The end of the failing test output, for the next attempt (untrusted: the repo's tests print it). */
  testTail?: string;
}

export interface DiffSize {
  files: number;
  /** Added plus removed lines. */
  lines: number;
}

/** Files and changed lines of a unified (binary) diff. Pure. */
export function diffSize(patch: string): DiffSize {
  let files = 0;
  let lines = 0;
  for (const line of patch.split("\n")) {
    if (line.startsWith("diff --git ")) files++;
    else if ((line.startsWith("+") && !line.startsWith("+++ ")) || (line.startsWith("-") && !line.startsWith("--- "))) lines++;
  }
  return { files, lines };
}

/** The winner: the smallest passing diff (the earliest on a tie); undefined when none passed. */
export function chooseAttempt<R extends AttemptRecord>(records: readonly R[]): R | undefined {
  let best: R | undefined;
  for (const r of records) {
    if (!r.verdict.passed) continue;
    if (!best || r.size.lines < best.size.lines) best = r;
  }
  return best;
}

/** The attempt published when none passed and `fix.openOnFailure` allows it: the last with a change. */
export function fallbackAttempt<R extends AttemptRecord>(records: readonly R[]): R | undefined {
  return [...records].reverse().find((r) => r.patch.trim() !== "");
}

/** Which profile and seed attempt `n` (1-based) uses. */
export function attemptPlan(fix: Pick<RepoConfig["fix"], "profile" | "escalateTo">, n: number, jobId: string): { profile?: string; seed: number } {
  const profile = n > 1 && fix.escalateTo ? fix.escalateTo : fix.profile;
  return { ...(profile ? { profile } : {}), seed: seedFor(`${jobId}#${n}`) };
}

function seedFor(text: string): number {
  // FNV-1a: stable per job and attempt, so a re-run of the job samples as the first run did.
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h & 0x7fffffff;
}

export interface Spent {
  tokens: number;
  ms: number;
}

/**
 * The budget of the next attempt: the per-attempt budget, cut to what the job's total has left.
 * An attempt that would get less than a tenth of its budget does not start (it could not do
 * anything useful), and the reason says what ran out.
 */
export function attemptBudget(
  perAttempt: RepoConfig["fix"]["budget"],
  total: RepoConfig["fix"]["totalBudget"],
  spent: Spent,
): { ok: true; budget: RepoConfig["fix"]["budget"] } | { ok: false; reason: string } {
  const tokensLeft = total.maxTokens - spent.tokens;
  const minutesLeft = total.maxMinutes - spent.ms / 60_000;
  if (tokensLeft < perAttempt.maxTokens / 10) {
    return { ok: false, reason: `the job's token budget is spent (${spent.tokens.toLocaleString("en-US")} of ${total.maxTokens.toLocaleString("en-US")}, \`fix.totalBudget.maxTokens\`)` };
  }
  if (minutesLeft < perAttempt.maxMinutes / 10) {
    return { ok: false, reason: `the job's time budget is spent (${Math.round(spent.ms / 60_000)} of ${total.maxMinutes} minutes, \`fix.totalBudget.maxMinutes\`)` };
  }
  return {
    ok: true,
    budget: {
      maxSteps: perAttempt.maxSteps,
      maxTokens: Math.max(1000, Math.min(perAttempt.maxTokens, Math.floor(tokensLeft))),
      maxMinutes: Math.max(1, Math.min(perAttempt.maxMinutes, minutesLeft)),
    },
  };
}

/**
 * What the next attempt reads about the one before: why it failed, what it changed and did last,
 * and the end of the failing output. It starts from the original code (the change was undone).
 */
export function failureBrief(r: AttemptRecord, reproduction?: Reproduction): string {
  const reason = r.verdict.passed ? "it passed" : r.verdict.reason;
  const parts = [
    `Attempt ${r.n} did not pass verification: ${reason}. Its change (${r.size.files} file(s), ${r.size.lines} line(s)) was undone, so you start from the original code${reproduction ? " plus the reproduction test" : ""}. Take a different approach where it went wrong.`,
  ];
  const said = r.end.kind === "submitted" ? sanitizeModelText(r.end.summary).trim() : "";
  if (said) parts.push("", `What attempt ${r.n} said it did:`, said.slice(0, 2000));
  parts.push("", `Its last steps:`, r.tried);
  if (r.testTail?.trim()) parts.push("", "The end of the test output after its change:", "```", r.testTail.trim().slice(-2000), "```");
  return parts.join("\n");
}

/** With `fix.tryAll`, after an attempt that passed: the next one looks for a smaller change. */
export function passedBrief(r: AttemptRecord): string {
  return `Attempt ${r.n} passed verification with a change of ${r.size.files} file(s), ${r.size.lines} line(s); it was set aside and you start from the original code. Look for a smaller or simpler fix that passes too; the smallest passing change is published.`;
}

/** The task's note about a reproduction already in place (attempts after the one that wrote it). */
export function reproductionBrief(repro: Reproduction): string {
  return [
    `A test that reproduces the issue is in place: \`${repro.test}\`, run with \`${repro.command}\`, in ${repro.files.map((f) => `\`${f}\``).join(", ")}.`,
    `It fails on the original code (exit ${repro.base.exitCode}). Make it pass by fixing the code; do not edit those files. The command is run again after you submit.`,
  ].join(" ");
}

/** The attempts, as a Markdown table (the PR and the card). */
export function attemptsTable(records: readonly AttemptRecord[], winner?: AttemptRecord): string {
  const rows = records.map((r) => {
    const outcome = r.verdict.passed ? `passed${r === winner ? " (published)" : ""}` : `failed: ${r.verdict.reason}`;
    const minutes = r.minutes < 1 ? "<1" : r.minutes.toFixed(1);
    return `| ${r.n} | \`${r.profile}\` | ${r.steps} | ${r.tokens.toLocaleString("en-US")} | ${minutes} min | ${r.size.files} file(s), ${r.size.lines} line(s) | ${outcome.replace(/\|/g, "\\|").replace(/\n/g, " ")} |`;
  });
  return ["| attempt | profile | steps | tokens | time | change | outcome |", "|---|---|---|---|---|---|---|", ...rows].join("\n");
}
