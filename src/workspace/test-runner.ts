import type { Environment, KillReason } from "../agent/environment.js";
import { installCacheKey, restoreInstall, saveInstall, type InstallCache } from "./install-cache.js";
import { readerFor, toolchainProbe, type TestPlan } from "./test-detect.js";
import { parseTestOutput, type ParsedTests } from "./test-parse.js";
import { runnerStepCommand } from "./test-chain.js";

/**
 * Setup and tests inside the job's Environment, and the baseline rule: "tests pass" means "no
 * new failures compared with the base commit". The baseline run happens before the agent starts,
 * on the same plan, so a test that already failed on the base is not counted against the agent.
 */

export { detectTestPlan, readerFor, toolchainProbe, type TestPlan, type TestOverrides } from "./test-detect.js";
export { parseTestOutput, type ParsedTests } from "./test-parse.js";

export interface SetupResult {
  ran: boolean;
  cache: "hit" | "miss" | "off";
  exitCode: number | null;
  killed?: KillReason;
  output: string;
  durationMs: number;
  ok: boolean;
}

export async function runSetup(
  env: Environment,
  plan: TestPlan,
  options: { timeoutMs: number; network: boolean; cache?: InstallCache; signal?: AbortSignal },
): Promise<SetupResult> {
  if (!plan.setup) return { ran: false, cache: "off", exitCode: 0, output: "", durationMs: 0, ok: true };
  const key = options.cache ? await installCacheKey(plan, readerFor(env)) : undefined;
  if (options.cache && key && (await restoreInstall(options.cache, key, plan.cachePaths))) {
    return { ran: false, cache: "hit", exitCode: 0, output: `restored the dependency install from cache (${key.slice(0, 12)})`, durationMs: 0, ok: true };
  }
  const r = await env.exec(withPath(plan, plan.setup), { timeoutMs: options.timeoutMs, network: options.network, signal: options.signal });
  const ok = r.exitCode === 0 && !r.killed;
  if (ok && options.cache && key) await saveInstall(options.cache, key, plan.cachePaths);
  return {
    ran: true,
    cache: options.cache && key ? "miss" : "off",
    exitCode: r.exitCode,
    ...(r.killed ? { killed: r.killed } : {}),
    output: r.output,
    durationMs: r.durationMs,
    ok,
  };
}

export interface TestRun {
  command: string;
  exitCode: number | null;
  killed?: KillReason;
  durationMs: number;
  /** The end of the output (where runners print summaries), for the job card. */
  outputTail: string;
  truncated: boolean;
  parsed: ParsedTests | null;
  /** Set when the output could not be parsed and only the exit code counts. */
  parseNote?: string;
}

export async function runTests(env: Environment, plan: TestPlan, options: { timeoutMs: number; signal?: AbortSignal; maxOutputBytes?: number }): Promise<TestRun> {
  const r = await env.exec(withPath(plan, plan.test), {
    timeoutMs: options.timeoutMs,
    signal: options.signal,
    maxOutputBytes: options.maxOutputBytes ?? 4 * 1024 * 1024,
  });
  const parsed = parseTestOutput(r.output);
  return {
    command: plan.test,
    exitCode: r.exitCode,
    ...(r.killed ? { killed: r.killed } : {}),
    durationMs: r.durationMs,
    outputTail: r.output.slice(-4000),
    truncated: r.truncated,
    parsed,
    ...(parsed ? {} : { parseNote: "could not read test results from the output; judged by the exit code only" }),
  };
}

/** "node v20.20.2, npm 10.8.2": what ran the tests, for the card (undefined when unknown). */
export async function toolchainVersions(env: Environment, plan: TestPlan, signal?: AbortSignal): Promise<string | undefined> {
  const probe = toolchainProbe(plan);
  if (!probe) return undefined;
  const r = await env.exec(withPath(plan, probe), { timeoutMs: 20_000, ...(signal ? { signal } : {}) }).catch(() => undefined);
  if (!r || r.exitCode !== 0) return undefined;
  const lines = r.output
    // eslint-disable-next-line no-control-regex
    .replace(/\x1b\[[0-9;]*[A-Za-z]/g, "")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !/not found|No such file|^Picked up JAVA_TOOL_OPTIONS/i.test(l));
  return lines.length ? lines.slice(0, 2).join(", ").slice(0, 160) : undefined;
}

/** The command with the plan's PATH prefix in front (a toolchain setup installed). */
function withPath(plan: TestPlan, command: string): string {
  return plan.pathPrefix ? `export PATH="${plan.pathPrefix}:$PATH"; ${command}` : command;
}

