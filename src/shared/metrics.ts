import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * Prometheus metrics, one registry per process (no global default registry), so tests and the
 * all-in-one process can hold several without name clashes.
 */
export interface Metrics {
  registry: Registry;
  webhooks: Counter<"event" | "outcome">;
  /** A webhook handler's own time (decide, live permission check, enqueue), by event. */
  webhookHandlerDuration: Histogram<"event">;
  /**
   * Webhook requests refused before any handler ran, by reason (bad signature, too large, …).
   * Never labelled by a request header: a flood with random headers must not grow the registry.
   */
  webhookRejections: Counter<"reason">;
  /** Requests for work refused by the intake limits, by scope (sender, installation). */
  intakeLimited: Counter<"scope">;
  /** Failed logins on the operator pages, by outcome (wrong: bad password; locked: refused while locked out). */
  loginFailures: Counter<"outcome">;
  jobsEnqueued: Counter<"kind" | "status">;
  queueDepth: Gauge<"kind" | "state">;
  jobsFinished: Counter<"kind" | "outcome">;
  // --- Operations (docs/DEPLOY.md, deploy/grafana-dashboard.json); recorders in recorders.ts ---
  /** Wall time of a job attempt, by kind and outcome (success, failure, retry, cancelled, …). */
  jobDuration: Histogram<"kind" | "outcome">;
  /** Agent steps per agent run, by job kind. */
  agentSteps: Histogram<"kind">;
  agentRuns: Counter<"kind" | "profile" | "model" | "outcome">;
  /** Tokens per agent run, by job kind and type (prompt, completion). */
  agentTokens: Histogram<"kind" | "type">;
  /** One model HTTP attempt, by profile and outcome (ok, timeout, rate-limited, …). */
  modelCallDuration: Histogram<"profile" | "outcome">;
  /** Model attempts that did not succeed, by profile and reason. */
  modelCallErrors: Counter<"profile" | "reason">;
  /** Time a model call waited for a slot of the concurrency gate. */
  modelGateWait: Histogram<"pool">;
  /** The shared in-flight limit of a gate pool (set by the controller's leader). */
  modelGateLimit: Gauge<"pool">;
  /** Model calls this process has in flight through the gate. */
  modelGateInFlight: Gauge<"pool">;
  /** vLLM's load as the controller's leader last read it: running, waiting, kv_cache_usage. */
  vllmLoad: Gauge<"pool" | "signal">;
  /** A repository test run in the sandbox, by outcome (passed, failed, timeout, error). */
  testRunDuration: Histogram<"outcome">;
  /** GitHub REST calls by route template, method and status ("error" when no response). */
  githubRequests: Counter<"route" | "method" | "status">;
  /** GitHub rate-limit hits, by kind (primary, secondary) and decision (wait, give-up). */
  githubRateLimits: Counter<"kind" | "decision">;
  /** Seconds spent (or announced) waiting on GitHub rate limits. */
  githubRateLimitWaitSeconds: Counter<"kind">;
  /** Sandboxed commands killed, by reason (timeout, memory, pids, disk, cancel, output). */
  sandboxKills: Counter<"reason">;
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
    webhookHandlerDuration: new Histogram({
      name: "iquest_webhook_handler_duration_seconds",
      help: "A webhook handler's own time (decide, live permission check, enqueue), by event",
      labelNames: ["event"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    webhookRejections: new Counter({
      name: "iquest_webhook_rejections_total",
      help: "Webhook requests refused before a handler ran, by reason",
      labelNames: ["reason"],
      registers: [registry],
    }),
    intakeLimited: new Counter({
      name: "iquest_intake_limited_total",
      help: "Requests for work refused by the per-sender or per-installation intake limit",
      labelNames: ["scope"],
      registers: [registry],
    }),
    loginFailures: new Counter({
      name: "iquest_login_failures_total",
      help: "Failed logins on the operator pages (wrong credentials, or refused during a lock-out)",
      labelNames: ["outcome"],
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
    jobDuration: new Histogram({
      name: "iquest_job_duration_seconds",
      help: "Wall time of one job attempt, by kind and outcome",
      labelNames: ["kind", "outcome"],
      // Reviews take a minute or two; fixes and upgrades up to the one-hour budget.
      buckets: [5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
      registers: [registry],
    }),
    agentRuns: new Counter({
      name: "iquest_agent_runs_total",
      help: "Agent runs by job kind, the model profile and model used, and how the run ended",
      labelNames: ["kind", "profile", "model", "outcome"],
      registers: [registry],
    }),
    agentSteps: new Histogram({
      name: "iquest_agent_steps",
      help: "Agent steps (model turns) per agent run, by job kind",
      labelNames: ["kind"],
      buckets: [1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200],
      registers: [registry],
    }),
    agentTokens: new Histogram({
      name: "iquest_agent_tokens",
      help: "Tokens per agent run, by job kind and type (prompt, completion)",
      labelNames: ["kind", "type"],
      buckets: [1e3, 1e4, 5e4, 1e5, 2.5e5, 5e5, 1e6, 2.5e6, 5e6, 1e7],
      registers: [registry],
    }),
    modelCallDuration: new Histogram({
      name: "iquest_model_call_duration_seconds",
      help: "One model HTTP attempt, by model profile and outcome",
      labelNames: ["profile", "outcome"],
      buckets: [0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 60, 120, 300, 600],
      registers: [registry],
    }),
    modelCallErrors: new Counter({
      name: "iquest_model_call_errors_total",
      help: "Model HTTP attempts that did not succeed, by profile and reason",
      labelNames: ["profile", "reason"],
      registers: [registry],
    }),
    modelGateWait: new Histogram({
      name: "iquest_model_gate_wait_seconds",
      help: "Time a model call waited for a concurrency slot",
      labelNames: ["pool"],
      buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300],
      registers: [registry],
    }),
    modelGateLimit: new Gauge({
      name: "iquest_model_gate_limit",
      help: "Shared in-flight model call limit of a gate pool (reported by the controller's leader)",
      labelNames: ["pool"],
      registers: [registry],
    }),
    modelGateInFlight: new Gauge({
      name: "iquest_model_gate_in_flight",
      help: "Model calls this process has in flight through the gate",
      labelNames: ["pool"],
      registers: [registry],
    }),
    vllmLoad: new Gauge({
      name: "iquest_vllm_load",
      help: "vLLM load as read by the capacity controller's leader (signal: running, waiting, kv_cache_usage)",
      labelNames: ["pool", "signal"],
      registers: [registry],
    }),
    testRunDuration: new Histogram({
      name: "iquest_test_run_duration_seconds",
      help: "Repository test runs in the sandbox, by outcome",
      labelNames: ["outcome"],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200],
      registers: [registry],
    }),
    githubRequests: new Counter({
      name: "iquest_github_requests_total",
      help: "GitHub REST calls by route template, method and status",
      labelNames: ["route", "method", "status"],
      registers: [registry],
    }),
    githubRateLimits: new Counter({
      name: "iquest_github_rate_limits_total",
      help: "GitHub rate-limit hits by kind (primary, secondary) and decision (wait, give-up)",
      labelNames: ["kind", "decision"],
      registers: [registry],
    }),
    githubRateLimitWaitSeconds: new Counter({
      name: "iquest_github_rate_limit_wait_seconds_total",
      help: "Seconds of waiting that GitHub rate limits asked for (and we accepted)",
      labelNames: ["kind"],
      registers: [registry],
    }),
    sandboxKills: new Counter({
      name: "iquest_sandbox_kills_total",
      help: "Sandboxed commands killed, by reason",
      labelNames: ["reason"],
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
