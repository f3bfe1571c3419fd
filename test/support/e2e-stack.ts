import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFakeVllm, type FakeVllm, type FakeVllmOptions } from "./fake-vllm/index.js";
import { startGitHubSim, type GitHubSim } from "./github-sim/index.js";
import { testPrivateKey } from "./keys.js";
import { spawnRole, type RoleProcess } from "./processes.js";
import { startTestRedisCluster, type TestRedisCluster } from "./redis-cluster.js";
import { freePort, startTestRedis, type TestRedis } from "./redis-server.js";

/**
 * The whole system for end-to-end tests: the GitHub simulator (REST + real git over HTTP), a
 * real redis-server, the fake vLLM server playing a script, and the app's real web and worker
 * processes (the composition roots `npm run start:web` / `start:worker` run). Only GitHub and
 * the model are simulated.
 */
export interface Stack {
  sim: GitHubSim;
  redis: TestRedis;
  vllm: FakeVllm;
  web: RoleProcess;
  worker: RoleProcess;
  webhookUrl: string;
  dataDir: string;
  env: Record<string, string>;
  /** Start another worker process (after a kill), with the same environment. */
  startWorker(extra?: Record<string, string>): Promise<RoleProcess>;
  /** Start another web process on its own port (several web processes behind one load balancer). */
  startWeb(extra?: Record<string, string>): Promise<{ process: RoleProcess; webhookUrl: string }>;
  stop(): Promise<void>;
}

/** The same system on a real Redis Cluster (three masters, a replica each) instead of one Redis. */
export type ClusterStack = Omit<Stack, "redis"> & { cluster: TestRedisCluster };

type StackOptions = {
  vllm: FakeVllmOptions;
  env?: Record<string, string>;
  /** Overrides for the web process only (bench/load points its GitHub calls elsewhere). */
  webEnv?: Record<string, string>;
  sim?: GitHubSim;
  /** The single Redis's AOF fsync policy (startStack only; default `always`). */
  redisFsync?: "always" | "everysec";
};

export const APP_ID = 4242;
export const WEBHOOK_SECRET = "e2e-webhook-secret";
export const ADMIN_PASSWORD = "e2e-admin-password-1234";

export async function startStack(options: StackOptions): Promise<Stack> {
  const redis = await startTestRedis({ appendonly: true, ...(options.redisFsync ? { appendfsync: options.redisFsync } : {}) });
  const stack = await launchStack(options, { REDIS_URL: redis.url, QUEUE_PREFIX: "e2e" }, () => redis.destroy());
  return { ...stack, redis };
}

export async function startClusterStack(options: StackOptions): Promise<ClusterStack> {
  const cluster = await startTestRedisCluster();
  const stack = await launchStack(options, { REDIS_CLUSTER_NODES: cluster.seeds }, () => cluster.destroy());
  return { ...stack, cluster };
}

async function launchStack(options: StackOptions, redisEnv: Record<string, string>, stopRedis: () => Promise<void>): Promise<Omit<Stack, "redis">> {
  const sim = options.sim ?? (await startGitHubSim({ app: { id: APP_ID, privateKey: testPrivateKey(), webhookSecret: WEBHOOK_SECRET } }));
  const vllm = await startFakeVllm(options.vllm);
  const dataDir = mkdtempSync(join(tmpdir(), "iquest-e2e-"));
  // The sandbox runs as other uids; they must be able to traverse down to the job directories.
  chmodSync(dataDir, 0o755);
  const port = await freePort();
  const env: Record<string, string> = {
    APP_ID: String(APP_ID),
    PRIVATE_KEY: testPrivateKey(),
    WEBHOOK_SECRET,
    ...redisEnv,
    GHE_HOST: sim.host,
    GHE_PROTOCOL: "http",
    HOST: "127.0.0.1",
    PORT: String(port),
    MODEL_BASE_URL: vllm.url,
    // Job cards link the run viewer on the web process; private runs need the admin login.
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    ADMIN_USERNAME: "admin",
    ADMIN_PASSWORD: ADMIN_PASSWORD,
    DATA_DIR: dataDir,
    LOG_LEVEL: "info",
    JOB_BACKOFF_MS: "500",
    SHUTDOWN_GRACE_MS: "2000",
    ...options.env,
  };
  const processes: RoleProcess[] = [];
  const startWorker = async (extra: Record<string, string> = {}) => {
    const w = spawnRole("worker", { ...env, ...extra });
    processes.push(w);
    await w.waitFor(/worker: waiting for jobs/, 30_000);
    return w;
  };
  const startWeb = async (extra: Record<string, string> = {}, webPort?: number) => {
    const p = webPort ?? (await freePort());
    const w = spawnRole("web", { ...env, ...options.webEnv, PORT: String(p), ...extra });
    processes.push(w);
    await w.waitFor(/web: listening for webhooks/, 30_000);
    return { process: w, webhookUrl: `http://127.0.0.1:${p}/api/github/webhooks` };
  };
  const { process: web, webhookUrl } = await startWeb({}, port);
  const worker = await startWorker();
  sim.webhooks.url = webhookUrl;
  return {
    sim,
    vllm,
    web,
    worker,
    webhookUrl,
    dataDir,
    env,
    startWorker,
    startWeb: (extra) => startWeb(extra),
    async stop() {
      await Promise.all(processes.map((p) => p.stop("SIGKILL")));
      await vllm.close();
      await stopRedis();
      if (!options.sim) await sim.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Poll until `check` returns a value (not undefined/false), or fail with what was awaited. */
export async function eventually<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`);
}

/** The job card on an issue or PR once it is final (it no longer says "Working on it"). */
export function finalCard(sim: GitHubSim, repo: string, issue: number) {
  return sim.commentsOn(repo, issue).find((c) => c.body.includes("iquest-card") && !c.body.includes("_Working on it."));
}

/**
 * A repository copied from `fromDir`, the app installed on it, `alice` a writer, and issue #1 by
 * her (`.github/iquest.yml` committed first when `config` is given). Returns "acme/<name>".
 */
export async function seedIssueRepo(stack: Stack, o: { name: string; fromDir: string; installationId: number; title: string; body?: string; config?: string }): Promise<string> {
  const repo = await stack.sim.createRepo({ owner: "acme", name: o.name, fromDir: o.fromDir });
  if (o.config) await stack.sim.commit({ repo, branch: "main", files: { ".github/iquest.yml": o.config } });
  stack.sim.installApp({ installationId: o.installationId, repos: [`acme/${o.name}`] });
  stack.sim.addCollaborator(repo, "alice", "write");
  stack.sim.createIssue({ repo, title: o.title, body: o.body ?? o.title, user: "alice" });
  return `acme/${o.name}`;
}
