import type { Environment } from "../agent/environment.js";
import { runAgent, type AgentOutcome, type StepEvent } from "../agent/loop.js";
import type { ModelClientInput } from "../agent/model/options.js";
import { createVllmClient } from "../agent/model/vllm-client.js";
import type { PromptSet } from "../agent/prompts.js";
import { buildFixPrompts, readRepoInstructions, type RepoInstructions } from "../agent/task-prompt.js";
import { createDefaultTools } from "../agent/tools/default-tools.js";
import { createReproduceTool } from "../agent/tools/reproduce.js";
import type { TrajectorySink } from "../agent/trajectory.js";
import { defaultRepoConfig } from "../config/repo-config.js";
import { runAttempts, type AttemptLoopResult } from "../jobs/fix/attempt-loop.js";
import { attemptPlan, attemptsTable } from "../jobs/fix/attempts.js";
import { reproductionSection } from "../jobs/fix/reproduction.js";
import { resolve } from "node:path";
import type { FixArgs } from "./args.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import type { CliContext } from "./cli-context.js";
import { exitCodeFor, progressLine } from "./fix-outcome.js";
import type { FixWorkspace } from "./fix-workspace.js";
import type { Progress } from "./progress.js";
import { whatWasTried } from "../jobs/fix/decide.js";
import { createReproductionRecorder } from "../jobs/fix/reproduce-check.js";
import { describeTestRun } from "../jobs/test-summary.js";
import type { ChangeStore } from "../workspace/sandbox-change.js";
import { compareWithBaseline, runBaseline, runTests, type TestPlan, type TestRun } from "../workspace/test-runner.js";

/**
 * `iquest-bot fix --attempts N`: the fix job's verification, locally. The baseline test run,
 * reproduce first, the attempts (attempt-loop.ts, shared with the worker), on the sandboxed copy.
 * An attempt that ends in a model error or a cancel stops everything (AttemptStopped).
 */
export class AttemptStopped extends Error {
  constructor(readonly outcome: Extract<AgentOutcome, { kind: "cancelled" | "error" }>) {
    super(outcome.kind);
    this.name = "AttemptStopped";
  }
}

export interface CliAttemptsInput {
  env: Environment;
  changes: ChangeStore;
  plan: TestPlan | null;
  attempts: number;
  maxSteps: number;
  task: string;
  model: ModelClientInput;
  /** The profile's name, for the attempts table. */
  profile: string;
  prompts: PromptSet;
  repoInstructions?: RepoInstructions;
  commandTimeoutMs: number;
  testTimeoutMs: number;
  trajectory?: TrajectorySink;
  signal?: AbortSignal;
  say(line: string): void;
  onStep(event: StepEvent): void;
  /** The model's answer streaming in (a long thinking turn). */
  onModelProgress?(progress: { step: number; chars: number; elapsedMs: number }): void;
}

export interface CliAttemptsResult extends AttemptLoopResult {
  baseline?: TestRun;
}

