import { anchorQuote, codeHash } from "./anchor.js";
import { canComment, inScope, type DiffIndex, type Scope } from "./diff.js";
import { severityRank, type Finding, type ReviewSeverity } from "./finding.js";
import type { PostedFinding } from "./memory.js";
import { MEMORY_TEXT_CHARS, similarText } from "./similarity.js";

/**
 * The evidence gate: which of the model's findings are posted, where, and which are dropped.
 * Pure: the caller reads the files and the memory; this decides.
 *
 * A finding is posted inline only if
 * - the code it quotes is in the file at the PR's head (it is anchored where the quote is);
 * - those lines are inside one hunk of the PR's diff on the new side (GitHub accepts nothing
 *   else), and, on a later push, touch what the new commits changed;
 * - it is not a repeat of a finding posted earlier on this PR (same path, same code, near-
 *   identical text) nor of another finding of this run;
 * - it is at least the configured severity.
 * A finding that passes but sits outside the diff goes to the summary instead. The most severe
 * `maxFindings` are kept. Evidence (command output) is kept only when this run's commands
 * really printed it.
 */

export interface GateInput {
  findings: readonly Finding[];
  diff: DiffIndex;
  /** Lines the new commits touched (a later push); undefined when the whole PR is reviewed. */
  scope?: Scope;
  /** The file at the PR's head; undefined when it does not exist or is not text. */
  readFile: (path: string) => string | undefined;
  earlier: readonly PostedFinding[];
  minSeverity: ReviewSeverity;
  maxFindings: number;
  /** Output of the commands this run executed. */
  observations: readonly string[];
}

export type NotInlineReason = "outside-diff" | "outside-new-commits";

export interface GatedFinding {
  finding: Finding;
  startLine: number;
  line: number;
  codeHash: string;
  /** Whole replacement lines for startLine..line. */
  suggestion?: string[];
  suggestionDropped?: boolean;
  /** Evidence found verbatim in this run's command output. */
  evidence?: string;
  /** Evidence was claimed but not found in any output of this run: not shown. */
  evidenceUnverified?: boolean;
  placement: "inline" | "summary";
  whyNotInline?: NotInlineReason;
}

export type DropReason = "below-severity" | "file-not-found" | "empty-quote" | "quote-not-found" | "repeat-of-earlier" | "duplicate-in-run" | "refuted";

export interface GateResult {
  inline: GatedFinding[];
  summary: GatedFinding[];
  /** Passed the gate but over `maxFindings` (least severe). */
  overLimit: GatedFinding[];
  /** `detail`: the refute pass's reason (refute.ts). */
  dropped: Array<{ finding: Finding; reason: DropReason; detail?: string }>;
}

export function gateFindings(input: GateInput): GateResult {
  const dropped: GateResult["dropped"] = [];
  const passed: GatedFinding[] = [];
  const minRank = severityRank(input.minSeverity);
  const normalizedOutputs = input.observations.map(normalizeOutput);

  for (const finding of input.findings) {
    if (severityRank(finding.severity) < minRank) {
      dropped.push({ finding, reason: "below-severity" });
      continue;
    }
    const text = input.readFile(finding.path);
    if (text === undefined) {
      dropped.push({ finding, reason: "file-not-found" });
      continue;
    }
    const anchored = anchorQuote(text, finding.quote, finding.replacement, finding.startLine ?? finding.line);
    if (!anchored.ok) {
      dropped.push({ finding, reason: anchored.reason });
      continue;
    }
    const { anchor } = anchored;
    const hash = codeHash(anchor.code);
    const mine = { title: finding.title, text: finding.explanation.slice(0, MEMORY_TEXT_CHARS) };
    if (input.earlier.some((e) => e.path === finding.path && e.codeHash === hash && similarText(mine, e))) {
      dropped.push({ finding, reason: "repeat-of-earlier" });
      continue;
    }
    const twin = passed.find(
      (p) =>
        p.finding.path === finding.path &&
        (p.codeHash === hash || (p.startLine <= anchor.endLine && anchor.startLine <= p.line)) &&
        similarText({ title: p.finding.title, text: p.finding.explanation.slice(0, MEMORY_TEXT_CHARS) }, mine),
    );
    if (twin) {
      // Keep the more severe of the two in the first one's place.
      if (severityRank(finding.severity) > severityRank(twin.finding.severity)) {
        dropped.push({ finding: twin.finding, reason: "duplicate-in-run" });
        passed[passed.indexOf(twin)] = place(finding, anchor.startLine, anchor.endLine, hash, anchor, input, normalizedOutputs);
      } else {
        dropped.push({ finding, reason: "duplicate-in-run" });
      }
      continue;
    }
    passed.push(place(finding, anchor.startLine, anchor.endLine, hash, anchor, input, normalizedOutputs));
  }

  // Most severe first; at equal severity inline before summary, then in the order reported.
  const ordered = passed
    .map((g, i) => ({ g, i }))
    .sort((a, b) => severityRank(b.g.finding.severity) - severityRank(a.g.finding.severity) || rankPlacement(a.g) - rankPlacement(b.g) || a.i - b.i)
    .map((x) => x.g);
  const kept = ordered.slice(0, input.maxFindings);
  const overLimit = ordered.slice(input.maxFindings);
  const byPosition = (a: GatedFinding, b: GatedFinding) => (a.finding.path < b.finding.path ? -1 : a.finding.path > b.finding.path ? 1 : a.startLine - b.startLine);
  return {
    inline: kept.filter((g) => g.placement === "inline").sort(byPosition),
    summary: kept.filter((g) => g.placement === "summary"),
    overLimit,
    dropped,
  };
}

function rankPlacement(g: GatedFinding): number {
  return g.placement === "inline" ? 0 : 1;
}

function place(
  finding: Finding,
  startLine: number,
  endLine: number,
  hash: string,
  anchor: { suggestion?: string[]; suggestionDropped?: boolean },
  input: GateInput,
  outputs: readonly string[],
): GatedFinding {
  const gated: GatedFinding = { finding, startLine, line: endLine, codeHash: hash, placement: "inline" };
  if (anchor.suggestion) gated.suggestion = anchor.suggestion;
  if (anchor.suggestionDropped) gated.suggestionDropped = true;
  if (finding.evidence !== undefined) {
    const claim = normalizeOutput(finding.evidence);
    if (claim.length > 0 && outputs.some((o) => o.includes(claim))) gated.evidence = finding.evidence.trim();
    else gated.evidenceUnverified = true;
  }
  if (!canComment(input.diff, finding.path, startLine, endLine)) {
    gated.placement = "summary";
    gated.whyNotInline = "outside-diff";
  } else if (!inScope(input.scope, finding.path, startLine, endLine)) {
    gated.placement = "summary";
    gated.whyNotInline = "outside-new-commits";
  }
  return gated;
}

/** Whitespace-insensitive comparison of command output (the model re-wraps and re-indents). */
function normalizeOutput(text: string): string {
  return text.replace(/\r/g, "").replace(/\s+/g, " ").trim();
}
