import { STEP_PERMISSIONS } from "../../github/app-client.js";
import type { GitHub } from "../../github/types.js";
import { statusOf } from "../../github/types.js";
import type { ReviewPayload } from "../../queue/payloads.js";
import { isBot } from "../../rules/triggers.js";
import { CancelledError, IquestError, cancelledFromSignal, errorMessage, nextStepOf } from "../../shared/errors.js";
import { runSetup } from "../../workspace/test-runner.js";
import { runAgentPhase } from "../agent-phase.js";
import { addWarning, setPhase, type CardState } from "../job-card.js";
import { prepareWorkspace } from "../prepare-workspace.js";
import type { JobContext, JobHandler, JobOutcome } from "../run-job.js";
import type { JobServices } from "../services.js";
import { anchorQuote } from "./anchor.js";
import { isForkPull, skipReason } from "./decide.js";
import { canComment, inScope, indexDiff, mapIncrement, type Scope } from "./diff.js";
import type { Finding } from "./finding.js";
import { gateFindings, type GatedFinding, type GateResult } from "./gate.js";
import {
  completeCheckRun,
  compareHeads,
  createReview,
  fetchPullFiles,
  findCheckRun,
  listBotReviews,
  MAX_COMPARE_FILES,
  readBaseInstructions,
  startCheckRun,
  type ReviewComment,
} from "./github-io.js";
import { createFileFilter } from "./globs.js";
import { decodeMarker, encodeMarker, lastHead, mergeMemory, recordReview, type PostedFinding, type ReviewMemoryState, type ReviewRecord } from "./memory.js";
import { diffBudgetChars, planIsPartial, planReview, type ReviewPlan } from "./plan.js";
import { buildReviewPrompts, loadReviewPrompts } from "./prompt.js";
import { MEMORY_TEXT_CHARS } from "./similarity.js";
import { checkVerdict, isPartial, renderComment, renderSummary, withMarker, type AgentEnd, type Coverage, type TestsNote } from "./summary.js";
import { createReviewTools } from "./tools.js";

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
  const runUrl = services.runUrl?.(ctx.jobId);

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
  const plan = planReview({ files, diff, scope, filter: createFileFilter(cfg.paths, cfg.ignore), diffBudgetChars: diffBudgetChars(cfg.budget) });
  if (capped) await card.update((s) => addWarning(s, "GitHub lists at most 3,000 files of a PR; files past that were not reviewed."));
  if (plan.allFiltered) {
    return skipped(ctx, "Every file this PR changes matches `review.ignore` (or is outside `review.paths`), so there is nothing to review and no review was posted.");
  }

  // --- the check run, in progress ---
  const existing = await findCheckRun(publisher, repo, head, appSlug);
  const checkId =
    existing && existing.status !== "completed"
      ? existing.id
      : await startCheckRun(publisher, repo, head, "iquest-bot is reviewing this commit.", runUrl);

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
    return await reviewAndPost(ctx, services, { pr: { number: n, title: pr.title, body: pr.body ?? "" }, head, fork, plan, diff, scope, coverage, memory, publisher, checkId, remember });
  } catch (err) {
    await finishCheckAfterError(ctx, checkClient, checkId, err);
    throw err;
  }
}

interface ReviewState {
  pr: { number: number; title: string; body: string };
  head: string;
  fork: boolean;
  plan: ReviewPlan;
  diff: ReturnType<typeof indexDiff>;
  scope?: Scope;
  coverage: Coverage;
  memory: ReviewMemoryState;
  publisher: GitHub;
  checkId: number;
  remember: (state: ReviewMemoryState) => Promise<void>;
}