export async function runCliAttempts(input: CliAttemptsInput): Promise<CliAttemptsResult> {
  const { env, signal } = input;
  const defaults = defaultRepoConfig().fix;
  let plan = input.plan;
  let baseline: TestRun | undefined;
  if (plan) {
    input.say(`baseline: running \`${plan.test}\` on the original code …`);
    const b = await runBaseline(env, plan, { timeoutMs: input.testTimeoutMs, ...(signal ? { signal } : {}) });
    plan = b.plan;
    baseline = b.run;
    input.say(`baseline: ${describeTestRun(b.run)}${b.note ? ` (${b.note})` : ""}`);
  } else {
    input.say("no test command found: attempts are judged by whether they change anything, with no tests and no reproduction");
  }
  const testPlan = plan;
  const recorder = testPlan ? createReproductionRecorder({ store: input.changes, timeoutMs: input.testTimeoutMs, ...(testPlan.pathPrefix ? { pathPrefix: testPlan.pathPrefix } : {}) }) : undefined;
  const result = await runAttempts({
    attempts: input.attempts,
    tryAll: false,
    budget: { ...defaults.budget, maxSteps: input.maxSteps },
    totalBudget: defaults.totalBudget,
    env,
    store: input.changes,
    ...(recorder ? { recorder } : {}),
    testTimeoutMs: input.testTimeoutMs,
    ...(testPlan?.pathPrefix ? { pathPrefix: testPlan.pathPrefix } : {}),
    ...(signal ? { signal } : {}),
    async onStart(n) {
      if (n > 1) input.say(`attempt ${n} of ${input.attempts}: a fresh conversation from the original code`);
    },
    async runAgent(n, o) {
      const built = buildFixPrompts(input.prompts, {
        task: o.brief ? `${input.task.trim()}\n\n## Earlier attempts\n${o.brief}` : input.task,
        workdir: env.root,
        ...(input.repoInstructions ? { repoInstructions: input.repoInstructions } : {}),
        ...(testPlan ? { testCommand: testPlan.test } : {}),
        commandTimeoutMs: input.commandTimeoutMs,
        reproduce: o.reproduceTool,
      });
      const model = createVllmClient({ ...input.model, seed: attemptPlan({}, n, input.task).seed });
      const tools = createDefaultTools({ bash: { timeoutMs: input.commandTimeoutMs } });
      if (o.reproduceTool && recorder) tools.splice(tools.length - 1, 0, createReproduceTool((args, ctx) => recorder.check(args, ctx)));
      const steps: StepEvent[] = [];
      const run = await runAgent({
        model,
        environment: env,
        systemPrompt: built.systemPrompt,
        taskPrompt: built.taskPrompt,
        tools,
        budgets: { maxSteps: o.budget.maxSteps, maxTotalTokens: o.budget.maxTokens, maxWallClockMs: Math.round(o.budget.maxMinutes * 60_000) },
        ...(signal ? { signal } : {}),
        ...(input.trajectory ? { trajectory: input.trajectory } : {}),
        onStep: (event) => {
          steps.push(event);
          input.onStep(event);
        },
        ...(input.onModelProgress ? { onModelProgress: input.onModelProgress } : {}),
      });
      const outcome = run.outcome;
      if (outcome.kind === "cancelled" || outcome.kind === "error") throw new AttemptStopped(outcome);
      return {
        end: outcome.kind === "submitted" ? { kind: "submitted", summary: outcome.summary } : { kind: "budget-exhausted", budget: outcome.budget, limit: outcome.limit, used: outcome.used },
        profile: input.profile,
        model: model.model,
        steps: run.steps,
        tokens: run.usage.totalTokens,
        ms: run.durationMs,
        tried: whatWasTried(steps),
      };
    },
    async runTests() {
      if (!testPlan || !baseline) return { testsFailAfter: false };
      const after = await runTests(env, testPlan, { timeoutMs: input.testTimeoutMs, ...(signal ? { signal } : {}) });
      const verdict = compareWithBaseline(baseline, after);
      input.say(`tests: ${describeTestRun(after)}: ${verdict.note}`);
      return { after, verdict, testsFailAfter: after.exitCode !== 0 || after.killed !== undefined };
    },
    async onJudged(record) {
      input.say(record.verdict.passed ? `attempt ${record.n}: passed (${record.verdict.note})` : `attempt ${record.n}: failed verification: ${record.verdict.reason}`);
    },
  });
  return { ...result, ...(baseline ? { baseline } : {}) };
}

export interface VerifiedFixDeps {
  ctx: CliContext;
  workspace: FixWorkspace;
  model: ModelClientInput;
  profile: string;
  prompts: PromptSet;
  task: string;
  commandTimeoutMs: number;
  progress: Progress;
  trajectory?: TrajectorySink;
  out(text: string): void;
  err(text: string): void;
}

