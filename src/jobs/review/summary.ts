import { clipBody, MAX_BODY } from "../../github/comments.js";
import type { ReviewSeverity } from "./finding.js";
import type { DropReason, GatedFinding, GateResult } from "./gate.js";
import { planIsPartial, type ReviewPlan } from "./plan.js";
import { fenceFor, inlineCode, sanitizeLine, sanitizeModelText } from "../../shared/model-text.js";

/**
 * The words of a review: the inline comments, the summary (what the PR does, the findings by
 * severity, and what was reviewed and what was not), and the check run's verdict. Pure.
 */

export interface Coverage {
  /** "full": the whole PR; "incremental": the commits since `since`; "rewritten": history was
   * rewritten since `since`, so the whole PR again (earlier findings are not repeated). */
  mode: "full" | "incremental" | "rewritten";
  since?: string;
  head: string;
}

export type AgentEnd =
  | { kind: "submitted" }
  | { kind: "budget-exhausted"; budget: "steps" | "tokens" | "time"; limit: number; used: number }
  | { kind: "error"; message: string };

export interface TestsNote {
  /** The model was allowed to run commands (and so the tests). */
  allowed: boolean;
  /** Why not, when not allowed; or a remark (setup failed). */
  reason?: string;
  command?: string;
  commandsRun: number;
}

export interface SummaryInput {
  whatItDoes: string;
  gate: GateResult;
  plan: ReviewPlan;
  coverage: Coverage;
  agent: AgentEnd;
  steps: number;
  tokens: number;
  tests: TestsNote;
  /** GitHub refused the inline comments: they are listed here instead. */
  inlineRefused?: boolean;
  /** Findings the refute pass could not settle (posted as found). */
  refuteUnchecked?: number;
  footer: { profile?: string; model?: string; jobId: string; runUrl?: string };
}

const SEVERITY_LABEL: Record<ReviewSeverity, string> = { critical: "Critical", major: "Major", minor: "Minor", nit: "Nit" };
const SEVERITY_ORDER: ReviewSeverity[] = ["critical", "major", "minor", "nit"];

const DROP_TEXT: Record<DropReason, string> = {
  "below-severity": "below the minimum severity (`review.minSeverity`)",
  "file-not-found": "about a file that is not in the PR's head",
  "empty-quote": "quoting no code",
  "quote-not-found": "quoting code that is not in the file",
  "repeat-of-earlier": "already posted on this PR (same file, same code, same point)",
  "duplicate-in-run": "duplicates of another finding in this review",
  refuted: "disproved by a second check against the code (`review.refute`)",
};

const short = (sha: string) => sha.slice(0, 7);

/** The body of one inline comment. */
export function renderComment(g: GatedFinding): string {
  const f = g.finding;
  const parts = [`**${SEVERITY_LABEL[f.severity]}: ${sanitizeLine(f.title)}**`, "", sanitizeModelText(f.explanation).trim()];
  if (g.evidence) {
    const fence = fenceFor(g.evidence);
    parts.push("", "<details><summary>Evidence from a command run during this review</summary>", "", `${fence}text`, clipText(g.evidence, 6000), fence, "", "</details>");
  }
  if (g.suggestion) {
    const text = g.suggestion.join("\n");
    const fence = fenceFor(text);
    parts.push("", `${fence}suggestion`, text, fence);
  }
  return clipBody(parts.join("\n"));
}