async function reviewAndPost(ctx: JobContext, services: JobServices, st: ReviewState): Promise<JobOutcome> {
  const p = ctx.payload as ReviewPayload;
  const { card, repo } = ctx;
  const config = ctx.config.config;
  const cfg = config.review;

  // --- prepare: the PR's head (refs/pull/N/head also holds fork heads) ---
  const setupNetwork = !st.fork && (config.tests?.setupNetwork ?? false);
  const prepared = await prepareWorkspace(ctx, services, {
    commit: st.head,
    fetchRefs: [`refs/pull/${st.pr.number}/head`],
    phases: { checkout: "checkout" },
    setupNetwork,
    useInstallCache: !st.fork,
    ...(config.tests ? { tests: config.tests } : {}),
  });
  try {
    const allowCommands = st.fork ? cfg.forkTests : cfg.runTests;
    const tests: TestsNote = {
      allowed: allowCommands,
      commandsRun: 0,
      ...(prepared.plan ? { command: prepared.plan.test } : {}),
      ...(allowCommands
        ? {}
        : { reason: st.fork ? "the PR comes from a fork (untrusted code); `review.forkTests: true` allows tests in the sandbox, without network" : "`review.runTests` is off" }),
    };
    if (allowCommands && prepared.plan?.setup) {
      const plan = prepared.plan;
      const setup = await runSetup(prepared.env, plan, {
        timeoutMs: services.sandbox.setupTimeoutMs,
        network: setupNetwork,
        signal: ctx.signal,
        ...(!st.fork
          ? {
              cache: {
                dir: services.workspace.installCacheDirOf(prepared.checkout.repo),
                worktree: prepared.checkout.worktree,
                home: prepared.checkout.home,
                owner: prepared.checkout.uid === null ? null : { uid: prepared.checkout.uid, gid: prepared.checkout.gid ?? prepared.checkout.uid },
              },
            }
          : {}),
      });
      if (!setup.ok) tests.reason = `Setup (\`${plan.setup}\`) failed with exit code ${setup.exitCode}${setup.killed ? ` (${setup.killed})` : ""}, so tests may not have worked.`;
    }

    // --- the reviewer ---
    const files = new Map<string, string | undefined>();
    const readText = async (path: string): Promise<string | undefined> => {
      if (!files.has(path)) {
        let text: string | undefined;
        try {
          const buf = await prepared.env.readFile(path);
          text = buf.includes(0) ? undefined : buf.toString("utf8");
        } catch {
          text = undefined;
        }
        files.set(path, text);
      }
      return files.get(path);
    };
    const findings: Finding[] = [];
    const observations: string[] = [];
    const tools = createReviewTools({
      findings,
      observations,
      allowCommands,
      bash: { timeoutMs: services.sandbox.testTimeoutMs },
      maxReports: cfg.maxFindings * 3 + 10,
      check: async (finding) => {
        const text = await readText(finding.path);
        if (text === undefined) return { ok: false, problem: `\`${finding.path}\` is not a text file in the PR's head commit. Use the path as the diff shows it.` };
        const anchored = anchorQuote(text, finding.quote, finding.replacement, finding.startLine ?? finding.line);
        if (!anchored.ok) {
          return {
            ok: false,
            problem:
              anchored.reason === "empty-quote"
                ? "`quote` is empty: copy the lines the problem is about."
                : `the quoted code is not in \`${finding.path}\`. Copy it exactly from \`view\` output (without the line numbers).`,
          };
        }
        const a = anchored.anchor;
        const notes: string[] = [];
        if (a.startLine !== (finding.startLine ?? finding.line) || a.endLine !== finding.line) notes.push(`the quote is at lines ${a.startLine}-${a.endLine}; the finding is placed there`);
        if (!canComment(st.diff, finding.path, a.startLine, a.endLine)) notes.push("those lines are not in the PR's diff, so it will be listed in the review's summary, not inline");
        else if (!inScope(st.scope, finding.path, a.startLine, a.endLine)) notes.push("those lines were not changed by the new commits, so it will be listed in the summary");
        return notes.length ? { ok: true, note: `${notes.join("; ")}.` } : { ok: true };
      },
    });
    const prompts = buildReviewPrompts(await loadReviewPrompts(), {
      workdir: prepared.env.workdir,
      number: st.pr.number,
      title: st.pr.title,
      description: st.pr.body,
      plan: st.plan,
      ...(st.coverage.mode === "incremental"
        ? { scopeNote: `This PR was reviewed before, at ${st.coverage.since!.slice(0, 7)}. The diff below shows only what the commits since then changed in the PR; review those changes.` }
        : {}),
      ...((await readBaseInstructions(ctx.github, repo).then((i) => (i ? { repoInstructions: i } : {})))),
      ...(cfg.instructions ? { configInstructions: cfg.instructions } : {}),
      allowCommands,
      tests: allowCommands
        ? prepared.plan
          ? `\`${prepared.plan.test}\` runs the tests (no network).`
          : "no test command was detected; you may run commands to check a suspicion."
        : `you cannot run commands in this review (${tests.reason}).`,
      commandTimeoutMs: services.sandbox.testTimeoutMs,
      maxFindings: cfg.maxFindings,
    });
    if (prompts.hiddenRemoved > 0) {
      await card.update((s) => addWarning(s, `Removed ${prompts.hiddenRemoved} hidden item(s) (HTML comments, invisible characters) from the PR's title, description and instructions before the model saw them.`));
    }
    const agent = await runAgentPhase(ctx, services, {
      use: "review",
      ...(cfg.profile ? { repoProfile: cfg.profile } : {}),
      phase: "review",
      env: prepared.env,
      workdir: prepared.env.workdir,
      systemPrompt: prompts.systemPrompt,
      taskPrompt: prompts.taskPrompt,
      budget: cfg.budget,
      tools,
    });
    const outcome = agent.result.outcome;
    if (outcome.kind === "cancelled") throw cancelledFromSignal(ctx.signal);
    tests.commandsRun = agent.steps.filter((s) => s.tool === "execute_bash").length;
    const end: AgentEnd =
      outcome.kind === "submitted"
        ? { kind: "submitted" }
        : outcome.kind === "budget-exhausted"
          ? { kind: "budget-exhausted", budget: outcome.budget, limit: outcome.limit, used: outcome.used }
          : { kind: "error", message: outcome.message };
    // One card write for both phase changes: the worker spaces writes to GitHub ~1 s apart.
    const reviewed = (s: CardState) =>
      setPhase(s, "review", outcome.kind === "submitted" ? "done" : "failed", `${agent.result.steps} steps · ${findings.length} finding(s) reported`);

    // --- the evidence gate ---
    const texts = new Map<string, string | undefined>();
    for (const f of findings) texts.set(f.path, await readText(f.path));
    const gate = gateFindings({
      findings,
      diff: st.diff,
      ...(st.scope ? { scope: st.scope } : {}),
      readFile: (path) => texts.get(path),
      earlier: st.memory.findings,
      minSeverity: cfg.minSeverity,
      maxFindings: cfg.maxFindings,
      observations,
    });

    // --- post: one review, then the check ---
    await card.update((s) => setPhase(reviewed(s), "post", "running"));
    const posted = [...gate.inline, ...gate.summary].map((g) => toPosted(g, st.head, ctx.redact));
    const marker = encodeMarker({ head: st.head, findings: posted });
    const summaryInput = {
      whatItDoes: outcome.kind === "submitted" ? outcome.summary : "",
      gate,
      plan: st.plan,
      coverage: st.coverage,
      agent: end,
      steps: agent.result.steps,
      tokens: agent.result.usage.totalTokens,
      tests,
      footer: { profile: agent.profile.name, model: agent.profile.model, jobId: ctx.jobId, ...(services.runUrl?.(ctx.jobId) ? { runUrl: services.runUrl(ctx.jobId)! } : {}) },
    };
    let summary = ctx.redact(renderSummary(summaryInput));
    const comments = gate.inline.map((g) => toComment(g, ctx.redact));
    let review: { id: number; url: string };
    try {
      review = await createReview(st.publisher, repo, st.pr.number, { commitId: st.head, body: withMarker(summary, marker), comments });
    } catch (err) {
      // GitHub refused a line. The gate only passes lines of the PR's diff, so this means the PR
      // moved under us; the findings still reach the author, in the summary.
      if (statusOf(err) !== 422 || comments.length === 0) throw err;
      ctx.log.warn({ err }, "GitHub refused the inline comments; posting them in the summary");
      summary = ctx.redact(renderSummary({ ...summaryInput, inlineRefused: true }));
      review = await createReview(st.publisher, repo, st.pr.number, { commitId: st.head, body: withMarker(summary, marker), comments: [] });
    }
    await st.remember(recordReview(st.memory, { head: st.head, findings: posted }));
    const verdict = checkVerdict(summaryInput);
    await completeCheckRun(st.publisher, repo, st.checkId, { ...verdict, summary: `${summary}\n\n[The review](${review.url})` });
    await card.update((s) => setPhase(s, "post", "done", `[review](${review.url})`));
    const partial = isPartial(summaryInput);
    return {
      tone: partial ? "neutral" : "success",
      text: `Posted [a review](${review.url}) of \`${st.head.slice(0, 7)}\`: ${countText(gate)}.${partial ? " **Partial:** not everything was reviewed; the review says what was left out." : ""}`,
    };
  } finally {
    await prepared.close();
  }
}

