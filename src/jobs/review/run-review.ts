import { STEP_PERMISSIONS } from "../../github/app-client.js";
import type { GitHub } from "../../github/types.js";
import type { ReviewPayload } from "../../queue/payloads.js";
import { isBot } from "../../rules/triggers.js";
import { CancelledError, IquestError, cancelledFromSignal, errorMessage, nextStepOf } from "../../shared/errors.js";
import { inlineCode } from "../../shared/model-text.js";
import { addWarning, setPhase } from "../job-card.js";
import type { JobContext, JobHandler, JobOutcome } from "../run-job.js";
import type { JobServices } from "../services.js";
import { isForkPull, skipReason } from "./decide.js";
import { indexDiff, mapIncrement, type Scope } from "./diff.js";
import { completeCheckRun, compareHeads, fetchPullFiles, findCheckRun, listBotReviews, MAX_COMPARE_FILES, startCheckRun } from "./github-io.js";
import { createFileFilter } from "./globs.js";
import { decodeMarker, lastHead, mergeMemory, recordReview, type ReviewMemoryState, type ReviewRecord } from "./memory.js";
import { diffBudgetChars, planIsPartial, planReview, type ReviewPlan } from "./plan.js";
import { reviewAndPost } from "./review-head.js";
import type { Coverage } from "./summary.js";

/**
 * The review job: gather → decide what to cover → checkout + sandbox → the reviewer agent →
 * the evidence gate → one review, one check run.
 *
 * - Only the newest head is reviewed: the job reviews the PR's head as it is now, and a head
 *   that already has a review from this bot (found by the marker in its summary) is not
 *   reviewed twice: so a re-run after a crash, or a queued request for an older push, posts
 *   nothing new.
 * - On a later push only the new commits are reviewed (the diff between the two heads, mapped
 *   onto the PR's diff), and no finding posted before is posted again.
 * - PRs from forks are untrusted: no network at any point, no install cache, tests only if
 *   `review.forkTests`; the config and the instructions come from the base repository's
 *   default branch (as for every job).
 * - Writes (review, check run) use a publish token minted for this step.
 */
export function createReviewHandler(services: JobServices): JobHandler {
  return (ctx) => runReview(ctx, services);
}

async function runReview(ctx: JobContext, services: JobServices): Promise<JobOutcome> {
  const p = ctx.payload as ReviewPayload;
  const { github, repo, card, log } = ctx;
  const config = ctx.config.config;
  const cfg = config.review;
  const n = p.prNumber;

  // --- gather ---
  const { data: pr } = await github.rest.pulls.get({ ...repo, pull_number: n });
  const skip = skipReason({ state: pr.state, draft: Boolean(pr.draft), authorIsBot: isBot(pr.user), enabled: cfg.enabled, onDemand: p.onDemand === true });
  if (skip) return skipped(ctx, skip);
  const head = pr.head.sha;
  if (head !== p.headSha) {
    await card.update((s) => addWarning(s, `The PR moved on to \`${head.slice(0, 7)}\` since this review was asked for; reviewing that.`));
  }
  const fork = isForkPull(pr);
  const identity = await services.botIdentity(github);
  const appSlug = identity.login.replace(/\[bot\]$/, "");

  // --- memory: Redis and the markers of the bot's own reviews ---
  const reviews = await listBotReviews(github, repo, n, identity.login);
  const records = reviews.map((r) => decodeMarker(r.body)).filter((r): r is ReviewRecord => r !== undefined);
  let stored: ReviewMemoryState | undefined;
  try {
    stored = await services.reviewMemory?.get(p.repoId, n);
  } catch (err) {
    log.warn({ err }, "review memory unavailable; using the markers of earlier reviews");
  }
  const memory = mergeMemory(stored, records);
  const remember = async (state: ReviewMemoryState) => {
    try {
      await services.reviewMemory?.put(p.repoId, n, state);
    } catch (err) {
      log.warn({ err }, "review memory not saved; the review's marker keeps it");
    }
  };

  const publisher = await ctx.app.forRepo(p.installationId, p.repoId, STEP_PERMISSIONS.publish, { signal: ctx.signal });
  // The check's last word must be written even after a cancel: a client the signal cannot stop.
  const checkClient = await ctx.app.forRepo(p.installationId, p.repoId, STEP_PERMISSIONS.publish);
  const runUrl = ctx.runs.urlFor(ctx.jobId);

  const earlier = reviews.find((r) => decodeMarker(r.body)?.head === head);
  if (earlier) {
    // A re-run after a crash, or a request for a head already reviewed: post nothing twice.
    await remember(memory);
    const check = await findCheckRun(checkClient, repo, head, appSlug);
    if (check && check.status !== "completed") {
      await completeCheckRun(checkClient, repo, check.id, { conclusion: "neutral", title: "Reviewed", summary: stripMarker(earlier.body) });
    }
    await card.update((s) => setPhase(setPhase(setPhase(s, "checkout", "skipped"), "review", "skipped"), "post", "done", `[review](${earlier.url})`));
    return { tone: "neutral", text: `Commit \`${head.slice(0, 7)}\` already has [a review](${earlier.url}); nothing new to review.` };
  }

  // --- what this review covers ---
  const { files, capped } = await fetchPullFiles(github, repo, n);
  const diff = indexDiff(files);
  const since = lastHead(memory);
  let coverage: Coverage = { mode: "full", head };
  let scope: Scope | undefined;
  if (since === head) {
    coverage = { mode: "incremental", since, head };
    scope = new Map();
  } else if (since) {
    const comparison = await compareHeads(github, repo, since, head);
    if (comparison && comparison.files.length >= MAX_COMPARE_FILES) {
      // GitHub lists at most 300 files of a comparison: the rest of the new commits' changes
      // would be invisible, so the whole PR is reviewed again (earlier findings not repeated).
      await card.update((s) => addWarning(s, `The new commits change ${MAX_COMPARE_FILES} or more files (GitHub's limit for a comparison), so the whole PR was reviewed again.`));
    } else if (comparison?.status === "ahead") {
      coverage = { mode: "incremental", since, head };
      scope = mapIncrement(diff, comparison.files);
    } else {
      coverage = { mode: "rewritten", since, head };
    }
  }
  const plan = planReview({ files, diff, scope, filter: createFileFilter(cfg.paths, cfg.ignore), diffBudgetChars: diffBudgetChars(cfg.budget), listCapped: capped });
  if (capped) await card.update((s) => addWarning(s, "GitHub lists at most 3,000 files of a PR; files past that were not reviewed."));
  if (plan.allFiltered) {
    return skipped(ctx, "Every file this PR changes matches `review.ignore` (or is outside `review.paths`), so there is nothing to review and no review was posted.");
  }

  // --- the check run, in progress ---
  const existing = await findCheckRun(publisher, repo, head, appSlug);
  const checkId =
    existing && existing.status !== "completed"
      ? existing.id
      : await startCheckRun(publisher, repo, head, "iquest-bot is reviewing this commit.", appSlug, runUrl);

  try {
    if (plan.shown.length === 0) {
      // Nothing the reviewer could read: a push that only merged the base branch, or a PR of
      // binary, deleted or oversized files. Say what was (not) covered; post no empty review.
      const nothingNew = coverage.mode === "incremental" && !planIsPartial(plan);
      const text = nothingNew
        ? `The commits since \`${since!.slice(0, 7)}\` do not change the PR's diff: nothing new to review.`
        : `No file of this PR has a diff the reviewer can read.${planIsPartial(plan) ? " Not everything was reviewed." : ""}`;
      const summary = [text, "", ...coverageNotes(plan)].join("\n");
      await completeCheckRun(publisher, repo, checkId, { conclusion: "neutral", title: nothingNew ? "Nothing new to review" : "Nothing reviewable", summary: ctx.redact(summary) });
      await remember(recordReview(memory, { head, findings: [] }));
      await card.update((s) => setPhase(setPhase(s, "checkout", "skipped"), "review", "skipped", "nothing to review"));
      return { tone: "neutral", text };
    }
    return await reviewAndPost(ctx, services, { pr: { number: n, title: pr.title, body: pr.body ?? "" }, head, fork, plan, diff, scope, coverage, memory, publisher, checkId, remember, botLogin: identity.login });
  } catch (err) {
    await finishCheckAfterError(ctx, checkClient, checkId, err);
    throw err;
  }
}

