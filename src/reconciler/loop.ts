import type { Redis } from "ioredis";
import type { Logger } from "../shared/log.js";
import { reconcileDeliveries, type ReconcileDeps, type ReconcileResult } from "./reconcile.js";

/**
 * Run the reconciler at start-up and every `intervalMs`, once across all workers: each run takes
 * a Redis lock (SET NX PX) first, so ten worker replicas make one pass, not ten. GUIDs asked for
 * are remembered in Redis for an hour, so a redelivery still in flight is not asked twice.
 */
export interface ReconcilerLoop {
  /** The start-up pass (undefined when another worker held the lock). */
  first: Promise<ReconcileResult | undefined>;
  /** Run one pass now (if the lock is free). */
  runOnce(): Promise<ReconcileResult | undefined>;
  stop(): void;
}

export function startReconciler(options: {
  redis: Redis;
  prefix: string;
  intervalMs: number;
  deps: Omit<ReconcileDeps, "asked">;
  log: Logger;
}): ReconcilerLoop {
  const { redis, prefix } = options;
  const askedKey = `${prefix}:reconciler:asked`;
  const asked: ReconcileDeps["asked"] = {
    async recent() {
      await redis.zremrangebyscore(askedKey, 0, Date.now() - 3600_000);
      return new Set(await redis.zrange(askedKey, 0, -1));
    },
    async add(guids) {
      if (guids.length === 0) return;
      const now = Date.now();
      await redis.zadd(askedKey, ...guids.flatMap((g) => [now, g]));
      await redis.expire(askedKey, 24 * 3600);
    },
  };
  const runOnce = async () => {
    const got = await redis.set(`${prefix}:reconciler:lock`, String(process.pid), "PX", Math.max(options.intervalMs - 1000, 5000), "NX");
    if (got !== "OK") return undefined;
    try {
      return await reconcileDeliveries({ ...options.deps, asked });
    } catch (err) {
      options.log.warn({ err }, "reconciler pass failed; the next one will try again");
      return undefined;
    }
  };
  const first = runOnce();
  const timer = setInterval(() => void runOnce(), options.intervalMs);
  timer.unref();
  return { first, runOnce, stop: () => clearInterval(timer) };
}
