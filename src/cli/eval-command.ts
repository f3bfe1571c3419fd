import { execFile } from "node:child_process";
import { cp, mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { promisify } from "node:util";
import { loadPrompts } from "../agent/prompts.js";
import { MODEL_FLAG_OPTIONS, modelFlags, parseFlags, UsageError } from "./args.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import { AttemptStopped, runCliAttempts } from "./fix-attempts.js";
import { sandboxNetworkOf, type CliContext } from "./cli-context.js";
import { progressLine } from "./fix-outcome.js";
import { openFixWorkspace } from "./fix-workspace.js";
import { formatReport, loadTasks, summarize, type CheckResult, type EvalTask, type TaskResult } from "./eval-tasks.js";
import { modelOptionsFrom } from "./model-config.js";
import { createProgress } from "./progress.js";

/**
 * `iquest-bot eval --tasks DIR`: the fix flow (the CLI's `--attempts` path: baseline, reproduce
 * first, attempts, verification) on each task of a set, then the task's hidden tests over the
 * result, SWE-bench style. Prints the resolve rate, steps, tokens and time per task and per
 * profile, as a table or JSON. With the scripted model (the suite) it tests the harness; with a
 * real model it measures the real thing. Task format: eval-tasks.ts; a set ships in bench/tasks.
 */
export const EVAL_USAGE = `Usage: iquest-bot eval --tasks DIR [--profile NAMES] [--attempts N] [--max-steps N] [--only IDS] [--json]

Runs the fix flow on each task in DIR (a directory per task: task.json, repo/, hidden/), then
the task's hidden tests on the result. A task is resolved when every failToPass and passToPass
command passes. Each task runs in the sandbox over a fresh copy of its snapshot.

  --tasks DIR         the task set (bench/tasks ships one: 12 tasks in JS, TS, Python, Go, Rust)
  --profile NAMES     model profile(s), comma-separated: each task runs once per profile
  --attempts N        attempts per task (1-5, default 1), as \`fix --attempts\`
  --max-steps N       agent steps per attempt (default 50)
  --only IDS          only these tasks (comma-separated directory names)
  --json              one JSON document: {"results": [...], "profiles": [...]}
  --model-url, --model, --protocol   as for \`fix\`

Exit codes: 0 every task ran (resolved or not); 1 a task could not be run (broken, model error);
2 bad arguments.
`;

const run = promisify(execFile);
const DEFAULT_TEST_TIMEOUT_MS = 15 * 60_000;

interface EvalArgs {
  tasks: string;
  profiles: Array<string | undefined>;
  attempts: number;
  maxSteps: number;
  only?: string[];
  json: boolean;
  modelUrls?: string[];
  model?: string;
  protocol?: "native" | "text";
}

function parseEvalArgs(argv: readonly string[]): EvalArgs {
  const values = parseFlags(argv, {
    tasks: { type: "string" },
    attempts: { type: "string" },
    "max-steps": { type: "string" },
    only: { type: "string" },
    json: { type: "boolean" },
    ...MODEL_FLAG_OPTIONS,
  });
  const tasks = values.tasks as string | undefined;
  if (!tasks) throw new UsageError("--tasks DIR is required");
  const whole = (name: string, text: string | undefined, fallback: number, max: number) => {
    if (text === undefined) return fallback;
    if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) throw new UsageError(`--${name} takes a whole number from 1 to ${max}`);
    return Number(text);
  };
  const list = (text: unknown) => (typeof text === "string" ? text.split(",").map((s) => s.trim()).filter(Boolean) : undefined);
  // --profile takes a list here: each name is checked as `fix` checks one.
  const profiles = list(values.profile);
  for (const p of profiles ?? []) modelFlags({ profile: p });
  const model = modelFlags({ ...values, profile: undefined });
  return {
    tasks,
    profiles: profiles?.length ? profiles : [undefined],
    attempts: whole("attempts", values.attempts as string | undefined, 1, 5),
    maxSteps: whole("max-steps", values["max-steps"] as string | undefined, 50, 1000),
    ...(list(values.only) ? { only: list(values.only)! } : {}),
    json: values.json === true,
    ...model,
  };
}

export async function runEvalCommand(argv: readonly string[], ctx: CliContext): Promise<ExitCode> {
  const out = (text: string) => ctx.stdout.write(ctx.redact(text));
  const err = (text: string) => ctx.stderr.write(ctx.redact(text));
  if (argv.includes("--help") || argv.includes("-h")) {
    out(EVAL_USAGE);
    return EXIT_CODES.submitted;
  }
  let args: EvalArgs;
  let models: Array<ReturnType<typeof modelOptionsFrom>>;
  let loaded: Awaited<ReturnType<typeof loadTasks>>;
  try {
    args = parseEvalArgs(argv);
    models = args.profiles.map((profile) => modelOptionsFrom(ctx.modelEnv, { ...(profile ? { profile } : {}), ...(args.modelUrls ? { modelUrls: args.modelUrls } : {}), ...(args.model ? { model: args.model } : {}), ...(args.protocol ? { protocol: args.protocol } : {}) }));
    const dir = resolve(ctx.cwd, args.tasks);
    if (!(await stat(dir).catch(() => undefined))?.isDirectory()) throw new UsageError(`--tasks ${args.tasks}: not a directory`);
    loaded = await loadTasks(dir, args.only);
    if (loaded.tasks.length === 0 && loaded.broken.length === 0) throw new UsageError(`--tasks ${args.tasks}: no task directories in it`);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`iquest-bot eval: ${e.message}\n\n${EVAL_USAGE}`);
    return EXIT_CODES.usage;
  }

  const progress = createProgress({ stderr: ctx.stderr, tty: ctx.stderrIsTTY === true, redact: ctx.redact });
  const prompts = await loadPrompts();
  const results: TaskResult[] = [];
  for (const model of models) {
    for (const b of loaded.broken) results.push(emptyResult(b.id, "?", model.profile, b.problem));
    for (const task of loaded.tasks) {
      if (ctx.signal?.aborted) break;
      progress.line(`iquest-bot eval: ${task.id} (${task.spec.language}), profile ${model.profile} …`);
      const result = await runTask(task, model, args, ctx, prompts, (line) => progress.line(`  ${line}`), (e) => progress.step(e, `  ${progressLine(e)}`));
      results.push(result);
      progress.line(`iquest-bot eval: ${task.id}: ${result.error ? `error: ${result.error}` : result.resolved ? "resolved" : "not resolved"} (${(result.durationMs / 1000).toFixed(1)} s)`);
    }
  }
  progress.done();
  if (args.json) out(`${JSON.stringify({ results, profiles: summarize(results) })}\n`);
  else out(`${formatReport(results)}\n`);
  if (ctx.signal?.aborted) return EXIT_CODES.cancelled;
  return results.some((r) => r.error) ? EXIT_CODES.error : EXIT_CODES.submitted;
}

