import { resolve } from "node:path";
import type { ProbotOctokit } from "probot";
import { resolveBotIdentity, type BotIdentity } from "../github/bot-identity.js";
import { createFixHandler } from "../jobs/fix/run-fix.js";
import { createUpgradeHandler } from "../jobs/upgrade/run-upgrade.js";
import type { JobServices } from "../jobs/services.js";
import { createWorkspaceManager } from "../workspace/checkout.js";
import type { Env } from "../config/env.js";
import { createGitHubApp, type GitHubApp } from "../github/app-client.js";
import { notBuiltYet, processJob, type JobHandler } from "../jobs/run-job.js";
import { assertNoEviction, closeRedis, createRedis, waitReady } from "../queue/connection.js";
import { QueueEnqueuer, closeQueues, createQueues } from "../queue/enqueue.js";
import type { JobKind } from "../queue/payloads.js";
import { startWorkers } from "../queue/worker.js";
import { checkProfiles, type ModelSetup } from "../jobs/model-for-job.js";
import type { Logger } from "../shared/log.js";
import { createMetrics, type Metrics } from "../shared/metrics.js";
import type { Redact } from "../shared/redact.js";
import { loadModels } from "./runtime.js";

export interface WorkerHandle {
  close(graceMs?: number): Promise<void>;
  metrics: Metrics;
}

export interface StartWorkerOptions {
  env: Env;
  log: Logger;
  redact: Redact;
  redisUrl: string;
  Octokit?: typeof ProbotOctokit;
  /** Override job handlers (tests); the defaults are the built job kinds. */
  handlers?: Partial<Record<JobKind, JobHandler>>;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  progressIntervalMs?: number;
  metrics?: Metrics;
  /** Model profiles (default: the built-ins). */
  models?: ModelSetup;
}

/** The worker's shared job services: workspace, sandbox settings, runs directory, bot identity. */
export function createJobServices(env: Env, app: GitHubApp, models: ModelSetup, log: Logger): JobServices {
  let identity: Promise<BotIdentity> | undefined;
  return {
    workspace: createWorkspaceManager({
      root: resolve(env.workspaceDir),
      gitBaseUrl: env.githubGitUrl,
      mirrorCapBytes: env.MIRROR_CACHE_MB * 1024 * 1024,
      log,
    }),
    sandbox: { mode: env.SANDBOX, testTimeoutMs: env.TEST_TIMEOUT_MS, setupTimeoutMs: env.SETUP_TIMEOUT_MS },
    runsDir: resolve(env.DATA_DIR, "runs"),
    botIdentity: (github) => {
      identity ??= resolveBotIdentity(app, github, env.GHE_HOST ?? "github.com").catch((err) => {
        identity = undefined; // try again next job
        throw err;
      });
      return identity;
    },
    knownSecrets: [env.privateKey, env.WEBHOOK_SECRET, ...models.apiKeys.values()].filter((s): s is string => !!s),
    upgrade: {
      npmRegistry: env.NPM_REGISTRY.endsWith("/") ? env.NPM_REGISTRY : `${env.NPM_REGISTRY}/`,
      allowedRegistries: (env.UPGRADE_REGISTRIES ?? "").split(",").map((r) => r.trim()).filter(Boolean),
      metadataDir: resolve(env.DATA_DIR, "registry-cache"),
    },
  };
}

/** Compose the worker process: Redis (worker + subscriber), the GitHub app client, job cores. */
export async function startWorker(options: StartWorkerOptions): Promise<WorkerHandle> {
  const { env, log } = options;
  if (!env.APP_ID || !env.privateKey) throw new Error("startWorker needs APP_ID and a private key");
  const connection = createRedis(options.redisUrl, "worker");
  const subscriber = createRedis(options.redisUrl, "worker");
  try {
    await waitReady(connection);
    await assertNoEviction(connection);
  } catch (err) {
    await closeRedis(connection);
    await closeRedis(subscriber);
    throw err;
  }
  const app: GitHubApp = createGitHubApp({
    appId: env.APP_ID,
    privateKey: env.privateKey,
    baseUrl: env.githubApiUrl,
    log,
    Octokit: options.Octokit,
  });
  const metrics = options.metrics ?? createMetrics();
  const models = options.models ?? loadModels(env, {});
  // Report down profiles by name at start-up; jobs that need one fail with a card that says so.
  void checkProfiles(models).then((results) => {
    for (const r of results) {
      if (r.ok) log.info({ profile: r.profile, model: r.model }, "model profile is up");
      else log.warn({ profile: r.profile, model: r.model, detail: r.endpoints.map((e) => e.detail).join("; ") }, "model profile is DOWN");
    }
  });
  const services = createJobServices(env, app, models, log);
  // Upgrade runs apply the repository's own `upgrade.schedule` when they read its config.
  const scheduleQueues = createQueues(connection, env.QUEUE_PREFIX);
  const schedules = new QueueEnqueuer(scheduleQueues, connection, env.QUEUE_PREFIX, { attempts: env.JOB_ATTEMPTS, backoffMs: env.JOB_BACKOFF_MS, enqueueTimeoutMs: env.ENQUEUE_TIMEOUT_MS });
  if (services.upgrade) {
    services.upgrade.schedules = { upsert: (repo, cron) => schedules.upsertUpgradeSchedule(repo, cron), remove: (repoId) => schedules.removeUpgradeSchedule(repoId) };
  }
  await services.workspace.sweep().catch((err) => log.warn({ err }, "workspace sweep failed"));
  const handlers: Record<JobKind, JobHandler> = {
    fix: createFixHandler(services),
    review: notBuiltYet("review"),
    upgrade: createUpgradeHandler(services),
    ...options.handlers,
  };
  const set = startWorkers({
    connection,
    subscriber,
    prefix: env.QUEUE_PREFIX,
    concurrency: env.WORKER_CONCURRENCY,
    log,
    lockDurationMs: options.lockDurationMs,
    stalledIntervalMs: options.stalledIntervalMs,
    process: (job, signal) =>
      processJob(
        { app, handlers, redact: options.redact, log, metrics, models, progressIntervalMs: options.progressIntervalMs },
        job,
        signal,
      ),
  });
  log.info({ concurrency: env.WORKER_CONCURRENCY, prefix: env.QUEUE_PREFIX }, "worker: waiting for jobs");
  return {
    metrics,
    async close(graceMs = env.SHUTDOWN_GRACE_MS) {
      await set.close(graceMs);
      await closeQueues(scheduleQueues).catch(() => {});
      await closeRedis(connection);
      await closeRedis(subscriber);
    },
  };
}
