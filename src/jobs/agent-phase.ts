import type { RepoConfig } from "../config/repo-config.js";
import type { ModelProfile, ModelUse } from "../config/model-profiles.js";
import type { Environment } from "../agent/environment.js";
import { runAgent, type AgentResult, type StepEvent } from "../agent/loop.js";
import { ModelRequestError, ModelUnavailableError, ContextLengthError } from "../agent/model/errors.js";
import { createVllmClient } from "../agent/model/vllm-client.js";
import type { AnyTool } from "../agent/tools/types.js";
import { openTrajectoryFile, type TrajectorySink } from "../agent/trajectory.js";
import { PermanentError, TransientError, cancelledFromSignal } from "../shared/errors.js";
import { addWarning, setPhase, type CardState } from "./job-card.js";
import { recordAgentRun } from "../shared/recorders.js";
import { chooseProfile, clientDepsFor, clientOptionsFor, unavailableMessage } from "./model-for-job.js";
import type { JobContext } from "./run-job.js";
import type { JobServices } from "./services.js";

/**
 * The "agent" phase every job shares: pick the model profile (the repo may choose among the
 * operator's; an unknown name is said on the card, never silently swapped), run the loop with
 * the job's budgets, tick the card now and then, and write the trajectory where the run viewer
 * finds it. Model trouble becomes a typed error that names the profile.
 */
export interface AgentPhaseOptions {
  use: ModelUse;
  /** The repo's choice from .github/iquest.yml, if any. */
  repoProfile?: string;
  phase: string;
  env: Environment;
  /** The repo root as commands see it (the sandbox's /workspace). */
  workdir: string;
  systemPrompt: string;
  taskPrompt: string;
  budget: RepoConfig["fix"]["budget"];
  tools?: AnyTool[];
  /** Sampling seed (a fix's retry samples differently). */
  seed?: number;
  /** A fix's attempt number: later attempts add to the run's trajectory instead of replacing it. */
  attempt?: number;
}

export interface AgentPhaseResult {
  result: AgentResult;
  profile: ModelProfile;
  trajectoryPath: string;
  /** One line per step (tool and a short summary), for "what was tried" and the PR's excerpt. */
  steps: StepEvent[];
}

export async function runAgentPhase(ctx: JobContext, services: JobServices, options: AgentPhaseOptions): Promise<AgentPhaseResult> {
  const { card, signal } = ctx;
  const choice = chooseProfile(ctx.models.profiles, options.use, options.repoProfile);
  const profile = choice.profile;
  await card.update((s) => {
    let next: CardState = { ...s, footer: { ...s.footer, profile: profile.name, model: profile.model } };
    if (choice.problem) next = addWarning(next, choice.problem);
    return setPhase(next, options.phase, "running", `step 0 of ${options.budget.maxSteps}`);
  });

  const model = createVllmClient(
    // One session per job: a prefix-aware router keeps the run on one replica; the cache salt
    // keeps one installation's prompts out of another's prefix cache. The gate (src/capacity)
    // keeps the GPUs busy without drowning them, across all workers.
    clientOptionsFor(ctx.models, profile, {
      sessionId: ctx.jobId,
      cacheSalt: `installation-${ctx.payload.installationId}`,
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
    }),
    clientDepsFor(ctx.models, profile),
  );
  // The operator may give context summaries to another profile (e.g. a fast Instruct model).
  const condense = chooseProfile(ctx.models.profiles, "condense").profile;
  const summarizer =
    condense.name === profile.name
      ? undefined
      : createVllmClient(
          clientOptionsFor(ctx.models, condense, { sessionId: `${ctx.jobId}-condense`, cacheSalt: `installation-${ctx.payload.installationId}` }),
          clientDepsFor(ctx.models, condense),
        );
  const trajectoryPath = ctx.runs.pathFor(ctx.jobId);
  const trajectory = withRunFields(openTrajectoryFile(trajectoryPath, { redact: ctx.redact, append: (options.attempt ?? 1) > 1 }), {
    jobId: ctx.jobId,
    jobKind: ctx.payload.kind,
    repo: ctx.payload.repo,
    profile: profile.name,
    ...(options.attempt ? { attempt: options.attempt } : {}),
  });
  let result: AgentResult;
  const steps: StepEvent[] = [];
  let lastAnswering = 0;
  try {
    result = await runAgent({
      model,
      ...(summarizer ? { summarizer } : {}),
      environment: options.env,
      workdir: options.workdir,
      systemPrompt: options.systemPrompt,
      taskPrompt: options.taskPrompt,
      ...(options.tools ? { tools: options.tools } : {}),
      budgets: {
        maxSteps: options.budget.maxSteps,
        maxTotalTokens: options.budget.maxTokens,
        maxWallClockMs: Math.round(options.budget.maxMinutes * 60_000),
      },
      signal,
      trajectory,
      runId: ctx.jobId,
      onModelProgress: (p) => {
        // A long thinking turn: say it is alive (about 4 characters a token), every 5 s at most.
        const now = Date.now();
        if (p.elapsedMs < 5000 || now - lastAnswering < 5000) return;
        lastAnswering = now;
        const detail = `step ${p.step} of ${options.budget.maxSteps} · the model is answering (~${Math.round(p.chars / 4).toLocaleString("en-US")} tokens so far)`;
        void card.update((s) => setPhase(s, options.phase, "running", detail), { progress: true }).catch(() => {});
      },
      onStep: (event) => {
        steps.push(event);
        const detail = `step ${event.step} of ${event.maxSteps} · ${event.totalTokens.toLocaleString("en-US")} tokens`;
        void card.update((s) => setPhase(s, options.phase, "running", detail), { progress: true }).catch(() => {});
      },
    });
  } finally {
    trajectory.close();
  }

  const outcome = result.outcome;
  recordAgentRun(ctx.metrics, ctx.payload.kind, result, { profile: profile.name, model: profile.model, outcome: outcome.kind });
  if (outcome.kind === "cancelled") throw cancelledFromSignal(signal);
  if (outcome.kind === "error") {
    const e = outcome.error;
    if (e instanceof ModelUnavailableError) throw new TransientError(e.message, { userMessage: unavailableMessage(profile, e.userMessage), cause: e });
    if (e instanceof ModelRequestError || e instanceof ContextLengthError) {
      throw new PermanentError(e.message, { userMessage: `Profile \`${profile.name}\` (\`${profile.model}\`): ${e.userMessage}`, cause: e });
    }
  }
  return { result, profile, trajectoryPath, steps };
}

/** Add job fields to the trajectory's run-start record (readers ignore unknown fields). */
function withRunFields(sink: TrajectorySink, fields: Record<string, unknown>): TrajectorySink {
  return {
    write: (record) => sink.write(record.type === "run-start" ? { ...record, ...fields } : record),
    close: () => sink.close(),
  };
}
