import type { Environment } from "../../agent/environment.js";
import type { RepoConfig } from "../../config/repo-config.js";
import type { ChangeStore } from "../../workspace/sandbox-change.js";
import type { BaselineVerdict, TestRun } from "../../workspace/test-runner.js";
import {
  attemptBudget,
  chooseAttempt,
  diffSize,
  failureBrief,
  fallbackAttempt,
  passedBrief,
  reproductionBrief,
  verifyAttempt,
  type AttemptEnd,
  type AttemptRecord,
} from "./attempts.js";
import { rerunReproduction, restoreReproduction, type ReproductionRecorder } from "./reproduce-check.js";
import type { NoReproduction, Reproduction } from "./reproduction.js";

/**
 * The attempt and verify phases, shared by the fix job and the CLI: run the agent, capture its
 * change, verify it (tests against the baseline, the reproduction again), and on failure undo
 * the change and try again with the failure summarised, within the job's total budget. The
 * caller supplies the agent run and the test run; the decisions are in attempts.ts.
 */
export interface AgentAttempt {
  end: AttemptEnd;
  profile: string;
  model: string;
  steps: number;
  tokens: number;
  ms: number;
  /** The last steps, one per line (whatWasTried). */
  tried: string;
}

export interface AttemptTests {
  after?: TestRun;
  verdict?: BaselineVerdict;
  testsFailAfter: boolean;
}

export interface AttemptLoopOptions {
  attempts: number;
  tryAll: boolean;
  budget: RepoConfig["fix"]["budget"];
  totalBudget: RepoConfig["fix"]["totalBudget"];
  env: Environment;
  store: ChangeStore;
  /** Present when the agent is asked to reproduce first (a test command exists). */
  recorder?: ReproductionRecorder;
  testTimeoutMs: number;
  pathPrefix?: string;
  signal?: AbortSignal;
  runAgent(n: number, o: { brief?: string; budget: RepoConfig["fix"]["budget"]; reproduceTool: boolean }): Promise<AgentAttempt>;
  /** The test command after the change, compared with the baseline; nothing when there are no tests. */
  runTests(n: number): Promise<AttemptTests>;
  /** Progress: an attempt is about to start, or was judged. */
  onStart?(n: number, budget: RepoConfig["fix"]["budget"]): Promise<void>;
  onJudged?(record: AttemptRecord): Promise<void>;
}

export interface AttemptRecordWithTests extends AttemptRecord {
  tests: AttemptTests;
  reproAfter?: { exitCode: number | null; killed?: string };
}

export interface AttemptLoopResult {
  records: AttemptRecordWithTests[];
  /** The smallest passing attempt; its change is in the workspace. */
  winner?: AttemptRecordWithTests;
  /** With no winner: the last attempt with a change, now in the workspace (for `openOnFailure`). */
  fallback?: AttemptRecordWithTests;
  reproduction?: Reproduction | NoReproduction;
  /** Why fewer attempts ran than allowed (the total budget). */
  stoppedEarly?: string;
}

export async function runAttempts(o: AttemptLoopOptions): Promise<AttemptLoopResult> {
  const records: AttemptRecordWithTests[] = [];
  const spent = { tokens: 0, ms: 0 };
  let stoppedEarly: string | undefined;
  for (let n = 1; n <= o.attempts; n++) {
    const previous = records.at(-1);
    let budget = o.budget;
    if (previous) {
      if (previous.verdict.passed && !o.tryAll) break;
      const next = attemptBudget(o.budget, o.totalBudget, spent);
      if (!next.ok) {
        stoppedEarly = `Attempt ${n} did not start: ${next.reason}.`;
        break;
      }
      budget = next.budget;
      // Back to the original code (plus the reproduction): a fresh start, not a pile-up.
      await o.store.revert(previous.patch, o.signal);
      const repro = o.recorder?.current();
      if (repro) await restoreReproduction(o.env, repro);
    }
    await o.onStart?.(n, budget);
    const repro = o.recorder?.current();
    const brief = previous
      ? [repro ? reproductionBrief(repro) : "", previous.verdict.passed ? passedBrief(previous) : failureBrief(previous, repro)].filter(Boolean).join("\n\n")
      : undefined;
    const agent = await o.runAgent(n, { ...(brief ? { brief } : {}), budget, reproduceTool: Boolean(o.recorder && !repro) });
    spent.tokens += agent.tokens;
    spent.ms += agent.ms;

    const patch = await o.store.capture(o.signal);
    const tests: AttemptTests = patch.trim() ? await o.runTests(n) : { testsFailAfter: false };
    const declared = o.recorder?.current();
    const rerun = declared && patch.trim() ? await rerunReproduction(o.env, declared, { timeoutMs: o.testTimeoutMs, ...(o.signal ? { signal: o.signal } : {}), ...(o.pathPrefix ? { pathPrefix: o.pathPrefix } : {}) }) : undefined;
    const verdict = verifyAttempt({
      end: agent.end,
      patch,
      ...(tests.verdict ? { verdict: tests.verdict } : {}),
      testsFailAfter: tests.testsFailAfter,
      ...(declared && rerun ? { reproduction: { declared, after: rerun.after, touched: rerun.touched } } : {}),
    });
    const testTail = !verdict.passed ? (rerun && rerun.after.exitCode !== 0 ? rerun.after.output : tests.after?.outputTail) : undefined;
    const record: AttemptRecordWithTests = {
      n,
      profile: agent.profile,
      model: agent.model,
      steps: agent.steps,
      tokens: agent.tokens,
      minutes: agent.ms / 60_000,
      end: agent.end,
      verdict,
      patch,
      size: diffSize(patch),
      tried: agent.tried,
      ...(testTail ? { testTail } : {}),
      tests,
      ...(rerun ? { reproAfter: { exitCode: rerun.after.exitCode, ...(rerun.after.killed ? { killed: rerun.after.killed } : {}) } } : {}),
    };
    records.push(record);
    await o.onJudged?.(record);
  }

  const winner = chooseAttempt(records);
  const fallback = winner ? undefined : fallbackAttempt(records);
  const keep = winner ?? fallback;
  const last = records.at(-1);
  // The workspace holds the last attempt's change; publish reads the workspace.
  if (last && keep !== last) {
    await o.store.revert(last.patch, o.signal);
    if (keep) await o.store.apply(keep.patch, o.signal);
  }
  const reproduction = o.recorder
    ? (o.recorder.current() ?? { reason: o.recorder.lastRefusal() ? `the agent's test did not reproduce the issue (${o.recorder.lastRefusal()!.split("\n")[0]})` : "the agent did not write a test that reproduces the issue (its summary may say why)" })
    : undefined;
  return {
    records,
    ...(winner ? { winner } : {}),
    ...(fallback ? { fallback } : {}),
    ...(reproduction ? { reproduction } : {}),
    ...(stoppedEarly ? { stoppedEarly } : {}),
  };
}
