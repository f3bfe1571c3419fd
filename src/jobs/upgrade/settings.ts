import { CRATES_IO_DOWNLOADS, CRATES_IO_INDEX } from "../../deps/cargo/cargo-config.js";

/**
 * The operator's settings for upgrade jobs (from the worker's environment, see docs/CONFIG.md).
 * A repository's `.npmrc` may name any registry; the worker contacts only the ones listed here,
 * so a repository cannot turn the worker into a client of internal services.
 */
export interface UpgradeSettings {
  /** Registry for packages the project's `.npmrc` does not place elsewhere (NPM_REGISTRY). */
  npmRegistry: string;
  /** Registry URL prefixes the worker may contact besides `npmRegistry` (UPGRADE_REGISTRIES). */
  allowedRegistries: readonly string[];
  /** The Go module proxy (the first URL of the worker's GOPROXY; default https://proxy.golang.org), and GOPRIVATE/GONOPROXY. */
  goProxy?: string;
  goPrivate?: string;
  /** The Python index for requirements pins that name none (PIP_INDEX_URL; default PyPI's simple API). */
  pipIndex?: string;
  /** The sparse index for crates.io dependencies a project does not place elsewhere (CARGO_INDEX_URL; default index.crates.io). */
  cargoIndex?: string;
  /** Registry metadata kept between runs (a directory); absent: memo per run only. */
  metadataDir?: string;
  /**
   * How long a stored packument is used without asking the registry. Default 0: every run
   * revalidates (`If-None-Match`, a bodiless 304 when nothing changed), so a release published a
   * minute ago is seen by the next `/iquest upgrade`.
   */
  metadataFreshMs?: number;
  /** The clock (tests); Date.now by default. */
  now?: () => number;
  /**
   * The repository's upgrade schedule, applied when a run reads its config (so a repository
   * installed with an `upgrade.schedule` already in place gets it on its first run, not only at
   * the next push that touches the config).
   */
  schedules?: {
    upsert(repo: { installationId: number; repoId: number; repo: string }, cron?: string): Promise<void>;
    remove(repoId: number): Promise<void>;
  };
}

export const DEFAULT_NPM_REGISTRY = "https://registry.npmjs.org/";

/** URL → may the worker fetch it? Prefix match on normalized registry URLs (scheme, host, port, path). */
export const DEFAULT_GOPROXY = "https://proxy.golang.org";
export const DEFAULT_PIP_INDEX = "https://pypi.org/simple/";

export function registryAllowList(settings: Pick<UpgradeSettings, "npmRegistry" | "allowedRegistries" | "goProxy" | "pipIndex" | "cargoIndex">): (url: string) => boolean {
  const prefixes = [settings.npmRegistry, settings.goProxy ?? DEFAULT_GOPROXY, settings.pipIndex ?? DEFAULT_PIP_INDEX, settings.cargoIndex ?? CRATES_IO_INDEX, ...(settings.cargoIndex ? [] : [CRATES_IO_DOWNLOADS]), ...settings.allowedRegistries]
    .map((r) => {
      try {
        const u = new URL(r);
        return u.protocol === "http:" || u.protocol === "https:" ? `${u.origin}${u.pathname.endsWith("/") ? u.pathname : `${u.pathname}/`}` : undefined;
      } catch {
        return undefined;
      }
    })
    .filter((p): p is string => !!p);
  return (url) => {
    try {
      const u = new URL(url);
      if (u.username || u.password) return false;
      const target = `${u.origin}${u.pathname}`;
      return prefixes.some((p) => target.startsWith(p));
    } catch {
      return false;
    }
  };
}