export function renderSummary(input: SummaryInput): string {
  const { gate, plan, coverage } = input;
  const out: string[] = ["### iquest-bot review", ""];
  const partial = isPartial(input);
  if (partial) out.push("> [!WARNING]", `> **Partial review.** ${partialReasons(input).join(" ")}`, "");

  const what = sanitizeModelText(input.whatItDoes).trim();
  out.push(`**What this PR does.** ${what || "_The reviewer gave no description._"}`, "");

  const inlineListed = input.inlineRefused ? [] : gate.inline;
  const listedHere = input.inlineRefused ? [...gate.inline, ...gate.summary] : gate.summary;
  const total = gate.inline.length + gate.summary.length;
  if (total === 0) {
    out.push("**Findings.** None that passed the evidence gate.", "");
  } else {
    const counts = SEVERITY_ORDER.map((s) => [s, [...gate.inline, ...gate.summary].filter((g) => g.finding.severity === s).length] as const)
      .filter(([, n]) => n > 0)
      .map(([s, n]) => `${n} ${SEVERITY_LABEL[s].toLowerCase()}`);
    const where = input.inlineRefused
      ? "all listed below (GitHub did not accept them as inline comments)"
      : `${gate.inline.length} inline, ${gate.summary.length} below`;
    out.push(`**Findings.** ${total} (${counts.join(", ")}): ${where}.`, "");
    for (const severity of SEVERITY_ORDER) {
      const here = [...inlineListed, ...listedHere].filter((g) => g.finding.severity === severity);
      if (here.length === 0) continue;
      out.push(`#### ${SEVERITY_LABEL[severity]}`);
      for (const g of here) out.push(...findingLines(g, inlineListed.includes(g)));
      out.push("");
    }
  }
  if (gate.overLimit.length > 0) {
    out.push(`${gate.overLimit.length} more finding(s) of lower severity were left out (\`review.maxFindings\`):`);
    for (const g of gate.overLimit.slice(0, 20)) out.push(`- ${inlineCode(g.finding.path)} line ${g.startLine}: ${sanitizeLine(g.finding.title, 120)}`);
    out.push("");
  }

  out.push("#### What was reviewed", "");
  out.push(`- ${coverageLine(coverage, plan)}`);
  const shownLines = plan.shown.reduce((n, f) => n + f.addedLines, 0);
  out.push(`- The reviewer was shown the diff of ${plan.shown.length} file(s) (${shownLines} added line(s)) and could read any file of the head commit.`);
  out.push(`- ${testsLine(input.tests)}`);
  out.push(`- ${agentLine(input)}`);
  const notReviewed = notReviewedLines(plan);
  if (notReviewed.length > 0) {
    out.push("", "#### What was not reviewed", "", ...notReviewed);
  }
  const dropped = droppedLines(gate, input.refuteUnchecked);
  if (dropped.length > 0) out.push("", "#### Left out by the evidence gate", "", ...dropped);
  out.push("");
  const meta = [`job \`${input.footer.jobId}\``];
  if (input.footer.profile) meta.push(`profile \`${input.footer.profile}\``);
  if (input.footer.model) meta.push(`model \`${input.footer.model}\``);
  if (input.footer.runUrl) meta.push(`[run log](${input.footer.runUrl})`);
  out.push(`<sub>${meta.join(" · ")} · a finding is posted only if the code it quotes is there; later pushes are reviewed for what they change</sub>`);
  return out.join("\n");
}

/** The summary plus the hidden marker, within GitHub's limit (the marker always survives). */
export function withMarker(summary: string, marker: string): string {
  return `${clipBody(summary, MAX_BODY - marker.length - 2)}\n\n${marker}`;
}

function findingLines(g: GatedFinding, inline: boolean): string[] {
  const f = g.finding;
  const range = g.startLine === g.line ? `line ${g.line}` : `lines ${g.startLine}-${g.line}`;
  const head = `- ${inlineCode(f.path)} ${range}: **${sanitizeLine(f.title)}**`;
  if (inline) return [`${head} (inline)`];
  const why =
    g.whyNotInline === "outside-diff" ? " _(outside the PR's diff, so not inline)_" : g.whyNotInline === "outside-new-commits" ? " _(in code the new commits did not change)_" : "";
  const lines = [`${head}${why}`];
  const explanation = sanitizeModelText(f.explanation).trim();
  lines.push(...explanation.split("\n").map((l) => `  ${l}`));
  if (g.evidence) {
    const fence = fenceFor(g.evidence);
    lines.push(`  ${fence}text`, ...clipText(g.evidence, 3000).split("\n").map((l) => `  ${l}`), `  ${fence}`);
  }
  if (g.suggestion) {
    const text = g.suggestion.join("\n");
    const fence = fenceFor(text);
    lines.push("  Suggested replacement:", `  ${fence}`, ...text.split("\n").map((l) => `  ${l}`), `  ${fence}`);
  }
  return lines;
}

function coverageLine(c: Coverage, plan: ReviewPlan): string {
  if (c.mode === "incremental") {
    const before = plan.unchangedSinceLastReview > 0 ? ` ${plan.unchangedSinceLastReview} file(s) the new commits did not touch were reviewed before.` : "";
    return `The commits since the last review (\`${short(c.since!)}\`..\`${short(c.head)}\`), as they change the PR's diff.${before}`;
  }
  if (c.mode === "rewritten") {
    return `The whole PR at \`${short(c.head)}\`: its history was rewritten since the last review (\`${short(c.since!)}\`), so everything was looked at again; findings posted before are not repeated.`;
  }
  return `The whole PR at \`${short(c.head)}\`.`;
}

function testsLine(t: TestsNote): string {
  if (!t.allowed) return `Tests were not run: ${t.reason ?? "not allowed"}.`;
  const base = t.command ? `The reviewer could run commands (tests: \`${t.command}\`, in the sandbox without network)` : "The reviewer could run commands in the sandbox (without network); no test command was found";
  const ran = t.commandsRun === 0 ? "; it ran none" : `; it ran ${t.commandsRun}`;
  return `${base}${ran}.${t.reason ? ` ${t.reason}` : ""}`;
}

function agentLine(input: SummaryInput): string {
  const a = input.agent;
  const used = `${input.steps} step(s), ${input.tokens.toLocaleString("en-US")} tokens`;
  if (a.kind === "submitted") return `The reviewer finished (${used}).`;
  if (a.kind === "budget-exhausted") {
    return `**The reviewer ran out of its ${a.budget} budget** (${budgetText(a)}) before finishing (${used}): files it had not reached may not have been looked at.`;
  }
  return `**The reviewer stopped with an error** (${sanitizeLine(a.message, 200)}) after ${used}.`;
}

