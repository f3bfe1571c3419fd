import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { ProbotOctokit } from "probot";
import { secretsOf, type Env } from "../config/env.js";
import { NoWaitOctokit } from "../github/octokit.js";
import { STEP_PERMISSIONS, createGitHubApp } from "../github/app-client.js";
import { fetchPermission } from "../github/permissions.js";
import { loadRepoConfig } from "../github/repo-config.js";
import { clientAddress } from "../http/client-address.js";
import { createWebServer, serveMetrics, type HealthReport, type Route } from "../http/server.js";
import { createSummaryLog } from "../http/summary-log.js";
import { REJECTION_HINTS, createWebhookIntake } from "../http/webhook-intake.js";
import type { RedisTarget } from "../shared/redis-target.js";
import { assertNoEviction, closeRedis, createRedis, pingRedis, waitReady } from "../queue/connection.js";
import { QueueEnqueuer, closeQueues, createQueues, type JobEnqueuer } from "../queue/enqueue.js";
import { checkProfiles, type ModelSetup } from "../jobs/model-for-job.js";
import type { Logger } from "../shared/log.js";
import { createMetrics, type Metrics } from "../shared/metrics.js";
import { adminCredentials, createOpsRoutes } from "../ops/ops-routes.js";
import { createLoginGuard } from "../ops/login-guard.js";
import { createRedactor, type Redact } from "../shared/redact.js";
import { createRouter } from "../webhooks/router.js";
import { createCachedConfigLoader } from "../webhooks/config-cache.js";
import { createIntakeCacheBus } from "../webhooks/cache-bus.js";
import { createRedisIntakeLimiter } from "../webhooks/intake-limits.js";
import { createPermissionCache } from "../webhooks/permission-cache.js";
import { loadModels } from "./runtime.js";

export interface WebHandle {
  port: number;
  /** The port of the separate /metrics listener, when METRICS_PORT is set. */
  metricsPort?: number;
  metrics: Metrics;
  /** Write the summary lines (rejected webhooks, failed logins) counted so far. */
  flushSummaries(): void;
  /** Stop taking requests, then close Redis. */
  close(): Promise<void>;
}

export interface StartWebOptions {
  env: Env;
  log: Logger;
  /** REDIS_URL, or a Redis Cluster's nodes. */
  redis: RedisTarget;
  /** Tests pass an Octokit with retry/throttle off. */
  Octokit?: typeof ProbotOctokit;
  routes?: Route[];
  /** Model profiles, for /healthz?deep=1 (default: the built-ins). */
  models?: ModelSetup;
  /** The process's redactor, for the run viewer (default: one built from env's secrets). */
  redact?: Redact;
}

