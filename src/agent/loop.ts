import { randomUUID } from "node:crypto";
import { CancelledError, IquestError, PermanentError, cancelledFromSignal, errorMessage, nextStepOf, type NextStep } from "../shared/errors.js";
import { selectAction, type Action } from "./action.js";
import { budgetsSchema, exhaustedBudget, type BudgetName, type Budgets } from "./budgets.js";
import { condenseHistory, defaultCondenseOptions, planCondensation, type CondenseOptions } from "./condense.js";
import type { Environment } from "./environment.js";
import { ContextLengthError } from "./model/errors.js";
import type { ChatMessage, Completion, ModelClient, ToolSpec, Usage } from "./model/types.js";
import { loadPrompts, renderTemplate, type PromptSet } from "./prompts.js";
import { createDefaultTools } from "./tools/default-tools.js";
import type { AnyTool, ToolResult } from "./tools/types.js";
import type { TrajectoryRecord, TrajectorySink } from "./trajectory.js";

/**
 * The agent loop: model ⇄ tools in an Environment, within budgets, until the model submits.
 *
 * Contract:
 * - exactly one outcome per run: submitted, budget-exhausted (steps | tokens | time), cancelled,
 *   or error. `runAgent` never rejects; an unexpected exception becomes the `error` outcome;
 * - the abort signal and the time budget stop the run at once, killing a running command
 *   (the signal is handed to `env.exec`);
 * - the history is append-only and byte-stable between requests (vLLM prefix caching); text
 *   that changes each step (steps remaining) is only in the newest message. Condensation is
 *   the one exception, recorded in the trajectory;
 * - the trajectory gets one record per step, written before the next step starts.
 */

export type AgentOutcome =
  | { kind: "submitted"; summary: string }
  | { kind: "budget-exhausted"; budget: BudgetName; limit: number; used: number }
  | { kind: "cancelled"; reason: CancelledError["reason"] }
  | { kind: "error"; message: string; next: NextStep; error: unknown };

export interface AgentResult {
  runId: string;
  outcome: AgentOutcome;
  steps: number;
  usage: Usage;
  durationMs: number;
  condensations: number;
}

/** One line of progress, after each step (and after each condensation). */
export interface StepEvent {
  kind: "step" | "condensation";
  step: number;
  maxSteps: number;
  /** The tool called, when the step made a valid call. */
  tool?: string;
  /** e.g. "view src/add.js", "$ npm test", "no tool call", "invalid call: …". */
  summary: string;
  isError: boolean;
  elapsedMs: number;
  totalTokens: number;
  /** Time in the model's HTTP call and in the environment's commands during this step. */
  modelMs: number;
  commandMs: number;
}

export interface ContextOptions extends CondenseOptions {
  /** Overrides the window the model client reports. */
  window?: number;
}

export interface AgentRunOptions {
  model: ModelClient;
  /** Writes the summaries when the history is condensed (default: `model`). */
  summarizer?: ModelClient;
  environment: Environment;
  /** The job's system prompt and its first user message (see buildFixPrompts). */
  systemPrompt: string;
  taskPrompt: string;
  /** Default: execute_bash, str_replace_editor, submit. */
  tools?: AnyTool[];
  budgets?: Partial<Budgets>;
  signal?: AbortSignal;
  trajectory?: TrajectorySink;
  onStep?: (event: StepEvent) => void;
  /**
   * The model's answer as it streams in (characters so far, for the step about to happen):
   * a long thinking turn shows life instead of minutes of silence.
   */
  onModelProgress?: (progress: { step: number; chars: number; elapsedMs: number }) => void;
  /** The repo root as commands see it (default: environment.root). */
  workdir?: string;
  context?: Partial<ContextOptions>;
  /** Loaded prompt files (default: loaded from src/agent/prompts). */
  prompts?: PromptSet;
  /** From this many steps left, observations ask the model to wrap up. */
  wrapUpAt?: number;
  runId?: string;
}

type AbortCause = { source: "cancel" } | { source: "time" };

/** Consecutive context overflows without a successful call before the run gives up. */
const MAX_OVERFLOWS = 3;

