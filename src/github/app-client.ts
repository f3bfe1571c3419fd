import { ProbotOctokit } from "probot";
import { componentLogger, type Logger } from "../shared/log.js";
import { GitHubTimeoutError } from "../shared/errors.js";
import { redactDeep, type Redact } from "../shared/redact.js";
import type { GitHub } from "./types.js";
import { WRITE_BUCKETS, writePacingGroups } from "./write-pacing.js";

/**
 * Installation tokens for one repository and the fewest permissions a step needs. The web
 * process's handlers get a lazily minted `intake` client from here (never Probot's
 * installation-wide event token); the worker mints its own narrow tokens per step, so a job that
 * only comments cannot push, and a token leaked from one job reaches one repo for an hour.
 */

export type PermissionSet = Partial<
  Record<"contents" | "issues" | "pull_requests" | "checks" | "metadata", "read" | "write">
>;

/** Permissions per step (least privilege). `workflows` is never requested anywhere. */
export const STEP_PERMISSIONS = {
  /** Read the issue/PR (and a failing check's output), comment, react, update the job card, read the repo config. */
  converse: { issues: "write", pull_requests: "read", contents: "read", checks: "read", metadata: "read" },
  /** Clone and fetch. */
  checkout: { contents: "read", metadata: "read" },
  /**
   * The web process's webhook handlers: read the repo config, the actor's permission and, for a
   * command on a PR, the PR. Read only: every write the web decides on is a notify job's.
   */
  intake: { pull_requests: "read", contents: "read", metadata: "read" },
  /**
   * Notify jobs: the replies and reactions the web process decided on, and the `iquest/config`
   * check run (reads the config and the asking comment; no contents write).
   */
  notify: { issues: "write", checks: "write", pull_requests: "read", contents: "read", metadata: "read" },
  /** Answer jobs: read a review thread, the PR and the file around its line; reply in the thread. */
  answer: { pull_requests: "write", contents: "read", metadata: "read" },
  /** Push the bot branch, open or update the PR, post a review or check run. */
  publish: { contents: "write", pull_requests: "write", issues: "write", checks: "write", metadata: "read" },
} as const satisfies Record<string, PermissionSet>;

export interface GitHubApp {
  /**
   * A REST client whose token covers one repository with the given permissions. With a
   * `signal`, aborting it cancels the client's requests in flight (a stop or shutdown does not
   * wait for a slow GitHub).
   */
  forRepo(installationId: number, repoId: number, permissions: PermissionSet, options?: { signal?: AbortSignal }): Promise<GitHub>;
  /**
   * Like forRepo, but the token is minted on the client's first request (then cached), so a
   * webhook handler that decides to ignore an event costs no GitHub call at all. The same client
   * is returned for the same installation, repository and permissions (the most recent
   * LAZY_CLIENTS_KEPT are kept): building an Octokit costs more than handling a webhook.
   */
  lazyForRepo(installationId: number, repoId: number, permissions: PermissionSet): GitHub;
  /** The raw installation token, for host-side git only (never the sandbox, payloads or logs). */
  tokenForRepo(installationId: number, repoId: number, permissions: PermissionSet): Promise<string>;
  /** A client authenticated as the app itself (JWT): app-level APIs only. */
  appClient(): GitHub;
}

export interface GitHubAppOptions {
  appId: string;
  privateKey: string;
  baseUrl: string;
  log: Logger;
  /** Octokit class with test defaults (retry/throttle off); Probot's by default. */
  Octokit?: typeof ProbotOctokit;
  /**
   * Pace writes per installation (GitHub.com's secondary limits; see write-pacing.ts): a burst,
   * then one write a second. Default true. False removes the spacing; rate-limit answers are
   * still waited out either way.
   */
  writePacing?: boolean;
  /** The pacing buckets (tests use small ones). */
  writeBuckets?: typeof WRITE_BUCKETS;
  /**
   * Applied to the text of every write (comment and PR bodies, titles, review comments, check
   * output): the last gate before anything leaves for GitHub, whatever code built the text.
   */
  redact?: Redact;
  /**
   * Seconds to wait on a secondary rate limit that names no `retry-after`: GitHub says "at least
   * one minute" (the default, 60). Tests shorten it.
   */
  secondaryLimitFallbackSeconds?: number;
  /**
   * Every request (each attempt) is aborted after this long without a complete answer
   * (GITHUB_TIMEOUT_MS, 30 s by default), so a GitHub that never answers cannot hold a worker.
   */
  requestTimeoutMs?: number;
  /**
   * Primary rate limits (`x-ratelimit-remaining: 0`) are waited out in the process only up to
   * this many seconds; a longer wait fails the call, and the worker delays the job until the
   * reset instead of holding its slot (RateLimitedError). Default: 10.
   */
  primaryWaitSeconds?: number;
  /** Told of every rate-limit hit and whether we wait (metrics). */
  onRateLimit?: (kind: "primary" | "secondary", retryAfterSeconds: number, willRetry: boolean) => void;
}

