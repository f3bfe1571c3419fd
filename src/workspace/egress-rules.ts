import { isIP } from "node:net";

/**
 * Which hosts a sandbox's setup may reach through the egress proxy (egress-proxy.ts): pure rules,
 * no I/O. An operator writes them as `EGRESS_ALLOW` entries:
 * - `registry.npmjs.org`: that name, on ports 443 and 80;
 * - `*.pythonhosted.org`: any name under it (not the bare suffix itself);
 * - `nexus.example.com:8081`: that name on that port only;
 * - `private:nexus.corp.example:8081`: a name that may resolve to a private address (an
 *   on-premises mirror); without `private:` a name that resolves to a loopback, private,
 *   link-local, metadata or other non-public address is refused;
 * - `127.0.0.1:4873`, `[::1]:4873`: an address literal, exactly (a local mirror; the tests' registry).
 */
export interface EgressRule {
  /** Lower-case name, `*.suffix`, or an address literal. */
  host: string;
  /** Undefined: 443 and 80. */
  port?: number;
  /** The name may resolve to a non-public address (an address literal always may, exactly). */
  privateOk: boolean;
}

/** The public registries of the ecosystems the bot installs from (issue 20's defaults). */
export const DEFAULT_EGRESS_ALLOW: readonly string[] = [
  // npm, yarn, pnpm (and corepack's downloads of yarn and pnpm)
  "registry.npmjs.org",
  "registry.yarnpkg.com",
  "repo.yarnpkg.com",
  // PyPI
  "pypi.org",
  "files.pythonhosted.org",
  // Go modules and checksums
  "proxy.golang.org",
  "sum.golang.org",
  // crates.io
  "index.crates.io",
  "static.crates.io",
  "crates.io",
  // Maven Central and Gradle
  "repo.maven.apache.org",
  "repo1.maven.org",
  "plugins.gradle.org",
  "services.gradle.org",
];

export function parseEgressRule(text: string): EgressRule {
  let t = text.trim().toLowerCase();
  if (t.includes("://") || t.includes("/")) throw new Error(`"${text}" is a URL: write the host name (and port), e.g. registry.npmjs.org or nexus.example.com:8081`);
  const privateOk = t.startsWith("private:");
  if (privateOk) t = t.slice("private:".length);
  let host = t;
  let port: number | undefined;
  const bracket = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/.exec(t);
  if (bracket) {
    host = bracket[1]!;
    port = bracket[2] ? Number(bracket[2]) : undefined;
  } else if (t.split(":").length === 2) {
    const [h, p] = t.split(":") as [string, string];
    host = h;
    if (!/^\d{1,5}$/.test(p)) throw new Error(`"${text}": the port must be a number`);
    port = Number(p);
  }
  if (port !== undefined && (port < 1 || port > 65535)) throw new Error(`"${text}": the port must be 1-65535`);
  const literal = isIP(host) !== 0;
  if (!literal && !/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/.test(host)) {
    throw new Error(`"${text}" is not a host name, *.suffix or address (write e.g. registry.npmjs.org, *.pythonhosted.org, 127.0.0.1:4873)`);
  }
  return { host, ...(port !== undefined ? { port } : {}), privateOk: privateOk || literal };
}

export function parseEgressAllow(entries: readonly string[]): EgressRule[] {
  return entries.filter((e) => e.trim()).map(parseEgressRule);
}

function hostMatches(rule: EgressRule, host: string): boolean {
  if (rule.host.startsWith("*.")) return host.endsWith(rule.host.slice(1)) && host.length > rule.host.length - 1;
  return rule.host === host;
}

/** The rule that lets `host:port` through, if any (names compared in lower case). */
export function matchRule(rules: readonly EgressRule[], host: string, port: number): EgressRule | undefined {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
  return rules.find((r) => hostMatches(r, h) && (r.port === undefined ? port === 443 || port === 80 : r.port === port));
}

