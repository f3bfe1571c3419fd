import { withDeadline } from "../../shared/deadline.js";
import type { Redis } from "ioredis";
import { memoryStateSchema, type ReviewMemory, type ReviewMemoryState } from "./memory.js";

/**
 * Review memory in Redis: one JSON value per PR, kept 180 days after the last review (a PR idle
 * longer than that falls back to the markers in its reviews). Reviews of one PR never run at
 * the same time (one job per PR), so a plain GET and SET are enough.
 *
 * The worker's connection waits for Redis forever (BullMQ needs that), so every call here has
 * its own deadline: a review must not hang on its memory when the markers can stand in.
 */
export interface RedisReviewMemoryOptions {
  prefix: string;
  timeoutMs?: number;
  ttlSeconds?: number;
}

export function createRedisReviewMemory(redis: Redis, options: RedisReviewMemoryOptions): ReviewMemory {
  const timeoutMs = options.timeoutMs ?? 3000;
  const ttl = options.ttlSeconds ?? 180 * 24 * 3600;
  const key = (repoId: number, pr: number) => `${options.prefix}:review-memory:${repoId}:${pr}`;
  return {
    async get(repoId, pr) {
      const text = await withDeadline(redis.get(key(repoId, pr)), timeoutMs, "review memory read");
      if (text === null) return undefined;
      try {
        const parsed = memoryStateSchema.safeParse(JSON.parse(text));
        // A value we cannot read is no memory: the markers on GitHub fill in.
        return parsed.success ? parsed.data : undefined;
      } catch {
        return undefined;
      }
    },
    async put(repoId, pr, state: ReviewMemoryState) {
      await withDeadline(redis.set(key(repoId, pr), JSON.stringify(state), "EX", ttl), timeoutMs, "review memory write");
    },
  };
}
