import { Queue, type JobsOptions } from "bullmq";
import type { Redis } from "ioredis";
import { withDeadline } from "../shared/deadline.js";
import { TransientError } from "../shared/errors.js";
import { JOB_KINDS, jobIdFor, jobPayloadSchema, targetKey, type JobKind, type JobPayload } from "./payloads.js";
import { defaultUpgradeCron, upgradeSchedulerId } from "./schedules.js";

/**
 * The only way work enters the queue. Handlers depend on the `JobEnqueuer` interface, so unit
 * tests can record calls and integration tests use the real BullMQ queues below.
 */

export interface EnqueueResult {
  jobId: string;
  /** "added": a new job; "duplicate": the same delivery, or the same target already queued/running. */
  status: "added" | "duplicate";
}

export interface RepoRef {
  installationId: number;
  repoId: number;
  repo: string;
}

export interface JobEnqueuer {
  enqueue(payload: JobPayload): Promise<EnqueueResult>;
  /** Stop queued or running work on a target (`/iquest stop`). Returns what was stopped. */
  cancel(kind: JobKind, target: string, reason: "stop" | "superseded"): Promise<CancelResult>;
  upsertUpgradeSchedule(repo: RepoRef, cron?: string): Promise<void>;
  removeUpgradeSchedule(repoId: number): Promise<void>;
  /** Remove every schedule of an installation (uninstalled or suspended). Returns the count. */
  removeInstallationSchedules(installationId: number): Promise<number>;
  /** Count one more attempt under `key` (kept 30 days); returns the new count. */
  countAttempt(key: string): Promise<number>;
  /**
   * Leave a note for a job's card (e.g. "a second request arrived and was not started"). The
   * worker running it adds the note at once; a job still waiting finds it when it starts.
   */
  noteForJob(jobId: string, text: string): Promise<void>;
}

/** Where notes for a job wait until its card shows them. */
export function notesKey(prefix: string, jobId: string): string {
  return `${prefix}:notes:${jobId}`;
}

export interface CancelResult {
  removedWaiting: string[];
  signalledActive: string[];
}

export interface QueueDefaults {
  attempts: number;
  backoffMs: number;
  enqueueTimeoutMs: number;
  /** Told of every enqueue (for metrics). */
  onEnqueued?: (kind: JobKind, status: EnqueueResult["status"]) => void;
}

export type QueueSet = Record<JobKind, Queue>;

export function queueName(kind: JobKind): string {
  return kind;
}

export function createQueues(connection: Redis, prefix: string): QueueSet {
  const entries = JOB_KINDS.map((kind) => [kind, new Queue(queueName(kind), { connection, prefix })] as const);
  return Object.fromEntries(entries) as QueueSet;
}

export async function closeQueues(queues: QueueSet): Promise<void> {
  await Promise.all(Object.values(queues).map((q) => q.close()));
}

/** The pub/sub channel on which workers hear "cancel job X". */
export function cancelChannel(prefix: string): string {
  return `${prefix}:cancel`;
}

export class QueueEnqueuer implements JobEnqueuer {
  constructor(
    private readonly queues: QueueSet,
    private readonly publisher: Redis,
    private readonly prefix: string,
    private readonly defaults: QueueDefaults,
  ) {}

  jobOptions(payload: JobPayload): JobsOptions {
    return {
      jobId: jobIdFor(payload),
      attempts: this.defaults.attempts,
      backoff: { type: "exponential", delay: this.defaults.backoffMs },
      // Kept long enough that a manual redelivery (GitHub allows 3 days) still finds the job id
      // and is recognised as a duplicate.
      removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
      removeOnFail: { age: 14 * 24 * 3600, count: 10_000 },
      // One job per issue/PR/repo at a time. A review keeps the newest request while one runs,
      // so a push during a review still gets reviewed afterwards.
      deduplication:
        payload.kind === "review"
          ? { id: targetKey(payload), keepLastIfActive: true }
          : { id: targetKey(payload) },
    };
  }