function toPosted(g: GatedFinding, head: string, redact: (s: string) => string): PostedFinding {
  return {
    path: g.finding.path,
    codeHash: g.codeHash,
    title: redact(g.finding.title).slice(0, 200),
    text: redact(g.finding.explanation.slice(0, MEMORY_TEXT_CHARS)),
    severity: g.finding.severity,
    line: g.startLine,
    head,
  };
}

function toComment(g: GatedFinding, redact: (s: string) => string): ReviewComment {
  return {
    path: g.finding.path,
    line: g.line,
    side: "RIGHT",
    ...(g.startLine < g.line ? { start_line: g.startLine, start_side: "RIGHT" as const } : {}),
    body: redact(renderComment(g)),
  };
}

function countText(gate: GateResult): string {
  const inline = gate.inline.length;
  const summary = gate.summary.length;
  if (inline + summary === 0) return "no findings";
  return `${inline} inline comment(s)${summary ? `, ${summary} finding(s) in the summary` : ""}`;
}

function coverageNotes(plan: ReviewPlan): string[] {
  const notes: string[] = [];
  if (plan.tooLarge.length) notes.push(`- Too large to review: ${plan.tooLarge.map((f) => `\`${f.path}\``).join(", ")}`);
  if (plan.overBudget.length) notes.push(`- Over the diff budget: ${plan.overBudget.map((f) => `\`${f}\``).join(", ")}`);
  if (plan.binary.length) notes.push(`- Binary: ${plan.binary.map((f) => `\`${f}\``).join(", ")}`);
  if (plan.deleted.length) notes.push(`- Deleted: ${plan.deleted.map((f) => `\`${f}\``).join(", ")}`);
  if (plan.filtered.length) notes.push(`- Skipped by the filters: ${plan.filtered.map((f) => `\`${f.path}\``).join(", ")}`);
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
