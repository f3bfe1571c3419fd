import type { JobPayload, NotifyPayload, NotifyReason } from "../queue/payloads.js";
import type { HandlerDeps, Outcome } from "./deps.js";

/** Who asked, for the intake limits: a human sender, and where a "slow down" reply would go. */
export interface Asker {
  /** The human who asked (absent for automatic work: it counts against the installation only). */
  sender?: string;
  /** The issue or PR to answer on when the request is over a limit. */
  replyOn?: number;
}

/**
 * Enqueue, after the intake limits, and when the target already has a job queued or running
 * (BullMQ deduplication by target), say so on that job's card instead of starting another. A
 * redelivery of the same webhook returns the same job id and is simply "enqueued" again.
 */
export async function enqueueJob(deps: HandlerDeps, payload: JobPayload, who: string, asker: Asker = {}): Promise<Outcome> {
  if (!(await admitted(deps, payload, asker))) return "limited";
  const result = await deps.enqueuer.enqueue(payload);
  deps.log.info({ deliveryId: payload.deliveryId, jobId: result.jobId, status: result.status, kind: payload.kind }, "job enqueued");
  if (result.status === "added") return payload.kind === "notify" ? "replied" : "enqueued";
  if (payload.kind !== "review" && payload.kind !== "notify") {
    await deps.enqueuer.noteForJob(result.jobId, `Another request (${who}) arrived while this job was queued or running; it was not started a second time.`);
  }
  return "duplicate";
}

/** The common part of every job a delivery asks for. */
export type JobBase = Pick<NotifyPayload, "installationId" | "repoId" | "repo" | "deliveryId" | "trigger" | "commentId" | "actor">;

/** A reply (or reaction, or check run) the worker writes once: see jobs/notify/. */
export function notify(
  deps: HandlerDeps,
  base: JobBase,
  reason: NotifyReason,
  extra: Partial<Pick<NotifyPayload, "issueNumber" | "headSha" | "checkRunId">> = {},
  asker: Asker = {},
): Promise<Outcome> {
  return enqueueJob(deps, { ...base, kind: "notify", reason, ...extra }, `notify ${reason}`, asker);
}

async function admitted(deps: HandlerDeps, payload: JobPayload, asker: Asker): Promise<boolean> {
  if (!deps.limits) return true;
  const admission = await deps.limits.admit({ installationId: payload.installationId, sender: asker.sender, canReply: asker.replyOn !== undefined });
  if (admission.ok) return true;
  deps.log.info(
    { deliveryId: payload.deliveryId, kind: payload.kind, scope: admission.scope, sender: asker.sender, installationId: payload.installationId, resetInSeconds: admission.resetInSeconds },
    "request over the intake limit: not started",
  );
  // One polite reply per window: to the first request over the limit that has a place to answer
  // (intake-limits.ts claims it). The reply itself is not counted (it is over the limit by definition).
  if (admission.firstOver && asker.replyOn !== undefined) {
    const reply: NotifyPayload = {
      kind: "notify",
      installationId: payload.installationId,
      repoId: payload.repoId,
      repo: payload.repo,
      ...(payload.deliveryId ? { deliveryId: payload.deliveryId } : {}),
      trigger: payload.trigger,
      ...(payload.commentId ? { commentId: payload.commentId } : {}),
      ...(payload.actor ? { actor: payload.actor } : {}),
      reason: "limited",
      issueNumber: asker.replyOn,
      limit: { scope: admission.scope, count: admission.limit.count, windowSeconds: admission.limit.windowSeconds, resetInSeconds: admission.resetInSeconds },
    };
    await deps.enqueuer.enqueue(reply);
  }
  return false;
}
