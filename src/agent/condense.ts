import { ContextLengthError } from "./model/errors.js";
import type { ChatMessage, ModelClient, Usage } from "./model/types.js";
import { renderTemplate, type PromptSet } from "./prompts.js";
import { cutMiddle } from "./tools/truncate.js";

/**
 * Context condensation, as IQuest's runs did it: when the history nears the context window (or
 * the server says it overflowed), keep the first messages (system prompt, task) and the most
 * recent ones, and replace the middle with a summary the model writes. The prefix changes once
 * here; from then on the history is append-only again.
 */

export interface CondenseOptions {
  /** Messages kept at the start: the system prompt and the task. */
  keepFirst: number;
  /** Messages kept at the end (IQuest kept 60). */
  keepLast: number;
  /** Condense when the estimated prompt passes this share of the room left for it. */
  thresholdRatio: number;
  /** Tokens allowed for the summary answer (thinking included). */
  summaryMaxTokens: number;
}

export const defaultCondenseOptions: CondenseOptions = {
  keepFirst: 2,
  keepLast: 60,
  thresholdRatio: 0.85,
  summaryMaxTokens: 8192,
};

export interface CondensePlan {
  head: ChatMessage[];
  middle: ChatMessage[];
  tail: ChatMessage[];
}

/**
 * Split the history. The tail starts at an assistant message so that a native tool call is never
 * separated from its result. Undefined when there is no middle worth summarizing.
 */
export function planCondensation(history: readonly ChatMessage[], keepFirst: number, keepLast: number): CondensePlan | undefined {
  const n = history.length;
  if (n <= keepFirst + 1) return undefined;
  let tailStart = Math.max(keepFirst, n - keepLast);
  while (tailStart < n && history[tailStart].role !== "assistant") tailStart++;
  if (tailStart >= n) {
    // No assistant message in the kept tail: look back for the latest one after the head.
    tailStart = n - 1;
    while (tailStart > keepFirst && history[tailStart].role !== "assistant") tailStart--;
  }
  if (tailStart - keepFirst < 2) return undefined;
  return {
    head: history.slice(0, keepFirst),
    middle: history.slice(keepFirst, tailStart),
    tail: history.slice(tailStart),
  };
}

/** The middle of the history as plain text for the summarizer, long parts cut. */
export function renderForSummary(messages: readonly ChatMessage[], maxPartChars = 3000): string {
  const cut = (s: string) => cutMiddle(s, { maxLines: 120, maxChars: maxPartChars });
  return messages
    .map((m) => {
      switch (m.role) {
        case "assistant": {
          const parts = ["[agent]"];
          if (m.reasoning) parts.push(`(thinking) ${cut(m.reasoning)}`);
          if (m.content) parts.push(cut(m.content));
          for (const c of m.toolCalls ?? []) if (c.protocol === "native") parts.push(`(tool call) ${c.name} ${cut(c.arguments)}`);
          return parts.join("\n");
        }
        case "tool":
          return `[result of ${m.name}]\n${cut(m.content)}`;
        default:
          return `[${m.role}]\n${cut(m.content)}`;
      }
    })
    .join("\n\n");
}

export interface CondenseResult {
  history: ChatMessage[];
  summary: string;
  /** The summary could not be written; the middle was dropped with a note instead. */
  dropped: boolean;
  removedMessages: number;
  usage: Usage;
  modelMs: number;
}

/**
 * Ask the model for a summary of `plan.middle` and build the new history. The summarizer sees
 * only the middle (never the whole history, which may not fit). If even that overflows, it is
 * cut harder once; after that the middle is dropped with a note, so the run can go on.
 */
export async function condenseHistory(args: {
  plan: CondensePlan;
  model: ModelClient;
  prompts: PromptSet;
  contextWindow: number | undefined;
  options: CondenseOptions;
  signal: AbortSignal;
}): Promise<CondenseResult> {
  const { plan, model, prompts, options, signal } = args;
  const maxTokens = Math.min(model.maxTokens, options.summaryMaxTokens);
  // About 3 characters per token for code and logs; leave room for the summary and the prompt.
  let budgetChars = args.contextWindow ? Math.max(2000, (args.contextWindow - maxTokens - 1000) * 3) : 200_000;
  const usage: Usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
  const started = performance.now();
  let summary = "";
  for (let attempt = 0; attempt < 2 && summary === ""; attempt++) {
    const text = cutMiddle(renderForSummary(plan.middle), { maxLines: Number.MAX_SAFE_INTEGER, maxChars: budgetChars });
    try {
      const completion = await model.complete(
        [
          { role: "system", content: prompts.condense },
          { role: "user", content: text },
        ],
        [],
        { signal, maxTokens },
      );
      usage.promptTokens += completion.usage.promptTokens;
      usage.completionTokens += completion.usage.completionTokens;
      usage.totalTokens += completion.usage.totalTokens;
      summary = completion.content.trim();
      if (summary === "") break;
    } catch (err) {
      if (!(err instanceof ContextLengthError)) throw err;
      budgetChars = Math.floor(budgetChars / 3);
    }
  }
  const dropped = summary === "";
  const note = dropped ? "(No summary could be written. Look at the files again if you need what happened there.)" : summary;
  const condensed: ChatMessage = {
    role: "user",
    content: renderTemplate(prompts["condensed-history"], { count: plan.middle.length, summary: note }),
  };
  return {
    history: [...plan.head, condensed, ...plan.tail],
    summary: note,
    dropped,
    removedMessages: plan.middle.length,
    usage,
    modelMs: performance.now() - started,
  };
}
