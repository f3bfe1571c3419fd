import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { describeOutcome, runAgent, type AgentOutcome, type StepEvent } from "../agent/loop.js";
import { ModelRequestError, ModelUnavailableError } from "../agent/model/errors.js";
import { createVllmClient } from "../agent/model/vllm-client.js";
import { loadPrompts } from "../agent/prompts.js";
import { createDefaultTools } from "../agent/tools/default-tools.js";
import { buildFixPrompts, detectTestCommand, readRepoInstructions } from "../agent/task-prompt.js";
import { openTrajectoryFile, type TrajectorySink } from "../agent/trajectory.js";
import type { Redact } from "../shared/redact.js";
import { parseFixArgs, UsageError, USAGE, type FixArgs } from "./args.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import { openFixWorkspace, type FixWorkspace } from "./fix-workspace.js";
import { verifiedFix } from "./fix-attempts.js";
import { createProgress, type Output } from "./progress.js";
import { modelOptionsFrom, type CliModelEnv } from "./model-config.js";

export type { Output } from "./progress.js";

/** Everything the CLI needs from its process, passed in by src/main/cli.ts (or a test). */
export interface CliContext {
  stdout: Output;
  stderr: Output;
  /** Read for `--issue -`. */
  stdin?: AsyncIterable<Buffer | string>;
  cwd: string;
  /** MODEL_* settings. */
  modelEnv: CliModelEnv;
  /** The complete environment for the agent's commands: PATH, HOME, LANG; no secrets. */
  commandEnv: Readonly<Record<string, string>>;
  /** Every string printed passes it (the API key, tokens the model may echo). */
  redact: Redact;
  /** Ctrl-C. */
  signal?: AbortSignal;
  /** Per command run by the agent. */
  commandTimeoutMs?: number;
  /** Per test run (`--attempts`: the baseline, each verification); default 15 minutes. */
  testTimeoutMs?: number;
  /** $NPM_REGISTRY: for `upgrade`, and what sandboxed setup may reach besides EGRESS_ALLOW. */
  npmRegistry?: string;
  /** $EGRESS_ALLOW: what sandboxed setup may reach (default: the public registries). */
  egressAllow?: string;
  /** Longest dependency install in the sandbox (default 20 minutes, as the worker's). */
  setupTimeoutMs?: number;
  /** The bubblewrap binary (default: `bwrap` on the system PATH). */
  bwrapPath?: string;
  /** Where sandboxed runs make their copy (default: the system's temporary directory). */
  tmpDir?: string;
  /** stderr is a terminal: progress is one live line. */
  stderrIsTTY?: boolean;
  /** GOPROXY, GOPRIVATE, GONOPROXY, GOSUMDB, PIP_INDEX_URL: where the user's own tools get packages (upgrade's lookups, and setup in the sandbox). */
  registryEnv?: Readonly<Record<string, string | undefined>>;
}

const DEFAULT_MAX_STEPS = 50;
const DEFAULT_NPM_REGISTRY = "https://registry.npmjs.org/";
const DEFAULT_SETUP_TIMEOUT_MS = 20 * 60_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 300_000;

