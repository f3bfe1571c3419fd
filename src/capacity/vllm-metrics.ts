/**
 * vLLM's load, read from its Prometheus `/metrics`: requests running, requests waiting in its
 * scheduler queue, and KV-cache usage (0–1). Several endpoints (replicas behind a list of URLs)
 * add up their running and waiting counts; KV-cache usage is the fullest replica's, since one
 * full replica preempts however empty the others are.
 */
export interface VllmLoad {
  running: number;
  waiting: number;
  kvCacheUsage: number;
  /** How many endpoints answered; the others are left out of the sums. */
  endpoints: number;
}

const NAMES = {
  running: "vllm:num_requests_running",
  waiting: "vllm:num_requests_waiting",
  kv: "vllm:kv_cache_usage_perc",
  // Older vLLM (V0) named the KV gauge per device.
  kvV0: "vllm:gpu_cache_usage_perc",
} as const;

/**
 * Sum each gauge over its series (one per model name or engine) from Prometheus text. Returns
 * undefined when the text holds none of the gauges: that is not a vLLM metrics page.
 */
export function parseVllmMetrics(text: string): Omit<VllmLoad, "endpoints"> | undefined {
  const sums = new Map<string, number>();
  const maxKv: number[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    // name{labels} value [timestamp]
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    const name = m[1];
    if (name === NAMES.kv || name === NAMES.kvV0) maxKv.push(value);
    else if (name === NAMES.running || name === NAMES.waiting) sums.set(name, (sums.get(name) ?? 0) + value);
  }
  if (!sums.has(NAMES.running) && !sums.has(NAMES.waiting) && maxKv.length === 0) return undefined;
  return {
    running: sums.get(NAMES.running) ?? 0,
    waiting: sums.get(NAMES.waiting) ?? 0,
    kvCacheUsage: maxKv.length ? Math.max(...maxKv) : 0,
  };
}

/** `http://host:8000/v1` → `http://host:8000/metrics` (vLLM serves /metrics beside /v1). */
export function metricsUrlFor(baseUrl: string): string {
  const url = new URL(baseUrl);
  url.pathname = url.pathname.replace(/\/+$/, "").replace(/\/v1$/, "") + "/metrics";
  url.search = "";
  return url.toString();
}

/**
 * Read every endpoint's metrics in parallel. Undefined when none answered with vLLM metrics:
 * the caller then falls back to a fixed limit rather than guess.
 */
export async function scrapeVllmLoad(
  urls: readonly string[],
  options: { timeoutMs?: number; apiKey?: string; fetch?: typeof fetch } = {},
): Promise<VllmLoad | undefined> {
  const doFetch = options.fetch ?? fetch;
  const results = await Promise.all(
    urls.map(async (url) => {
      try {
        const res = await doFetch(url, {
          headers: options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {},
          signal: AbortSignal.timeout(options.timeoutMs ?? 2000),
        });
        if (!res.ok) return undefined;
        return parseVllmMetrics(await res.text());
      } catch {
        return undefined;
      }
    }),
  );
  const answered = results.filter((r): r is NonNullable<typeof r> => r !== undefined);
  if (answered.length === 0) return undefined;
  return {
    running: answered.reduce((a, r) => a + r.running, 0),
    waiting: answered.reduce((a, r) => a + r.waiting, 0),
    kvCacheUsage: Math.max(...answered.map((r) => r.kvCacheUsage)),
    endpoints: answered.length,
  };
}
