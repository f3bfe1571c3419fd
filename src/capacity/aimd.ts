import type { VllmLoad } from "./vllm-metrics.js";

/**
 * How many model calls may be in flight, decided once per tick from vLLM's load. Additive
 * increase, proportional decrease:
 *
 * - metrics unreachable: the configured fixed limit (we cannot see the server, so we do not
 *   guess);
 * - requests waiting in vLLM's queue past `waitingMax`: the server is full. Cut the limit by the
 *   excess (at least 1): the waiting count is exactly how far over we are, so one step lands near
 *   the server's capacity instead of halving below it, as loss-based AIMD must;
 * - KV-cache usage over `kvMax` (vLLM preempts and recomputes near 100%, wasting GPU time): scale
 *   the limit by kvMax/usage (at least −1);
 * - otherwise, after a cool-down of `cooldownTicks` following a cut (the server's gauges lag our
 *   changes by about one scrape), grow, but only when callers were actually turned away
 *   (`demand`; a limit nobody uses says nothing about the server): double while in slow start
 *   (from start-up, or after /metrics came back, until the first cut), then add 1. Never past
 *   the number of requests the KV cache holds under `kvMax`, estimated from usage per running
 *   request, so the limit does not grow into the threshold only to be cut again.
 *
 * Pure: the state goes in and comes out, so the rule is tested without Redis or time.
 */
export interface AimdConfig {
  min: number;
  max: number;
  /** The limit while metrics are unreachable, and the starting point. */
  fallback: number;
  /** KV-cache usage (0–1) to stay under. */
  kvMax: number;
  /** Requests allowed to wait in vLLM's queue before cutting. */
  waitingMax: number;
  cooldownTicks: number;
}

export interface AimdState {
  limit: number;
  /** Ticks left before the next increase is allowed. */
  cooldown: number;
  /** Double instead of adding 1, until the first sign of congestion. */
  slowStart?: boolean;
  /** KV-cache fraction one running request held when last seen (a sample with nothing running
   * says nothing about it, and must not let the limit jump past the threshold). */
  kvPerRequest?: number;
}

export type AimdReason = "metrics-unreachable" | "waiting" | "kv-cache" | "cooldown" | "increase" | "kv-headroom" | "at-max" | "no-demand";

export interface AimdInput {
  load: VllmLoad | undefined;
  /** Callers were refused a slot since the last tick. */
  demand: boolean;
}

export function initialAimdState(config: AimdConfig): AimdState {
  return { limit: clamp(config.fallback, config), cooldown: 0, slowStart: true };
}

export function nextLimit(state: AimdState, input: AimdInput, config: AimdConfig): { state: AimdState; reason: AimdReason } {
  const result = decide(state, input, config);
  const { load } = input;
  const seen = load && load.running > 0 && load.kvCacheUsage > 0 ? load.kvCacheUsage / load.running : state.kvPerRequest;
  return { ...result, state: seen === undefined ? result.state : { ...result.state, kvPerRequest: seen } };
}

function decide(state: AimdState, input: AimdInput, config: AimdConfig): { state: AimdState; reason: AimdReason } {
  const { load } = input;
  if (!load) return { state: { limit: clamp(config.fallback, config), cooldown: 0, slowStart: true }, reason: "metrics-unreachable" };
  if (load.waiting > config.waitingMax) {
    const excess = Math.ceil(load.waiting - config.waitingMax);
    return { state: { limit: clamp(state.limit - Math.max(1, excess), config), cooldown: config.cooldownTicks, slowStart: false }, reason: "waiting" };
  }
  if (load.kvCacheUsage > config.kvMax) {
    const scaled = Math.floor((state.limit * config.kvMax) / load.kvCacheUsage);
    return { state: { limit: clamp(Math.min(state.limit - 1, scaled), config), cooldown: config.cooldownTicks, slowStart: false }, reason: "kv-cache" };
  }
  if (state.cooldown > 0) return { state: { ...state, cooldown: state.cooldown - 1 }, reason: "cooldown" };
  if (!input.demand) return { state, reason: "no-demand" };
  if (state.limit >= config.max) return { state: { ...state, limit: config.max }, reason: "at-max" };
  // How many requests fit under kvMax, at the KV each running request holds now.
  const perRequest = load.running > 0 && load.kvCacheUsage > 0 ? load.kvCacheUsage / load.running : (state.kvPerRequest ?? 0);
  const kvRoom = perRequest > 0 ? Math.floor(config.kvMax / perRequest + 1e-9) : Infinity;
  const wanted = state.slowStart ? state.limit * 2 : state.limit + 1;
  const next = Math.min(wanted, kvRoom, config.max);
  if (next <= state.limit) return { state, reason: "kv-headroom" };
  return { state: { limit: clamp(next, config), cooldown: 0, slowStart: state.slowStart }, reason: "increase" };
}

function clamp(n: number, config: Pick<AimdConfig, "min" | "max">): number {
  return Math.max(config.min, Math.min(config.max, Math.floor(n)));
}
