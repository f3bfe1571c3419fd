import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { Logger } from "../shared/log.js";
import { initialAimdState, nextLimit, type AimdConfig, type AimdReason, type AimdState } from "./aimd.js";
import type { GateKeys } from "./keys.js";
import { scrapeVllmLoad, type VllmLoad } from "./vllm-metrics.js";

/**
 * Moves a pool's shared limit from vLLM's load. Every worker runs one per pool, but only the one
 * holding the pool's leader key (SET NX PX, renewed each tick) scrapes and decides, so N workers
 * cost vLLM one scrape per interval and never fight over the limit. If the leader dies its key
 * expires after three intervals and another worker takes over from the limit in Redis.
 */
export interface CapacityDecision {
  limit: number;
  reason: AimdReason;
  load: VllmLoad | undefined;
  demand: boolean;
  at: number;
}

export interface CapacityControllerOptions {
  redis: Redis;
  keys: GateKeys;
  config: AimdConfig;
  intervalMs: number;
  metricsUrls: readonly string[];
  apiKey?: string;
  log: Logger;
  /** Told of each decision this process makes as leader (metrics, tests). */
  onDecision?: (decision: CapacityDecision) => void;
  /** Told when this process stops being leader (to clear gauges it set). */
  onFollower?: () => void;
  scrape?: (urls: readonly string[]) => Promise<VllmLoad | undefined>;
}

// KEYS: leader. ARGV: id, ttl. 1 when this id holds the key now (taken or renewed).
const LEAD = `
local holder = redis.call('GET', KEYS[1])
if holder == false then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0`;

export class CapacityController {
  private readonly id = randomUUID();
  private state: AimdState | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private leading = false;
  private stopped = false;
  private ticking: Promise<unknown> | undefined;

  constructor(private readonly options: CapacityControllerOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    const loop = () => {
      if (this.stopped) return;
      this.ticking = this.tick()
        .catch((err: unknown) => this.options.log.warn({ err, pool: this.options.keys.pool }, "capacity controller tick failed"))
        .finally(() => {
          if (!this.stopped) {
            this.timer = setTimeout(loop, this.options.intervalMs);
            this.timer.unref();
          }
        });
    };
    loop();
  }

  /** One decision, if this process is (or becomes) the leader. Exposed for tests. */
  async tick(): Promise<CapacityDecision | undefined> {
    const { redis, keys, config } = this.options;
    const lead = (await redis.eval(LEAD, 1, keys.leader, this.id, this.options.intervalMs * 3)) === 1;
    if (!lead) {
      if (this.leading) this.options.onFollower?.();
      this.leading = false;
      this.state = undefined;
      return undefined;
    }
    if (!this.leading || !this.state) {
      // Taking over: start from the limit the previous leader left.
      const current = Number(await redis.get(keys.limit));
      this.state = Number.isFinite(current) && current > 0 ? { limit: current, cooldown: config.cooldownTicks } : initialAimdState(config);
      this.leading = true;
    }
    const load = await (this.options.scrape ?? ((urls) => scrapeVllmLoad(urls, { apiKey: this.options.apiKey })))(this.options.metricsUrls);
    const denied = Number((await redis.getdel(keys.denied)) ?? 0);
    const before = this.state.limit;
    const { state, reason } = nextLimit(this.state, { load, demand: denied > 0 }, config);
    this.state = state;
    const decision: CapacityDecision = { limit: state.limit, reason, load, demand: denied > 0, at: Date.now() };
    const multi = redis.multi().set(keys.limit, String(state.limit)).set(keys.status, JSON.stringify(decision), "PX", this.options.intervalMs * 10);
    // More room: wake waiters everywhere rather than leave them to their poll.
    if (state.limit > before) multi.publish(keys.freed, String(state.limit - before));
    await multi.exec();
    if (state.limit !== before || reason === "metrics-unreachable") {
      this.options.log.debug({ pool: keys.pool, from: before, to: state.limit, reason, load }, "model concurrency limit");
    }
    this.options.onDecision?.(decision);
    return decision;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking?.catch(() => {});
    if (this.leading) {
      // Hand over at once instead of after the key's TTL.
      await this.options.redis.eval(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, 1, this.options.keys.leader, this.id).catch(() => {});
      this.options.onFollower?.();
    }
    this.leading = false;
  }
}
