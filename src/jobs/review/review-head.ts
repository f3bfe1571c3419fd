import type { GitHub } from "../../github/types.js";
import { statusOf } from "../../github/types.js";
import { cancelledFromSignal } from "../../shared/errors.js";
import { runSetup } from "../../workspace/test-runner.js";
import { runAgentPhase } from "../agent-phase.js";
import { addWarning, setPhase, type CardState } from "../job-card.js";
import { prepareWorkspace } from "../prepare-workspace.js";
import type { JobContext, JobOutcome } from "../run-job.js";
import type { JobServices } from "../services.js";
import { commitFileReader, findingChecker } from "./check-finding.js";
import type { DiffIndex, Scope } from "./diff.js";
import type { Finding } from "./finding.js";
import { gateFindings, type GatedFinding, type GateResult } from "./gate.js";
import { completeCheckRun, createReview, readBaseInstructions, type ReviewComment } from "./github-io.js";
import { encodeMarker, recordReview, type PostedFinding, type ReviewMemoryState } from "./memory.js";
import type { ReviewPlan } from "./plan.js";
import { buildReviewPrompts, loadReviewPrompts } from "./prompt.js";
import { MEMORY_TEXT_CHARS } from "./similarity.js";
import { checkVerdict, isPartial, renderComment, renderSummary, withMarker, type AgentEnd, type Coverage, type TestsNote } from "./summary.js";
import { refuteFindings } from "./refute-run.js";
import { createReviewTools } from "./tools.js";

/**
 * Review one head, once run-review.ts has decided what it covers: checkout and sandbox (forks:
 * no network, no install cache, a shell only if `review.forkTests`), the reviewer agent, the
 * evidence gate, then the one review, the memory and the finished check run.
 */
export interface ReviewState {
  pr: { number: number; title: string; body: string };
  head: string;
  fork: boolean;
  plan: ReviewPlan;
  diff: DiffIndex;
  scope?: Scope;
  coverage: Coverage;
  memory: ReviewMemoryState;
  publisher: GitHub;
  checkId: number;
  /** The app's bot user: its reviews are searched for the marker after a lost answer. */
  botLogin: string;
  remember: (state: ReviewMemoryState) => Promise<void>;
}

export async function reviewAndPost(ctx: JobContext, services: JobServices, st: ReviewState): Promise<JobOutcome> {
  const { card, repo } = ctx;
  const config = ctx.config.config;
  const cfg = config.review;

  // --- prepare: the PR's head (refs/pull/N/head also holds fork heads) ---
  const setupNetwork = !st.fork && (config.tests?.setupNetwork ?? true);
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
        network: prepared.setupNetwork,
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
    const readText = commitFileReader(prepared.env);
    const findings: Finding[] = [];
    const observations: string[] = [];
    const tools = createReviewTools({
      findings,
      observations,
      allowCommands,
      bash: { timeoutMs: services.sandbox.testTimeoutMs },
      maxReports: cfg.maxFindings * 3 + 10,
      check: findingChecker(readText, st.diff, st.scope),
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
    const gated = gateFindings({
      findings,
      diff: st.diff,
      ...(st.scope ? { scope: st.scope } : {}),
      readFile: (path) => texts.get(path),
      earlier: st.memory.findings,
      minSeverity: cfg.minSeverity,
      maxFindings: cfg.maxFindings,
      observations,
    });

    // --- the refute pass: each surviving finding checked once more, in a separate call ---
    let gate = gated;
    let refuteUnchecked = 0;
    let refuteTokens = 0;
    if (cfg.refute.enabled && gated.inline.length + gated.summary.length > 0) {
      const r = await refuteFindings(ctx, agent.profile, gated, (path) => texts.get(path), cfg.refute.maxTokens);
      gate = r.gate;
      refuteUnchecked = r.unchecked;
      refuteTokens = r.tokens;
    }

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
      tokens: agent.result.usage.totalTokens + refuteTokens,
      tests,
      ...(refuteUnchecked ? { refuteUnchecked } : {}),
      footer: { profile: agent.profile.name, model: agent.profile.model, jobId: ctx.jobId, ...(ctx.runs.urlFor(ctx.jobId) ? { runUrl: ctx.runs.urlFor(ctx.jobId)! } : {}) },
    };
    let summary = ctx.redact(renderSummary(summaryInput));
    const comments = gate.inline.map((g) => toComment(g, ctx.redact));
    let review: { id: number; url: string };
    try {
      review = await createReview(st.publisher, repo, st.pr.number, { commitId: st.head, body: withMarker(summary, marker), comments }, { botLogin: st.botLogin, marker });
    } catch (err) {
      // GitHub refused a line. The gate only passes lines of the PR's diff, so this means the PR
      // moved under us; the findings still reach the author, in the summary.
      if (statusOf(err) !== 422 || comments.length === 0) throw err;
      ctx.log.warn({ err }, "GitHub refused the inline comments; posting them in the summary");
      summary = ctx.redact(renderSummary({ ...summaryInput, inlineRefused: true }));
      review = await createReview(st.publisher, repo, st.pr.number, { commitId: st.head, body: withMarker(summary, marker), comments: [] }, { botLogin: st.botLogin, marker });
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

