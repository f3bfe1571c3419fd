import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { describeOutcome, runAgent, type AgentOutcome } from "../agent/loop.js";
import { createVllmClient } from "../agent/model/vllm-client.js";
import { loadPrompts } from "../agent/prompts.js";
import { createDefaultTools } from "../agent/tools/default-tools.js";
import { buildFixPrompts, detectTestCommand, readRepoInstructions } from "../agent/task-prompt.js";
import { openTrajectoryFile, type TrajectorySink } from "../agent/trajectory.js";
import { parseFixArgs, UsageError, USAGE, type FixArgs } from "./args.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import { openFixWorkspace, type FixWorkspace } from "./fix-workspace.js";
import { sandboxNetworkOf, type CliContext } from "./cli-context.js";
import { exitCodeFor, progressLine } from "./fix-outcome.js";
export { exitCodeFor, progressLine } from "./fix-outcome.js";
import { verifiedFix } from "./fix-attempts.js";
import { createProgress, type Output } from "./progress.js";
import { modelOptionsFrom } from "./model-config.js";

export type { Output } from "./progress.js";

export type { CliContext } from "./cli-context.js";

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
      ...sandboxNetworkOf(ctx),
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
      onModelProgress: (p) => progress.answering(p),
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

