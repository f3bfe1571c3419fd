import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { ProbotOctokit } from "probot";
import { createModelGates, gateConfigFromEnv, type ModelGates } from "../capacity/model-gates.js";
import type { Env } from "../config/env.js";
import { goproxyUrls, operatorRegistries, sandboxRegistryEnv } from "../config/sandbox-registries.js";
import { createGitHubApp, type GitHubApp } from "../github/app-client.js";
import { resolveBotIdentity, type BotIdentity } from "../github/bot-identity.js";
import { withRequestMetrics } from "../github/request-metrics.js";
import { createFixHandler } from "../jobs/fix/run-fix.js";
import { createRedisReviewMemory } from "../jobs/review/memory-store.js";
import { createReviewHandler } from "../jobs/review/run-review.js";
import { createUpgradeHandler } from "../jobs/upgrade/run-upgrade.js";
import { JobFailed, processJob, type JobHandler, type JobNotes } from "../jobs/run-job.js";
import type { NotifyServices } from "../jobs/notify/run-notify.js";
import type { JobServices } from "../jobs/services.js";
import { startWorkerHttp, type WorkerHttp } from "../ops/worker-http.js";
import { describeRedisTarget, type RedisTarget } from "../shared/redis-target.js";
import { assertNoEviction, closeRedis, createRedis, pingRedis, waitReady } from "../queue/connection.js";
import { QueueEnqueuer, closeQueues, createQueues, notesKey } from "../queue/enqueue.js";
import { startReconciler } from "../reconciler/loop.js";
import { runLinks } from "../runs/run-links.js";
import { CancelledError, StartupError } from "../shared/errors.js";
import { recordGitHubRateLimit, recordGitHubRequest, recordJobDuration } from "../shared/recorders.js";
import { createWorkspaceManager } from "../workspace/checkout.js";
import type { NetworkSetup } from "./network.js";
import type { AnswerPayload, RebasePayload, WorkKind } from "../queue/payloads.js";
import { runRebase } from "../jobs/rebase/run-rebase.js";
import { runAnswer } from "../jobs/answer/run-answer.js";
import { startWorkers } from "../queue/worker.js";
import { checkProfiles, type ModelSetup } from "../jobs/model-for-job.js";
import type { Logger } from "../shared/log.js";
import { createMetrics, type Metrics } from "../shared/metrics.js";
import type { Redact } from "../shared/redact.js";
import { loadModels } from "./runtime.js";
import { egressRulesFor, type EgressRule } from "../workspace/egress-rules.js";

/** A comma-separated list of absolute directories (that exist, when `mustExist`). */
function absoluteDirs(name: string, value: string | undefined, mustExist: boolean): string[] {
  const dirs = (value ?? "").split(",").map((d) => d.trim()).filter(Boolean);
  for (const d of dirs) {
    if (!isAbsolute(d)) throw new StartupError(`${name}: "${d}" is not an absolute path`);
    if (mustExist && !existsSync(d)) throw new StartupError(`${name}: "${d}" does not exist on this worker`);
  }
  return dirs;
}

/** EGRESS_ALLOW plus the operator's registries and mirrors; a bad entry refuses the start. */
function egressRulesOf(env: Env): EgressRule[] {
  const registries = operatorRegistries(env);
  try {
    return egressRulesFor(env.EGRESS_ALLOW, registries);
  } catch (err) {
    throw new StartupError(`EGRESS_ALLOW: ${(err as Error).message}`);
  }
}

export interface WorkerHandle {
  close(graceMs?: number): Promise<void>;
  metrics: Metrics;
  /** The shared model gates (src/capacity); jobs reach them through `models.gateFor`. */
  gates: ModelGates;
  /** The port of /healthz and /metrics, when WORKER_PORT is set. */
  httpPort?: number;
}

/** Runs older than this are deleted from RUNS_DIR (checked at start and every 6 hours). */
const RUN_RETENTION_MS = 30 * 24 * 3600_000;