function emptyResult(task: string, language: string, profile: string, error?: string): TaskResult {
  return { task, language, profile, resolved: false, failToPass: [], passToPass: [], attempts: 0, verified: false, steps: 0, tokens: 0, durationMs: 0, ...(error ? { error } : {}) };
}

async function runTask(
  task: EvalTask,
  model: ReturnType<typeof modelOptionsFrom>,
  args: EvalArgs,
  ctx: CliContext,
  prompts: Awaited<ReturnType<typeof loadPrompts>>,
  say: (line: string) => void,
  onStep: Parameters<typeof runCliAttempts>[0]["onStep"],
): Promise<TaskResult> {
  const started = performance.now();
  const work = await mkdtemp(join(ctx.tmpDir ?? tmpdir(), "iquest-eval-"));
  const result = emptyResult(task.id, task.spec.language, model.profile);
  try {
    // A fresh git repository of the snapshot: the fix flow works on a copy of a commit.
    const repo = join(work, "repo");
    await cp(join(task.dir, "repo"), repo, { recursive: true });
    const gitEnv = { PATH: ctx.commandEnv.PATH ?? "/usr/bin:/bin", HOME: work, GIT_CONFIG_NOSYSTEM: "1", GIT_AUTHOR_NAME: "eval", GIT_AUTHOR_EMAIL: "eval@localhost", GIT_COMMITTER_NAME: "eval", GIT_COMMITTER_EMAIL: "eval@localhost" };
    await run("git", ["init", "-q", "-b", "main"], { cwd: repo, env: gitEnv });
    await run("git", ["add", "-A"], { cwd: repo, env: gitEnv });
    await run("git", ["commit", "-q", "-m", `task ${task.id}`], { cwd: repo, env: gitEnv });

    const workspace = await openFixWorkspace({
      repo,
      sandbox: "bwrap",
      setup: task.spec.setup,
      commandEnv: ctx.commandEnv,
      ...sandboxNetworkOf(ctx),
      npmRegistry: ctx.npmRegistry ?? "https://registry.npmjs.org/",
      setupTimeoutMs: ctx.setupTimeoutMs ?? 20 * 60_000,
      ...(ctx.bwrapPath ? { bwrapPath: ctx.bwrapPath } : {}),
      tmpRoot: work,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      say,
    });
    try {
      const testTimeoutMs = ctx.testTimeoutMs ?? DEFAULT_TEST_TIMEOUT_MS;
      const attempts = await runCliAttempts({
        env: workspace.env,
        changes: workspace.changes!,
        plan: workspace.plan ?? null,
        attempts: args.attempts,
        maxSteps: args.maxSteps,
        task: task.spec.issue,
        model: model.input,
        profile: model.profile,
        prompts,
        commandTimeoutMs: ctx.commandTimeoutMs ?? 300_000,
        testTimeoutMs,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        say,
        onStep,
      });
      result.attempts = attempts.records.length;
      result.verified = Boolean(attempts.winner);
      result.steps = attempts.records.reduce((n, r) => n + r.steps, 0);
      result.tokens = attempts.records.reduce((n, r) => n + r.tokens, 0);
      // The hidden tests go in after the agent is done: it never saw them.
      for (const file of await listFiles(join(task.dir, "hidden"))) {
        await workspace.env.writeFile(relative(join(task.dir, "hidden"), file), await readFile(file));
      }
      const runCheck = async (c: { name: string; command: string }): Promise<CheckResult> => {
        const r = await workspace.env.exec(c.command, { timeoutMs: testTimeoutMs, ...(ctx.signal ? { signal: ctx.signal } : {}) });
        return { name: c.name, command: c.command, passed: r.exitCode === 0 && !r.killed, exitCode: r.exitCode };
      };
      for (const c of task.spec.failToPass) result.failToPass.push(await runCheck(c));
      for (const c of task.spec.passToPass) result.passToPass.push(await runCheck(c));
      result.resolved = [...result.failToPass, ...result.passToPass].every((c) => c.passed);
    } finally {
      await workspace.close();
    }
  } catch (e) {
    result.error = e instanceof AttemptStopped ? (e.outcome.kind === "error" ? e.outcome.message : `cancelled (${e.outcome.reason})`) : ((e as Error)?.message ?? String(e));
  } finally {
    result.durationMs = Math.round(performance.now() - started);
    await rm(work, { recursive: true, force: true });
  }
  return result;
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const files: string[] = [];
  for (const e of entries) {
    const full = join(dir, e.name);
    if (e.isDirectory()) files.push(...(await listFiles(full)));
    else if (e.isFile()) files.push(full);
  }
  return files;
}
