import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";

/**
 * Prometheus metrics, one registry per process (no global default registry), so tests and the
 * all-in-one process can hold several without name clashes.
 */
export interface Metrics {
  registry: Registry;
  webhooks: Counter<"event" | "outcome">;
  jobsEnqueued: Counter<"kind" | "status">;
  queueDepth: Gauge<"kind" | "state">;
  jobsFinished: Counter<"kind" | "outcome">;
}

export type QueueCounts = () => Promise<Record<string, Record<string, number>>>;

export function createMetrics(options: { queueCounts?: QueueCounts; defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: "iquest_" });
  const queueCounts = options.queueCounts;
  return {
    registry,
    webhooks: new Counter({
      name: "iquest_webhooks_total",
      help: "Webhook deliveries by event and outcome (handler decision, or http_<status> when rejected before a handler)",
      labelNames: ["event", "outcome"],
      registers: [registry],
    }),
    jobsEnqueued: new Counter({
      name: "iquest_jobs_enqueued_total",
      help: "Jobs offered to the queue by kind, and whether they were new or duplicates",
      labelNames: ["kind", "status"],
      registers: [registry],
    }),
    jobsFinished: new Counter({
      name: "iquest_jobs_finished_total",
      help: "Jobs finished by kind and outcome",
      labelNames: ["kind", "outcome"],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: "iquest_queue_jobs",
      help: "Jobs in each queue by state, read from Redis at scrape time",
      labelNames: ["kind", "state"],
      registers: [registry],
      async collect() {
        if (!queueCounts) return;
        try {
          const counts = await queueCounts();
          for (const [kind, states] of Object.entries(counts)) {
            for (const [state, n] of Object.entries(states)) this.set({ kind, state }, n);
          }
        } catch {
          // Redis down: leave the last values; /healthz reports the outage.
        }
      },
    }),
  };
}
