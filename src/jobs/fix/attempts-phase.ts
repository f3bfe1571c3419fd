import { loadPrompts } from "../../agent/prompts.js";
import { buildFixPrompts, readRepoInstructions } from "../../agent/task-prompt.js";
import { createDefaultTools } from "../../agent/tools/default-tools.js";
import { createReproduceTool } from "../../agent/tools/reproduce.js";
import { PermanentError, cancelledFromSignal } from "../../shared/errors.js";
import { sandboxChangeStore, snapshotAfterSetup, type SetupSnapshot } from "../../workspace/sandbox-change.js";
import { compareWithBaseline, runTests } from "../../workspace/test-runner.js";
import { runAgentPhase } from "../agent-phase.js";
import { addWarning, insertPhases, setPhase } from "../job-card.js";
import type { PreparedWorkspace } from "../prepare-workspace.js";
import type { JobContext } from "../run-job.js";
import type { JobServices } from "../services.js";
import { describeTestRun, recordTests } from "../test-summary.js";
import { runAttempts, type AttemptLoopResult } from "./attempt-loop.js";
import { attemptPlan } from "./attempts.js";
import { whatWasTried } from "./decide.js";
import { formatFixTask, type FixTask } from "./gather.js";
import { createReproductionRecorder } from "./reproduce-check.js";
import type { StepEvent } from "../../agent/loop.js";

/**
 * The fix job's attempt and verify phases: the shared loop (attempt-loop.ts) wired to the job's
 * agent phase (profiles, the card, the trajectory) and its test runs (against the baseline the
 * prepare phase took). Card phases: `agent` and `tests` for the first attempt, `agent (attempt
 * 2)` and so on after it.
 */
export interface AttemptsPhaseInput {
  prepared: PreparedWorkspace;
  task: FixTask;
  /** A feedback or check round's extra task text. */
  extra?: { title: string; text: string };
  /** Reproduce first (issue mode, `fix.reproduce`, and a test command). */
  reproduce: boolean;
}

export interface AttemptsPhaseResult extends AttemptLoopResult {
  /** The steps of the attempt that is in the workspace (for the PR's path). */
  stepsOf(n: number): StepEvent[];
  /** The worktree after setup: what setup wrote is not the agent's change. */
  setup: SetupSnapshot;
}

