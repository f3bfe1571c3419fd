import { Redis, type RedisOptions } from "ioredis";
import { StartupError } from "../shared/errors.js";

/**
 * Redis connections. Two shapes, on purpose:
 * - "producer" (the web process's Queue): no offline queue, so a dead Redis fails an enqueue at
 *   once and the webhook gets a 5xx GitHub can redeliver, instead of a 2xx for a lost job.
 * - "worker": maxRetriesPerRequest null, as BullMQ requires for blocking commands; it waits for
 *   Redis to come back rather than failing jobs.
 */
export function createRedis(url: string, role: "producer" | "worker" | "plain"): Redis {
  const common: RedisOptions = {
    connectionName: `iquest-${role}`,
    // Reconnect with a capped backoff; never give up (the process decides when to exit).
    retryStrategy: (times) => Math.min(times * 200, 2000),
  };
  const options: RedisOptions =
    role === "producer"
      ? { ...common, enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 }
      : role === "worker"
        ? { ...common, maxRetriesPerRequest: null }
        : { ...common, maxRetriesPerRequest: 1, connectTimeout: 2000 };
  const redis = new Redis(url, { ...options, lazyConnect: false });
  // Errors are reported through health checks and failing commands; an unhandled 'error' event
  // would otherwise crash the process on every reconnect attempt.
  redis.on("error", () => {});
  return redis;
}

/** Wait until the connection is ready, or fail with a clear message. */
export async function waitReady(redis: Redis, timeoutMs = 5000): Promise<void> {
  if (redis.status === "ready") return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new StartupError(`Redis did not answer within ${timeoutMs} ms (status: ${redis.status})`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off("ready", onReady);
    };
    redis.on("ready", onReady);
  });
}

/**
 * BullMQ loses jobs if Redis evicts keys under memory pressure. Refuse to run against anything
 * but `noeviction`. INFO is used rather than CONFIG GET because managed Redis often disables
 * CONFIG.
 */
export async function assertNoEviction(redis: Redis): Promise<void> {
  const info = await redis.info("memory");
  const match = /maxmemory_policy:(\S+)/.exec(info);
  const policy = match?.[1];
  if (policy && policy !== "noeviction") {
    throw new StartupError(
      `Redis maxmemory-policy is "${policy}", but iquest-bot needs "noeviction": with eviction, ` +
        `Redis may silently drop queued jobs. Set "maxmemory-policy noeviction" in redis.conf ` +
        `(or your managed Redis's parameter group) and restart.`,
    );
  }
}

/** Ping with a deadline, for /healthz. */
export async function pingRedis(redis: Redis, timeoutMs = 1000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const pong = await Promise.race([
      redis.ping(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("timeout")), timeoutMs);
      }),
    ]);
    return pong === "PONG";
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
