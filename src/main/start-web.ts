import type { AddressInfo } from "node:net";
import { Probot, createNodeMiddleware, type ProbotOctokit } from "probot";
import { secretsOf, type Env } from "../config/env.js";
import { NoWaitOctokit } from "../github/octokit.js";
import { STEP_PERMISSIONS, createGitHubApp } from "../github/app-client.js";
import { fetchPermission } from "../github/permissions.js";
import { loadRepoConfig } from "../github/repo-config.js";
import { createWebServer, type HealthReport, type Route } from "../http/server.js";
import { assertNoEviction, closeRedis, createRedis, pingRedis, waitReady } from "../queue/connection.js";
import { QueueEnqueuer, closeQueues, createQueues, type JobEnqueuer } from "../queue/enqueue.js";
import { checkProfiles, type ModelSetup } from "../jobs/model-for-job.js";
import type { Logger } from "../shared/log.js";
import { createMetrics, type Metrics } from "../shared/metrics.js";
import { createOpsRoutes } from "../ops/ops-routes.js";
import { createRedactor, type Redact } from "../shared/redact.js";
import { createApp } from "../webhooks/app.js";
import { createCachedConfigLoader } from "../webhooks/config-cache.js";
import { loadModels } from "./runtime.js";
import { singleFlight } from "../webhooks/single-flight.js";

export interface WebHandle {
  port: number;
  metrics: Metrics;
  /** Stop taking requests, then close Redis. */
  close(): Promise<void>;
}

export interface StartWebOptions {
  env: Env;
  log: Logger;
  redisUrl: string;
  /** Tests pass an Octokit with retry/throttle off. */
  Octokit?: typeof ProbotOctokit;
  routes?: Route[];
  /** Model profiles, for /healthz?deep=1 (default: the built-ins). */
  models?: ModelSetup;
  /** The process's redactor, for the run viewer (default: one built from env's secrets). */
  redact?: Redact;
}

/** Compose the web process: Redis (producer), queues, Probot with our handlers, HTTP server. */
export async function startWeb(options: StartWebOptions): Promise<WebHandle> {
  const { env, log } = options;
  if (!env.APP_ID || !env.privateKey || !env.WEBHOOK_SECRET) {
    throw new Error("startWeb needs APP_ID, a private key and WEBHOOK_SECRET (setup mode is handled by all.ts)");
  }
  const redis = createRedis(options.redisUrl, "producer");
  try {
    await waitReady(redis);
    await assertNoEviction(redis);
  } catch (err) {
    await closeRedis(redis);
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
  const probot = new Probot({
    appId: env.APP_ID,
    privateKey: env.privateKey,
    secret: env.WEBHOOK_SECRET,
    baseUrl: env.githubApiUrl,
    log: log.child({ name: "probot" }),
    Octokit: options.Octokit ?? NoWaitOctokit,
  });
  // The handlers' own client: one repository, the intake permissions, minted on first use.
  // (Probot's per-event client would hold an installation-wide token with all the app's rights.)
  const intakeGitHub = createGitHubApp({
    appId: env.APP_ID,
    privateKey: env.privateKey,
    baseUrl: env.githubApiUrl,
    log,
    Octokit: options.Octokit ?? NoWaitOctokit,
    writePacing: false,
  });
  const appFn = createApp({
    enqueuer,
    repoClient: (installationId, repoId) => intakeGitHub.lazyForRepo(installationId, repoId, STEP_PERMISSIONS.intake),
    loadConfig: configCache.load,
    invalidateConfig: configCache.invalidate,
    // A repository belongs to one installation of the app, so repo + user is the whole key.
    checkPermission: singleFlight((_github, repo, user) => `${repo.owner}/${repo.repo}:${user}`, fetchPermission),
    appId: Number(env.APP_ID),
    record: (event, outcome, seconds) => {
      metrics.webhooks.inc({ event, outcome });
      metrics.webhookHandlerDuration.observe({ event }, seconds);
    },
    log,
  });
  const webhooks = await createNodeMiddleware(appFn, { probot, webhooksPath: env.WEBHOOK_PATH });

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
  const server = createWebServer({
    webhookPath: env.WEBHOOK_PATH,
    webhooks,
    maxBodyBytes: env.WEBHOOK_MAX_BODY_BYTES,
    health,
    metrics,
    log,
    // The run viewer and, with admin credentials, the queue dashboard (src/ops).
    routes: [
      ...(options.routes ?? []),
      ...createOpsRoutes({ env, queues: Object.values(queues), log, redact: options.redact ?? createRedactor(secretsOf(env)) }),
    ],
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(env.PORT, env.HOST, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ port, host: env.HOST, webhookPath: env.WEBHOOK_PATH }, "web: listening for webhooks");
  return {
    port,
    metrics,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await closeQueues(queues).catch(() => {});
      await closeRedis(redis);
    },
  };
}