export async function runAgent(options: AgentRunOptions): Promise<AgentResult> {
  const runId = options.runId ?? randomUUID();
  const parsedBudgets = budgetsSchema.safeParse(options.budgets ?? {});
  if (!parsedBudgets.success) {
    const message = `invalid budgets: ${parsedBudgets.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`;
    const error = new PermanentError(message);
    return { runId, outcome: { kind: "error", message, next: "give-up", error }, steps: 0, usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0 }, durationMs: 0, condensations: 0 };
  }
  const budgets = parsedBudgets.data;
  const context: ContextOptions = { ...defaultCondenseOptions, ...options.context };
  const tools = options.tools ?? createDefaultTools();
  const specs: ToolSpec[] = tools.map((t) => t.spec);
  const { model, environment: env } = options;
  const workdir = options.workdir ?? env.root;
  const wrapUpAt = options.wrapUpAt ?? 3;
  const started = performance.now();
  const elapsed = () => performance.now() - started;

  const usage: Usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
  let steps = 0;
  let condensations = 0;
  let outcome: AgentOutcome | undefined;

  // One controller for the run: the caller's signal and the time budget both abort it, and
  // its signal reaches the model call and the running command.
  const controller = new AbortController();
  const signal = controller.signal;
  const external = options.signal;
  const onExternalAbort = () => controller.abort({ source: "cancel" } satisfies AbortCause);
  if (external?.aborted) onExternalAbort();
  else external?.addEventListener("abort", onExternalAbort, { once: true });
  const deadline = setTimeout(() => controller.abort({ source: "time" } satisfies AbortCause), budgets.maxWallClockMs);

  const write = (record: TrajectoryRecord) => options.trajectory?.write(record);
  const addUsage = (u: Usage) => {
    usage.promptTokens += u.promptTokens;
    usage.completionTokens += u.completionTokens;
    usage.totalTokens += u.totalTokens;
  };
  const outcomeOfAbort = (): AgentOutcome => {
    const cause = signal.reason as AbortCause | undefined;
    if (cause?.source === "time") {
      return { kind: "budget-exhausted", budget: "time", limit: budgets.maxWallClockMs, used: Math.round(elapsed()) };
    }
    return { kind: "cancelled", reason: external ? cancelledFromSignal(external).reason : "stop" };
  };

  try {
    if (signal.aborted) throw cancelledFromSignal(signal);
    const prompts = options.prompts ?? (await loadPrompts());
    let window = context.window;
    if (window === undefined) {
      try {
        window = await model.contextWindow(signal);
      } catch (err) {
        if (signal.aborted) throw err;
        window = undefined; // unknown: condense only when the server reports an overflow
      }
    }
    write({
      type: "run-start",
      runId,
      startedAt: new Date().toISOString(),
      model: model.model,
      protocol: model.protocol,
      sessionId: model.sessionId,
      environment: env.description,
      workdir,
      budgets,
      contextWindow: window ?? null,
      tools: specs.map((s) => s.name),
      systemPrompt: options.systemPrompt,
      taskPrompt: options.taskPrompt,
    });

    let history: ChatMessage[] = [
      { role: "system", content: options.systemPrompt },
      { role: "user", content: options.taskPrompt },
    ];
    // Token estimate of the history: exact up to the last answered request, chars/3 after it.
    let known: { tokens: number; length: number } | undefined;
    const estimateTokens = () => {
      const from = known ? known.length : 0;
      let chars = known ? 0 : JSON.stringify(specs).length;
      for (let i = from; i < history.length; i++) {
        const m = history[i];
        chars += m.content.length + (m.role === "assistant" ? (m.reasoning?.length ?? 0) + JSON.stringify(m.toolCalls ?? []).length : 0);
      }
      return (known?.tokens ?? 0) + Math.ceil(chars / 3);
    };
    // IQuest kept the last 60 messages; never more than half of what follows the head, so that
    // every condensation shrinks the prompt even when the window is small.
    const keepLastNow = () => Math.min(context.keepLast, Math.floor((history.length - context.keepFirst) / 2));
    const reserve = () => (window ? Math.min(model.maxTokens, Math.floor(window / 4)) : model.maxTokens);

    const condense = async (reason: "threshold" | "overflow", keepLast: number): Promise<boolean> => {
      const plan = planCondensation(history, context.keepFirst, keepLast);
      if (!plan) return false;
      const before = { messages: history.length, tokensEstimate: estimateTokens() };
      const result = await condenseHistory({ plan, model: options.summarizer ?? model, prompts, contextWindow: window, options: context, signal });
      addUsage(result.usage);
      history = result.history;
      known = undefined;
      condensations++;
      write({
        type: "condensation",
        beforeStep: steps + 1,
        reason,
        messagesBefore: before.messages,
        messagesAfter: history.length,
        removedMessages: result.removedMessages,
        keptFirst: plan.head.length,
        keptLast: plan.tail.length,
        tokensEstimateBefore: before.tokensEstimate,
        summary: result.summary,
        dropped: result.dropped,
        usage: result.usage,
        modelMs: Math.round(result.modelMs),
        totalUsage: { ...usage },
      });
      options.onStep?.({
        kind: "condensation",
        step: steps,
        maxSteps: budgets.maxSteps,
        summary: `condensed ${result.removedMessages} messages (${reason})${result.dropped ? ", summary failed: dropped" : ""}`,
        isError: result.dropped,
        elapsedMs: elapsed(),
        totalTokens: usage.totalTokens,
        modelMs: result.modelMs,
        commandMs: 0,
      });
      return true;
    };

    let overflows = 0;
    for (;;) {
      if (signal.aborted) throw cancelledFromSignal(signal);
      const spent = exhaustedBudget(budgets, { steps, tokens: usage.totalTokens, elapsedMs: elapsed() });
      if (spent) {
        outcome = { kind: "budget-exhausted", ...spent };
        break;
      }

      if (window && estimateTokens() > (window - reserve()) * context.thresholdRatio) {
        // When nothing can be condensed, go on: an overflow from the server condenses harder.
        await condense("threshold", keepLastNow());
      }

      const stepStarted = performance.now();
      let completion: Completion;
      try {
        const room = window ? window - estimateTokens() - 64 : undefined;
        // The run's token budget holds mid-call too: the answer may use what is left after this
        // prompt (the server stops there, finish_reason "length": a truncated turn), so a long
        // thinking turn cannot overshoot the budget by a whole max_tokens.
        const budgetRoom = Number.isFinite(budgets.maxTotalTokens) ? budgets.maxTotalTokens - usage.totalTokens - estimateTokens() : undefined;
        const caps = [room, budgetRoom].filter((v): v is number => v !== undefined && v < model.maxTokens);
        const maxTokens = caps.length ? Math.max(256, Math.min(...caps)) : undefined;
        const onModelProgress = options.onModelProgress;
        completion = await model.complete(history, specs, {
          signal,
          ...(maxTokens ? { maxTokens } : {}),
          ...(onModelProgress ? { onProgress: (p: { chars: number }) => onModelProgress({ step: steps + 1, chars: p.chars, elapsedMs: performance.now() - stepStarted }) } : {}),
        });
      } catch (err) {
        if (!(err instanceof ContextLengthError) || signal.aborted) throw err;
        if (err.maxContextTokens && (!window || err.maxContextTokens < window)) window = err.maxContextTokens;
        if (++overflows > MAX_OVERFLOWS) throw err;
        if (!(await condense("overflow", keepLastNow()))) throw err;
        continue;
      }
      overflows = 0;
      steps++;
      addUsage(completion.usage);
      history.push(completion.message);
      known = { tokens: completion.usage.promptTokens + completion.usage.completionTokens, length: history.length };
      if (known.tokens === 0) known = undefined; // the server reported no usage

      const action = selectAction(completion, tools);
      const stepsLeft = Math.max(0, budgets.maxSteps - steps);
      const observe = (text: string) =>
        renderTemplate(prompts.observation, { output: text, steps_remaining: stepsLeft, wrap_up: stepsLeft <= wrapUpAt ? "yes" : "" });

      let result: ToolResult | undefined;
      let summary: string;
      let toolMs = 0;
      switch (action.kind) {
        case "call": {
          const toolStarted = performance.now();
          try {
            result = await action.tool.run(action.args, { env, signal, workdir });
          } catch (err) {
            if (signal.aborted) throw err;
            result = { output: `Error: ${action.call.name} failed: ${errorMessage(err)}`, isError: true };
          }
          toolMs = performance.now() - toolStarted;
          history.push({
            role: "tool",
            toolCallId: action.call.id,
            name: action.call.name,
            content: observe(result.output),
            protocol: action.call.protocol,
          });
          summary = action.tool.describe(action.args);
          break;
        }
        case "invalid": {
          const message = renderTemplate(prompts["malformed-call"], {
            problem: action.problem,
            tool_names: specs.map((s) => s.name).join(", "),
          });
          history.push(...answerInvalid(action, observe(message)));
          summary = `invalid call: ${action.problem}`;
          break;
        }
        case "no-call":
          history.push({ role: "user", content: observe(prompts["no-tool-call"]) });
          summary = "no tool call";
          break;
        case "truncated":
          history.push({
            role: "user",
            content: observe(renderTemplate(prompts["truncated-turn"], { max_tokens: model.maxTokens })),
          });
          summary = "answer cut off while thinking";
          break;
      }

      const commandMs = result?.commandMs ?? 0;
      const isError = action.kind !== "call" || result?.isError === true;
      write({
        type: "step",
        step: steps,
        request: completion.request,
        endpoint: completion.endpoint,
        attempts: completion.attempts,
        response: {
          reasoning: completion.reasoning,
          content: completion.content,
          finishReason: completion.finishReason,
          toolCalls: completion.toolCalls.map((c) => ({ id: c.id, name: c.name, arguments: c.arguments, protocol: c.protocol })),
        },
        action:
          action.kind === "call"
            ? { kind: "call", tool: action.call.name, args: action.args }
            : { kind: action.kind, ...(action.kind === "invalid" ? { problem: action.problem } : {}) },
        observation: history[history.length - 1].content,
        isError,
        timings: {
          modelMs: round(completion.httpMs),
          toolMs: round(toolMs),
          commandMs: round(commandMs),
          stepMs: round(performance.now() - stepStarted),
        },
        usage: completion.usage,
        totalUsage: { ...usage },
      });
      options.onStep?.({
        kind: "step",
        step: steps,
        maxSteps: budgets.maxSteps,
        ...(action.kind === "call" ? { tool: action.call.name } : {}),
        summary,
        isError,
        elapsedMs: elapsed(),
        totalTokens: usage.totalTokens,
        modelMs: completion.httpMs,
        commandMs,
      });

      if (signal.aborted) throw cancelledFromSignal(signal);
      if (result?.submitted) {
        outcome = { kind: "submitted", summary: result.submitted.summary };
        break;
      }
    }
  } catch (err) {
    if (signal.aborted) outcome = outcomeOfAbort();
    else {
      outcome = {
        kind: "error",
        message: err instanceof IquestError ? err.message : `unexpected error in the agent loop: ${errorMessage(err)}`,
        next: nextStepOf(err),
        error: err,
      };
    }
  } finally {
    clearTimeout(deadline);
    external?.removeEventListener("abort", onExternalAbort);
  }

  const result: AgentResult = {
    runId,
    outcome: outcome ?? { kind: "error", message: "the loop ended without an outcome", next: "give-up", error: undefined },
    steps,
    usage,
    durationMs: elapsed(),
    condensations,
  };
  try {
    write({
      type: "end",
      runId,
      endedAt: new Date().toISOString(),
      outcome: describeOutcome(result.outcome),
      steps,
      usage,
      durationMs: round(result.durationMs),
      condensations,
    });
  } catch {
    // The trajectory is a record of the run, not the run: a failed last write changes nothing.
  }
  return result;
}

/** Tool results for an invalid turn. Every native call id gets an answer (the API requires one);
 * the explanation, with the steps left, goes last so it is the newest message. */
function answerInvalid(action: Extract<Action, { kind: "invalid" }>, explanation: string): ChatMessage[] {
  const native = action.calls.filter((c) => c.protocol === "native");
  if (native.length > 0) {
    return native.map((c, i) => ({
      role: "tool" as const,
      toolCallId: c.id,
      name: c.name,
      protocol: "native" as const,
      content: i === native.length - 1 ? explanation : "Not executed: see the error in the last tool result.",
    }));
  }
  return [{ role: "user", content: explanation }];
}

/** The outcome without the error object, for JSON (trajectory, CLI --json). */
export function describeOutcome(outcome: AgentOutcome): Record<string, unknown> {
  if (outcome.kind !== "error") return { ...outcome };
  const err = outcome.error as { name?: unknown } | undefined;
  return { kind: "error", message: outcome.message, next: outcome.next, errorName: typeof err?.name === "string" ? err.name : undefined };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
