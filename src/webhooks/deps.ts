import type { LoadedRepoConfig } from "../config/repo-config.js";
import type { PermissionResult } from "../github/permissions.js";
import type { GitHub, RepoName } from "../github/types.js";
import type { JobEnqueuer } from "../queue/enqueue.js";
import type { Logger } from "../shared/log.js";

/** What the webhook handlers need; passed in by the composition root (no module state). */
export interface HandlerDeps {
  enqueuer: JobEnqueuer;
  loadConfig(github: GitHub, repo: RepoName, repoId: number): Promise<LoadedRepoConfig>;
  checkPermission(github: GitHub, repo: RepoName, username: string): Promise<PermissionResult>;
  /**
   * A client for one repository with the intake permissions only (token minted on first use).
   * Without it (unit tests) handlers use Probot's per-event client, whose token is
   * installation-wide.
   */
  repoClient?(installationId: number, repoId: number): GitHub;
  /** Forget a cached config (after a push that changed it). */
  invalidateConfig?(repoId: number): void;
  /** The app's own id: its own check runs never trigger anything. */
  appId?: number;
  /**
   * Count a handled delivery by event and decision, with the handler's own time in seconds
   * (Prometheus): the part of a webhook's answer time the app spends deciding and enqueueing.
   */
  record(event: string, outcome: string, seconds: number): void;
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
  | `ignored:${string}`;