  async enqueue(input: JobPayload): Promise<EnqueueResult> {
    const payload = jobPayloadSchema.parse(input);
    const opts = this.jobOptions(payload);
    // A dead or hung Redis must answer the webhook with a 5xx in time (GitHub can redeliver),
    // never with a 2xx for a job that was not stored.
    const job = await withDeadline(this.queues[payload.kind].add(payload.kind, payload, opts), this.defaults.enqueueTimeoutMs, "enqueue (Redis is not answering)").catch(
      (err: unknown) => {
        if (err instanceof TransientError) throw err;
        throw new TransientError(`enqueue failed: ${(err as Error).message}`, { cause: err });
      },
    );
    const jobId = job.id ?? opts.jobId!;
    const status = jobId === opts.jobId ? "added" : "duplicate";
    this.defaults.onEnqueued?.(payload.kind, status);
    return { jobId, status };
  }

  async cancel(kind: JobKind, target: string, reason: "stop" | "superseded"): Promise<CancelResult> {
    const queue = this.queues[kind];
    const result: CancelResult = { removedWaiting: [], signalledActive: [] };
    const jobId = await queue.getDeduplicationJobId(target);
    if (!jobId) return result;
    const job = await queue.getJob(jobId);
    if (!job) return result;
    const state = await job.getState();
    if (state === "waiting" || state === "delayed" || state === "prioritized" || state === "waiting-children") {
      await job.remove();
      await queue.removeDeduplicationKey(target);
      result.removedWaiting.push(jobId);
    } else if (state === "active") {
      await this.publisher.publish(cancelChannel(this.prefix), JSON.stringify({ kind, jobId, reason }));
      result.signalledActive.push(jobId);
    }
    return result;
  }

  async noteForJob(jobId: string, text: string): Promise<void> {
    const key = notesKey(this.prefix, jobId);
    await this.publisher.multi().rpush(key, text.slice(0, 1000)).ltrim(key, -20, -1).expire(key, 24 * 3600).exec();
    await this.publisher.publish(cancelChannel(this.prefix), JSON.stringify({ type: "note", jobId }));
  }

  async countAttempt(key: string): Promise<number> {
    const redisKey = `${this.prefix}:attempts:${key}`;
    const [[, count]] = (await this.publisher.multi().incr(redisKey).expire(redisKey, 30 * 24 * 3600).exec()) as [[null, number], unknown];
    return count;
  }

  async upsertUpgradeSchedule(repo: RepoRef, cron?: string): Promise<void> {
    const data: JobPayload = { kind: "upgrade", ...repo, trigger: "schedule" };
    await this.queues.upgrade.upsertJobScheduler(
      upgradeSchedulerId(repo.repoId),
      { pattern: cron ?? defaultUpgradeCron(repo.repoId) },
      {
        name: "upgrade",
        data: jobPayloadSchema.parse(data),
        opts: {
          attempts: this.defaults.attempts,
          backoff: { type: "exponential", delay: this.defaults.backoffMs },
          removeOnComplete: { age: 7 * 24 * 3600, count: 1000 },
          removeOnFail: { age: 14 * 24 * 3600, count: 1000 },
        },
      },
    );
  }

  async removeUpgradeSchedule(repoId: number): Promise<void> {
    await this.queues.upgrade.removeJobScheduler(upgradeSchedulerId(repoId));
  }

  async removeInstallationSchedules(installationId: number): Promise<number> {
    let removed = 0;
    const pageSize = 500;
    // Collect first, then remove: removing while paging would shift the pages.
    const ids: string[] = [];
    for (let start = 0; ; start += pageSize) {
      const page = await this.queues.upgrade.getJobSchedulers(start, start + pageSize - 1, true);
      for (const s of page) {
        const data = s.template?.data as { installationId?: number } | undefined;
        if (data?.installationId === installationId && s.key) ids.push(s.key);
      }
      if (page.length < pageSize) break;
    }
    for (const id of ids) if (await this.queues.upgrade.removeJobScheduler(id)) removed++;
    return removed;
  }
}
