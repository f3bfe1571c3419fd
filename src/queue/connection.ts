import { connect } from "node:net";
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
    // On disconnect, a socket that does not close by itself (a dead server) is destroyed after
    // this long; ioredis's 2 s default keeps a stopping process alive for nothing.
    disconnectTimeout: 200,
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

/**
 * Close a connection politely (QUIT waits for pending replies). `disconnect()` instead leaves a
 * 2 s timer in ioredis that keeps a process alive; a dead server falls back to it.
 */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === "end") return;
  if (redis.status !== "ready") {
    redis.disconnect();
    return;
  }
  await redis.quit().catch(() => redis.disconnect());
}

/**
 * Wait until a Redis at host:port answers PING, with a raw socket: no client library, no
 * reconnect timers left behind. Used when starting a redis-server child (npm start, tests).
 */
export async function waitForPing(
  port: number,
  options: { host?: string; timeoutMs?: number; alive?: () => boolean } = {},
): Promise<boolean> {
  const until = Date.now() + (options.timeoutMs ?? 10_000);
  while (Date.now() < until) {
    if (options.alive && !options.alive()) return false;
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ port, host: options.host ?? "127.0.0.1" });
      const done = (value: boolean) => {
        socket.destroy();
        resolve(value);
      };
      socket.setTimeout(500, () => done(false));
      socket.once("error", () => done(false));
      socket.once("connect", () => socket.write("PING\r\n"));
      socket.once("data", (d) => done(d.toString().startsWith("+PONG")));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