export interface Baseline {
  /** The plan to verify with: the runner's own step when the full command failed before it. */
  plan: TestPlan;
  run: TestRun;
  /** For the job card, when the plan changed: why. */
  note?: string;
}

/**
 * The baseline test run. When the test command is a chain and the base commit fails before the
 * test runner (a lint, type check or build step: the command failed and no runner's results are
 * in its output), the runner's own step is run alone; if that yields results, it becomes the
 * command for the baseline and the verification, so test results are compared, not exit codes.
 */
export async function runBaseline(env: Environment, plan: TestPlan, options: { timeoutMs: number; signal?: AbortSignal }): Promise<Baseline> {
  const run = await runTests(env, plan, options);
  const step = plan.runnerStep;
  if (!step || run.exitCode === 0 || run.parsed || run.killed) return { plan, run };
  const own: TestPlan = { ...plan, test: runnerStepCommand(step), runnerStep: undefined };
  const alone = await runTests(env, own, options);
  if (!alone.parsed) return { plan, run };
  const before = step.before.length ? ` (in \`${step.before.join(" && ")}\`)` : "";
  return {
    plan: own,
    run: alone,
    note:
      `On the base commit, \`${plan.test}\` fails before its tests run${before}. The baseline and the verification run the test runner's own step, ` +
      `\`${step.command}\`, so test results are compared, not exit codes.`,
  };
}

export interface BaselineVerdict {
  verdict: "pass" | "fail" | "unknown";
  /** Failing now and not on the base. */
  newFailures: string[];
  /** Failing on the base and passing now. */
  fixed: string[];
  /** Failing on both: not the agent's fault. */
  stillFailing: string[];
  method: "names" | "counts" | "exit-code";
  note: string;
}

/** Compare a run after the change with the baseline run on the base commit. Pure. */
export function compareWithBaseline(base: TestRun, after: TestRun): BaselineVerdict {
  const empty = { newFailures: [], fixed: [], stillFailing: [] };
  if (after.killed) {
    return { verdict: "fail", ...empty, method: "exit-code", note: `the tests were stopped (${after.killed}) before they finished` };
  }
  const A = after.parsed;
  const B = base.parsed;
  const baseBroken = base.killed !== undefined;
  if (A && A.namesComplete && B && B.namesComplete && !baseBroken) {
    const before = new Set(B.failing);
    const now = new Set(A.failing);
    const newFailures = A.failing.filter((t) => !before.has(t));
    const fixed = B.failing.filter((t) => !now.has(t));
    const stillFailing = A.failing.filter((t) => before.has(t));
    if (newFailures.length) {
      return { verdict: "fail", newFailures, fixed, stillFailing, method: "names", note: `${newFailures.length} test(s) fail that passed on the base` };
    }
    if (after.exitCode !== 0 && A.failing.length === 0 && !(base.exitCode !== 0 && B.failing.length === 0)) {
      return { verdict: "fail", newFailures, fixed, stillFailing, method: "exit-code", note: `the test command failed (exit ${after.exitCode}) without a failing test: a build or setup error` };
    }
    const extra = stillFailing.length ? `; ${stillFailing.length} already failed on the base` : "";
    return { verdict: "pass", newFailures, fixed, stillFailing, method: "names", note: `no new failures${extra}` };
  }
  if (A && A.namesComplete && A.failed === 0 && after.exitCode === 0) {
    return { verdict: "pass", ...empty, method: "names", note: "all tests pass" };
  }
  if (A && B && !baseBroken) {
    if (A.failed > B.failed) {
      return { verdict: "fail", ...empty, method: "counts", note: `${A.failed} failing tests now, ${B.failed} on the base (names incomplete)` };
    }
    return { verdict: "unknown", ...empty, method: "counts", note: `${A.failed} failing now, ${B.failed} on the base; names incomplete, so a swap cannot be ruled out` };
  }
  if (after.exitCode === 0) return { verdict: "pass", ...empty, method: "exit-code", note: "test output not parsed; the test command succeeded" };
  if (base.exitCode === 0 && !baseBroken) {
    return { verdict: "fail", ...empty, method: "exit-code", note: `test output not parsed; the test command fails now (exit ${after.exitCode}) and passed on the base` };
  }
  return { verdict: "unknown", ...empty, method: "exit-code", note: "test output not parsed and the tests failed on the base too: cannot tell new failures apart" };
}
