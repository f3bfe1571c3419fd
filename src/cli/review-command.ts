import { resolve } from "node:path";
import { runAgent, type AgentOutcome } from "../agent/loop.js";
import { createVllmClient } from "../agent/model/vllm-client.js";
import { readRepoInstructions } from "../agent/task-prompt.js";
import { openTrajectoryFile, type TrajectorySink } from "../agent/trajectory.js";
import { CONFIG_PATH, parseRepoConfig } from "../config/repo-config.js";
import { commitFileReader, findingChecker } from "../jobs/review/check-finding.js";
import { indexDiff } from "../jobs/review/diff.js";
import { REVIEW_SEVERITIES, severityRank, type Finding, type ReviewSeverity } from "../jobs/review/finding.js";
import { gateFindings, type GatedFinding, type GateResult } from "../jobs/review/gate.js";
import { createFileFilter } from "../jobs/review/globs.js";
import { diffBudgetChars, planReview } from "../jobs/review/plan.js";
import { buildReviewPrompts, loadReviewPrompts } from "../jobs/review/prompt.js";
import { runRefutePass } from "../jobs/review/refute-run.js";
import { renderSummary, type AgentEnd, type SummaryInput } from "../jobs/review/summary.js";
import { createReviewTools } from "../jobs/review/tools.js";
import { MODEL_FLAG_OPTIONS, UsageError, modelFlags, parseFlags, type ModelFlags } from "./args.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import { exitCodeFor, progressLine, type CliContext } from "./fix-command.js";
import { sandboxNetworkOf } from "./cli-context.js";
import { checkoutFacts, cliGit } from "./local-copy.js";
import { defaultBaseRef, localRange, type LocalRange } from "./local-diff.js";
import { modelOptionsFrom } from "./model-config.js";
import { createProgress } from "./progress.js";
import { openSandboxedCopy } from "./sandboxed-copy.js";

export const REVIEW_USAGE = `Usage:
  iquest-bot review --repo PATH [--base REF] [--json] [--fail-on SEVERITY] [options]

Reviews the commits of HEAD since its merge base with REF (default: the remote's default
branch, else main), as the review job reviews a pull request: the same tools, evidence gate,
limits (\`review\` in .github/iquest.yml) and summary. The reviewer reads a copy of HEAD in the
bubblewrap sandbox, and may run the tests there (no network; setup first, through the egress
proxy). Prints each finding as \`path:line severity title\` with its explanation and suggestion,
then the summary. Nothing is changed.

Options:
  --repo PATH            the git checkout
  --base REF             what to compare with (a branch, tag or commit)
  --fail-on SEVERITY     exit 1 when a finding at this severity or above is reported
                         (critical, major, minor, nit): for a pre-push hook
  --json                 one JSON object on stdout
  --no-setup             skip installing dependencies
  --trajectory FILE      write the run's trajectory (see iquest-bot runs view)
  --model-url, --model, --profile, --protocol   as for fix (default profile: the review job's)

Environment: MODEL_BASE_URL, MODEL_NAME, MODEL_API_KEY, MODEL_TOOL_PROTOCOL, MODEL_PROFILES_FILE and
the other MODEL_* settings (as for fix), EGRESS_ALLOW and NPM_REGISTRY (what setup may reach).

Exit codes:
  0    reviewed (or nothing to review), and nothing at or above --fail-on
  1    a finding at or above --fail-on, or an error
  2    bad arguments: not a git checkout, an unknown base, no common history
  3    budget exhausted   4  model unreachable   5  model refused   130  interrupted
`;

interface ReviewArgs {
  repo: string;
  base?: string;
  json: boolean;
  failOn?: ReviewSeverity;
  setup: boolean;
  trajectory?: string;
  model: ModelFlags;
}

