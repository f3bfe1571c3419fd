import { createLimiter } from "../limit.js";
import { RegistryError } from "../registry-error.js";

/**
 * Cargo's sparse registry protocol: one index file per crate (`<index>/ab/cd/abcdef`), JSON lines,
 * one per published version, with `yanked` and, where the registry records it, `pubtime`. Each
 * file is asked for once per run (memoized), at most 16 at a time.
 */
export interface CrateVersion {
  version: string;
  yanked: boolean;
  /** sha256 of the .crate (the index's `cksum`). */
  cksum?: string;
  /** ms since the epoch; undefined when the registry gives no publish time. */
  publishedAt?: number;
}

export interface SparseIndexClient {
  versions(name: string, index: string): Promise<CrateVersion[]>;
  /** One version's `.crate` (for its changelog), from the download URL the index's config.json gives; undefined when that cannot be read. */
  crate(name: string, version: string, index: string, maxBytes: number): Promise<Buffer | undefined>;
  readonly stats: { requests: number };
}

/** The index file's path for a crate name (cargo's layout, lower-cased). */
export function sparsePath(name: string): string {
  const n = name.toLowerCase();
  if (n.length <= 2) return `${n.length}/${n}`;
  if (n.length === 3) return `3/${n[0]}/${n}`;
  return `${n.slice(0, 2)}/${n.slice(2, 4)}/${n}`;
}

const MAX_BYTES = 32 * 1024 * 1024;

export function createSparseIndexClient(options: { isAllowed(url: string): boolean; fetch?: typeof fetch; timeoutMs?: number; concurrency?: number; signal?: AbortSignal }): SparseIndexClient {
  const fetchFn = options.fetch ?? fetch;
  const limit = createLimiter(options.concurrency ?? 16);
  const stats = { requests: 0 };
  const memo = new Map<string, Promise<CrateVersion[]>>();
  return {
    stats,
    versions(name, index) {
      const url = `${index.replace(/\/+$/, "")}/${sparsePath(name)}`;
      let p = memo.get(url);
      if (!p) {
        p = limit(async () => {
          if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) throw new RegistryError("invalid", name, index, "not a crate name");
          if (!options.isAllowed(url)) throw new RegistryError("not-allowed", name, index, "not an allowed registry");
          stats.requests++;
          let res: Response;
          try {
            res = await fetchFn(url, { signal: AbortSignal.any([AbortSignal.timeout(options.timeoutMs ?? 30_000), ...(options.signal ? [options.signal] : [])]) });
          } catch (err) {
            const e = err as { name?: string; cause?: { code?: string }; message?: string };
            throw new RegistryError("unreachable", name, index, e.name === "TimeoutError" ? "timed out" : (e.cause?.code ?? e.message ?? String(err)));
          }
          // 404, 410 and 451 all mean "no such crate" in the sparse protocol.
          if (res.status === 404 || res.status === 410 || res.status === 451) throw new RegistryError("not-found", name, index, `HTTP ${res.status}`, res.status);
          if (res.status === 401 || res.status === 403) throw new RegistryError("auth", name, index, `HTTP ${res.status}`, res.status);
          if (!res.ok) throw new RegistryError("http", name, index, `HTTP ${res.status}`, res.status);
          const text = await res.text();
          if (text.length > MAX_BYTES) throw new RegistryError("too-large", name, index, `${text.length} bytes`);
          const out: CrateVersion[] = [];
          for (const line of text.split("\n")) {
            if (!line.trim()) continue;
            let entry: { vers?: unknown; yanked?: unknown; pubtime?: unknown; name?: unknown };
            try {
              entry = JSON.parse(line) as typeof entry;
            } catch {
              throw new RegistryError("invalid", name, index, "an index line is not JSON");
            }
            if (typeof entry.vers !== "string") throw new RegistryError("invalid", name, index, "an index line has no `vers`");
            const t = typeof entry.pubtime === "string" ? Date.parse(entry.pubtime) : NaN;
            const cksum = typeof (entry as { cksum?: unknown }).cksum === "string" ? (entry as { cksum: string }).cksum : undefined;
            out.push({ version: entry.vers, yanked: entry.yanked === true, ...(cksum ? { cksum } : {}), ...(Number.isFinite(t) ? { publishedAt: t } : {}) });
          }
          return out;
        });
        memo.set(url, p);
      }
      return p;
    },

    async crate(name, version, index, maxBytes) {
      const get = async (url: string) => {
        if (!options.isAllowed(url)) return undefined;
        stats.requests++;
        const res = await fetchFn(url, { signal: AbortSignal.any([AbortSignal.timeout(options.timeoutMs ?? 30_000), ...(options.signal ? [options.signal] : [])]) }).catch(() => undefined);
        if (!res?.ok) return undefined;
        const length = Number(res.headers.get("content-length") ?? 0);
        if (length > maxBytes) return undefined;
        const body = Buffer.from(await res.arrayBuffer());
        return body.length > maxBytes ? undefined : body;
      };
      const config = await get(`${index.replace(/\/+$/, "")}/config.json`);
      let dl: unknown;
      try {
        dl = config ? (JSON.parse(config.toString("utf8")) as { dl?: unknown }).dl : undefined;
      } catch {
        return undefined;
      }
      if (typeof dl !== "string") return undefined;
      const cksum = (await this.versions(name, index).catch(() => [])).find((v) => v.version === version)?.cksum ?? "";
      return get(downloadUrl(dl, name, version, cksum));
    },
  };
}

/** The `dl` template of config.json filled in (cargo's markers), or `/{crate}/{version}/download` appended. */
export function downloadUrl(dl: string, name: string, version: string, cksum: string): string {
  if (!/\{(crate|version|prefix|lowerprefix|sha256-checksum)\}/.test(dl)) return `${dl.replace(/\/+$/, "")}/${name}/${version}/download`;
  return dl
    .replaceAll("{crate}", name)
    .replaceAll("{version}", version)
    .replaceAll("{lowerprefix}", prefixOf(name).toLowerCase())
    .replaceAll("{prefix}", prefixOf(name))
    .replaceAll("{sha256-checksum}", cksum);
}

/** cargo's `{prefix}`: "1", "2", "3/a", or "ab/cd", from the name as written. */
function prefixOf(name: string): string {
  if (name.length <= 2) return String(name.length);
  if (name.length === 3) return `3/${name[0]}`;
  return `${name.slice(0, 2)}/${name.slice(2, 4)}`;
}