/** The request fields that carry human-readable text GitHub will show. */
const TEXT_FIELDS = ["body", "title", "output", "comments", "message", "summary", "text"] as const;

/** Redact the text fields of a write request in place. Exported for tests. */
export function redactRequestText(options: Record<string, unknown>, redact: Redact): void {
  const method = String(options.method ?? "GET").toUpperCase();
  if (method === "GET" || method === "HEAD") return;
  for (const field of TEXT_FIELDS) {
    if (options[field] !== undefined) options[field] = redactDeep(options[field], redact);
  }
}

/**
 * Bounded waits on rate limits. Probot's defaults retry forever; a job should instead wait a
 * little (GitHub asks for at least 60 s on a secondary limit without retry-after) a few times,
 * then fail transiently and let BullMQ's backoff take over, so a rate-limit storm cannot pin a
 * worker slot for an hour.
 */
export const RATE_LIMIT_POLICY = { maxRetries: 3, maxWaitSeconds: 300 };

/** lazyForRepo's clients kept for reuse (a web process sees a few hundred busy repositories). */
export const LAZY_CLIENTS_KEPT = 500;

function throttleOptions(log: Logger, onRateLimit: GitHubAppOptions["onRateLimit"], primaryWaitSeconds: number) {
  const decide = (kind: "primary" | "secondary") => (retryAfter: number, options: { method?: string; url?: string }, _octokit: unknown, retryCount: number) => {
    const maxWait = kind === "primary" ? primaryWaitSeconds : RATE_LIMIT_POLICY.maxWaitSeconds;
    const retry = retryCount < RATE_LIMIT_POLICY.maxRetries && retryAfter <= maxWait;
    log.warn({ kind, retryAfter, retryCount, retry, method: options.method, url: options.url }, "GitHub rate limit");
    onRateLimit?.(kind, retryAfter, retry);
    return retry;
  };
  return { onRateLimit: decide("primary"), onSecondaryRateLimit: decide("secondary") };
}

