import { readFileSync } from "node:fs";
import { z } from "zod";
import { proxyPasswords, proxySettingsFrom, type ProxySettings } from "../shared/proxy.js";
import type { RedisTarget } from "../shared/redis-target.js";
import { parseLimit } from "../rules/limits.js";
import { StartupError } from "../shared/errors.js";

/**
 * The process environment, validated once at start-up by the composition roots in src/main.
 * Nothing else reads process.env: everything below main receives the typed `Env`.
 */

const intFrom = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const limitFrom = (def: string) =>
  z
    .string()
    .default(def)
    .transform((v, ctx) => {
      try {
        return parseLimit(v);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: (err as Error).message });
        return z.NEVER;
      }
    });
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));

export const envSchema = z.object({
  // --- GitHub App (Probot's own names) ---
  APP_ID: optionalString,
  PRIVATE_KEY: optionalString,
  PRIVATE_KEY_PATH: optionalString,
  WEBHOOK_SECRET: optionalString,
  WEBHOOK_PATH: z.string().default("/api/github/webhooks"),
  GHE_HOST: optionalString,
  GHE_PROTOCOL: z.enum(["http", "https"]).default("https"),
  PORT: intFrom(3000, 0),
  HOST: z.string().default("localhost"),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  NODE_ENV: optionalString,
  // --- Queue ---
  REDIS_URL: optionalString,
  /** Redis Cluster seed nodes, `host:port,...`: every queue and key on the cluster instead of REDIS_URL. */
  REDIS_CLUSTER_NODES: optionalString,
  /** For the cluster's nodes (one node takes them from REDIS_URL). */
  REDIS_USERNAME: optionalString,
  REDIS_PASSWORD: optionalString,
  REDIS_TLS: z.enum(["true", "false"]).default("false"),
  /**
   * Every Redis key starts with it. `{name}` (a hash tag) keeps all of them in one Redis Cluster
   * slot, as BullMQ's and our multi-key scripts need there; the default is `{iquest}` on a cluster
   * and `iquest` on one node.
   */
  /**
   * The outbound proxy and an extra CA (read by src/shared/proxy.ts and readExtraCa from the same
   * environment, with the lower-case and ALL_PROXY variants; listed here so that they are known
   * settings of the app).
   */
  HTTPS_PROXY: optionalString,
  HTTP_PROXY: optionalString,
  NO_PROXY: optionalString,
  NODE_EXTRA_CA_CERTS: optionalString,
  /** Parked checkouts per repository for warm checkouts (0: a new directory for every job), and in all. */
  WORKTREE_POOL_SIZE: intFrom(2, 0),
  WORKTREE_POOL_TOTAL: intFrom(16, 0),
  QUEUE_PREFIX: z
    .string()
    .regex(/^(\{[A-Za-z0-9_-]+\}|[A-Za-z0-9_-]+)$/, "letters, digits, '-' and '_' only, optionally in braces as a Redis Cluster hash tag: {iquest}")
    .optional(),
  WORKER_CONCURRENCY: intFrom(2, 1),
  /**
   * Niceness of a worker process run on its own (`start:worker`; 0–19). Jobs are batch work: on
   * a host shared with the web process, webhook answers come first. The sandbox's commands and
   * the worker's git run 10 nicer than the worker (at most 19). Not applied by `npm start` (one
   * process holds both roles there).
   */
  WORKER_NICENESS: z.coerce.number().int().min(0).max(19).default(5),
  /**
   * `idle`: the worker (start:worker) and everything it starts run under Linux's SCHED_IDLE
   * policy, so they get a CPU only when the web process, Redis and the rest of the host do not
   * want it, and a waking web process preempts them at once. For one host that runs both roles
   * on few cores. `nice` (default): WORKER_NICENESS only.
   */
  WORKER_CPU_POLICY: z.enum(["nice", "idle"]).default("nice"),
  SHUTDOWN_GRACE_MS: intFrom(25_000, 0),
  JOB_ATTEMPTS: intFrom(3, 1),
  /**
   * A job's lock lasts this long without renewal; a worker that died loses it and another
   * worker re-runs the job after the stalled check (every WORKER_STALLED_INTERVAL_MS, the same
   * on every worker: BullMQ throttles the check globally).
   */
  WORKER_LOCK_MS: intFrom(60_000, 1000),
  WORKER_STALLED_INTERVAL_MS: intFrom(30_000, 500),
  /** How often workers ask GitHub to redeliver lost webhooks (and once at start-up); 0 turns it off. */
  RECONCILE_INTERVAL_MS: intFrom(10 * 60_000, 0),
  JOB_BACKOFF_MS: intFrom(30_000, 0),
  // --- Web intake ---
  WEBHOOK_MAX_BODY_BYTES: intFrom(25 * 1024 * 1024, 1024),
  ENQUEUE_TIMEOUT_MS: intFrom(1500, 50),
  /**
   * How long the web process trusts an answer to "may this user trigger work here?" (member,
   * team and organization events drop it sooner). A revoked user is refused at most this long
   * after the change, even when no event arrives.
   */
  PERMISSION_CACHE_TTL_MS: intFrom(30_000, 0).pipe(z.number().max(60_000, "at most 60000: a revoked user must be refused within a minute")),
  /** Work one person may ask for (COUNT/WINDOW, e.g. 6/10m; "off"): past it, one polite reply per window. */
  INTAKE_SENDER_LIMIT: limitFrom("6/10m"),
  /** Work one installation may ask for, automatic reviews included (COUNT/WINDOW, or "off"). */
  INTAKE_INSTALLATION_LIMIT: limitFrom("300/10m"),
  /** Rejected webhooks and failed logins are logged as one summary line per reason per interval. */
  LOG_SUMMARY_INTERVAL_MS: intFrom(10_000, 100),
  /**
   * Reverse proxies in front of the web process that append to X-Forwarded-For (an ingress: 1).
   * 0: the socket's address is the client's (the header is anyone's to forge).
   */
  TRUST_PROXY_HOPS: intFrom(0, 0),
  /** A bearer token /metrics then requires (unset: open to whoever reaches the port). */
  METRICS_TOKEN: optionalString,
  /** Serve /metrics on this port only (a listener of its own, e.g. for a scrape-only NetworkPolicy). */
  METRICS_PORT: optionalString
    .transform((v) => (v === undefined ? undefined : Number(v)))
    .pipe(z.number().int().min(0).max(65535).optional()),
  /** Every GitHub API call is aborted after this long (a hung GitHub must not hold a worker slot). */
  GITHUB_TIMEOUT_MS: intFrom(30_000, 100),
  // --- Model (vLLM, OpenAI-compatible) ---
  MODEL_BASE_URL: z.string().default("http://127.0.0.1:8000/v1"),
  MODEL_NAME: z.string().default("IQuestLab/IQuest-Coder-V1-40B-Thinking"),
  MODEL_API_KEY: optionalString,
  /** YAML or JSON file of model profiles (see docs/CONFIG.md); the MODEL_* values shape `thinking`. */
  MODEL_PROFILES_FILE: optionalString,
  /**
   * Pacing of writes per installation (src/github/write-pacing.ts): a burst of 15 writes (6 that
   * notify people) goes out at once, then one a second (one per 3 s), under GitHub.com's 80
   * content-creating requests a minute. "off" removes the spacing only (rate-limit answers are
   * still waited out): for a GitHub Enterprise Server without those limits, or to measure.
   */
  GITHUB_WRITE_PACING: z.enum(["on", "off"]).default("on"),
  // --- Model concurrency across workers (src/capacity; docs/DEPLOY.md) ---
  /** adaptive: follow vLLM's /metrics; fixed: MODEL_CONCURRENCY across all workers; off: no shared limit. */
  MODEL_GATE: z.enum(["adaptive", "fixed", "off"]).default("adaptive"),
  /** The fixed limit, and the adaptive limit while vLLM's /metrics is unreachable. */
  MODEL_CONCURRENCY: intFrom(8, 1),
  MODEL_CONCURRENCY_MAX: intFrom(64, 1),
  /** KV-cache usage (0–1) the adaptive limit keeps vLLM under. */
  MODEL_KV_CACHE_MAX: z.coerce.number().gt(0).max(1).default(0.9),
  /** Where to read vLLM's load (comma-separated); default: /metrics beside each MODEL_BASE_URL. */
  MODEL_METRICS_URL: optionalString,
  // --- Operations: pages and worker health (src/ops) ---
  /** The bot's public base URL (https://iquest.example.com): job cards link runs under it. */
  PUBLIC_URL: optionalString.pipe(z.string().regex(/^https?:\/\/[^\s?#]+$/, "an http(s) URL without query").optional()),
  /** HTTP Basic credentials for /admin/queues and private runs; both unset: those pages are off. */
  ADMIN_USERNAME: optionalString,
  ADMIN_PASSWORD: optionalString,
  /** Trajectories and run records for the run viewer (default $DATA_DIR/runs). */
  RUNS_DIR: optionalString,
  /** The worker's own HTTP port for /healthz and /metrics (unset: none; the image sets 9464). */
  WORKER_PORT: optionalString
    .transform((v) => (v === undefined ? undefined : Number(v)))
    .pipe(z.number().int().min(0).max(65535).optional()),
  // --- Workspace ---
  DATA_DIR: z.string().default(".data"),
  WORKSPACE_DIR: optionalString,
  SANDBOX: z.enum(["bwrap", "none"]).default("bwrap"),
  /** Limits for the repo's test and setup commands inside the sandbox. */
  TEST_TIMEOUT_MS: intFrom(15 * 60_000, 1000),
  SETUP_TIMEOUT_MS: intFrom(20 * 60_000, 1000),
  /**
   * What setup steps may reach through the sandbox's egress proxy (comma-separated: names,
   * `*.suffix`, `name:port`, `private:name` for a mirror on a private address, address literals).
   * Unset: the public registries (src/workspace/egress-rules.ts DEFAULT_EGRESS_ALLOW). NPM_REGISTRY
   * and UPGRADE_REGISTRIES are always added. `none`: setup gets no network at all.
   */
  EGRESS_ALLOW: optionalString,
  /**
   * Toolchains outside /usr the sandbox should see (comma-separated absolute directories, bound
   * read-only at the same path, e.g. /opt/jdk-21,/opt/node-22), and what to put first on its PATH
   * (comma-separated, e.g. /opt/jdk-21/bin,/opt/node-22/bin).
   */
  SANDBOX_TOOLCHAINS: optionalString,
  SANDBOX_PATH: optionalString,
  /** Cap on the mirror cache (all repositories), in MiB; least recently used mirrors go first. */
  MIRROR_CACHE_MB: intFrom(20 * 1024, 64),
  // --- Upgrades ---
  /** The npm registry for packages a project's .npmrc does not place elsewhere. */
  NPM_REGISTRY: z.string().url().default("https://registry.npmjs.org/"),
  /** Other registries the worker may read (comma-separated URL prefixes); a repo's .npmrc cannot add any. */
  UPGRADE_REGISTRIES: optionalString,
  /**
   * An operator's Python index and Go module proxy (mirrors): set in the sandbox's environment
   * under the same names, so pip and go use them, and allowed through the egress proxy.
   */
  PIP_INDEX_URL: optionalString.pipe(z.string().url().optional()),
  GOPROXY: optionalString,
  /** Go modules fetched from their repositories, not the proxy (Go's syntax): upgrades leave them alone; passed to the sandbox. */
  GOPRIVATE: optionalString,
  /** Go's checksum database settings, for a private proxy (Go's syntax); passed to the sandbox. */
  GOSUMDB: optionalString,
  GONOSUMDB: optionalString,
  /**
   * corepack's signature check of the yarn and pnpm it fetches (pinned by `packageManager`): "0"
   * turns it off, for an npm mirror that serves no signatures; passed to the sandbox.
   */
  COREPACK_INTEGRITY_KEYS: optionalString,
  /** A sparse index mirror of crates.io (`sparse+https://…/`) the worker reads Rust versions from; default index.crates.io. */
  CARGO_INDEX_URL: optionalString.pipe(z.string().regex(/^(sparse\+)?https?:\/\//, "a sparse index URL (sparse+https://…/)").optional()),
});

export type RawEnv = z.infer<typeof envSchema>;

export interface Env extends RawEnv {
  /** The PEM, read from PRIVATE_KEY or PRIVATE_KEY_PATH; undefined in setup mode. */
  privateKey: string | undefined;
  /** REST base URL: https://api.github.com, or GHE's /api/v3. */
  githubApiUrl: string;
  /** Base for git over HTTP(S): https://github.com, or the GHE host. */
  githubGitUrl: string;
  workspaceDir: string;
  /** HTTP(S)_PROXY / NO_PROXY as curl reads them (src/shared/proxy.ts): for every outbound call and git. */
  proxy: ProxySettings;
  /** Every key's prefix (QUEUE_PREFIX, or its default for the deployment). */
  QUEUE_PREFIX: string;
  /** Where Redis is: REDIS_URL, REDIS_CLUSTER_NODES (with REDIS_USERNAME/PASSWORD/TLS), or undefined (npm start runs its own). */
  redis: RedisTarget | undefined;
  /** NODE_EXTRA_CA_CERTS, read: trusted beside the system's roots by fetch, git and the sandbox's tools. */
  extraCa: { file: string; pem: string } | undefined;
}

export function loadEnv(source: Record<string, string | undefined>): Env {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new StartupError(`Invalid environment:\n${lines.join("\n")}`);
  }
  const raw = parsed.data;
  let privateKey = raw.PRIVATE_KEY?.replace(/\\n/g, "\n");
  if (!privateKey && raw.PRIVATE_KEY_PATH) {
    try {
      privateKey = readFileSync(raw.PRIVATE_KEY_PATH, "utf8");
    } catch (err) {
      throw new StartupError(`PRIVATE_KEY_PATH=${raw.PRIVATE_KEY_PATH} cannot be read: ${(err as Error).message}`);
    }
  }
  if (privateKey && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(privateKey)) {
    throw new StartupError("PRIVATE_KEY is not a PEM private key (expected -----BEGIN ... PRIVATE KEY-----)");
  }
  if (raw.APP_ID && !/^\d+$/.test(raw.APP_ID)) throw new StartupError(`APP_ID must be a number, got "${raw.APP_ID}"`);
  if (raw.APP_ID && !privateKey) throw new StartupError("APP_ID is set but neither PRIVATE_KEY nor PRIVATE_KEY_PATH is");
  if (raw.APP_ID && !raw.WEBHOOK_SECRET) {
    throw new StartupError("APP_ID is set but WEBHOOK_SECRET is not: unsigned webhooks would be accepted");
  }
  if (!!raw.ADMIN_USERNAME !== !!raw.ADMIN_PASSWORD) {
    throw new StartupError("ADMIN_USERNAME and ADMIN_PASSWORD go together: set both (or neither, which turns the admin pages off)");
  }
  if (raw.ADMIN_PASSWORD && raw.ADMIN_PASSWORD.length < 12) {
    throw new StartupError("ADMIN_PASSWORD must be at least 12 characters");
  }
  if (raw.METRICS_TOKEN && raw.METRICS_TOKEN.length < 16) {
    throw new StartupError("METRICS_TOKEN must be at least 16 characters (it is the only thing between the port and /metrics)");
  }
  if (raw.MODEL_CONCURRENCY > raw.MODEL_CONCURRENCY_MAX) {
    throw new StartupError(`MODEL_CONCURRENCY (${raw.MODEL_CONCURRENCY}) is above MODEL_CONCURRENCY_MAX (${raw.MODEL_CONCURRENCY_MAX})`);
  }
  for (const url of raw.MODEL_BASE_URL.split(",")) {
    if (!/^https?:\/\/[^\s]+$/.test(url.trim())) throw new StartupError(`MODEL_BASE_URL has an invalid URL: "${url}"`);
  }
  const host = raw.GHE_HOST;
  const githubApiUrl = host ? `${raw.GHE_PROTOCOL}://${host}/api/v3` : "https://api.github.com";
  const githubGitUrl = host ? `${raw.GHE_PROTOCOL}://${host}` : "https://github.com";
  const redis = redisTargetOf(raw);
  const clustered = !!redis && typeof redis !== "string";
  const queuePrefix = raw.QUEUE_PREFIX ?? (clustered ? "{iquest}" : "iquest");
  if (clustered && !queuePrefix.startsWith("{")) {
    throw new StartupError(`QUEUE_PREFIX="${queuePrefix}" on Redis Cluster must be a hash tag, e.g. {${queuePrefix}}: a queue's keys must share one slot for BullMQ's scripts`);
  }
  let proxy: ProxySettings;
  try {
    proxy = proxySettingsFrom(source);
  } catch (err) {
    throw new StartupError((err as Error).message);
  }
  return {
    ...raw,
    QUEUE_PREFIX: queuePrefix,
    redis,
    privateKey,
    proxy,
    extraCa: readExtraCa(source.NODE_EXTRA_CA_CERTS),
    githubApiUrl,
    githubGitUrl,
    workspaceDir: raw.WORKSPACE_DIR ?? `${raw.DATA_DIR}/workspaces`,
  };
}

/** REDIS_CLUSTER_NODES (with its credentials) or REDIS_URL; both set is a mistake worth stopping for. */
function redisTargetOf(raw: RawEnv): RedisTarget | undefined {
  if (!raw.REDIS_CLUSTER_NODES) return raw.REDIS_URL;
  if (raw.REDIS_URL) throw new StartupError("REDIS_URL and REDIS_CLUSTER_NODES are both set: choose one Redis (one node, or the cluster's seed nodes)");
  const nodes = raw.REDIS_CLUSTER_NODES.split(",").map((n) => n.trim()).filter(Boolean).map((n) => {
    const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(n);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new StartupError(`REDIS_CLUSTER_NODES has "${n}", which is not host:port`);
    return { host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) };
  });
  if (nodes.length === 0) throw new StartupError("REDIS_CLUSTER_NODES is empty: list at least one node as host:port");
  return {
    cluster: {
      nodes,
      ...(raw.REDIS_USERNAME ? { username: raw.REDIS_USERNAME } : {}),
      ...(raw.REDIS_PASSWORD ? { password: raw.REDIS_PASSWORD } : {}),
      tls: raw.REDIS_TLS === "true",
    },
  };
}

/**
 * The CA file Node was told to trust. Node itself only warns on a bad file and goes on without
 * it; here it is a startup error, since every call to an internal host would then fail later
 * with a certificate error far from its cause.
 */
export function readExtraCa(file: string | undefined): Env["extraCa"] {
  if (!file?.trim()) return undefined;
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch (err) {
    throw new StartupError(`NODE_EXTRA_CA_CERTS=${file} cannot be read: ${(err as Error).message}`);
  }
  if (!/-----BEGIN CERTIFICATE-----/.test(pem)) throw new StartupError(`NODE_EXTRA_CA_CERTS=${file} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)`);
  return { file, pem };
}

/** The exact secret values this process holds, for the redactor. */
export function secretsOf(env: Env): string[] {
  return [env.privateKey, env.WEBHOOK_SECRET, env.MODEL_API_KEY, env.ADMIN_PASSWORD, env.METRICS_TOKEN, env.REDIS_PASSWORD, ...proxyPasswords(env.proxy)].filter((s): s is string => !!s);
}
