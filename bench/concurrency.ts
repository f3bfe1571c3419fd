/**
 * bench/concurrency.ts — adaptive model concurrency against fixed limits.
 *
 *   npx tsx bench/concurrency.ts [--seconds 10] [--rounds 3] [--workers 4] [--jobs 12] [--scenario all|queue|kv]
 *
 * Setup: one real redis-server, and the fake vLLM with its capacity model (test/support/fake-vllm/
 * capacity.ts) as the GPU server. `--workers` gate instances, each with its own Redis connections
 * (as separate worker processes would have), run `--jobs` agent-like loops each: a model call
 * through the real vLLM client and the worker's gate, then 0–100 ms of "tool time", again. So the
 * offered load (48 loops by default) is well past what the server can run at once.
 *
 * Two servers:
 * - queue: vLLM runs 12 requests at once (max_num_seqs); the rest wait in its queue. Throughput
 *   rises with the batch up to 12 and is flat after it; only the queue grows.
 * - kv: vLLM admits up to 64, but its KV cache is full at 16 running; past that it preempts and
 *   recomputes, so latency grows as (r/16)² and throughput falls.
 *
 * For each server: every fixed limit in the sweep once (MODEL_GATE=fixed), to find the best and
 * the worst; then `--rounds` rounds of [adaptive, best fixed, worst fixed], reporting medians.
 * Adaptive starts from MODEL_CONCURRENCY=4 and reads /metrics every 300 ms (the production
 * default is 2 s, for calls that last seconds to minutes; here calls last ~0.2–0.5 s).
 * Throughput = model calls completed per second over the whole run, start-up included.
 * vLLM's waiting queue and KV usage are sampled every 50 ms from /metrics.
 * Results go to stdout and bench/results/concurrency-<timestamp>.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { parseArgs } from "node:util";
import { createVllmClient } from "../src/agent/model/vllm-client.js";
import type { ChatMessage } from "../src/agent/model/types.js";
import { createModelGates, defaultGateConfig, type GateConfig } from "../src/capacity/model-gates.js";
import { metricsUrlFor, scrapeVllmLoad } from "../src/capacity/vllm-metrics.js";
import { closeRedis, createRedis } from "../src/queue/connection.js";
import { createLogger } from "../src/shared/log.js";
import { createRedactor } from "../src/shared/redact.js";
import { say, startFakeVllm, type CapacityOptions } from "../test/support/fake-vllm/index.js";
import { startTestRedis } from "../test/support/redis-server.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    rounds: { type: "string", default: "3" },
    workers: { type: "string", default: "4" },
    jobs: { type: "string", default: "12" },
    scenario: { type: "string", default: "all" },
    sweep: { type: "string", default: "1,2,4,8,12,16,24,32,48" },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const WORKERS = Number(values.workers);
const JOBS = Number(values.jobs);
const SWEEP = values.sweep!.split(",").map(Number);

const SCENARIOS: Record<string, CapacityOptions> = {
  queue: { maxRunning: 12, baseLatencyMs: 150, batchSlowdown: 0.5, kvPerRequest: 0.05 },
  kv: { maxRunning: 64, knee: 16, baseLatencyMs: 150, batchSlowdown: 0.5, overloadExponent: 2, kvPerRequest: 1 / 16 },
};

const log = createLogger({ level: "silent", redact: createRedactor() });
const HISTORY: ChatMessage[] = [
  { role: "system", content: "You fix bugs." },
  { role: "user", content: "Fix the bug in src/add.js." },
];

interface RunResult {
  mode: string;
  throughput: number;
  calls: number;
  waitingMean: number;
  waitingP95: number;
  waitingMax: number;
  kvMean: number;
  kvOver90: number;
  finalLimit: number | null;
  callP50Ms: number;
}

const quantile = (xs: number[], q: number) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const median = (xs: number[]) => quantile(xs, 0.5);
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

let runCounter = 0;

async function runOnce(redisUrl: string, capacity: CapacityOptions, mode: { kind: "fixed"; limit: number } | { kind: "adaptive" }): Promise<RunResult> {
  const vllm = await startFakeVllm({ script: () => say("ok", { usage: { prompt_tokens: 2000, completion_tokens: 200 } }), capacity });
  const prefix = `bench${process.pid}r${++runCounter}`;
  const config: GateConfig = defaultGateConfig(
    mode.kind === "fixed"
      ? { mode: "fixed", limit: mode.limit, max: 256 }
      : { mode: "adaptive", limit: 4, max: 64, intervalMs: 300, pollMs: 100 },
  );
  const profile = { name: "thinking", baseUrls: [vllm.url] };
  const connections = Array.from({ length: WORKERS }, () => ({ redis: createRedis(redisUrl, "plain"), subscriber: createRedis(redisUrl, "worker") }));
  const workers = connections.map((c) => createModelGates({ ...c, prefix, config, profiles: [profile], log }));
  const waiting: number[] = [];
  const kv: number[] = [];
  const latencies: number[] = [];
  const sampler = setInterval(() => {
    void scrapeVllmLoad([metricsUrlFor(vllm.url)]).then((l) => {
      if (!l) return;
      waiting.push(l.waiting);
      kv.push(l.kvCacheUsage);
    });
  }, 50);
  let calls = 0;
  const started = performance.now();
  const until = started + SECONDS * 1000;
  try {
    await Promise.all(
      workers.flatMap((w) =>
        Array.from({ length: JOBS }, async () => {
          const client = createVllmClient({ baseUrls: [vllm.url], timeoutMs: 120_000 }, { gate: w.gateFor(profile) });
          while (performance.now() < until) {
            const t = performance.now();
            await client.complete(HISTORY, []);
            latencies.push(performance.now() - t);
            calls++;
            await new Promise((r) => setTimeout(r, Math.random() * 100));
          }
        }),
      ),
    );
  } finally {
    clearInterval(sampler);
  }
  const elapsed = (performance.now() - started) / 1000;
  const probe = connections[0].redis;
  const limit = await probe.get(workers[0].poolOf(profile).limit);
  await Promise.all(workers.map((w) => w.close()));
  for (const c of connections) {
    await closeRedis(c.redis);
    await closeRedis(c.subscriber);
  }
  await vllm.close();
  return {
    mode: mode.kind === "fixed" ? `fixed ${mode.limit}` : "adaptive",
    throughput: calls / elapsed,
    calls,
    waitingMean: mean(waiting),
    waitingP95: quantile(waiting, 0.95),
    waitingMax: Math.max(0, ...waiting),
    kvMean: mean(kv),
    kvOver90: kv.length ? kv.filter((u) => u > 0.9).length / kv.length : 0,
    finalLimit: limit === null ? null : Number(limit),
    callP50Ms: median(latencies),
  };
}

function line(r: RunResult): string {
  return `${r.mode.padEnd(10)} ${round(r.throughput, 1).toString().padStart(6)} calls/s  waiting mean ${round(r.waitingMean, 1)} p95 ${r.waitingP95} max ${r.waitingMax}  kv mean ${round(r.kvMean)} >0.9 ${Math.round(r.kvOver90 * 100)}%  call p50 ${Math.round(r.callP50Ms)} ms${r.mode === "adaptive" ? `  final limit ${r.finalLimit}` : ""}`;
}

async function main() {
  const redis = await startTestRedis();
  const report: Record<string, unknown> = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    options: { seconds: SECONDS, rounds: ROUNDS, workers: WORKERS, jobs: JOBS, sweep: SWEEP },
    scenarios: {},
  };
  try {
    const names = values.scenario === "all" ? Object.keys(SCENARIOS) : [values.scenario!];
    for (const name of names) {
      const capacity = SCENARIOS[name];
      if (!capacity) throw new Error(`unknown scenario ${name}`);
      console.log(`\n== ${name}: ${JSON.stringify(capacity)}`);
      const sweep: RunResult[] = [];
      for (const limit of SWEEP) {
        const r = await runOnce(redis.url, capacity, { kind: "fixed", limit });
        sweep.push(r);
        console.log(`sweep  ${line(r)}`);
      }
      const best = sweep.reduce((a, b) => (b.throughput > a.throughput ? b : a));
      const worst = sweep.reduce((a, b) => (b.throughput < a.throughput ? b : a));
      const bestLimit = Number(best.mode.split(" ")[1]);
      const worstLimit = Number(worst.mode.split(" ")[1]);
      const rounds: Record<string, RunResult[]> = { adaptive: [], best: [], worst: [] };
      for (let i = 0; i < ROUNDS; i++) {
        for (const [key, mode] of [
          ["adaptive", { kind: "adaptive" }],
          ["best", { kind: "fixed", limit: bestLimit }],
          ["worst", { kind: "fixed", limit: worstLimit }],
        ] as const) {
          const r = await runOnce(redis.url, capacity, mode);
          rounds[key].push(r);
          console.log(`round ${i + 1} ${line(r)}`);
        }
      }
      const summary = Object.fromEntries(
        Object.entries(rounds).map(([key, rs]) => [
          key,
          {
            mode: rs[0].mode,
            throughput: round(median(rs.map((r) => r.throughput)), 1),
            waitingMean: round(median(rs.map((r) => r.waitingMean)), 2),
            waitingP95: median(rs.map((r) => r.waitingP95)),
            waitingMax: median(rs.map((r) => r.waitingMax)),
            kvMean: round(median(rs.map((r) => r.kvMean))),
            kvOver90: round(median(rs.map((r) => r.kvOver90))),
            finalLimit: key === "adaptive" ? median(rs.map((r) => r.finalLimit ?? 0)) : undefined,
          },
        ]),
      );
      const ratio = median(rounds.adaptive.map((r) => r.throughput)) / median(rounds.best.map((r) => r.throughput));
      console.log(`-- ${name}: adaptive / best fixed (${best.mode}) = ${round(ratio * 100, 1)}%  (target ≥ 90%)`);
      (report.scenarios as Record<string, unknown>)[name] = { capacity, sweep, rounds, summary, adaptiveOverBest: round(ratio, 3) };
    }
  } finally {
    await redis.destroy();
  }
  mkdirSync("bench/results", { recursive: true });
  const file = `bench/results/concurrency-${Date.now()}.json`;
  writeFileSync(file, JSON.stringify(report, null, 2));
  console.log(`\nwrote ${file}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
