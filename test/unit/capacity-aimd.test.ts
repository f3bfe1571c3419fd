import { describe, expect, test } from "@jest/globals";
import { initialAimdState, nextLimit, type AimdConfig } from "../../src/capacity/aimd.js";
import { metricsUrlFor, parseVllmMetrics } from "../../src/capacity/vllm-metrics.js";

const config: AimdConfig = { min: 1, max: 32, fallback: 6, kvMax: 0.9, waitingMax: 0, cooldownTicks: 1 };
const load = (running: number, waiting = 0, kvCacheUsage = 0) => ({ running, waiting, kvCacheUsage, endpoints: 1 });

describe("nextLimit (additive increase, proportional decrease)", () => {
  test("starts at the fallback, clamped to [min, max], in slow start", () => {
    expect(initialAimdState(config)).toEqual({ limit: 6, cooldown: 0, slowStart: true });
    expect(initialAimdState({ ...config, fallback: 99 }).limit).toBe(32);
  });

  test("metrics unreachable: the fixed fallback, whatever the limit was", () => {
    const r = nextLimit({ limit: 20, cooldown: 0 }, { load: undefined, demand: true }, config);
    expect(r).toEqual({ state: { limit: 6, cooldown: 0, slowStart: true }, reason: "metrics-unreachable" });
  });

  test("slow start doubles until the first cut, never past what the KV cache holds under kvMax", () => {
    let s = initialAimdState(config);
    s = nextLimit(s, { load: load(6, 0, 0.3), demand: true }, config).state;
    expect(s).toMatchObject({ limit: 12, cooldown: 0, slowStart: true });
    expect(s.kvPerRequest).toBeCloseTo(0.05);
    // 0.05 per request: 18 fit under 0.9, so 24 is capped at 18.
    const r = nextLimit(s, { load: load(12, 0, 0.6), demand: true }, config);
    expect(r.state.limit).toBe(18);
    // A cut ends slow start; growth is then one at a time.
    const cut = nextLimit({ limit: 20, cooldown: 0, slowStart: true }, { load: load(16, 4, 0.1), demand: true }, config);
    expect(cut.state).toMatchObject({ limit: 16, cooldown: 1, slowStart: false });
  });

  test("a sample with nothing running keeps the last KV-per-request estimate", () => {
    // Seen at 0.1 per request: 9 fit under 0.9. An idle moment must not let slow start double past that.
    const seen = nextLimit({ limit: 4, cooldown: 0, slowStart: true }, { load: load(4, 0, 0.4), demand: true }, config);
    expect(seen.state).toMatchObject({ limit: 8, kvPerRequest: 0.1 });
    const idle = nextLimit(seen.state, { load: load(0, 0, 0), demand: true }, config);
    expect(idle.state).toMatchObject({ limit: 9, kvPerRequest: 0.1 });
  });

  test("grows by one only while callers are turned away", () => {
    expect(nextLimit({ limit: 6, cooldown: 0 }, { load: load(6), demand: true }, config)).toEqual({
      state: { limit: 7, cooldown: 0 },
      reason: "increase",
    });
    expect(nextLimit({ limit: 6, cooldown: 0 }, { load: load(2), demand: false }, config).state.limit).toBe(6);
  });

  test("requests waiting in vLLM: cut by the excess in one step, then cool down", () => {
    const cut = nextLimit({ limit: 16, cooldown: 0 }, { load: load(12, 4), demand: true }, config);
    expect(cut).toEqual({ state: { limit: 12, cooldown: 1, slowStart: false }, reason: "waiting" });
    const cooling = nextLimit(cut.state, { load: load(12, 0), demand: true }, config);
    expect(cooling).toEqual({ state: { limit: 12, cooldown: 0, slowStart: false }, reason: "cooldown" });
    expect(nextLimit(cooling.state, { load: load(12, 0, 0.5), demand: true }, config).state.limit).toBe(13);
  });

  test("tolerates waitingMax requests in the queue", () => {
    const r = nextLimit({ limit: 10, cooldown: 0 }, { load: load(10, 2), demand: true }, { ...config, waitingMax: 2 });
    expect(r.reason).toBe("increase");
  });

  test("KV cache over the threshold: scale by kvMax/usage (at least one less)", () => {
    expect(nextLimit({ limit: 20, cooldown: 0 }, { load: load(20, 0, 1), demand: true }, config).state.limit).toBe(18);
    expect(nextLimit({ limit: 20, cooldown: 0 }, { load: load(20, 0, 0.91), demand: true }, config).state.limit).toBe(19);
  });

  test("does not grow into the KV threshold (usage per running request says where the next one lands)", () => {
    // 14 running at 0.845: one more would be 0.905.
    const r = nextLimit({ limit: 14, cooldown: 0 }, { load: load(14, 0, 0.845), demand: true }, config);
    expect(r.reason).toBe("kv-headroom");
    expect(r.state.limit).toBe(14);
  });

  test("never below min or above max", () => {
    expect(nextLimit({ limit: 2, cooldown: 0 }, { load: load(2, 50), demand: true }, config).state.limit).toBe(1);
    expect(nextLimit({ limit: 32, cooldown: 0 }, { load: load(3), demand: true }, config).reason).toBe("at-max");
  });
});

describe("vLLM /metrics", () => {
  const text = [
    "# HELP vllm:num_requests_running Number of requests in model execution batches.",
    "# TYPE vllm:num_requests_running gauge",
    'vllm:num_requests_running{engine="0",model_name="IQuestLab/IQuest-Coder-V1-40B-Thinking"} 7.0',
    'vllm:num_requests_running{engine="1",model_name="IQuestLab/IQuest-Coder-V1-40B-Thinking"} 5.0',
    'vllm:num_requests_waiting{engine="0",model_name="IQuestLab/IQuest-Coder-V1-40B-Thinking"} 3.0',
    'vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.42',
    'vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.87',
    'vllm:prefix_cache_hits_total{model_name="m"} 12345.0',
    "",
  ].join("\n");

  test("sums running and waiting over engines; KV usage is the fullest engine's", () => {
    expect(parseVllmMetrics(text)).toEqual({ running: 12, waiting: 3, kvCacheUsage: 0.87 });
  });

  test("a page without vLLM's gauges is not vLLM metrics", () => {
    expect(parseVllmMetrics("# just a comment\nprocess_cpu_seconds_total 3\n")).toBeUndefined();
    expect(parseVllmMetrics("<html>not found</html>")).toBeUndefined();
  });

  test("older vLLM's gpu_cache_usage_perc counts as KV usage", () => {
    expect(parseVllmMetrics('vllm:gpu_cache_usage_perc{model_name="m"} 0.5\n')?.kvCacheUsage).toBe(0.5);
  });

  test("the metrics URL sits beside /v1", () => {
    expect(metricsUrlFor("http://gpu-a:8000/v1")).toBe("http://gpu-a:8000/metrics");
    expect(metricsUrlFor("http://router.svc/v1/")).toBe("http://router.svc/metrics");
    expect(metricsUrlFor("https://llm.example.com/team-a/v1")).toBe("https://llm.example.com/team-a/metrics");
  });
});
