import type { LoadedRepoConfig } from "../config/repo-config.js";
import type { GitHub, RepoName } from "../github/types.js";

type Loader = (github: GitHub, repo: RepoName) => Promise<LoadedRepoConfig>;

/**
 * A short-lived per-repo cache of `.github/iquest.yml`, so a burst of events on one repo costs
 * one API call, not one per delivery. A push that changes the file invalidates it at once; the
 * TTL bounds staleness for everything else. Per process and bounded, not shared state.
 */
export function createCachedConfigLoader(load: Loader, ttlMs = 60_000, maxEntries = 5_000, now = Date.now) {
  const cache = new Map<number, { at: number; value: Promise<LoadedRepoConfig> }>();
  return {
    load(github: GitHub, repo: RepoName, repoId: number): Promise<LoadedRepoConfig> {
      const hit = cache.get(repoId);
      if (hit && now() - hit.at < ttlMs) return hit.value;
      const value = load(github, repo);
      // A failed or transient read must not be cached.
      value.then(
        (v) => v.transient && cache.delete(repoId),
        () => cache.delete(repoId),
      );
      cache.delete(repoId);
      cache.set(repoId, { at: now(), value });
      if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
      return value;
    },
    invalidate(repoId: number): void {
      cache.delete(repoId);
    },
  };
}
