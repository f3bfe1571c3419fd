import { DelayedError, UnrecoverableError, Worker, type Job } from "bullmq";
import type { Redis } from "ioredis";
import { CancelledError, RateLimitedError } from "../shared/errors.js";
import type { Logger } from "../shared/log.js";
import { cancelChannel, queueName } from "./enqueue.js";
import { JOB_KINDS, type JobKind } from "./payloads.js";

/** The job core, as the queue sees it. Throwing `{ retry: false }` makes the failure final. */
export type Processor = (job: Job, signal: AbortSignal) => Promise<unknown>;

export interface WorkerSetOptions {
  /** A connection with maxRetriesPerRequest: null (BullMQ's requirement for workers). */
  connection: Redis;
  /** A separate connection for SUBSCRIBE (a subscribed connection can do nothing else). */
  subscriber: Redis;
  prefix: string;
  concurrency: number;
  process: Processor;
  log: Logger;
  kinds?: readonly JobKind[];
  /** A note for a job's card arrived (see JobEnqueuer.noteForJob). */
  onNote?: (jobId: string) => void;
  /** Lock and stall timings; every worker must use the same stalledInterval (BullMQ throttles globally). */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** Told when an installation's jobs wait for GitHub's rate limit (metrics, logs). */
  onRateLimited?: (installationId: number, resetAt: number) => void;
}

/** Where an installation's spent primary rate limit is remembered until it resets. */
export function rateLimitKey(prefix: string, installationId: number): string {
  return `${prefix}:ratelimit:{${installationId}}`;
}

export interface WorkerSet {
  workers: Worker[];
  /**
   * Graceful stop: take no new jobs, give active ones `graceMs` to finish, then abort them; an
   * aborted job is handed back to the queue (delayed, not failed) so another worker re-runs it.
   */
  close(graceMs: number): Promise<void>;
}

export function startWorkers(options: WorkerSetOptions): WorkerSet {
  const kinds = options.kinds ?? JOB_KINDS;
  const workers = kinds.map((kind) => {
    const worker = new Worker(
      queueName(kind),
      // Three parameters: BullMQ passes an AbortSignal only to processors that declare it.
      async (job: Job, token?: string, signal?: AbortSignal) => {
        const abort = signal ?? new AbortController().signal;
        // Does this worker still hold the job? (A stalled worker's lock can pass to another.)
        const lockKey = `${options.prefix}:${queueName(kind)}:${job.id}:lock`;
        const ownsLock = async () => token !== undefined && (await options.connection.get(lockKey)) === token;
        const installationId = Number((job.data as { installationId?: unknown })?.installationId);
        // Jitter, so the installation's waiting jobs do not all start in the same second.
        const delayUntil = async (resetAt: number) => {
          await job.moveToDelayed(resetAt + Math.floor(Math.random() * 5000), token);
          throw new DelayedError();
        };
        // An installation whose rate limit is spent: wait for its reset before doing anything.
        if (Number.isInteger(installationId)) {
          const blocked = Number(await options.connection.get(rateLimitKey(options.prefix, installationId)));
          if (blocked > Date.now()) return delayUntil(blocked);
        }
        try {
          return await options.process(Object.assign(job, { ownsLock }), abort);
        } catch (err) {
          if (err instanceof RateLimitedError) {
            // Delayed, not failed: no attempt is spent, and the installation's other jobs see the
            // key and wait too (other installations go on).
            const ttl = Math.max(1000, err.resetAt - Date.now());
            await options.connection.set(rateLimitKey(options.prefix, err.installationId), String(err.resetAt), "PX", ttl);
            options.onRateLimited?.(err.installationId, err.resetAt);
            options.log.warn({ jobId: job.id, kind, installationId: err.installationId, resetAt: new Date(err.resetAt).toISOString() }, "job delayed until GitHub's rate limit resets");
            return delayUntil(err.resetAt);
          }
          if (err instanceof CancelledError && err.reason === "lock-lost") {
            // Another worker owns the job now; leave it alone (BullMQ rejects our move anyway).
            throw err;
          }
          if (err instanceof CancelledError && err.reason === "shutdown") {
            // Hand the job back without spending an attempt: it re-runs on another worker.
            await job.moveToDelayed(Date.now() + 1000, token);
            throw new DelayedError();
          }
          if ((err as { retry?: boolean }).retry === false) throw new UnrecoverableError((err as Error).message);
          throw err;
        }
      },
      {
        connection: options.connection,
        prefix: options.prefix,
        concurrency: options.concurrency,
        lockDuration: options.lockDurationMs ?? 60_000,
        stalledInterval: options.stalledIntervalMs ?? 30_000,
        maxStalledCount: 2,
      },
    );
    worker.on("error", (err) => options.log.error({ err, kind }, "worker error"));
    // A lock that could not be renewed means this worker stalled (paused, starved) and the job
    // may already be running elsewhere: stop it here at once; it must not publish.
    worker.on("lockRenewalFailed", (jobIds) => {
      for (const id of jobIds) {
        if (worker.cancelJob(id, "lock-lost")) options.log.warn({ jobId: id, kind }, "job lock lost: stopped here");
      }
    });
    worker.on("failed", (job, err) =>
      options.log.warn({ jobId: job?.id, kind, err: err.message, attemptsMade: job?.attemptsMade }, "job attempt failed"),
    );
    return worker;
  });

  // `/iquest stop`, "superseded" and card notes arrive by pub/sub; only the worker that holds the
  // job acts on them.
  const channel = cancelChannel(options.prefix);
  void options.subscriber.subscribe(channel).catch((err) => options.log.error({ err }, "cancel subscription failed"));
  const onMessage = (ch: string, message: string) => {
    if (ch !== channel) return;
    try {
      const { type, jobId, reason } = JSON.parse(message) as { type?: "cancel" | "note"; jobId: string; reason: string };
      if (type === "note") {
        options.onNote?.(jobId);
        return;
      }
      for (const w of workers) if (w.cancelJob(jobId, reason)) options.log.info({ jobId, reason }, "job cancel signalled");
    } catch (err) {
      options.log.warn({ err }, "bad cancel message");
    }
  };
  options.subscriber.on("message", onMessage);

  return {
    workers,
    async close(graceMs) {
      options.subscriber.off("message", onMessage);
      await options.subscriber.unsubscribe(channel).catch(() => {});
      const timer = setTimeout(() => {
        options.log.warn({ graceMs }, "grace period over: aborting active jobs");
        for (const w of workers) w.cancelAllJobs("shutdown");
      }, graceMs);
      try {
        await Promise.all(workers.map((w) => w.close()));
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
