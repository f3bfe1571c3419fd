import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { ModelGate, ModelSlot } from "../agent/model/gate.js";
import type { Logger } from "../shared/log.js";
import type { GateKeys } from "./keys.js";
import { LocalSemaphore } from "./local-semaphore.js";

/**
 * A ModelGate shared by every worker through Redis: a semaphore whose size (`limit` key) the
 * capacity controller moves. Slots are leases in a sorted set, renewed while held, so a worker
 * that dies (kill -9, lost node) frees its slots within one lease instead of shrinking the limit
 * for ever. Redis's clock (TIME) is the only clock, so skew between workers does not matter.
 *
 * Waiting: a refused caller sleeps until a slot is freed (pub/sub from any worker, or a local
 * release) or a poll interval passes, then tries again. There is no global FIFO: who wins a freed
 * slot is a race, which is fair enough for model calls that each last seconds.
 *
 * If Redis fails, the gate degrades to a local semaphore of `localFallbackLimit` per process:
 * model calls go on, and the limit is only approximate until Redis is back.
 */
export interface RedisGateOptions {
  redis: Redis;
  /** A connection for SUBSCRIBE; without one, waiters only poll. */
  subscriber?: Redis;
  keys: GateKeys;
  /** The limit while the limit key is unset. */
  defaultLimit: number;
  leaseMs?: number;
  pollMs?: number;
  localFallbackLimit: number;
  log?: Logger;
  random?: () => number;
}

// KEYS: holders, limit, denied. ARGV: slot id, lease ms, default limit.
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(redis.call('GET', KEYS[2]) or ARGV[3])
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
  return 1
end
redis.call('INCR', KEYS[3])
return 0`;

// KEYS: holders. ARGV: lease ms, slot ids... Renews only slots still held (XX).
const RENEW = `
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', expiry, ARGV[i]) end
return #ARGV - 1`;

// KEYS: holders, freed channel. ARGV: slot id.
const RELEASE = `
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then redis.call('PUBLISH', KEYS[2], '1') return 1 end
return 0`;

export class RedisGate implements ModelGate {
  private readonly held = new Set<string>();
  private readonly waiters = new Set<() => void>();
  private readonly local: LocalSemaphore;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private renewTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private degraded = false;
  private readonly onMessage = (channel: string, message: string) => {
    if (channel !== this.options.keys.freed) return;
    const n = Math.max(1, Number(message) || 1);
    for (let i = 0; i < n; i++) this.wakeOne();
  };

  constructor(private readonly options: RedisGateOptions) {
    this.local = new LocalSemaphore(options.localFallbackLimit);
    this.leaseMs = options.leaseMs ?? 60_000;
    this.pollMs = options.pollMs ?? 250;
    if (options.subscriber) {
      options.subscriber.on("message", this.onMessage);
      void options.subscriber.subscribe(options.keys.freed).catch((err: unknown) => {
        options.log?.warn({ err, pool: options.keys.pool }, "model gate: subscribe failed; waiters will poll");
      });
    }
  }

  async acquire(signal?: AbortSignal): Promise<ModelSlot> {
    const { redis, keys } = this.options;
    for (;;) {
      if (this.closed) throw new Error("model gate closed");
      if (signal?.aborted) throw signal.reason;
      const id = randomUUID();
      let granted: boolean;
      try {
        granted = (await redis.eval(ACQUIRE, 3, keys.holders, keys.limit, keys.denied, id, this.leaseMs, this.options.defaultLimit)) === 1;
        if (this.degraded) {
          this.degraded = false;
          this.options.log?.info({ pool: keys.pool }, "model gate: Redis is back; the shared limit applies again");
        }
      } catch (err) {
        if (!this.degraded) {
          this.degraded = true;
          this.options.log?.warn({ err, pool: keys.pool, limit: this.options.localFallbackLimit }, "model gate: Redis failed; using a local limit");
        }
        return this.local.acquire(signal);
      }
      if (granted) return this.slot(id);
      await this.sleep(signal);
    }
  }

  private slot(id: string): ModelSlot {
    this.held.add(id);
    this.ensureRenewal();
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.held.delete(id);
        const { redis, keys } = this.options;
        // Not awaited: the caller's answer must not wait on Redis. A failed release is cleaned up
        // by the lease.
        redis.eval(RELEASE, 2, keys.holders, keys.freed, id).catch(() => {});
        this.wakeOne();
      },
    };
  }

  private ensureRenewal(): void {
    if (this.renewTimer) return;
    this.renewTimer = setInterval(() => {
      if (this.held.size === 0) {
        clearInterval(this.renewTimer);
        this.renewTimer = undefined;
        return;
      }
      this.options.redis.eval(RENEW, 1, this.options.keys.holders, this.leaseMs, ...this.held).catch(() => {});
    }, Math.max(50, Math.floor(this.leaseMs / 3)));
    this.renewTimer.unref();
  }

  private wakeOne(): void {
    const first = this.waiters.values().next();
    if (first.done) return;
    this.waiters.delete(first.value);
    first.value();
  }

  private sleep(signal?: AbortSignal): Promise<void> {
    const random = this.options.random ?? Math.random;
    // Jittered, so workers that poll do not hit Redis in step.
    const ms = this.pollMs * (0.5 + random());
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.waiters.delete(done);
        resolve();
      };
      const onAbort = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        reject(signal?.reason);
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Stop renewing and listening. Held slots expire with their lease; waiters are woken and fail. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    for (const wake of [...this.waiters]) wake();
    if (this.options.subscriber) {
      this.options.subscriber.off("message", this.onMessage);
      await this.options.subscriber.unsubscribe(this.options.keys.freed).catch(() => {});
    }
  }
}
