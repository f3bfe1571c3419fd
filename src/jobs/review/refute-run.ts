import type { ModelClient } from "../../agent/model/types.js";
import { createVllmClient } from "../../agent/model/vllm-client.js";
import type { ModelProfile } from "../../config/model-profiles.js";
import { clientDepsFor, clientOptionsFor } from "../model-for-job.js";
import type { JobContext } from "../run-job.js";
import { severityRank } from "./finding.js";
import type { GatedFinding, GateResult } from "./gate.js";
import { applyRefutes, parseRefuteVerdict, refuteMessages, type RefuteOutcome, type RefuteVerdict } from "./refute.js";

/**
 * The refute pass's I/O (refute.ts decides): one short call per finding, most severe first, until
 * `maxTokens` is spent. An error or an answer without a verdict leaves the finding as found; a
 * cancelled run stops the pass. Used by the review job (the reviewer's profile, its own session)
 * and by `iquest-bot review` (its model).
 */
export const REFUTE_CALL_MAX_TOKENS = 4096;

export async function runRefutePass(
  model: ModelClient,
  gate: GateResult,
  readFile: (path: string) => string | undefined,
  options: { maxTokens: number; signal?: AbortSignal; warn?: (message: string, path: string) => void },
): Promise<RefuteOutcome & { tokens: number }> {
  const verdicts = new Map<GatedFinding, RefuteVerdict | undefined>();
  let tokens = 0;
  // Most severe first: when the budget runs out, the findings that matter most were checked.
  const order = [...gate.inline, ...gate.summary].sort((a, b) => severityRank(b.finding.severity) - severityRank(a.finding.severity));
  for (const g of order) {
    const text = readFile(g.finding.path);
    if (tokens >= options.maxTokens || text === undefined) {
      verdicts.set(g, undefined);
      continue;
    }
    try {
      const answer = await model.complete(refuteMessages(g, text), [], { maxTokens: REFUTE_CALL_MAX_TOKENS, ...(options.signal ? { signal: options.signal } : {}) });
      tokens += answer.usage.totalTokens;
      verdicts.set(g, answer.truncatedInThinking ? undefined : parseRefuteVerdict(answer.content));
    } catch (err) {
      if (options.signal?.aborted) throw err;
      options.warn?.((err as Error).message, g.finding.path);
      verdicts.set(g, undefined);
    }
  }
  return { ...applyRefutes(gate, verdicts), tokens };
}

/** The job's pass: the reviewer's profile, in a session of its own (a separate, short context). */
export function refuteFindings(
  ctx: Pick<JobContext, "models" | "jobId" | "payload" | "signal" | "log">,
  profile: ModelProfile,
  gate: GateResult,
  readFile: (path: string) => string | undefined,
  maxTokens: number,
): Promise<RefuteOutcome & { tokens: number }> {
  const model = createVllmClient(
    clientOptionsFor(ctx.models, profile, { sessionId: `${ctx.jobId}-refute`, cacheSalt: `installation-${ctx.payload.installationId}` }),
    clientDepsFor(ctx.models, profile),
  );
  return runRefutePass(model, gate, readFile, {
    maxTokens,
    signal: ctx.signal,
    warn: (message, path) => ctx.log.warn({ err: message, path }, "review: the refute check failed; the finding is posted as found"),
  });
}