function parseReviewArgs(argv: readonly string[]): ReviewArgs {
  const values = parseFlags(argv, {
    repo: { type: "string" },
    base: { type: "string" },
    json: { type: "boolean" },
    "fail-on": { type: "string" },
    "no-setup": { type: "boolean" },
    trajectory: { type: "string" },
    ...MODEL_FLAG_OPTIONS,
  });
  if (typeof values.repo !== "string" || values.repo === "") throw new UsageError("--repo PATH is required");
  const failOn = values["fail-on"];
  if (failOn !== undefined && !(REVIEW_SEVERITIES as readonly unknown[]).includes(failOn)) throw new UsageError(`--fail-on takes one of ${REVIEW_SEVERITIES.join(", ")}`);
  if (values.base === "") throw new UsageError("--base takes a branch, tag or commit");
  return {
    repo: values.repo,
    ...(typeof values.base === "string" ? { base: values.base } : {}),
    json: values.json === true,
    ...(failOn ? { failOn: failOn as ReviewSeverity } : {}),
    setup: values["no-setup"] !== true,
    ...(typeof values.trajectory === "string" ? { trajectory: values.trajectory } : {}),
    model: modelFlags(values),
  };
}

/** A finding as printed and in --json. */
interface ReportedFinding {
  path: string;
  startLine: number;
  line: number;
  severity: ReviewSeverity;
  title: string;
  explanation: string;
  suggestion?: string;
  evidence?: string;
  /** In the diff (a pull request would carry it inline), or outside it (listed in the summary). */
  placement: "inline" | "summary";
}

