import type { LoadedRepoConfig } from "../config/repo-config.js";
import type { PermissionResult } from "../github/permissions.js";
import type { GitHub, RepoName } from "../github/types.js";
import type { JobEnqueuer } from "../queue/enqueue.js";
import type { Logger } from "../shared/log.js";
import type { IntakeLimiter } from "./intake-limits.js";
import type { PermissionScope, PermissionTarget } from "./permission-cache.js";

export type { PermissionTarget };

/** What the webhook handlers need; passed in by the composition root (no module state). */
export interface HandlerDeps {
  enqueuer: JobEnqueuer;
  loadConfig(github: GitHub, repo: RepoName, repoId: number): Promise<LoadedRepoConfig>;
  /** The user's permission on the repository: cached for a short while (permission-cache.ts). */
  checkPermission(target: PermissionTarget, username: string): Promise<PermissionResult>;
  /**
   * Forget cached permissions (a member, team or organization event said they changed), in
   * this process and every other web process. A failure is transient (the delivery gets 503).
   */
  invalidatePermissions?(scope: PermissionScope): Promise<void>;
  /**
   * A client for one repository with the intake permissions only, its token minted on first
   * use (github/app-client.ts lazyForRepo): a handler that decides from the payload and the
   * caches makes no GitHub call at all.
   */
  repoClient(installationId: number, repoId: number): GitHub;
  /** Forget a cached config (after a push that changed it), in every web process. */
  invalidateConfig?(repoId: number): Promise<void> | void;
  /** Per-sender and per-installation limits on work asked for (none: unlimited). */
  limits?: IntakeLimiter;
  /** The app's own id: its own check runs never trigger anything. */
  appId?: number;
  log: Logger;
}

/** What a handler decided: counted in metrics and returned for tests. */
export type Outcome =
  | "enqueued"
  | "duplicate"
  | "replied"
  | "cancelled"
  | "scheduled"
  | "denied"
  | "limited"
  | "invalidated"
  | `ignored:${string}`;
