import { createLimiter } from "../limit.js";
import type { MetadataStore } from "../metadata-store.js";
import { RegistryError } from "../registry-error.js";
import type { PackageMeta, VersionMeta } from "../types.js";

/**
 * The npm registry protocol, read side: packuments (`GET <registry>/<name>`, the full document,
 * because only it has the publish `time` of each version) and tarballs. One request per package
 * per run at most (a memo of promises, so two workspaces asking for the same package share the
 * request), a bounded number in flight, a timeout and one retry for passing faults, and an
 * optional store between runs (metadata-store.ts).
 *
 * Which registries may be contacted is the caller's decision (`isAllowed`): the URL comes from the
 * repository's `.npmrc`, and the worker host must not become a way to reach internal services.
 */
export interface RegistryClientOptions {
  isAllowed(url: string): boolean;
  fetch?: typeof fetch;
  store?: MetadataStore;
  /** A stored entry younger than this is used without asking the registry. Default 10 minutes. */
  freshMs?: number;
  concurrency?: number;
  timeoutMs?: number;
  /** Retries after a 5xx, 429 or network error (default 1). */
  retries?: number;
  retryDelayMs?: number;
  /** Largest packument accepted (default 64 MiB: a few popular packages are tens of MB). */
  maxBytes?: number;
  signal?: AbortSignal;
  now?: () => number;
  userAgent?: string;
}

export interface RegistryStats {
  /** HTTP requests made for packuments (retries included). */
  requests: number;
  /** Of which the registry answered 304 Not Modified. */
  notModified: number;
  /** Packages answered from the store without a request. */
  fromStore: number;
  tarballs: number;
  bytes: number;
}

export interface NpmRegistryClient {
  packument(name: string, registry: string): Promise<PackageMeta>;
  /** A tarball's bytes, up to `maxBytes` (for release notes). */
  tarball(url: string, name: string, registry: string, maxBytes: number): Promise<Buffer>;
  readonly stats: RegistryStats;
}

export function packumentUrl(registry: string, name: string): string {
  const path = name.startsWith("@") ? `@${encodeURIComponent(name.slice(1))}` : encodeURIComponent(name);
  return `${registry}${path}`;
}

export function createNpmRegistryClient(options: RegistryClientOptions): NpmRegistryClient {
  const fetchFn = options.fetch ?? fetch;
  const limit = createLimiter(options.concurrency ?? 16);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const retries = options.retries ?? 1;
  const retryDelayMs = options.retryDelayMs ?? 300;
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  const freshMs = options.freshMs ?? 10 * 60_000;
  const now = options.now ?? Date.now;
  const memo = new Map<string, Promise<PackageMeta>>();
  const stats: RegistryStats = { requests: 0, notModified: 0, fromStore: 0, tarballs: 0, bytes: 0 };
  const headers = { "user-agent": options.userAgent ?? "iquest-bot" };

  /** One HTTP exchange with retries; returns the response with its body read (capped). */
  async function exchange(url: string, name: string, registry: string, extra: Record<string, string>, cap: number, count: () => void) {
    for (let attempt = 0; ; attempt++) {
      options.signal?.throwIfAborted();
      const signals = [AbortSignal.timeout(timeoutMs), ...(options.signal ? [options.signal] : [])];
      let status: number;
      let body: Buffer | undefined;
      let resHeaders: Headers;
      try {
        count();
        const res = await fetchFn(url, { headers: { ...headers, ...extra }, signal: AbortSignal.any(signals) });
        status = res.status;
        resHeaders = res.headers;
        if (status === 200) body = await readCapped(res, cap, name, registry);
        else await res.body?.cancel().catch(() => {});
      } catch (err) {
        if (options.signal?.aborted) throw err;
        if (err instanceof RegistryError) throw err;
        const detail = networkDetail(err);
        if (attempt < retries) {
          await delay(retryDelayMs * (attempt + 1));
          continue;
        }
        throw new RegistryError("unreachable", name, registry, detail);
      }
      if ((status >= 500 || status === 429) && attempt < retries) {
        await delay(retryDelayMs * (attempt + 1));
        continue;
      }
      return { status, body, headers: resHeaders };
    }
  }

  async function load(name: string, registry: string): Promise<PackageMeta> {
    const url = packumentUrl(registry, name);
    if (!options.isAllowed(url)) throw new RegistryError("not-allowed", name, registry, "not in the allowed registries");
    const stored = await options.store?.get(url);
    if (stored && now() - stored.storedAt < freshMs) {
      stats.fromStore++;
      return stored.meta;
    }
    const conditional: Record<string, string> = { accept: "application/json" };
    if (stored?.etag) conditional["if-none-match"] = stored.etag;
    else if (stored?.lastModified) conditional["if-modified-since"] = stored.lastModified;
    const res = await limit(() => exchange(url, name, registry, conditional, maxBytes, () => void stats.requests++));
    if (res.status === 304 && stored) {
      stats.notModified++;
      await options.store?.set({ ...stored, storedAt: now() }).catch(() => {});
      return stored.meta;
    }
    if (res.status === 404) throw new RegistryError("not-found", name, registry, "404", 404);
    if (res.status === 401 || res.status === 403) throw new RegistryError("auth", name, registry, String(res.status), res.status);
    if (res.status !== 200 || !res.body) throw new RegistryError("http", name, registry, `HTTP ${res.status}`, res.status);
    stats.bytes += res.body.length;
    let doc: unknown;
    try {
      doc = JSON.parse(res.body.toString("utf8"));
    } catch {
      throw new RegistryError("invalid", name, registry, "not JSON");
    }
    const meta = reducePackument(name, doc);
    if (!meta) throw new RegistryError("invalid", name, registry, "no `versions` in the document");
    const etag = res.headers.get("etag") ?? undefined;
    const lastModified = res.headers.get("last-modified") ?? undefined;
    await options.store?.set({ url, ...(etag ? { etag } : {}), ...(lastModified ? { lastModified } : {}), storedAt: now(), meta }).catch(() => {});
    return meta;
  }

  return {
    stats,
    packument(name, registry) {
      const key = packumentUrl(registry, name);
      let p = memo.get(key);
      if (!p) {
        p = load(name, registry);
        memo.set(key, p);
      }
      return p;
    },
    async tarball(url, name, registry, cap) {
      if (!options.isAllowed(url)) throw new RegistryError("not-allowed", name, url, "tarball host not in the allowed registries");
      const res = await limit(() => exchange(url, name, registry, { accept: "application/octet-stream" }, cap, () => void stats.tarballs++));
      if (res.status === 404) throw new RegistryError("not-found", name, registry, "tarball 404", 404);
      if (res.status !== 200 || !res.body) throw new RegistryError("http", name, registry, `tarball HTTP ${res.status}`, res.status);
      return res.body;
    },
  };
}

