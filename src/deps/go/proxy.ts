import { createLimiter } from "../limit.js";
import { RegistryError } from "../registry-error.js";
import { escapeModulePath } from "./gomod.js";

/**
 * The Go module proxy protocol, read side (what `go` itself asks a GOPROXY): `<module>/@v/list`
 * (the released versions) and `<module>/@v/<version>.info` (its time). One request per URL per
 * run (a memo of promises), a bounded number in flight, a timeout and one retry for passing
 * faults. Which proxies may be contacted is the caller's decision (`isAllowed`).
 */
export interface GoProxyClientOptions {
  isAllowed(url: string): boolean;
  fetch?: typeof fetch;
  concurrency?: number;
  timeoutMs?: number;
  retries?: number;
  signal?: AbortSignal;
}

export interface GoProxyClient {
  /** Released versions, newest last as the proxy lists them (unsorted); [] when the module is unknown (404/410). */
  versions(module: string, proxy: string): Promise<string[]>;
  /** The version's publish time (ms), when the proxy says. */
  time(module: string, version: string, proxy: string): Promise<number | undefined>;
  readonly stats: { requests: number };
}

export function createGoProxyClient(options: GoProxyClientOptions): GoProxyClient {
  const fetchFn = options.fetch ?? fetch;
  const limit = createLimiter(options.concurrency ?? 16);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const retries = options.retries ?? 1;
  const stats = { requests: 0 };
  const memo = new Map<string, Promise<string | undefined>>();

  /** GET a proxy URL's text; undefined for 404/410 (Go's "not found" answers). */
  const get = (url: string, module: string, proxy: string): Promise<string | undefined> => {
    let p = memo.get(url);
    if (!p) {
      p = limit(async () => {
        if (!options.isAllowed(url)) throw new RegistryError("not-allowed", module, proxy, "not an allowed registry");
        for (let attempt = 0; ; attempt++) {
          stats.requests++;
          let res: Response;
          try {
            res = await fetchFn(url, { signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), ...(options.signal ? [options.signal] : [])]) });
          } catch (err) {
            if (attempt < retries && !options.signal?.aborted) continue;
            const e = err as { name?: string; cause?: { code?: string }; message?: string };
            throw new RegistryError("unreachable", module, proxy, e.name === "TimeoutError" ? "timed out" : (e.cause?.code ?? e.message ?? String(err)));
          }
          if (res.status === 404 || res.status === 410) return undefined;
          if (res.status === 401 || res.status === 403) throw new RegistryError("auth", module, proxy, `HTTP ${res.status}`, res.status);
          if ((res.status >= 500 || res.status === 429) && attempt < retries) continue;
          if (!res.ok) throw new RegistryError("http", module, proxy, `HTTP ${res.status}`, res.status);
          return await res.text();
        }
      });
      memo.set(url, p);
    }
    return p;
  };
  const base = (proxy: string, module: string) => `${proxy.replace(/\/+$/, "")}/${escapeModulePath(module)}/@v/`;

  return {
    stats,
    async versions(module, proxy) {
      const text = await get(`${base(proxy, module)}list`, module, proxy);
      return (text ?? "").split("\n").map((l) => l.trim()).filter(Boolean);
    },
    async time(module, version, proxy) {
      const text = await get(`${base(proxy, module)}${escapeModulePath(version)}.info`, module, proxy);
      if (text === undefined) return undefined;
      try {
        const info = JSON.parse(text) as { Time?: unknown };
        const t = typeof info.Time === "string" ? Date.parse(info.Time) : NaN;
        return Number.isFinite(t) ? t : undefined;
      } catch {
        throw new RegistryError("invalid", module, proxy, `${version}.info is not JSON`);
      }
    },
  };
}
