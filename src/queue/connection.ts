import { connect } from "node:net";
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import { StartupError } from "../shared/errors.js";
import { isClusterTarget, type RedisClusterConfig, type RedisTarget } from "../shared/redis-target.js";

/**
 * Redis connections. Two shapes, on purpose:
 * - "producer" (the web process's Queue): no offline queue, so a dead Redis fails an enqueue at
 *   once and the webhook gets a 5xx GitHub can redeliver, instead of a 2xx for a lost job.
 * - "worker": maxRetriesPerRequest null, as BullMQ requires for blocking commands; it waits for
 *   Redis to come back rather than failing jobs.
 *
 * On Redis Cluster (`{ cluster }`) the same roles hold, for an ioredis Cluster client: it learns the
 * slots from the seed nodes, follows MOVED/ASK, and after a master fails and a replica is promoted
 * it refreshes the slots and goes on. It is typed as `Redis` for the rest of the code: every use
 * is a command, a pipeline/MULTI or a script on keys of one hash-tagged prefix (one slot), or
 * pub/sub, which a Cluster client serves the same way. What differs (INFO per node) is handled
 * here (`assertNoEviction`).
 */
export function createRedis(target: RedisTarget, role: "producer" | "worker" | "plain"): Redis {
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
  if (isClusterTarget(target)) return createCluster(target.cluster, options);
  const redis = new Redis(target, { ...options, lazyConnect: false });
  // Errors are reported through health checks and failing commands; an unhandled 'error' event
  // would otherwise crash the process on every reconnect attempt.
  redis.on("error", () => {});
  return redis;
}

function createCluster(config: RedisClusterConfig, nodeOptions: RedisOptions): Redis {
  const { enableOfflineQueue, ...perNode } = nodeOptions;
  const options: ClusterOptions = {
    redisOptions: {
      ...perNode,
      ...(config.username ? { username: config.username } : {}),
      ...(config.password ? { password: config.password } : {}),
      ...(config.tls ? { tls: {} } : {}),
    },
    // The producer fails fast while the cluster is not ready (a 503 GitHub redelivers); the others wait.
    enableOfflineQueue: enableOfflineQueue ?? true,
    clusterRetryStrategy: (times) => Math.min(times * 200, 2000),
    // A failover: retry a command that met a dead master or CLUSTERDOWN until a replica is promoted.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 200,
    // Learn a promotion quickly even without a MOVED reply (the old master's connection just died).
    slotsRefreshInterval: 1000,
    slotsRefreshTimeout: 2000,
    // Blocking commands (BullMQ's) go to masters only; replicas never serve reads.
    scaleReads: "master",
    lazyConnect: false,
  };
  const cluster = new Cluster(config.nodes, options);
  cluster.on("error", () => {});
  // Same command surface (see createRedis); the few Redis-only members are not used on it.
  return cluster as unknown as Redis;
}

/** True for a Redis Cluster client made by createRedis. */
export function isClusterClient(redis: Redis): boolean {
  return (redis as unknown as { isCluster?: boolean }).isCluster === true;
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
  // On a cluster every master holds some of the keys: each must keep them.
  const nodes = isClusterClient(redis) ? (redis as unknown as Cluster).nodes("master") : [redis];
  for (const node of nodes) await assertNodeNoEviction(node);
}

async function assertNodeNoEviction(redis: Redis): Promise<void> {
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