export async function runFixCommand(argv: readonly string[], ctx: CliContext): Promise<ExitCode> {
  const out = (text: string) => ctx.stdout.write(ctx.redact(text));
  const err = (text: string) => ctx.stderr.write(ctx.redact(text));
  if (argv.includes("--help") || argv.includes("-h")) {
    out(USAGE);
    return EXIT_CODES.submitted;
  }

  let args: FixArgs;
  let task: string;
  let repo: string;
  let chosen: ReturnType<typeof modelOptionsFrom>;
  try {
    args = parseFixArgs(argv);
    repo = resolve(ctx.cwd, args.repo);
    const info = await stat(repo).catch(() => undefined);
    if (!info?.isDirectory()) throw new UsageError(`--repo ${args.repo}: not a directory`);
    task = args.issueText ?? (await readIssue(args.issueFile!, ctx));
    if (task.trim() === "") throw new UsageError("the task text is empty");
    chosen = modelOptionsFrom(ctx.modelEnv, args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`iquest-bot fix: ${e.message}\n\n${USAGE}`);
    return EXIT_CODES.usage;
  }

  let trajectory: TrajectorySink | undefined;
  if (args.trajectory) {
    try {
      trajectory = openTrajectoryFile(resolve(ctx.cwd, args.trajectory), { redact: ctx.redact });
    } catch (e) {
      err(`iquest-bot fix: --trajectory ${args.trajectory}: ${(e as Error).message}\n`);
      return EXIT_CODES.usage;
    }
  }

  const progress = createProgress({ stderr: ctx.stderr, tty: ctx.stderrIsTTY === true, redact: ctx.redact, ...(args.events ? { events: ctx.stdout } : {}) });
  let workspace: FixWorkspace;
  try {
    workspace = await openFixWorkspace({
      repo,
      sandbox: args.sandbox,
      ...(args.branch ? { branch: args.branch } : {}),
      setup: args.setup,
      commandEnv: ctx.commandEnv,
      ...(ctx.egressAllow ? { egressAllow: ctx.egressAllow } : {}),
      ...(ctx.registryEnv ? { registryEnv: ctx.registryEnv } : {}),
      npmRegistry: ctx.npmRegistry ?? DEFAULT_NPM_REGISTRY,
      setupTimeoutMs: ctx.setupTimeoutMs ?? DEFAULT_SETUP_TIMEOUT_MS,
      ...(ctx.bwrapPath ? { bwrapPath: ctx.bwrapPath } : {}),
      ...(ctx.tmpDir ? { tmpRoot: ctx.tmpDir } : {}),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      say: (line) => progress.line(line),
    });
  } catch (e) {
    progress.done();
    trajectory?.close();
    if (e instanceof UsageError) {
      err(`iquest-bot fix: ${e.message}\n`);
      return EXIT_CODES.usage;
    }
    if (ctx.signal?.aborted) {
      err("iquest-bot fix: interrupted before the agent started; your checkout is untouched\n");
      return EXIT_CODES.cancelled;
    }
    throw e;
  }
  const env = workspace.env;
  try {
    const model = createVllmClient(chosen.input);
    const commandTimeoutMs = ctx.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    const prompts = await loadPrompts();
    const fix = buildFixPrompts(prompts, {
      task,
      workdir: env.root,
      repoInstructions: await readRepoInstructions(env),
      testCommand: await detectTestCommand(env),
      commandTimeoutMs,
    });
    const maxSteps = args.maxSteps ?? DEFAULT_MAX_STEPS;
    err(
      `iquest-bot fix: ${repo} (${workspace.description}); profile ${chosen.profile}: model ${model.model} at ${model.baseUrls.join(", ")}, ${model.protocol} tool calls; up to ${maxSteps} steps\n`,
    );
    if (fix.hiddenRemoved > 0) err(`iquest-bot fix: removed ${fix.hiddenRemoved} hidden item(s) (HTML comments, invisible characters) from the task\n`);

    if (args.attempts) return await verifiedFix(args, { ctx, workspace, model: chosen.input, profile: chosen.profile, prompts, task, commandTimeoutMs, progress, trajectory, out, err });

    const result = await runAgent({
      model,
      environment: env,
      systemPrompt: fix.systemPrompt,
      taskPrompt: fix.taskPrompt,
      tools: createDefaultTools({ bash: { timeoutMs: commandTimeoutMs } }),
      budgets: { maxSteps },
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      ...(trajectory ? { trajectory } : {}),
      onStep: (event) => progress.step(event, progressLine(event)),
    });
    progress.done();

    const delivery = await workspace.deliver(result.outcome, result.runId, task);
    const diff = delivery.diff;
    if (delivery.note) err(`iquest-bot fix: ${delivery.note}\n`);
    const summary = result.outcome.kind === "submitted" ? result.outcome.summary : undefined;
    if (args.json || args.events) {
      out(
        `${JSON.stringify({
          ...(args.events ? { type: "result" } : {}),
          outcome: describeOutcome(result.outcome),
          profile: chosen.profile,
          model: model.model,
          summary: summary ?? null,
          diff: diff ?? null,
          steps: result.steps,
          usage: result.usage,
          durationMs: Math.round(result.durationMs),
          condensations: result.condensations,
          runId: result.runId,
          trajectory: args.trajectory ? resolve(ctx.cwd, args.trajectory) : null,
          sandbox: args.sandbox,
          applied: delivery.applied,
          patch: delivery.patchFile ?? null,
          branch: delivery.branch ?? null,
        })}\n`,
      );
    } else {
      out(`Outcome: ${outcomeText(result.outcome)}\n`);
      out(`Steps: ${result.steps}, tokens: ${result.usage.totalTokens}, time: ${(result.durationMs / 1000).toFixed(1)} s\n`);
      if (summary !== undefined) out(`\nSummary:\n${summary || "(the agent gave no summary)"}\n`);
      if (diff === undefined) out("\n(not a git repository: no diff)\n");
      else out(diff ? `\nDiff:\n${diff}` : "\nDiff: (no changes)\n");
    }
    return exitCodeFor(result.outcome);
  } finally {
    trajectory?.close();
    await workspace.close();
  }
}

async function readIssue(file: string, ctx: CliContext): Promise<string> {
  if (file === "-") {
    if (!ctx.stdin) throw new UsageError("--issue -: no standard input");
    let text = "";
    for await (const chunk of ctx.stdin) text += chunk.toString();
    return text;
  }
  try {
    return await readFile(resolve(ctx.cwd, file), "utf8");
  } catch (e) {
    throw new UsageError(`--issue ${file}: ${(e as Error).message}`);
  }
}

export function progressLine(e: StepEvent): string {
  const width = String(e.maxSteps).length;
  const where = `[step ${String(e.step).padStart(width)}/${e.maxSteps}]`;
  const what = e.kind === "condensation" ? e.summary : `${e.tool ?? "-"}: ${e.summary}`;
  const flag = e.isError ? " !" : "";
  return `${where} ${what}${flag}  (${(e.elapsedMs / 1000).toFixed(1)} s, ${e.totalTokens.toLocaleString("en-US")} tokens)`;
}

function outcomeText(outcome: AgentOutcome): string {
  switch (outcome.kind) {
    case "submitted":
      return "submitted";
    case "budget-exhausted":
      return `budget exhausted: ${outcome.budget} (limit ${outcome.limit}, used ${outcome.used})`;
    case "cancelled":
      return `cancelled (${outcome.reason})`;
    case "error":
      return `error: ${outcome.message}`;
  }
}

export function exitCodeFor(outcome: AgentOutcome): ExitCode {
  switch (outcome.kind) {
    case "submitted":
      return EXIT_CODES.submitted;
    case "budget-exhausted":
      return EXIT_CODES.budgetExhausted;
    case "cancelled":
      return EXIT_CODES.cancelled;
    case "error":
      if (outcome.error instanceof ModelUnavailableError) return EXIT_CODES.modelUnreachable;
      if (outcome.error instanceof ModelRequestError) return EXIT_CODES.modelRefused;
      return EXIT_CODES.error;
  }
}
