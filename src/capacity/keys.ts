import { createHash } from "node:crypto";

/**
 * Redis keys of one gate pool. A pool is a set of model endpoints (the base URLs of a profile):
 * profiles that share a server share its capacity, so they share a pool.
 */
export interface GateKeys {
  pool: string;
  /** The in-flight limit every worker obeys (a number). */
  limit: string;
  /** ZSET of held slots: member = slot id, score = lease expiry (ms, Redis clock). */
  holders: string;
  /** How many acquisitions were refused since the controller last looked. */
  denied: string;
  /** Who runs the controller (SET NX PX). */
  leader: string;
  /** The controller's last decision, JSON, for operators and tests. */
  status: string;
  /** Pub/sub channel: slots were freed or the limit rose; waiters retry. */
  freed: string;
}

export function poolId(baseUrls: readonly string[]): string {
  const normal = [...new Set(baseUrls.map((u) => u.replace(/\/+$/, "")))].sort();
  return createHash("sha256").update(normal.join("\n")).digest("hex").slice(0, 12);
}

export function gateKeys(prefix: string, pool: string): GateKeys {
  // A hash tag keeps one pool's keys in one Redis Cluster slot, so its Lua scripts may touch them all.
  const base = `${prefix}:gate:{${pool}}`;
  return {
    pool,
    limit: `${base}:limit`,
    holders: `${base}:holders`,
    denied: `${base}:denied`,
    leader: `${base}:leader`,
    status: `${base}:status`,
    freed: `${base}:freed`,
  };
}