export function createGitHubApp(options: GitHubAppOptions): GitHubApp {
  const Octokit = options.Octokit ?? ProbotOctokit;
  const log = componentLogger(options.log, "github");
  // One set of pacing groups per app, so every client of an installation shares its bucket.
  const pacing = writePacingGroups(options.writePacing === false ? "off" : "burst", options.writeBuckets);
  const throttle = {
    ...throttleOptions(log, options.onRateLimit, options.primaryWaitSeconds ?? 10),
    write: pacing.write,
    notifications: pacing.notifications,
    fallbackSecondaryRateRetryAfter: options.secondaryLimitFallbackSeconds ?? 60,
  };
  const fetchWithTimeout = timedFetch(options.requestTimeoutMs ?? 30_000);
  const app = new Octokit({
    auth: { appId: options.appId, privateKey: options.privateKey },
    baseUrl: options.baseUrl,
    log,
    throttle,
    request: { fetch: fetchWithTimeout },
  }) as unknown as GitHub;

  const tokenForRepo = async (installationId: number, repoId: number, permissions: PermissionSet) => {
    // @octokit/auth-app caches tokens per installation + repositories + permissions.
    const auth = (await app.auth({
      type: "installation",
      installationId,
      repositoryIds: [repoId],
      permissions,
    })) as { token: string };
    return auth.token;
  };

  const lazyClients = new Map<string, GitHub>();
  const client = (installationId: number, auth: Record<string, unknown>, signal?: AbortSignal): GitHub => {
    const c = new Octokit({
      ...auth,
      baseUrl: options.baseUrl,
      log,
      throttle: { ...throttle, id: String(installationId) },
      request: { fetch: fetchWithTimeout, ...(signal ? { signal } : {}) },
    }) as unknown as GitHub;
    if (options.redact) {
      const redact = options.redact;
      c.hook.before("request", (requestOptions) => redactRequestText(requestOptions as Record<string, unknown>, redact));
    }
    if (signal) {
      // The outermost hook: an abort ends the call at once. Without it the retry plugin treats
      // the aborted fetch as a 500 and retries it for 1 + 4 + 9 seconds.
      c.hook.wrap("request", (request, requestOptions) => raceAbort(Promise.resolve(request(requestOptions)), signal));
    }
    return c;
  };

  return {
    appClient: () => app,
    tokenForRepo,
    async forRepo(installationId, repoId, permissions, clientOptions) {
      const token = await tokenForRepo(installationId, repoId, permissions);
      return client(installationId, { auth: { token } }, clientOptions?.signal);
    },
    lazyForRepo(installationId, repoId, permissions) {
      const key = `${installationId}:${repoId}:${JSON.stringify(permissions)}`;
      const kept = lazyClients.get(key);
      if (kept) {
        // Most recently used last: the Map's order is the eviction order.
        lazyClients.delete(key);
        lazyClients.set(key, kept);
        return kept;
      }
      const made = client(installationId, { authStrategy: lazyTokenAuth, auth: { mint: () => tokenForRepo(installationId, repoId, permissions) } });
      lazyClients.set(key, made);
      if (lazyClients.size > LAZY_CLIENTS_KEPT) lazyClients.delete(lazyClients.keys().next().value!);
      return made;
    },
  };
}

/** An Octokit auth strategy that asks `mint` for the token at each request (mint caches it). */
function lazyTokenAuth(options: { mint: () => Promise<string> }) {
  const auth = async () => ({ type: "token", tokenType: "installation", token: await options.mint() });
  auth.hook = async (
    request: ((endpoint: object) => Promise<unknown>) & { endpoint: { merge(route: unknown, parameters?: unknown): { headers: Record<string, string> } } },
    route: unknown,
    parameters?: unknown,
  ) => {
    const endpoint = request.endpoint.merge(route, parameters);
    endpoint.headers.authorization = `token ${await options.mint()}`;
    return request(endpoint);
  };
  return auth;
}

/**
 * fetch with a deadline per attempt: headers AND body must arrive within `ms` (the body is read
 * here, so a server that sends headers and then stalls is cut too). The caller's own signal
 * (a job's cancel) still aborts at once.
 */
export function timedFetch(ms: number, base: typeof fetch = globalThis.fetch): typeof fetch {
  return async (input, init = {}) => {
    const controller = new AbortController();
    const parent = init.signal ?? undefined;
    const onAbort = () => controller.abort(parent?.reason);
    if (parent?.aborted) controller.abort(parent.reason);
    else parent?.addEventListener("abort", onAbort, { once: true });
    const what = `${init.method ?? "GET"} ${String(input instanceof Request ? input.url : input).replace(/^https?:\/\/[^/]+/, "")}`;
    const timer = setTimeout(() => controller.abort(new GitHubTimeoutError(ms, what.split("?")[0]!)), ms);
    try {
      const res = await base(input, { ...init, signal: controller.signal });
      // Statuses that carry no body (a Response with one would throw).
      const body = [101, 103, 204, 205, 304].includes(res.status) || init.method === "HEAD" ? null : await res.arrayBuffer();
      const copy = new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
      Object.defineProperty(copy, "url", { value: res.url });
      return copy;
    } catch (err) {
      // undici rejects with the abort reason; a timeout is our GitHubTimeoutError.
      if (controller.signal.reason instanceof GitHubTimeoutError && !parent?.aborted) throw controller.signal.reason;
      throw err;
    } finally {
      clearTimeout(timer);
      parent?.removeEventListener("abort", onAbort);
    }
  };
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(new Error(`aborted: ${String(signal.reason)}`));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error(`aborted: ${String(signal.reason)}`));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
