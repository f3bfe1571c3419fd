import type { JobPayload } from "../queue/payloads.js";
import type { HandlerDeps, Outcome } from "./deps.js";

/**
 * Enqueue, and when the target already has a job queued or running (BullMQ deduplication by
 * target), say so on that job's card instead of starting another. A redelivery of the same
 * webhook returns the same job id and is simply "enqueued" again: nothing to say.
 */
export async function enqueueJob(deps: HandlerDeps, payload: JobPayload, who: string): Promise<Outcome> {
  const result = await deps.enqueuer.enqueue(payload);
  deps.log.info({ deliveryId: payload.deliveryId, jobId: result.jobId, status: result.status, kind: payload.kind }, "job enqueued");
  if (result.status === "added") return "enqueued";
  if (payload.kind !== "review") {
    await deps.enqueuer.noteForJob(result.jobId, `Another request (${who}) arrived while this job was queued or running; it was not started a second time.`);
  }
  return "duplicate";
}