export interface StartWorkerOptions {
  env: Env;
  log: Logger;
  redact: Redact;
  /** Proxy and CA settings for git and the sandbox's egress (loadRuntime's); none: direct. */
  network?: NetworkSetup;
  /** REDIS_URL, or a Redis Cluster's nodes. */
  redis: RedisTarget;
  Octokit?: typeof ProbotOctokit;
  /** Override job handlers (tests); the defaults are the built job kinds. */
  handlers?: Partial<Record<WorkKind, JobHandler>>;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  progressIntervalMs?: number;
  metrics?: Metrics;
  /** Model profiles (default: the built-ins). */
  models?: ModelSetup;
}

/** The worker's shared job services: workspace, sandbox settings, bot identity. */
export function createJobServices(env: Env, app: GitHubApp, models: ModelSetup, log: Logger, network?: NetworkSetup): JobServices {
  let identity: Promise<BotIdentity> | undefined;
  return {
    workspace: createWorkspaceManager({
      root: resolve(env.workspaceDir),
      gitBaseUrl: env.githubGitUrl,
      mirrorCapBytes: env.MIRROR_CACHE_MB * 1024 * 1024,
      pool: { perRepo: env.WORKTREE_POOL_SIZE, total: env.WORKTREE_POOL_TOTAL },
      ...(network ? { gitNetworkEnv: network.gitEnv } : {}),
      log,
    }),
    sandbox: {
      mode: env.SANDBOX,
      testTimeoutMs: env.TEST_TIMEOUT_MS,
      setupTimeoutMs: env.SETUP_TIMEOUT_MS,
      egressRules: egressRulesOf(env),
      ...(network && (network.proxy.http || network.proxy.https) ? { egressUpstream: network.proxy } : {}),
      toolchainPaths: absoluteDirs("SANDBOX_TOOLCHAINS", env.SANDBOX_TOOLCHAINS, true),
      extraPath: absoluteDirs("SANDBOX_PATH", env.SANDBOX_PATH, false),
      baseEnv: sandboxRegistryEnv(env),
    },
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
      ...(goproxyUrls(env.GOPROXY)[0] ? { goProxy: goproxyUrls(env.GOPROXY)[0]! } : {}),
      ...(env.GOPRIVATE ? { goPrivate: env.GOPRIVATE } : {}),
      ...(env.PIP_INDEX_URL ? { pipIndex: env.PIP_INDEX_URL } : {}),
      ...(env.CARGO_INDEX_URL ? { cargoIndex: env.CARGO_INDEX_URL.replace(/^sparse\+/, "").replace(/\/*$/, "/") } : {}),
      metadataDir: resolve(env.DATA_DIR, "registry-cache"),
    },
  };
}

/** Compose the worker process: Redis (worker + subscriber), the GitHub app client, job cores. */
export async function startWorker(options: StartWorkerOptions): Promise<WorkerHandle> {
  const { env, log } = options;
  if (!env.APP_ID || !env.privateKey) throw new Error("startWorker needs APP_ID and a private key");
  const connection = createRedis(options.redis, "worker");
  const subscriber = createRedis(options.redis, "worker");
  try {
    await waitReady(connection);
    await assertNoEviction(connection);
  } catch (err) {
    await closeRedis(connection);
    await closeRedis(subscriber);
    throw err;
  }
  const metrics = options.metrics ?? createMetrics();
  const app: GitHubApp = createGitHubApp({
    appId: env.APP_ID,
    privateKey: env.privateKey,
    baseUrl: env.githubApiUrl,
    log,
    Octokit: withRequestMetrics(options.Octokit ?? ProbotOctokit, (route, method, status) => recordGitHubRequest(metrics, route, method, status)),
    onRateLimit: (kind, retryAfter, willRetry) => recordGitHubRateLimit(metrics, kind, willRetry ? "wait" : "give-up", retryAfter),
    writePacing: env.GITHUB_WRITE_PACING === "on",
    redact: options.redact,
    requestTimeoutMs: env.GITHUB_TIMEOUT_MS,
  });
  const baseModels = options.models ?? loadModels(env, {});
  // One gate pool per model server, shared with every other worker through Redis.
  const gateRedis = createRedis(options.redis, "plain");
  const gateSubscriber = createRedis(options.redis, "worker");
  const gates = createModelGates({
    redis: gateRedis,
    subscriber: gateSubscriber,
    prefix: env.QUEUE_PREFIX,
    config: gateConfigFromEnv(env),
    profiles: [...baseModels.profiles.profiles.values()].map((p) => ({ name: p.name, baseUrls: p.baseUrls, apiKey: baseModels.apiKeys.get(p.name) })),
    log,
    metrics,
  });
  const models: ModelSetup = {
    ...baseModels,
    gateFor: (p) => gates.gateFor({ name: p.name, baseUrls: p.baseUrls, apiKey: baseModels.apiKeys.get(p.name) }),
  };
  const links = runLinks(env, options.redact);
  const runs = links.store;
  const pruneRuns = () => {
    try {
      const removed = runs.prune(RUN_RETENTION_MS);
      if (removed.length) log.info({ removed: removed.length, dir: runs.dir }, "deleted old runs");
    } catch (err) {
      log.warn({ err, dir: runs.dir }, "could not prune old runs");
    }
  };
  pruneRuns();
  const pruneTimer = setInterval(pruneRuns, 6 * 3600_000);
  pruneTimer.unref();
  // Report down profiles by name at start-up; jobs that need one fail with a card that says so.
  void checkProfiles(models).then((results) => {
    for (const r of results) {
      if (r.ok) log.info({ profile: r.profile, model: r.model }, "model profile is up");
      else log.warn({ profile: r.profile, model: r.model, detail: r.endpoints.map((e) => e.detail).join("; ") }, "model profile is DOWN");
    }
  });
  const services: JobServices = {
    ...createJobServices(env, app, models, log, options.network),
    reviewMemory: createRedisReviewMemory(connection, { prefix: env.QUEUE_PREFIX }),
  };
  // Upgrade runs apply the repository's own `upgrade.schedule` when they read its config.
  const scheduleQueues = createQueues(connection, env.QUEUE_PREFIX);
  const schedules = new QueueEnqueuer(scheduleQueues, connection, env.QUEUE_PREFIX, { attempts: env.JOB_ATTEMPTS, backoffMs: env.JOB_BACKOFF_MS, enqueueTimeoutMs: env.ENQUEUE_TIMEOUT_MS });
  if (services.upgrade) {
    services.upgrade.schedules = { upsert: (repo, cron) => schedules.upsertUpgradeSchedule(repo, cron), remove: (repoId) => schedules.removeUpgradeSchedule(repoId) };
  }
  await services.workspace.sweep().catch((err) => log.warn({ err }, "workspace sweep failed"));
  const handlers: Record<WorkKind, JobHandler> = {
    fix: createFixHandler(services),
    review: createReviewHandler(services),
    upgrade: createUpgradeHandler(services),
    ...options.handlers,
  };
  const notify: NotifyServices = {
    schedules: services.upgrade?.schedules,
    appSlug: async (github) => (await services.botIdentity(github)).login.replace(/\[bot\]$/, ""),
  };
  const answer = (payload: AnswerPayload, jobId: string, jobLog: Logger, signal: AbortSignal) =>
    runAnswer({ app, models, redact: options.redact, log: jobLog }, services, payload, jobId, signal);
  const rebase = (payload: RebasePayload, jobId: string, jobLog: Logger, signal: AbortSignal) => runRebase({ app, log: jobLog }, services, payload, jobId, signal);
  // Notes for cards (a duplicate request, …): waiting in Redis, announced by pub/sub.
  const notes: JobNotes = {
    live: new Map(),
    async take(jobId) {
      const key = notesKey(env.QUEUE_PREFIX, jobId);
      const result = await connection.multi().lrange(key, 0, -1).del(key).exec();
      return (result?.[0]?.[1] as string[] | undefined) ?? [];
    },
  };
  const set = startWorkers({
    onNote: (jobId) => void notes.live.get(jobId)?.(),
    connection,
    subscriber,
    prefix: env.QUEUE_PREFIX,
    concurrency: env.WORKER_CONCURRENCY,
    log,
    lockDurationMs: options.lockDurationMs ?? env.WORKER_LOCK_MS,
    stalledIntervalMs: options.stalledIntervalMs ?? env.WORKER_STALLED_INTERVAL_MS,
    process: async (job, signal) => {
      const started = performance.now();
      const kind = String((job.data as { kind?: unknown })?.kind ?? job.name);
      let outcome = "failure";
      try {
        const result = await processJob(
          { app, handlers, notes, notify, answer, rebase, redact: options.redact, log, metrics, models, runs: links, progressIntervalMs: options.progressIntervalMs },
          job,
          signal,
        );
        outcome = result.tone;
        return result;
      } catch (err) {
        outcome = err instanceof CancelledError ? err.reason : err instanceof JobFailed && err.retry ? "retry" : "failure";
        throw err;
      } finally {
        recordJobDuration(metrics, kind, outcome, performance.now() - started);
      }
    },
  });
  let http: WorkerHttp | undefined;
  // preStop drain: pause every queue worker (BullMQ's pause() resolves once its active jobs end).
  let drained: Promise<unknown> | undefined;
  let drainDone = false;
  const drain = {
    start() {
      drained ??= Promise.all(set.workers.map((w) => w.pause())).then(() => (drainDone = true));
    },
    draining: () => drained !== undefined,
    done: () => drainDone,
  };
  if (env.WORKER_PORT !== undefined) {
    http = await startWorkerHttp({
      port: env.WORKER_PORT,
      host: env.HOST,
      metrics,
      log,
      drain,
      health: async () => {
        const redisOk = await pingRedis(connection);
        // A drained worker is paused on purpose, not broken.
        const running = drained !== undefined || set.workers.every((w) => w.isRunning());
        return {
          ok: redisOk && running,
          checks: {
            redis: { ok: redisOk, ...(redisOk ? {} : { detail: "Redis did not answer PING" }) },
            workers: { ok: running, ...(running ? {} : { detail: "a queue worker is not running" }) },
          },
        };
      },
    });
  }
  const reconciler =
    env.RECONCILE_INTERVAL_MS > 0
      ? startReconciler({
          redis: connection,
          prefix: env.QUEUE_PREFIX,
          intervalMs: env.RECONCILE_INTERVAL_MS,
          deps: { appClient: app.appClient(), log },
          log,
        })
      : undefined;
  log.info({ concurrency: env.WORKER_CONCURRENCY, prefix: env.QUEUE_PREFIX, redis: describeRedisTarget(options.redis), modelGate: env.MODEL_GATE }, "worker: waiting for jobs");
  return {
    metrics,
    gates,
    ...(http ? { httpPort: http.port } : {}),
    async close(graceMs = env.SHUTDOWN_GRACE_MS) {
      reconciler?.stop();
      clearInterval(pruneTimer);
      await set.close(graceMs);
      // Parked checkouts are this process's (their locks die with it): delete them now rather than leave them to the next sweep.
      await services.workspace.drainPool().catch(() => {});
      await http?.close();
      await gates.close();
      await closeRedis(gateRedis);
      await closeRedis(gateSubscriber);
      await closeQueues(scheduleQueues).catch(() => {});
      await closeRedis(connection);
      await closeRedis(subscriber);
    },
  };
}
