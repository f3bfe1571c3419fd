import type { PermissionResult } from "../github/permissions.js";
import type { GitHub, RepoName } from "../github/types.js";

/** Which repository a permission question is about (the cache's key, with the user). */
export interface PermissionTarget {
  installationId: number;
  repoId: number;
  repo: RepoName;
  github: GitHub;
}

/** What a member, membership, organization or team event says may have changed. */
export interface PermissionScope {
  installationId: number;
  /** Only this repository (absent: every repository of the installation). */
  repoId?: number;
  /** Only this user (absent: every user). */
  login?: string;
}

export type FetchPermission = (github: GitHub, repo: RepoName, username: string) => Promise<PermissionResult>;

export interface PermissionCache {
  check(target: PermissionTarget, username: string): Promise<PermissionResult>;
  invalidate(scope: PermissionScope): number;
  readonly size: number;
}

export interface PermissionCacheOptions {
  /** How long an answer is trusted: a revoked user is refused at most this long afterwards. */
  ttlMs: number;
  maxEntries?: number;
  now?: () => number;
}

/**
 * The webhook path's answer to "may this user trigger work here?", off GitHub for all but the
 * first delivery of a user on a repository in `ttlMs`. Why a cache and not a check in the job:
 * a non-writer's command must leave no trace (no job, no card, no reaction), and a denied job
 * that held the one-job-at-a-time slot would swallow a writer's request that came right
 * behind it. Staleness is bounded twice: answers expire after `ttlMs` (30 s by default, so a
 * revoked user is refused within a minute even if no event arrives), and member, membership,
 * organization and team events drop the affected entries at once, in every web process
 * (on-membership-change.ts). Concurrent lookups for one key share one request; failed lookups
 * are not kept (the caller fails closed and the next delivery asks again).
 */
export function createPermissionCache(fetch: FetchPermission, options: PermissionCacheOptions): PermissionCache {
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? 10_000;
  const entries = new Map<string, { at: number; installationId: number; repoId: number; login: string; value: Promise<PermissionResult> }>();
  // GitHub logins are case-insensitive.
  const keyOf = (installationId: number, repoId: number, login: string) => `${installationId}/${repoId}/${login.toLowerCase()}`;

  return {
    get size() {
      return entries.size;
    },
    check(target, username) {
      const key = keyOf(target.installationId, target.repoId, username);
      const hit = entries.get(key);
      if (hit && now() - hit.at < options.ttlMs) return hit.value;
      const entry = { at: now(), installationId: target.installationId, repoId: target.repoId, login: username.toLowerCase(), value: fetch(target.github, target.repo, username) };
      entries.delete(key);
      entries.set(key, entry);
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
      entry.value.then(
        (result) => {
          if (!result.ok && entries.get(key) === entry) entries.delete(key);
        },
        () => {
          if (entries.get(key) === entry) entries.delete(key);
        },
      );
      return entry.value;
    },
    invalidate(scope) {
      const login = scope.login?.toLowerCase();
      let dropped = 0;
      for (const [key, e] of entries) {
        if (e.installationId !== scope.installationId) continue;
        if (scope.repoId !== undefined && e.repoId !== scope.repoId) continue;
        if (login !== undefined && e.login !== login) continue;
        entries.delete(key);
        dropped++;
      }
      return dropped;
    },
  };
}
