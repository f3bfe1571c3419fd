import { BlockList, isIP } from "node:net";

/**
 * Which outbound proxy a URL goes through, from the usual environment variables, decided as curl
 * decides (curl is what git uses, so the worker's Node calls and its git agree on every host):
 *
 * - `http://` URLs use `http_proxy` / `HTTP_PROXY`, `https://` URLs `https_proxy` / `HTTPS_PROXY`;
 *   `all_proxy` / `ALL_PROXY` where the scheme's own is unset; the lower-case name wins.
 * - `NO_PROXY` (`no_proxy` wins): comma- or space-separated; `*` alone means no proxy at all; a
 *   name matches itself and every subdomain (`example.com` and `.example.com` both match
 *   `example.com` and `a.example.com`, never `badexample.com`); an IP address matches only that
 *   address, a CIDR (`10.0.0.0/8`, `fd00::/8`) every address in it, compared with the URL's host
 *   only when that host is an IP literal (no DNS lookup, as curl). Case and a trailing dot do not
 *   matter.
 * - Beyond curl: `host:port` limits an entry to one port (as Go and undici read it). git (curl)
 *   ignores such an entry, so an operator who needs git to go direct lists the host without a port.
 *
 * Pure: the caller passes the variables (src/main reads them from the environment).
 */
export interface ProxySettings {
  /** For http:// URLs. */
  http?: URL;
  /** For https:// URLs. */
  https?: URL;
  /** NO_PROXY's entries, as written (trimmed, empty ones dropped). */
  noProxy: readonly string[];
}

export class ProxyConfigError extends Error {
  constructor(message: string) {
    super(`${message}; fix the proxy variable and restart`);
    this.name = "ProxyConfigError";
  }
}

/** Reads the variables (the lower-case name wins, as in curl). Throws ProxyConfigError on a URL that cannot be a proxy. */
export function proxySettingsFrom(source: Record<string, string | undefined>): ProxySettings {
  const pick = (name: string) => {
    const v = source[name.toLowerCase()] ?? source[name.toUpperCase()];
    return v?.trim() ? { name: source[name.toLowerCase()] !== undefined ? name.toLowerCase() : name.toUpperCase(), value: v.trim() } : undefined;
  };
  const all = pick("ALL_PROXY");
  const http = pick("HTTP_PROXY") ?? all;
  const https = pick("HTTPS_PROXY") ?? all;
  const noProxy = (source.no_proxy ?? source.NO_PROXY ?? "").split(/[\s,]+/).map((e) => e.trim()).filter(Boolean);
  return { ...(http ? { http: proxyUrl(http.name, http.value) } : {}), ...(https ? { https: proxyUrl(https.name, https.value) } : {}), noProxy };
}

function proxyUrl(name: string, value: string): URL {
  // curl takes a bare `host:port` as http://host:port.
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ProxyConfigError(`${name}="${redactProxy(value)}" is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ProxyConfigError(`${name} uses ${url.protocol.slice(0, -1)}://, but only http:// and https:// proxies are supported`);
  }
  if (!url.hostname) throw new ProxyConfigError(`${name} has no host`);
  return url;
}

/** The proxies' passwords (decoded), for the redactor. */
export function proxyPasswords(settings: ProxySettings): string[] {
  return [settings.http, settings.https].flatMap((u) => (u?.password ? [decodeURIComponent(u.password)] : []));
}

/** A proxy URL for logs and errors: its password never appears. */
export function redactProxy(value: string | URL): string {
  return String(value).replace(/\/\/([^:/@\s]*):[^@/\s]*@/, "//$1:***@");
}

/** The proxy for this URL, or undefined to go direct. */
export function proxyFor(target: URL | string, settings: ProxySettings): URL | undefined {
  const url = typeof target === "string" ? new URL(target) : target;
  const proxy = url.protocol === "https:" || url.protocol === "wss:" ? settings.https : url.protocol === "http:" || url.protocol === "ws:" ? settings.http : undefined;
  if (!proxy) return undefined;
  const port = Number(url.port || (url.protocol === "https:" || url.protocol === "wss:" ? 443 : 80));
  return bypassesProxy(url.hostname, port, settings.noProxy) ? undefined : proxy;
}

/** Whether NO_PROXY sends `host:port` direct (curl's rules, plus `host:port` entries). */
export function bypassesProxy(host: string, port: number, noProxy: readonly string[]): boolean {
  const name = normalizeHost(host);
  const ipVersion = isIP(name);
  for (const raw of noProxy) {
    if (raw === "*") return true;
    let entry = raw.toLowerCase();
    let entryPort: number | undefined;
    // `host:port`, `[v6]:port` and `v4:port` (a bare IPv6 address has several colons and no port).
    const withPort = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(entry);
    if (withPort) {
      entry = withPort[1]!;
      entryPort = Number(withPort[2]);
    }
    if (entryPort !== undefined && entryPort !== port) continue;
    entry = normalizeHost(entry);
    if (ipVersion) {
      if (entry.includes("/")) {
        if (cidrContains(entry, name, ipVersion)) return true;
      } else if (isIP(entry) && sameAddress(entry, name)) return true;
      continue;
    }
    entry = entry.replace(/^\*?\./, "");
    if (!entry || isIP(entry) || entry.includes("/")) continue;
    if (name === entry || name.endsWith(`.${entry}`)) return true;
  }
  return false;
}

function normalizeHost(host: string): string {
  return host.toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
}

function sameAddress(a: string, b: string): boolean {
  if (isIP(a) !== isIP(b)) return false;
  const list = new BlockList();
  list.addAddress(a, isIP(a) === 6 ? "ipv6" : "ipv4");
  return list.check(b, isIP(b) === 6 ? "ipv6" : "ipv4");
}

function cidrContains(cidr: string, address: string, version: number): boolean {
  const [net, bitsText] = cidr.split("/");
  const bits = Number(bitsText);
  const netVersion = isIP(net ?? "");
  if (!netVersion || netVersion !== version || !Number.isInteger(bits) || bits < 0 || bits > (version === 6 ? 128 : 32)) return false;
  const list = new BlockList();
  const type = version === 6 ? "ipv6" : "ipv4";
  list.addSubnet(net!, bits, type);
  return list.check(address, type);
}

/**
 * The variables for git (curl): the decided proxies under curl's lower-case names (curl ignores
 * upper-case HTTP_PROXY), and NO_PROXY as given. With credentials in a proxy URL, git sends them
 * at once (Basic) rather than waiting for a 407 on the same connection, which many proxies, and
 * every one that closes after a 407, never allow.
 */
export function proxyEnvFor(settings: ProxySettings): Record<string, string> {
  const credentials = !!(settings.http?.username || settings.https?.username);
  return {
    ...(credentials ? { GIT_HTTP_PROXY_AUTHMETHOD: "basic" } : {}),
    ...(settings.http ? { http_proxy: settings.http.href } : {}),
    ...(settings.https ? { https_proxy: settings.https.href, HTTPS_PROXY: settings.https.href } : {}),
    ...(settings.noProxy.length ? { no_proxy: settings.noProxy.join(","), NO_PROXY: settings.noProxy.join(",") } : {}),
  };
}

export const NO_PROXY_SETTINGS: ProxySettings = { noProxy: [] };