async function readCapped(res: Response, cap: number, name: string, registry: string): Promise<Buffer> {
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > cap) {
    await res.body?.cancel().catch(() => {});
    throw new RegistryError("too-large", name, registry, `${declared} bytes, over ${cap}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  if (!res.body) return Buffer.alloc(0);
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.length;
    if (size > cap) {
      await res.body.cancel().catch(() => {});
      throw new RegistryError("too-large", name, registry, `over ${cap} bytes`);
    }
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

function networkDetail(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code) return cause.code;
  if ((err as Error)?.name === "TimeoutError") return "timed out";
  return (err as Error)?.message?.slice(0, 200) ?? String(err);
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The packument, reduced to what the upgrade reads. Undefined when it has no `versions`. Pure. */
export function reducePackument(name: string, doc: unknown): PackageMeta | undefined {
  if (!doc || typeof doc !== "object") return undefined;
  const d = doc as {
    versions?: Record<string, { deprecated?: unknown; dist?: { tarball?: unknown }; repository?: unknown; homepage?: unknown }>;
    time?: Record<string, unknown>;
    "dist-tags"?: Record<string, unknown>;
    repository?: unknown;
    homepage?: unknown;
  };
  if (!d.versions || typeof d.versions !== "object") return undefined;
  const versions: VersionMeta[] = [];
  for (const [version, m] of Object.entries(d.versions)) {
    const t = d.time?.[version];
    const publishedAt = typeof t === "string" ? Date.parse(t) : NaN;
    versions.push({
      version,
      ...(Number.isFinite(publishedAt) ? { publishedAt } : {}),
      ...(typeof m?.deprecated === "string" && m.deprecated.trim() ? { deprecated: m.deprecated.slice(0, 500) } : {}),
      ...(typeof m?.dist?.tarball === "string" ? { tarball: m.dist.tarball } : {}),
    });
  }
  const distTags: Record<string, string> = {};
  for (const [tag, v] of Object.entries(d["dist-tags"] ?? {})) if (typeof v === "string") distTags[tag] = v;
  const latest = distTags.latest ? d.versions[distTags.latest] : undefined;
  const repositoryUrl = normalizeRepositoryUrl(d.repository ?? latest?.repository);
  const homepage = typeof d.homepage === "string" ? d.homepage : typeof latest?.homepage === "string" ? latest.homepage : undefined;
  return { name, versions, distTags, ...(repositoryUrl ? { repositoryUrl } : {}), ...(homepage ? { homepage } : {}) };
}

/** `git+https://github.com/o/r.git`, `github:o/r`, `o/r`, `git@github.com:o/r.git` → https://github.com/o/r. */
export function normalizeRepositoryUrl(repository: unknown): string | undefined {
  const raw = typeof repository === "string" ? repository : typeof (repository as { url?: unknown })?.url === "string" ? (repository as { url: string }).url : undefined;
  if (!raw) return undefined;
  const short = /^(?:(github|gitlab|bitbucket):)?([\w.-]+)\/([\w.-]+?)(?:\.git)?$/.exec(raw);
  if (short) return `https://${short[1] ?? "github"}.${short[1] === "bitbucket" ? "org" : "com"}/${short[2]}/${short[3]}`;
  const m = /^(?:git\+)?(?:https?|git|ssh):\/\/(?:[^@/]+@)?([^/:]+)[/:]([\w.-]+)\/([\w.-]+?)(?:\.git)?\/?$/.exec(raw) ?? /^git@([^:]+):([\w.-]+)\/([\w.-]+?)(?:\.git)?$/.exec(raw);
  if (!m) return undefined;
  return `https://${m[1]}/${m[2]}/${m[3]}`;
}