/** The `--attempts` path of `iquest-bot fix`: attempts, then apply the winner or save the last change. */
export async function verifiedFix(args: FixArgs, d: VerifiedFixDeps): Promise<ExitCode> {
  const { ctx, workspace } = d;
  let result: CliAttemptsResult;
  try {
    result = await runCliAttempts({
      env: workspace.env,
      changes: workspace.changes!,
      plan: workspace.plan ?? null,
      attempts: args.attempts!,
      maxSteps: args.maxSteps ?? 50,
      task: d.task,
      model: d.model,
      profile: d.profile,
      prompts: d.prompts,
      ...(await readRepoInstructions(workspace.env).then((r) => (r ? { repoInstructions: r } : {}))),
      commandTimeoutMs: d.commandTimeoutMs,
      testTimeoutMs: ctx.testTimeoutMs ?? DEFAULT_TEST_TIMEOUT_MS,
      ...(d.trajectory ? { trajectory: d.trajectory } : {}),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      say: (line) => d.progress.line(`iquest-bot fix: ${line}`),
      onStep: (event) => d.progress.step(event, progressLine(event)),
      onModelProgress: (p) => d.progress.answering(p),
    });
  } catch (e) {
    d.progress.done();
    if (e instanceof AttemptStopped) {
      d.err(`iquest-bot fix: ${e.outcome.kind === "cancelled" ? `cancelled (${e.outcome.reason})` : `error: ${e.outcome.message}`}; nothing was applied\n`);
      return exitCodeFor(e.outcome);
    }
    throw e;
  }
  d.progress.done();
  const chosen = result.winner ?? result.fallback;
  const last = result.records.at(-1)!;
  const runId = `${Date.now().toString(36)}`;
  const delivery = await workspace.deliver(
    { kind: "submitted", summary: "" },
    runId,
    d.task,
    result.winner ? undefined : `no attempt passed verification`,
  );
  if (delivery.note && chosen) d.err(`iquest-bot fix: ${delivery.note}\n`);
  const attempts = result.records.map((r) => ({
    attempt: r.n,
    profile: r.profile,
    steps: r.steps,
    tokens: r.tokens,
    durationMs: Math.round(r.minutes * 60_000),
    outcome: r.end.kind,
    passed: r.verdict.passed,
    ...(r.verdict.passed ? { note: r.verdict.note } : { reason: r.verdict.reason }),
    files: r.size.files,
    lines: r.size.lines,
  }));
  const reproduction = !result.reproduction
    ? null
    : "command" in result.reproduction
      ? { test: result.reproduction.test, command: result.reproduction.command, files: result.reproduction.files, base: result.reproduction.base.line, after: chosen ? (result.records.find((r) => r.n === chosen.n)?.reproAfter ?? null) : null }
      : { none: result.reproduction.reason };
  const summary = chosen?.end.kind === "submitted" ? chosen.end.summary : last.end.kind === "submitted" ? last.end.summary : null;
  if (args.json || args.events) {
    d.out(
      `${JSON.stringify({
        ...(args.events ? { type: "result" } : {}),
        outcome: result.winner ? "verified" : "unverified",
        verified: Boolean(result.winner),
        chosenAttempt: result.winner?.n ?? null,
        attempts,
        reproduction,
        baseline: result.baseline ? describeTestRun(result.baseline) : null,
        stoppedEarly: result.stoppedEarly ?? null,
        profile: d.profile,
        model: d.model.model,
        summary,
        diff: delivery.diff ?? null,
        sandbox: args.sandbox,
        applied: delivery.applied,
        patch: delivery.patchFile ?? null,
        branch: delivery.branch ?? null,
        trajectory: args.trajectory ? resolve(ctx.cwd, args.trajectory) : null,
      })}\n`,
    );
  } else {
    d.out(`Outcome: ${result.winner ? `verified (attempt ${result.winner.n} of ${result.records.length})` : "no attempt passed verification"}\n`);
    d.out(`\nAttempts:\n${attemptsTable(result.records, result.winner)}\n`);
    if (result.reproduction) d.out(`\nReproduction:\n${reproductionSection(result.reproduction, chosen ? result.records.find((r) => r.n === chosen.n)?.reproAfter : undefined)}\n`);
    if (result.stoppedEarly) d.out(`\n${result.stoppedEarly}\n`);
    if (summary) d.out(`\nSummary:\n${summary}\n`);
    d.out(delivery.diff ? `\nDiff:\n${delivery.diff}` : "\nDiff: (no changes)\n");
  }
  return result.winner ? EXIT_CODES.submitted : EXIT_CODES.unverified;
}

const DEFAULT_TEST_TIMEOUT_MS = 15 * 60_000;
