import type { RepoConfig } from "../../config/repo-config.js";
import type { DiffFileInput, DiffIndex, PatchHunk, Scope } from "./diff.js";
import type { FileFilterResult } from "./globs.js";

/**
 * What one review covers, decided before the model starts: which files' diffs the model is
 * shown, and every file that is not, with the reason. The summary and the check repeat these
 * lists word for word, so "what was reviewed and what was not" is never a guess. Pure.
 */

export interface ShownFile {
  path: string;
  previousPath?: string;
  status: string;
  /** The file's diff as the model sees it (a git-style header and the hunks). */
  text: string;
  /** Added lines shown. */
  addedLines: number;
}

export interface ReviewPlan {
  shown: ShownFile[];
  filtered: Array<{ path: string; why: string }>;
  binary: string[];
  /** No diff from GitHub (too large to show), or a diff larger than the whole diff budget. */
  tooLarge: Array<{ path: string; changes: number }>;
  /** Did not fit in what was left of the diff budget. */
  overBudget: string[];
  deleted: string[];
  renamedOnly: string[];
  /** Later push: files of the PR the new commits did not touch (reviewed before). */
  unchangedSinceLastReview: number;
  /** Every changed file matched the filters: nothing to review. */
  allFiltered: boolean;
  /** The model's diff budget in characters. */
  diffBudgetChars: number;
  /** GitHub listed only the first 3,000 files of the PR: the rest were never seen. */
  listCapped: boolean;
}

export interface PlanInput {
  files: readonly DiffFileInput[];
  diff: DiffIndex;
  scope?: Scope;
  filter: (path: string) => FileFilterResult;
  diffBudgetChars: number;
  listCapped?: boolean;
}

/**
 * Characters of diff the model is shown. Every step re-sends the prompt, so the diff may take
 * one step's share of the token budget (maxTokens / maxSteps), at about 3.5 characters a token;
 * never more than 100,000 characters (the model's context has the conversation to hold too).
 */
export function diffBudgetChars(budget: RepoConfig["review"]["budget"]): number {
  const perStep = budget.maxTokens / budget.maxSteps;
  return Math.max(2_000, Math.min(100_000, Math.round(perStep * 3.5)));
}

export function planReview(input: PlanInput): ReviewPlan {
  const plan: ReviewPlan = {
    shown: [],
    filtered: [],
    binary: [],
    tooLarge: [],
    overBudget: [],
    deleted: [],
    renamedOnly: [],
    unchangedSinceLastReview: 0,
    allFiltered: false,
    diffBudgetChars: input.diffBudgetChars,
    listCapped: input.listCapped === true,
  };
  let left = input.diffBudgetChars;
  let reviewable = 0;
  for (const f of input.files) {
    const decision = input.filter(f.filename);
    if (decision.kind !== "review") {
      plan.filtered.push({ path: f.filename, why: decision.kind === "ignored" ? `matches \`${decision.glob}\`` : "not in `review.paths`" });
      continue;
    }
    reviewable++;
    const file = input.diff.get(f.filename);
    if (!file) continue;
    if (!file.hasPatch) {
      if (file.status === "renamed" && file.changes === 0) plan.renamedOnly.push(file.path);
      else if (file.changes === 0) plan.binary.push(file.path);
      else plan.tooLarge.push({ path: file.path, changes: file.changes });
      continue;
    }
    if (file.status === "removed") {
      plan.deleted.push(file.path);
      continue;
    }
    let hunks: PatchHunk[] = file.hunks;
    if (input.scope) {
      const scoped = input.scope.get(file.path);
      if (!scoped) {
        plan.unchangedSinceLastReview++;
        continue;
      }
      hunks = scoped.hunks;
    }
    const text = renderFileDiff(file.path, file.previousPath, file.status, hunks);
    if (text.length > input.diffBudgetChars) {
      plan.tooLarge.push({ path: file.path, changes: file.changes });
      continue;
    }
    if (text.length > left) {
      plan.overBudget.push(file.path);
      continue;
    }
    left -= text.length;
    plan.shown.push({
      path: file.path,
      ...(file.previousPath ? { previousPath: file.previousPath } : {}),
      status: file.status,
      text,
      addedLines: hunks.reduce((n, h) => n + h.lines.filter((l) => l.kind === "+").length, 0),
    });
  }
  plan.allFiltered = input.files.length > 0 && reviewable === 0;
  return plan;
}

export function renderFileDiff(path: string, previousPath: string | undefined, status: string, hunks: readonly PatchHunk[]): string {
  const from = previousPath ?? path;
  const head = [`diff --git a/${from} b/${path}`];
  if (status === "added") head.push("--- /dev/null", `+++ b/${path}`);
  else head.push(`--- a/${from}`, `+++ b/${path}`);
  return `${head.join("\n")}\n${hunks.map((h) => h.text).join("\n")}\n`;
}

/** The review was cut short: something the model should have seen, it did not. */
export function planIsPartial(plan: ReviewPlan): boolean {
  return plan.tooLarge.length > 0 || plan.overBudget.length > 0 || plan.listCapped;
}