export async function runReviewCommand(argv: readonly string[], ctx: CliContext): Promise<ExitCode> {
  const out = (text: string) => ctx.stdout.write(ctx.redact(text));
  const err = (text: string) => ctx.stderr.write(ctx.redact(text));
  if (argv[0] === "--help" || argv[0] === "-h") {
    out(REVIEW_USAGE);
    return EXIT_CODES.submitted;
  }
  const { git, dispose } = await cliGit(ctx.tmpDir);
  try {
    let args: ReviewArgs;
    let range: LocalRange;
    let chosen: ReturnType<typeof modelOptionsFrom>;
    let top: string;
    try {
      args = parseReviewArgs(argv);
      chosen = modelOptionsFrom(ctx.modelEnv, args.model, "review");
      const facts = await checkoutFacts(git, resolve(ctx.cwd, args.repo));
      top = facts.top;
      range = await localRange(git, top, args.base ?? (await defaultBaseRef(git, top)));
      if (facts.dirty.length) err(`iquest-bot review: ${facts.dirty.length} uncommitted path(s) are not reviewed: the review covers commits (HEAD ${facts.head.slice(0, 12)})\n`);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      err(`iquest-bot review: ${e.message}\n\n${REVIEW_USAGE}`);
      return EXIT_CODES.usage;
    }

    // The review settings as they are at HEAD (what a pull request's review would use).
    const configText = await git(["show", `${range.head}:${CONFIG_PATH}`], { cwd: top, okExitCodes: [128] });
    const cfg = parseRepoConfig(configText.code === 0 ? configText.stdout : undefined).config.review;
    const diff = indexDiff(range.files);
    const plan = planReview({ files: range.files, diff, filter: createFileFilter(cfg.paths, cfg.ignore), diffBudgetChars: diffBudgetChars(cfg.budget) });
    const what = `${range.headName} (${range.head.slice(0, 12)}) since ${range.baseRef} (merge base ${range.mergeBase.slice(0, 12)})`;
    if (range.files.length === 0 || plan.shown.length === 0) {
      const why =
        range.files.length === 0
          ? `HEAD has no changes since its merge base with ${range.baseRef}`
          : plan.allFiltered
            ? "every changed file matches `review.ignore` (or is outside `review.paths`)"
            : `no changed file has a diff the reviewer can read${plan.binary.length ? ` (binary: ${plan.binary.join(", ")})` : ""}`;
      if (args.json) out(`${JSON.stringify({ reviewed: false, range: rangeJson(range), reason: why, findings: [], summary: null })}\n`);
      else out(`Nothing to review in ${what}: ${why}.\n`);
      return EXIT_CODES.submitted;
    }

    err(`iquest-bot review: ${what}, ${plan.shown.length} file(s)\n`);
    const progress = createProgress({ stderr: ctx.stderr, tty: ctx.stderrIsTTY === true, redact: ctx.redact });
    let trajectory: TrajectorySink | undefined;
    if (args.trajectory) {
      try {
        trajectory = openTrajectoryFile(resolve(ctx.cwd, args.trajectory), { redact: ctx.redact });
      } catch (e) {
        err(`iquest-bot review: --trajectory ${args.trajectory}: ${(e as Error).message}\n`);
        return EXIT_CODES.usage;
      }
    }
    let opened: Awaited<ReturnType<typeof openSandboxedCopy>>;
    try {
      opened = await openSandboxedCopy({
        repo: top,
        setup: cfg.runTests && args.setup,
        ...sandboxNetworkOf(ctx),
        npmRegistry: ctx.npmRegistry ?? "https://registry.npmjs.org/",
        setupTimeoutMs: ctx.setupTimeoutMs ?? 20 * 60_000,
        ...(ctx.bwrapPath ? { bwrapPath: ctx.bwrapPath } : {}),
        ...(ctx.tmpDir ? { tmpRoot: ctx.tmpDir } : {}),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        say: (line) => progress.line(line),
      });
    } catch (e) {
      trajectory?.close();
      if (e instanceof UsageError) {
        err(`iquest-bot review: ${e.message}\n`);
        return EXIT_CODES.usage;
      }
      if (ctx.signal?.aborted) return EXIT_CODES.cancelled;
      throw e;
    }
    try {
      const env = opened.env;
      const readText = commitFileReader(env);
      const findings: Finding[] = [];
      const observations: string[] = [];
      const commandTimeoutMs = ctx.commandTimeoutMs ?? 300_000;
      const tools = createReviewTools({
        findings,
        observations,
        allowCommands: cfg.runTests,
        bash: { timeoutMs: commandTimeoutMs },
        maxReports: cfg.maxFindings * 3 + 10,
        check: findingChecker(readText, diff, undefined, "HEAD"),
      });
      const setupNote = opened.setup && !opened.setup.ok ? ` (setup \`${opened.plan?.setup}\` failed, so they may not work)` : "";
      const instructions = await readRepoInstructions(env);
      const prompts = buildReviewPrompts(await loadReviewPrompts(), {
        workdir: env.workdir,
        number: 0,
        title: `local commits on ${range.headName}`,
        description: range.messages || "(no commit messages)",
        plan,
        ...(instructions ? { repoInstructions: instructions } : {}),
        ...(cfg.instructions ? { configInstructions: cfg.instructions } : {}),
        allowCommands: cfg.runTests,
        tests: cfg.runTests
          ? opened.plan
            ? `\`${opened.plan.test}\` runs the tests (no network)${setupNote}.`
            : "no test command was detected; you may run commands to check a suspicion."
          : "you cannot run commands in this review (`review.runTests` is off).",
        commandTimeoutMs,
        maxFindings: cfg.maxFindings,
      });
      const model = createVllmClient(chosen.input);
      const result = await runAgent({
        model,
        environment: env,
        systemPrompt: prompts.systemPrompt,
        taskPrompt: prompts.taskPrompt,
        tools,
        budgets: { maxSteps: cfg.budget.maxSteps, maxTotalTokens: cfg.budget.maxTokens, maxWallClockMs: Math.round(cfg.budget.maxMinutes * 60_000) },
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        ...(trajectory ? { trajectory } : {}),
        onStep: (event) => progress.step(event, progressLine(event)),
      });
      progress.done();
      if (result.outcome.kind === "cancelled") {
        err("iquest-bot review: interrupted; no review was printed, your checkout is untouched\n");
        return EXIT_CODES.cancelled;
      }
      const texts = new Map<string, string | undefined>();
      for (const f of findings) texts.set(f.path, await readText(f.path));
      const gated = gateFindings({ findings, diff, readFile: (p) => texts.get(p), earlier: [], minSeverity: cfg.minSeverity, maxFindings: cfg.maxFindings, observations });
      // The refute pass, as the review job runs it (review.refute in the repository's config).
      let gate = gated;
      let refuteUnchecked = 0;
      let refuteTokens = 0;
      if (cfg.refute.enabled && gated.inline.length + gated.summary.length > 0) {
        progress.line(`review: checking ${gated.inline.length + gated.summary.length} finding(s) once more (review.refute) …`);
        const r = await runRefutePass(model, gated, (p) => texts.get(p), { maxTokens: cfg.refute.maxTokens, ...(ctx.signal ? { signal: ctx.signal } : {}) });
        gate = r.gate;
        refuteUnchecked = r.unchecked;
        refuteTokens = r.tokens;
        progress.done();
      }
      const summaryInput: SummaryInput = {
        whatItDoes: result.outcome.kind === "submitted" ? result.outcome.summary : "",
        gate,
        plan,
        coverage: { mode: "full", head: range.head },
        agent: agentEnd(result.outcome),
        steps: result.steps,
        tokens: result.usage.totalTokens + refuteTokens,
        ...(refuteUnchecked ? { refuteUnchecked } : {}),
        tests: {
          allowed: cfg.runTests,
          commandsRun: observations.length,
          ...(opened.plan ? { command: opened.plan.test } : {}),
          ...(!cfg.runTests
            ? { reason: "`review.runTests` is off" }
            : opened.setup && !opened.setup.ok
              ? { reason: `Setup (\`${opened.plan?.setup}\`) failed with exit code ${opened.setup.exitCode}, so tests may not have worked.` }
              : {}),
        },
        footer: { profile: chosen.profile, model: model.model, jobId: `local-${result.runId}` },
      };
      const summary = renderSummary(summaryInput);
      const reported = [...gate.inline, ...gate.summary].map(toReported);
      const failed = args.failOn ? reported.filter((f) => severityRank(f.severity) >= severityRank(args.failOn!)) : [];
      if (args.json) {
        out(
          `${JSON.stringify({
            reviewed: true,
            range: rangeJson(range),
            outcome: result.outcome.kind,
            findings: reported,
            dropped: gate.dropped.map((d) => ({ path: d.finding.path, title: d.finding.title, reason: d.reason, ...(d.detail ? { detail: d.detail } : {}) })),
            overLimit: gate.overLimit.length,
            summary,
            steps: result.steps,
            usage: result.usage,
            failOn: args.failOn ?? null,
            failed: failed.length > 0,
          })}\n`,
        );
      } else {
        out(renderFindings(reported, gate));
        out(`\n${summary}\n`);
        if (args.failOn) out(failed.length ? `\n${failed.length} finding(s) at ${args.failOn} or above: exit 1.\n` : `\nNo finding at ${args.failOn} or above.\n`);
      }
      if (failed.length) return EXIT_CODES.error;
      return result.outcome.kind === "submitted" ? EXIT_CODES.submitted : exitCodeFor(result.outcome);
    } finally {
      trajectory?.close();
      await opened.close();
    }
  } finally {
    await dispose();
  }
}