function budgetText(a: Extract<AgentEnd, { kind: "budget-exhausted" }>): string {
  if (a.budget === "time") return `${Math.round(a.limit / 60_000)} min`;
  return `${a.limit.toLocaleString("en-US")} ${a.budget}`;
}

function notReviewedLines(plan: ReviewPlan): string[] {
  const lines: string[] = [];
  const max = 30;
  const more = (n: number) => (n > max ? `, and ${n - max} more` : "");
  const list = (paths: readonly string[]) => paths.slice(0, max).map((p) => `\`${p}\``).join(", ") + more(paths.length);
  if (plan.listCapped) lines.push("- **Files past the first 3,000**: GitHub lists no more files of a pull request, so they were not seen at all.");
  if (plan.tooLarge.length) {
    const items = plan.tooLarge.slice(0, max).map((f) => `${inlineCode(f.path)} (${f.changes} changed lines)`);
    lines.push(`- **Too large** (${plan.tooLarge.length}): ${items.join(", ")}${more(plan.tooLarge.length)}`);
  }
  if (plan.overBudget.length) {
    lines.push(`- **Diff budget exhausted** (${plan.overBudget.length}; the reviewer is shown at most ${plan.diffBudgetChars.toLocaleString("en-US")} characters of diff): ${list(plan.overBudget)}`);
  }
  if (plan.filtered.length) {
    const byWhy = new Map<string, string[]>();
    for (const f of plan.filtered) byWhy.set(f.why, [...(byWhy.get(f.why) ?? []), f.path]);
    for (const [why, paths] of byWhy) lines.push(`- Skipped by the filters, ${why} (${paths.length}): ${list(paths)}`);
  }
  if (plan.binary.length) lines.push(`- Binary (${plan.binary.length}): ${list(plan.binary)}`);
  if (plan.deleted.length) lines.push(`- Deleted, not reviewed line by line (${plan.deleted.length}): ${list(plan.deleted)}`);
  if (plan.renamedOnly.length) lines.push(`- Renamed without changes (${plan.renamedOnly.length}): ${list(plan.renamedOnly)}`);
  return lines;
}

function droppedLines(gate: GateResult, refuteUnchecked = 0): string[] {
  const counts = new Map<DropReason, number>();
  for (const d of gate.dropped) counts.set(d.reason, (counts.get(d.reason) ?? 0) + 1);
  const lines = [...counts].map(([reason, n]) => `- ${n} finding(s) ${DROP_TEXT[reason]}`);
  for (const d of gate.dropped.filter((x) => x.reason === "refuted").slice(0, 10)) {
    lines.push(`  - ${inlineCode(d.finding.path)}: ${sanitizeLine(d.finding.title, 120)} — ${sanitizeLine(d.detail ?? "", 200)}`);
  }
  if (refuteUnchecked) lines.push(`- ${refuteUnchecked} finding(s) could not be re-checked by the second check (\`review.refute\`) and are posted as found`);
  const unverified = [...gate.inline, ...gate.summary].filter((g) => g.evidenceUnverified).length;
  if (unverified) lines.push(`- ${unverified} finding(s) cited command output that no command of this run printed; that evidence is not shown`);
  return lines;
}

/** Cut short: the model was not shown everything it should have seen, or did not finish. */
export function isPartial(input: Pick<SummaryInput, "plan" | "agent">): boolean {
  return planIsPartial(input.plan) || input.agent.kind !== "submitted";
}

function partialReasons(input: SummaryInput): string[] {
  const reasons: string[] = [];
  if (input.plan.listCapped) reasons.push("GitHub listed only the first 3,000 files.");
  if (input.plan.tooLarge.length) reasons.push(`${input.plan.tooLarge.length} file(s) too large to review.`);
  if (input.plan.overBudget.length) reasons.push(`${input.plan.overBudget.length} file(s) did not fit the diff budget.`);
  if (input.agent.kind === "budget-exhausted") reasons.push(`The reviewer ran out of its ${input.agent.budget} budget.`);
  if (input.agent.kind === "error") reasons.push("The reviewer stopped with an error.");
  return reasons;
}

export interface CheckVerdict {
  conclusion: "success" | "neutral";
  title: string;
}

/**
 * The `iquest/review` check. Findings are advice, so the check never fails a PR; it is green
 * only when the whole change was reviewed and nothing was found, and never when cut short.
 */
export function checkVerdict(input: Pick<SummaryInput, "plan" | "agent" | "gate">): CheckVerdict {
  const total = input.gate.inline.length + input.gate.summary.length;
  if (isPartial(input)) return { conclusion: "neutral", title: `Partial review: ${total} finding(s); not everything was reviewed` };
  if (total === 0) return { conclusion: "success", title: "Reviewed: no findings" };
  return { conclusion: "neutral", title: `Reviewed: ${total} finding(s)` };
}

function clipText(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}\n… (cut)` : text;
}