/**
 * Is this address one a registry on the public internet has? No: loopback, private (RFC 1918,
 * IPv6 ULA), link-local (169.254/16 with the cloud metadata address, fe80::/10), CGNAT
 * (100.64/10), unspecified, multicast, broadcast, reserved, documentation and benchmark ranges,
 * and the IPv4-mapped and NAT64 forms of any of them.
 */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return isPublicV4(address);
  if (family !== 6) return false;
  const a = address.toLowerCase();
  const mapped = /^(?:0*:)*:?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a) ?? /^64:ff9b::(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (mapped) return isPublicV4(mapped[1]!);
  const groups = expandV6(a);
  if (!groups) return false;
  const first = groups[0]!;
  if (groups.every((g) => g === 0)) return false; // ::
  if (groups.slice(0, 7).every((g) => g === 0) && groups[7] === 1) return false; // ::1
  if ((first & 0xfe00) === 0xfc00) return false; // fc00::/7 unique local (fd00:ec2::254 is AWS metadata)
  if ((first & 0xffc0) === 0xfe80) return false; // fe80::/10 link-local
  if ((first & 0xffc0) === 0xfec0) return false; // fec0::/10 site-local (deprecated)
  if ((first & 0xff00) === 0xff00) return false; // multicast
  if (first === 0x2001 && groups[1] === 0x0db8) return false; // documentation
  if (first === 0x0064 && groups[1] === 0xff9b) return false; // NAT64 (non-dotted form)
  if (first === 0x0100 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0) return false; // discard-only
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return false; // mapped, hex form
  return (first & 0xe000) === 0x2000; // global unicast 2000::/3 only
}

function isPublicV4(address: string): boolean {
  const [a, b, c] = address.split(".").map(Number) as [number, number, number, number];
  if (a === 0 || a === 10 || a === 127) return false;
  if (a === 100 && b >= 64 && b <= 127) return false; // CGNAT
  if (a === 169 && b === 254) return false; // link-local, metadata
  if (a === 172 && b >= 16 && b <= 31) return false;
  if (a === 192 && b === 168) return false;
  if (a === 192 && b === 0 && (c === 0 || c === 2)) return false; // IETF, TEST-NET-1
  if (a === 192 && b === 88 && c === 99) return false; // 6to4 relay
  if (a === 198 && (b === 18 || b === 19)) return false; // benchmarking
  if (a === 198 && b === 51 && c === 100) return false; // TEST-NET-2
  if (a === 203 && b === 0 && c === 113) return false; // TEST-NET-3
  if (a >= 224) return false; // multicast, reserved, broadcast
  return true;
}

function expandV6(a: string): number[] | undefined {
  const [head, tail] = a.split("::") as [string, string | undefined];
  const part = (s: string) => (s ? s.split(":") : []);
  const h = part(head);
  const t = tail === undefined ? [] : part(tail);
  // An embedded dotted quad at the end counts as two groups.
  const last = (t.length ? t : h).at(-1);
  if (last && last.includes(".")) {
    const [w, x, y, z] = last.split(".").map(Number) as [number, number, number, number];
    const list = t.length ? t : h;
    list.splice(list.length - 1, 1, ((w << 8) | x).toString(16), ((y << 8) | z).toString(16));
  }
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  if (fill < 0) return undefined;
  const groups = [...h, ...Array<string>(fill).fill("0"), ...t].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

export type EgressDecision =
  | { ok: true; address: string }
  | { ok: false; reason: "not-allowed" | "private-address" | "unresolved"; detail: string };

/**
 * Decide a request for `host:port` whose name resolved to `addresses`, BEFORE anything is dialed:
 * the host must match a rule, and (unless the rule allows it) every address it resolves to must
 * be public: one private answer among public ones is refused too (a rebinding name). The address
 * to dial is returned, so the connection goes where the check looked, not to a second lookup.
 */
export function decideEgress(rules: readonly EgressRule[], host: string, port: number, addresses: readonly string[]): EgressDecision {
  const rule = matchRule(rules, host, port);
  if (!rule) return { ok: false, reason: "not-allowed", detail: `${host}:${port} is not an allowed registry` };
  if (addresses.length === 0) return { ok: false, reason: "unresolved", detail: `${host} did not resolve` };
  if (!rule.privateOk) {
    const bad = addresses.find((a) => !isPublicAddress(a));
    if (bad) return { ok: false, reason: "private-address", detail: `${host} resolves to ${bad}, which is not a public address` };
  }
  return { ok: true, address: addresses[0]! };
}

/**
 * The rules a worker runs with: `allow` as the operator wrote it (EGRESS_ALLOW; unset: the
 * defaults; `none`: nothing, setup gets no network), plus the registries the operator configured
 * elsewhere (NPM_REGISTRY, UPGRADE_REGISTRIES: URLs), so what the upgrade job may read, setup may
 * install from. Throws on an entry that is not a rule (start-up refuses it).
 */
export function egressRulesFor(allow: string | undefined, registryUrls: readonly string[]): EgressRule[] {
  if (allow?.trim().toLowerCase() === "none") return [];
  const entries = allow ? allow.split(",") : [...DEFAULT_EGRESS_ALLOW];
  const rules = parseEgressAllow(entries);
  for (const u of registryUrls) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new Error(`"${u}" is not a registry URL`);
    }
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const literal = isIP(host) !== 0;
    rules.push({ host: host.toLowerCase(), ...(url.port ? { port: Number(url.port) } : {}), privateOk: literal });
  }
  return rules;
}