function coverageNotes(plan: ReviewPlan): string[] {
  const notes: string[] = [];
  if (plan.tooLarge.length) notes.push(`- Too large to review: ${plan.tooLarge.map((f) => inlineCode(f.path)).join(", ")}`);
  if (plan.overBudget.length) notes.push(`- Over the diff budget: ${plan.overBudget.map((f) => inlineCode(f)).join(", ")}`);
  if (plan.binary.length) notes.push(`- Binary: ${plan.binary.map((f) => inlineCode(f)).join(", ")}`);
  if (plan.deleted.length) notes.push(`- Deleted: ${plan.deleted.map((f) => inlineCode(f)).join(", ")}`);
  if (plan.filtered.length) notes.push(`- Skipped by the filters: ${plan.filtered.map((f) => inlineCode(f.path)).join(", ")}`);
  return notes;
}

async function skipped(ctx: JobContext, text: string): Promise<JobOutcome> {
  await ctx.card.update((s) => setPhase(setPhase(setPhase(s, "checkout", "skipped"), "review", "skipped"), "post", "skipped"));
  return { tone: "neutral", text };
}

function stripMarker(body: string): string {
  return body.replace(/<!-- iquest-review:v1 [A-Za-z0-9_-]+ -->/g, "").trim();
}

/**
 * The check must not stay "in progress" forever. A retry or a shutdown hand-back will reuse it,
 * so it is left as is then; otherwise it ends neutral (a bot problem must not fail the PR) or
 * cancelled (stopped, or superseded by newer commits).
 */
async function finishCheckAfterError(ctx: JobContext, client: GitHub, checkId: number, err: unknown): Promise<void> {
  const cancelled = err instanceof CancelledError || ctx.signal.aborted;
  if (cancelled) {
    const reason = err instanceof CancelledError ? err.reason : cancelledFromSignal(ctx.signal).reason;
    if (reason === "shutdown") return;
    const title = reason === "superseded" ? "Superseded by newer commits" : "Stopped by `/iquest stop`";
    await completeCheckRun(client, ctx.repo, checkId, { conclusion: "cancelled", title, summary: `${title}: this commit was not reviewed.` }).catch((e) =>
      ctx.log.warn({ err: e }, "check run not closed"),
    );
    return;
  }
  if (nextStepOf(err) === "retry" && ctx.attempt < ctx.maxAttempts) return;
  const message = err instanceof IquestError ? err.userMessage : errorMessage(err);
  await completeCheckRun(client, ctx.repo, checkId, {
    conclusion: "neutral",
    title: "The review did not finish",
    summary: ctx.redact(`The review of this commit did not finish: ${message}\n\nComment \`/iquest review\` to try again.`),
  }).catch((e) => ctx.log.warn({ err: e }, "check run not closed"));
}
