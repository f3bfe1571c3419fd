/**
 * Where Redis is: one node by URL (`redis://`, `rediss://` with its credentials), or a Redis
 * Cluster by its seed nodes. A type of its own so that config (which reads the env) and queue
 * (which connects) share it without importing each other.
 */
export interface RedisClusterConfig {
  /** Seed nodes; the client learns the rest (and every failover) from the cluster itself. */
  nodes: Array<{ host: string; port: number }>;
  username?: string;
  password?: string;
  /** TLS to every node (as `rediss://` for one node). */
  tls: boolean;
}

export type RedisTarget = string | { cluster: RedisClusterConfig };

export function isClusterTarget(target: RedisTarget): target is { cluster: RedisClusterConfig } {
  return typeof target !== "string";
}

/** For logs: the URL without its password, or the cluster's seed nodes. */
export function describeRedisTarget(target: RedisTarget): string {
  if (!isClusterTarget(target)) return target.replace(/\/\/([^:/@]*):[^@/]*@/, "//$1:***@");
  return `Redis Cluster (${target.cluster.nodes.map((n) => `${n.host}:${n.port}`).join(", ")})`;
}
