import { createLimiter } from "../limit.js";
import { RegistryError } from "../registry-error.js";

/**
 * A Python package index, read side: the PEP 691 JSON form of the simple API
 * (`Accept: application/vnd.pypi.simple.v1+json`), whose file entries carry `upload-time`
 * (PEP 700) and `yanked`. One request per project per run, bounded concurrency, a timeout.
 */
export interface PyRelease {
  version: string;
  /** The earliest upload of its files (ms), when the index says. */
  uploadedAt?: number;
  yanked: boolean;
}

export interface PyIndexClient {
  /** Releases by version string; [] when the project is unknown (404). */
  releases(project: string, index: string): Promise<PyRelease[]>;
  readonly stats: { requests: number };
}

/** A distribution file name's version: `name-1.2.3-py3-none-any.whl`, `name-1.2.3.tar.gz`. */
export function versionOfFile(filename: string, normalized: string): string | undefined {
  const base = filename.replace(/\.(whl|tar\.gz|zip|tar\.bz2|egg)$/, "");
  const parts = base.split("-");
  // The name is the leading parts whose normalized form is the project's (wheels write `-` as
  // `_`, sdists keep it); the version is the part after them.
  for (let k = 1; k < parts.length; k++) {
    if (parts.slice(0, k).join("-").toLowerCase().replace(/[-_.]+/g, "-") === normalized) return parts[k];
  }
  return undefined;
}

export function createPyIndexClient(options: { isAllowed(url: string): boolean; fetch?: typeof fetch; timeoutMs?: number; concurrency?: number; signal?: AbortSignal }): PyIndexClient {
  const fetchFn = options.fetch ?? fetch;
  const limit = createLimiter(options.concurrency ?? 16);
  const stats = { requests: 0 };
  const memo = new Map<string, Promise<PyRelease[]>>();
  return {
    stats,
    releases(project, index) {
      const url = `${index.replace(/\/+$/, "")}/${project}/`;
      let p = memo.get(url);
      if (!p) {
        p = limit(async () => {
          if (!options.isAllowed(url)) throw new RegistryError("not-allowed", project, index, "not an allowed registry");
          stats.requests++;
          let res: Response;
          try {
            res = await fetchFn(url, {
              headers: { accept: "application/vnd.pypi.simple.v1+json" },
              signal: AbortSignal.any([AbortSignal.timeout(options.timeoutMs ?? 30_000), ...(options.signal ? [options.signal] : [])]),
            });
          } catch (err) {
            const e = err as { name?: string; cause?: { code?: string }; message?: string };
            throw new RegistryError("unreachable", project, index, e.name === "TimeoutError" ? "timed out" : (e.cause?.code ?? e.message ?? String(err)));
          }
          if (res.status === 404) return [];
          if (res.status === 401 || res.status === 403) throw new RegistryError("auth", project, index, `HTTP ${res.status}`, res.status);
          if (!res.ok) throw new RegistryError("http", project, index, `HTTP ${res.status}`, res.status);
          let body: { files?: Array<{ filename?: unknown; "upload-time"?: unknown; yanked?: unknown }> };
          try {
            body = (await res.json()) as typeof body;
          } catch {
            throw new RegistryError("invalid", project, index, "the index did not answer PEP 691 JSON");
          }
          if (!Array.isArray(body.files)) throw new RegistryError("invalid", project, index, "no `files` list");
          const byVersion = new Map<string, PyRelease>();
          for (const f of body.files) {
            if (typeof f.filename !== "string") continue;
            const version = versionOfFile(f.filename, project);
            if (!version) continue;
            const t = typeof f["upload-time"] === "string" ? Date.parse(f["upload-time"]) : NaN;
            const r = byVersion.get(version) ?? { version, yanked: true };
            if (Number.isFinite(t)) r.uploadedAt = r.uploadedAt === undefined ? t : Math.min(r.uploadedAt, t);
            // A release is yanked when all its files are.
            if (!f.yanked) r.yanked = false;
            byVersion.set(version, r);
          }
          return [...byVersion.values()];
        });
        memo.set(url, p);
      }
      return p;
    },
  };
}

/** Where a reviewer reads about a release: PyPI's page for it, when the package comes from pypi.org (a private index has no such page to link). */
export function pypiReleaseNotes(name: string, version: string, index: string): { releaseNotesUrl?: string } {
  return /^https:\/\/pypi\.org\/simple\/?$/.test(index) ? { releaseNotesUrl: `https://pypi.org/project/${name}/${version}/` } : {};
}
