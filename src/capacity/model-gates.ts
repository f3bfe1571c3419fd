import type { Redis } from "ioredis";
import type { ModelCallReport, ModelGate, ModelSlot } from "../agent/model/gate.js";
import type { Logger } from "../shared/log.js";
import type { Metrics } from "../shared/metrics.js";
import type { AimdConfig } from "./aimd.js";
import { CapacityController } from "./controller.js";
import { gateKeys, poolId, type GateKeys } from "./keys.js";
import { RedisGate } from "./redis-gate.js";
import { metricsUrlFor } from "./vllm-metrics.js";

/**
 * The worker's model gates: one pool per set of model endpoints, shared by every worker through
 * Redis, and one metered view of it per model profile (so model call metrics carry the profile).
 *
 * Modes (MODEL_GATE):
 * - `adaptive`: the shared limit follows vLLM's /metrics (capacity/aimd.ts); while /metrics is
 *   unreachable it is MODEL_CONCURRENCY;
 * - `fixed`: the shared limit is MODEL_CONCURRENCY, across all workers;
 * - `off`: no limit (each worker is bounded by its job concurrency only); calls are still
 *   measured.
 */
export type GateMode = "adaptive" | "fixed" | "off";

export interface GateConfig {
  mode: GateMode;
  /** The fixed limit, and adaptive mode's limit while /metrics is unreachable. */
  limit: number;
  min: number;
  max: number;
  kvMax: number;
  waitingMax: number;
  cooldownTicks: number;
  intervalMs: number;
  leaseMs: number;
  pollMs: number;
  /** Override where load is read (a router's aggregated metrics, say); default: beside each base URL. */
  metricsUrls?: string[];
}

export function defaultGateConfig(overrides: Partial<GateConfig> = {}): GateConfig {
  return {
    mode: "adaptive",
    limit: 8,
    min: 1,
    max: 64,
    kvMax: 0.9,
    waitingMax: 0,
    cooldownTicks: 1,
    intervalMs: 2000,
    // A held slot is renewed every leaseMs/3; a worker killed mid-call gives its slots back
    // when the lease runs out, so a short lease lets the others go on sooner (tested with two
    // workers and MODEL_CONCURRENCY=1: the survivor waited this long after the kill).
    leaseMs: 20_000,
    pollMs: 250,
    ...overrides,
  };
}

/** What a gate needs to know of a model profile. */
export interface GateProfile {
  name: string;
  baseUrls: readonly string[];
  apiKey?: string;
}

export interface ModelGates {
  /** The gate for a profile's calls; pass it as `createVllmClient(options, { gate })`. */
  gateFor(profile: GateProfile): ModelGate;
  /** The pool a profile belongs to (its Redis keys), for diagnostics and tests. */
  poolOf(profile: GateProfile): GateKeys;
  close(): Promise<void>;
}

export interface ModelGatesOptions {
  redis: Redis;
  subscriber?: Redis;
  prefix: string;
  config: GateConfig;
  profiles: readonly GateProfile[];
  log: Logger;
  metrics?: Metrics;
}

interface Pool {
  keys: GateKeys;
  gate: ModelGate;
  inFlight: number;
  close(): Promise<void>;
}