/** Compose the web process: Redis (producer), queues, the webhook door and handlers, HTTP server. */
export async function startWeb(options: StartWebOptions): Promise<WebHandle> {
  const { env, log } = options;
  if (!env.APP_ID || !env.privateKey || !env.WEBHOOK_SECRET) {
    throw new Error("startWeb needs APP_ID, a private key and WEBHOOK_SECRET (setup mode is handled by all.ts)");
  }
  const redis = createRedis(options.redis, "producer");
  // Pub/sub needs a connection of its own: cache invalidations from the other web processes.
  const subscriber = createRedis(options.redis, "plain");
  try {
    await waitReady(redis);
    await assertNoEviction(redis);
  } catch (err) {
    await closeRedis(redis);
    await closeRedis(subscriber);
    throw err;
  }
  const queues = createQueues(redis, env.QUEUE_PREFIX);
  const metrics = createMetrics({
    queueCounts: async () => {
      const out: Record<string, Record<string, number>> = {};
      for (const [kind, q] of Object.entries(queues)) {
        out[kind] = await q.getJobCounts("waiting", "active", "delayed", "prioritized", "failed", "completed");
      }
      return out;
    },
  });
  const enqueuer: JobEnqueuer = new QueueEnqueuer(queues, redis, env.QUEUE_PREFIX, {
    attempts: env.JOB_ATTEMPTS,
    backoffMs: env.JOB_BACKOFF_MS,
    enqueueTimeoutMs: env.ENQUEUE_TIMEOUT_MS,
    onEnqueued: (kind, status) => metrics.jobsEnqueued.inc({ kind, status }),
  });
  const configCache = createCachedConfigLoader(loadRepoConfig);
  const permissions = createPermissionCache(fetchPermission, { ttlMs: env.PERMISSION_CACHE_TTL_MS });
  const bus = createIntakeCacheBus({
    publisher: redis,
    subscriber,
    prefix: env.QUEUE_PREFIX,
    log,
    onPermissions: (scope) => permissions.invalidate(scope),
    onConfig: (repoId) => configCache.invalidate(repoId),
  });
  await bus.ready;
  // The handlers' own client: one repository, read-only intake permissions, minted on first use.
  // (Probot's per-event client would hold an installation-wide token with all the app's rights.)
  const intakeGitHub = createGitHubApp({
    appId: env.APP_ID,
    privateKey: env.privateKey,
    baseUrl: env.githubApiUrl,
    log,
    Octokit: options.Octokit ?? NoWaitOctokit,
    writePacing: false,
    requestTimeoutMs: env.GITHUB_TIMEOUT_MS,
  });
  const limiter = createRedisIntakeLimiter(redis, env.QUEUE_PREFIX, { sender: env.INTAKE_SENDER_LIMIT, installation: env.INTAKE_INSTALLATION_LIMIT });
  const router = createRouter({
    enqueuer,
    repoClient: (installationId, repoId) => intakeGitHub.lazyForRepo(installationId, repoId, STEP_PERMISSIONS.intake),
    loadConfig: configCache.load,
    invalidateConfig: (repoId) => bus.config(repoId),
    checkPermission: (target, user) => permissions.check(target, user),
    invalidatePermissions: (scope) => bus.permissions(scope),
    ...(limiter
      ? {
          limits: {
            admit: async (request) => {
              const admission = await limiter.admit(request);
              if (!admission.ok) metrics.intakeLimited.inc({ scope: admission.scope });
              return admission;
            },
          },
        }
      : {}),
    appId: Number(env.APP_ID),
    log,
  });
  const address = (req: Parameters<typeof clientAddress>[0]) => clientAddress(req, env.TRUST_PROXY_HOPS);
  const rejections = createSummaryLog({ log, message: "webhook requests rejected", intervalMs: env.LOG_SUMMARY_INTERVAL_MS, hints: REJECTION_HINTS });
  const logins = createSummaryLog({ log, message: "failed logins on the operator pages", intervalMs: env.LOG_SUMMARY_INTERVAL_MS });
  const webhook = createWebhookIntake({
    secret: env.WEBHOOK_SECRET,
    maxBodyBytes: env.WEBHOOK_MAX_BODY_BYTES,
    receive: async (delivery) => {
      const started = performance.now();
      const result = await router.receive(delivery);
      metrics.webhooks.inc({ event: result.event, outcome: result.outcome });
      metrics.webhookHandlerDuration.observe({ event: result.event }, (performance.now() - started) / 1000);
      return result;
    },
    rejections,
    countRejection: (reason) => metrics.webhookRejections.inc({ reason }),
    clientAddress: address,
    log,
  });

  const models = options.models ?? loadModels(env, {});
  const health = async (deep: boolean): Promise<HealthReport> => {
    const redisOk = await pingRedis(redis);
    const checks: HealthReport["checks"] = { redis: { ok: redisOk, ...(redisOk ? {} : { detail: "Redis did not answer PING" }) } };
    if (deep) {
      // Each model profile by name: an operator sees which model is down, not just "unhealthy".
      for (const p of await checkProfiles(models)) {
        checks[`model:${p.profile}`] = {
          ok: p.ok,
          detail: p.ok ? `${p.model} is served` : p.endpoints.map((e) => e.detail).join("; "),
        };
      }
    }
    return { ok: Object.values(checks).every((c) => c.ok), checks };
  };
  const admin = adminCredentials(env);
  const login = admin
    ? createLoginGuard({ credentials: admin, clientAddress: address, summary: logins, countFailure: (outcome) => metrics.loginFailures.inc({ outcome }) })
    : undefined;
  const server = createWebServer({
    webhookPath: env.WEBHOOK_PATH,
    webhook,
    health,
    metrics,
    metricsAccess: { serve: env.METRICS_PORT === undefined, ...(env.METRICS_TOKEN ? { token: env.METRICS_TOKEN } : {}) },
    log,
    // The run viewer and, with admin credentials, the queue dashboard (src/ops).
    routes: [
      ...(options.routes ?? []),
      ...createOpsRoutes({ env, queues: Object.values(queues), log, redact: options.redact ?? createRedactor(secretsOf(env)), login }),
    ],
  });
  const listen = (s: Server, port: number) =>
    new Promise<number>((resolve, reject) => {
      s.once("error", reject);
      s.listen(port, env.HOST, () => resolve((s.address() as AddressInfo).port));
    });
  const port = await listen(server, env.PORT);
  // METRICS_PORT: /metrics (and nothing else) on a listener of its own.
  const metricsServer =
    env.METRICS_PORT === undefined
      ? undefined
      : createServer((req, res) => {
          if (req.method === "GET" && new URL(req.url ?? "/", "http://x").pathname === "/metrics") {
            void serveMetrics(req, res, metrics, env.METRICS_TOKEN).catch(() => res.destroy());
          } else res.writeHead(404).end();
        });
  const metricsPort = metricsServer ? await listen(metricsServer, env.METRICS_PORT!) : undefined;
  log.info({ port, host: env.HOST, webhookPath: env.WEBHOOK_PATH, metricsPort: metricsPort ?? port }, "web: listening for webhooks");
  return {
    port,
    ...(metricsPort !== undefined ? { metricsPort } : {}),
    metrics,
    flushSummaries() {
      rejections.flush();
      logins.flush();
    },
    async close() {
      const closing = (s: Server | undefined) =>
        new Promise<void>((resolve) => {
          if (!s) return resolve();
          s.close(() => resolve());
          s.closeIdleConnections();
        });
      await Promise.all([closing(server), closing(metricsServer)]);
      rejections.close();
      logins.close();
      await bus.close();
      await closeQueues(queues).catch(() => {});
      await closeRedis(redis);
      await closeRedis(subscriber);
    },
  };
}