export async function attemptsPhase(ctx: JobContext, services: JobServices, input: AttemptsPhaseInput): Promise<AttemptsPhaseResult> {
  const { card } = ctx;
  const fix = ctx.config.config.fix;
  const { prepared } = input;
  const env = prepared.env;
  const testTimeoutMs = services.sandbox.testTimeoutMs;
  // The change is measured from the worktree after setup (a lock file `npm install` wrote is not
  // the agent's doing).
  const setup = await snapshotAfterSetup(env, prepared.checkout.commit, ctx.signal);
  const store = sandboxChangeStore(env, setup.tree);
  const pathPrefix = prepared.plan?.pathPrefix;
  const recorder = input.reproduce && prepared.plan ? createReproductionRecorder({ store, timeoutMs: testTimeoutMs, ...(pathPrefix ? { pathPrefix } : {}) }) : undefined;
  const prompts = await loadPrompts();
  const repoInstructions = await readRepoInstructions(env);
  const steps = new Map<number, StepEvent[]>();
  const phaseName = (base: string, n: number) => (n === 1 ? base : `${base} (attempt ${n})`);

  const result = await runAttempts({
    attempts: fix.attempts,
    tryAll: fix.tryAll,
    budget: fix.budget,
    totalBudget: fix.totalBudget,
    env,
    store,
    ...(recorder ? { recorder } : {}),
    testTimeoutMs,
    ...(pathPrefix ? { pathPrefix } : {}),
    signal: ctx.signal,
    async onStart(n) {
      if (n > 1) await card.update((s) => insertPhases(s, [phaseName("agent", n), phaseName("tests", n)], "PR"));
    },
    async runAgent(n, o) {
      const extraParts = [input.extra, o.brief ? { title: "Earlier attempts", text: o.brief } : undefined].filter(Boolean) as Array<{ title: string; text: string }>;
      const built = buildFixPrompts(prompts, {
        task: formatFixTask(input.task, ...extraParts),
        workdir: env.workdir,
        ...(repoInstructions ? { repoInstructions } : {}),
        ...(prepared.plan ? { testCommand: prepared.plan.test } : {}),
        commandTimeoutMs: testTimeoutMs,
        reproduce: o.reproduceTool,
      });
      if (n === 1 && built.hiddenRemoved > 0) {
        await card.update((s) => addWarning(s, `Removed ${built.hiddenRemoved} hidden item(s) (HTML comments, invisible characters) from the task before the model saw it.`));
      }
      const plan = attemptPlan(fix, n, ctx.jobId);
      const tools = createDefaultTools({ bash: { timeoutMs: testTimeoutMs } });
      if (o.reproduceTool && recorder) tools.splice(tools.length - 1, 0, createReproduceTool((args, tctx) => recorder.check(args, tctx)));
      const agent = await runAgentPhase(ctx, services, {
        use: "fix",
        ...(plan.profile ? { repoProfile: plan.profile } : {}),
        phase: phaseName("agent", n),
        env,
        workdir: env.workdir,
        systemPrompt: built.systemPrompt,
        taskPrompt: built.taskPrompt,
        budget: o.budget,
        tools,
        seed: plan.seed,
        attempt: n,
      });
      const outcome = agent.result.outcome;
      steps.set(n, agent.steps);
      await card.update((s) =>
        setPhase(s, phaseName("agent", n), outcome.kind === "submitted" ? "done" : "failed", `${agent.result.steps} steps · ${agent.result.usage.totalTokens.toLocaleString("en-US")} tokens`),
      );
      if (outcome.kind === "cancelled") throw cancelledFromSignal(ctx.signal);
      if (outcome.kind === "error") throw new PermanentError(outcome.message, { userMessage: `The agent stopped with an error: ${outcome.message}` });
      return {
        end: outcome.kind === "submitted" ? { kind: "submitted", summary: outcome.summary } : { kind: "budget-exhausted", budget: outcome.budget, limit: outcome.limit, used: outcome.used },
        profile: agent.profile.name,
        model: agent.profile.model,
        steps: agent.result.steps,
        tokens: agent.result.usage.totalTokens,
        ms: agent.result.durationMs,
        tried: whatWasTried(agent.steps),
      };
    },
    async runTests(n) {
      const plan = prepared.plan;
      if (!plan || !prepared.baseline) {
        await card.update((s) => setPhase(s, phaseName("tests", n), "skipped", "no test command"));
        return { testsFailAfter: false };
      }
      await card.update((s) => setPhase(s, phaseName("tests", n), "running", plan.test));
      const after = await runTests(env, plan, { timeoutMs: testTimeoutMs, signal: ctx.signal });
      recordTests(ctx.metrics, after);
      const verdict = compareWithBaseline(prepared.baseline, after);
      await card.update((s) => setPhase(s, phaseName("tests", n), verdict.verdict === "fail" ? "failed" : "done", describeTestRun(after)));
      return { after, verdict, testsFailAfter: after.exitCode !== 0 || after.killed !== undefined };
    },
    async onJudged(record) {
      if (fix.attempts === 1) return;
      const spent = `\`${record.profile}\` · ${record.steps} steps · ${record.tokens.toLocaleString("en-US")} tokens`;
      const line = record.verdict.passed ? `${spent} · passed: ${record.verdict.note}` : `${spent} · failed verification: ${record.verdict.reason}`;
      await card.update((s) => setPhase(s, phaseName("agent", record.n), record.verdict.passed ? "done" : "failed", line));
    },
  });
  return { ...result, stepsOf: (n) => steps.get(n) ?? [], setup };
}