export function createModelGates(options: ModelGatesOptions): ModelGates {
  const { config, metrics, log } = options;
  const pools = new Map<string, Pool>();
  const views = new Map<string, ModelGate>();

  const aimd: AimdConfig = {
    min: config.min,
    max: config.max,
    fallback: Math.min(config.max, Math.max(config.min, config.limit)),
    kvMax: config.kvMax,
    waitingMax: config.waitingMax,
    cooldownTicks: config.cooldownTicks,
  };

  const poolFor = (profile: GateProfile): Pool => {
    const id = poolId(profile.baseUrls);
    const existing = pools.get(id);
    if (existing) return existing;
    const keys = gateKeys(options.prefix, id);
    let pool: Pool;
    if (config.mode === "off") {
      pool = { keys, gate: { acquire: async () => ({ release() {} }) }, inFlight: 0, close: async () => {} };
    } else {
      const gate = new RedisGate({
        redis: options.redis,
        subscriber: options.subscriber,
        keys,
        defaultLimit: aimd.fallback,
        leaseMs: config.leaseMs,
        pollMs: config.pollMs,
        localFallbackLimit: aimd.fallback,
        log,
      });
      let controller: CapacityController | undefined;
      if (config.mode === "fixed") {
        // Every worker writes the same value: the last deploy's setting wins, which is the point.
        void options.redis.set(keys.limit, String(aimd.fallback)).catch((err: unknown) => log.warn({ err }, "model gate: cannot set the fixed limit"));
        metrics?.modelGateLimit.set({ pool: id }, aimd.fallback);
      } else {
        controller = new CapacityController({
          redis: options.redis,
          keys,
          config: aimd,
          intervalMs: config.intervalMs,
          metricsUrls: config.metricsUrls ?? profile.baseUrls.map(metricsUrlFor),
          apiKey: profile.apiKey,
          log,
          onDecision: (d) => {
            metrics?.modelGateLimit.set({ pool: id }, d.limit);
            if (d.load) {
              metrics?.vllmLoad.set({ pool: id, signal: "running" }, d.load.running);
              metrics?.vllmLoad.set({ pool: id, signal: "waiting" }, d.load.waiting);
              metrics?.vllmLoad.set({ pool: id, signal: "kv_cache_usage" }, d.load.kvCacheUsage);
            }
          },
          onFollower: () => {
            // Only the leader reports the shared values; a follower's would be stale.
            metrics?.modelGateLimit.remove({ pool: id });
            for (const signal of ["running", "waiting", "kv_cache_usage"]) metrics?.vllmLoad.remove({ pool: id, signal });
          },
        });
        controller.start();
      }
      pool = {
        keys,
        gate,
        inFlight: 0,
        close: async () => {
          await controller?.stop();
          await gate.close();
        },
      };
    }
    pools.set(id, pool);
    log.info({ pool: id, mode: config.mode, endpoints: profile.baseUrls, limit: aimd.fallback }, "model gate pool");
    return pool;
  };

  // Start every pool now, so the controllers run (and scrape) before the first job needs them.
  for (const p of options.profiles) poolFor(p);

  const meter = (profile: GateProfile, pool: Pool): ModelGate => ({
    async acquire(signal?: AbortSignal): Promise<ModelSlot> {
      const started = performance.now();
      const slot = await pool.gate.acquire(signal);
      metrics?.modelGateWait.observe({ pool: pool.keys.pool }, (performance.now() - started) / 1000);
      pool.inFlight++;
      metrics?.modelGateInFlight.set({ pool: pool.keys.pool }, pool.inFlight);
      let released = false;
      return {
        release(report: ModelCallReport) {
          if (released) return;
          released = true;
          pool.inFlight--;
          metrics?.modelGateInFlight.set({ pool: pool.keys.pool }, pool.inFlight);
          metrics?.modelCallDuration.observe({ profile: profile.name, outcome: report.outcome }, report.ms / 1000);
          if (report.outcome !== "ok") metrics?.modelCallErrors.inc({ profile: profile.name, reason: report.outcome });
          slot.release(report);
        },
      };
    },
  });

  return {
    gateFor(profile) {
      const key = `${profile.name}\n${poolId(profile.baseUrls)}`;
      let view = views.get(key);
      if (!view) {
        view = meter(profile, poolFor(profile));
        views.set(key, view);
      }
      return view;
    },
    poolOf: (profile) => poolFor(profile).keys,
    async close() {
      await Promise.all([...pools.values()].map((p) => p.close()));
    },
  };
}

/** The gate settings from the validated environment (MODEL_GATE, MODEL_CONCURRENCY, …). */
export function gateConfigFromEnv(env: {
  MODEL_GATE: GateMode;
  MODEL_CONCURRENCY: number;
  MODEL_CONCURRENCY_MAX: number;
  MODEL_KV_CACHE_MAX: number;
  MODEL_METRICS_URL?: string;
}): GateConfig {
  return defaultGateConfig({
    mode: env.MODEL_GATE,
    limit: env.MODEL_CONCURRENCY,
    max: env.MODEL_CONCURRENCY_MAX,
    kvMax: env.MODEL_KV_CACHE_MAX,
    ...(env.MODEL_METRICS_URL ? { metricsUrls: env.MODEL_METRICS_URL.split(",").map((u) => u.trim()).filter(Boolean) } : {}),
  });
}
