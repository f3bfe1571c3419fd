/**
 * A capacity model for the fake vLLM: how long a request takes depends on how many run at once,
 * and requests past the server's limit wait, as they do in vLLM's scheduler. Enough of a GPU
 * server's shape to test and benchmark concurrency control, nothing more:
 *
 * - up to `maxRunning` requests run (vLLM's max_num_seqs, or what the KV cache holds); the rest
 *   wait in FIFO order and show as `vllm:num_requests_waiting`;
 * - running requests share the GPU (processor sharing): alone, a request takes `baseLatencyMs`;
 *   with `r` running, each takes `base × (1 + batchSlowdown × (r−1)/(knee−1))`, so batching
 *   raises throughput with diminishing returns, as decoding on a GPU does;
 * - past `knee` running requests the KV cache is over-committed and vLLM preempts and recomputes:
 *   latency is further multiplied by `(r/knee)^overloadExponent`, so throughput falls;
 * - `vllm:kv_cache_usage_perc` = min(1, running × kvPerRequest).
 *
 * Time is simulated exactly between events (arrival, completion): each running request advances
 * at 1/latency(r) per millisecond, and one timer fires at the next completion.
 */
export interface CapacityOptions {
  /** Requests that run at once; more wait. */
  maxRunning: number;
  /** Latency of a request running alone. */
  baseLatencyMs: number;
  /** Extra latency at `knee` running requests, as a fraction of base (default 0.5). */
  batchSlowdown?: number;
  /** Running requests past which preemption slows everything (default: maxRunning). */
  knee?: number;
  /** How steeply latency grows past the knee (default 2: throughput falls as knee/r). */
  overloadExponent?: number;
  /** KV-cache fraction one running request holds (default 1/knee: full at the knee). */
  kvPerRequest?: number;
}

interface Job {
  progress: number;
  done: () => void;
  fail: (err: Error) => void;
}

export interface CapacityModel {
  /** Resolves when the request's simulated work is done; `signal` aborts it (client gone). */
  serve(signal?: AbortSignal): Promise<void>;
  readonly running: number;
  readonly waiting: number;
  readonly kvUsage: number;
  /** Latency of one request with `r` running, in ms (for tests and the benchmark's report). */
  latencyAt(r: number): number;
  close(): void;
}

export function createCapacityModel(options: CapacityOptions): CapacityModel {
  const maxRunning = Math.max(1, Math.floor(options.maxRunning));
  const knee = Math.max(1, options.knee ?? maxRunning);
  const slowdown = options.batchSlowdown ?? 0.5;
  const exponent = options.overloadExponent ?? 2;
  const kvPerRequest = options.kvPerRequest ?? 1 / knee;
  const base = options.baseLatencyMs;

  const running = new Set<Job>();
  const waiting: Job[] = [];
  let last = performance.now();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const latencyAt = (r: number): number => {
    if (r <= 0) return base;
    const batch = 1 + (slowdown * (Math.min(r, knee) - 1)) / Math.max(1, knee - 1);
    const overload = r > knee ? (r / knee) ** exponent : 1;
    return base * batch * overload;
  };

  // Bring every running request's progress up to now, at the rate of the current batch size.
  const advance = () => {
    const now = performance.now();
    const rate = (now - last) / latencyAt(running.size);
    last = now;
    if (rate > 0) for (const job of running) job.progress += rate;
  };

  const schedule = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (closed) return;
    for (const job of [...running]) {
      if (job.progress >= 1 - 1e-9) {
        running.delete(job);
        job.done();
      }
    }
    while (running.size < maxRunning && waiting.length > 0) running.add(waiting.shift()!);
    if (running.size === 0) return;
    let most = 0;
    for (const job of running) most = Math.max(most, job.progress);
    const ms = (1 - most) * latencyAt(running.size);
    timer = setTimeout(() => {
      advance();
      schedule();
    }, Math.max(0, ms));
  };

  return {
    serve(signal) {
      if (closed) return Promise.reject(new Error("capacity model closed"));
      return new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          advance();
          running.delete(job);
          const i = waiting.indexOf(job);
          if (i >= 0) waiting.splice(i, 1);
          schedule();
          reject(new Error("request aborted"));
        };
        const job: Job = {
          progress: 0,
          done: () => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
          },
          fail: (err) => {
            signal?.removeEventListener("abort", onAbort);
            reject(err);
          },
        };
        if (signal?.aborted) return reject(new Error("request aborted"));
        signal?.addEventListener("abort", onAbort, { once: true });
        advance();
        waiting.push(job);
        schedule();
      });
    },
    get running() {
      return running.size;
    },
    get waiting() {
      return waiting.length;
    },
    get kvUsage() {
      return Math.min(1, running.size * kvPerRequest);
    },
    latencyAt,
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      for (const job of [...running, ...waiting]) job.fail(new Error("capacity model closed"));
      running.clear();
      waiting.length = 0;
    },
  };
}