function agentEnd(outcome: AgentOutcome): AgentEnd {
  if (outcome.kind === "submitted") return { kind: "submitted" };
  if (outcome.kind === "budget-exhausted") return { kind: "budget-exhausted", budget: outcome.budget, limit: outcome.limit, used: outcome.used };
  return { kind: "error", message: outcome.kind === "cancelled" ? `cancelled (${outcome.reason})` : outcome.message };
}

function toReported(g: GatedFinding): ReportedFinding {
  return {
    path: g.finding.path,
    startLine: g.startLine,
    line: g.line,
    severity: g.finding.severity,
    title: g.finding.title,
    explanation: g.finding.explanation,
    ...(g.suggestion ? { suggestion: g.suggestion.join("\n") } : {}),
    ...(g.evidence ? { evidence: g.evidence } : {}),
    placement: g.placement,
  };
}

function renderFindings(findings: readonly ReportedFinding[], gate: GateResult): string {
  if (findings.length === 0) return `No findings${gate.dropped.length ? ` (${gate.dropped.length} reported finding(s) did not pass the evidence gate)` : ""}.\n`;
  const lines: string[] = [];
  for (const f of findings) {
    lines.push(`${f.path}:${f.line} ${f.severity} ${f.title}${f.placement === "summary" ? "  (outside the diff)" : ""}`);
    for (const l of f.explanation.trim().split("\n")) lines.push(`    ${l}`);
    if (f.suggestion !== undefined) {
      lines.push(`    suggestion (lines ${f.startLine}-${f.line}):`);
      for (const l of f.suggestion.split("\n")) lines.push(`    + ${l}`);
    }
    lines.push("");
  }
  return `${lines.join("\n")}`;
}

function rangeJson(r: LocalRange) {
  return { base: r.baseRef, mergeBase: r.mergeBase, head: r.head, headName: r.headName, files: r.files.length };
}
