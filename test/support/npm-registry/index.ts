import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { integrityOf, packTarball } from "./tarball.js";

/**
 * A real npm registry for tests, on 127.0.0.1 and a free port, with no uplink: the real `npm`
 * CLI installs from it and publishes to it, and the app's registry client reads it. It serves
 * what npm needs (full packuments with `time`, tarballs with integrity, ETag/304, publish and
 * deprecate by PUT), and lets a test do what a public registry cannot: set a version's publish
 * time, unpublish a package, and make lookups fail. Every request is recorded.
 *
 * See README.md for why this and not verdaccio.
 */
export interface PublishSpec {
  name: string;
  version: string;
  /** Files in the package besides package.json (e.g. index.js, CHANGELOG.md). */
  files?: Record<string, string>;
  dependencies?: Record<string, string>;
  main?: string;
  /** Extra package.json fields. */
  manifest?: Record<string, unknown>;
  deprecated?: string;
  /** Publish time. Default: 30 days ago, older than any minimum age the tests use. */
  publishedAt?: Date | string;
  /** Dist-tag to point at this version. Default: "latest" for a stable version newer than the current latest. */
  tag?: string;
  repository?: string;
  /** A ready tarball (e.g. from `npm pack`), instead of one packed from `files`. */
  tarball?: Buffer;
}

export interface RegistryRequest {
  method: string;
  path: string;
  kind: "packument" | "tarball" | "publish" | "other";
  /** The package the request is about. */
  name?: string;
  status: number;
  headers: IncomingMessage["headers"];
}

export interface FaultSpec {
  /** Package name; absent matches every package. */
  name?: string;
  kind?: "packument" | "tarball";
  status: number;
  /** How many requests to fail; default: every one. */
  times?: number;
  /** Let this many matching requests through first (a package that vanishes mid-run). */
  after?: number;
}

export interface NpmRegistry {
  /** Base URL with a trailing slash, for `.npmrc`'s `registry=`. */
  url: string;
  port: number;
  /** The `.npmrc` line that lets `npm publish` authenticate. */
  authLine: string;
  publish(spec: PublishSpec): void;
  deprecate(name: string, version: string, message: string): void;
  setTime(name: string, version: string, at: Date | string): void;
  /** The package is gone: 404 from now on. */
  unpublish(name: string): void;
  fail(spec: FaultSpec): { readonly hits: number; cancel(): void };
  requests: RegistryRequest[];
  /** Packument requests, for one package or all. */
  packumentRequests(name?: string): RegistryRequest[];
  close(): Promise<void>;
}

interface StoredVersion {
  manifest: Record<string, unknown>;
  tarball: Buffer;
}

interface StoredPackage {
  name: string;
  versions: Map<string, StoredVersion>;
  time: Record<string, string>;
  distTags: Record<string, string>;
  repository?: string;
}

export const DAY_MS = 24 * 60 * 60 * 1000;
const TOKEN = "test-registry-token";

export async function startNpmRegistry(): Promise<NpmRegistry> {
  const packages = new Map<string, StoredPackage>();
  const faults: Array<FaultSpec & { hits: number; passed: number; cancelled: boolean }> = [];
  const requests: RegistryRequest[] = [];
  let base = "";

  const tarballName = (name: string, version: string) => `${name.includes("/") ? name.split("/")[1] : name}-${version}.tgz`;

  function doc(pkg: StoredPackage) {
    const versions: Record<string, unknown> = {};
    for (const [v, stored] of pkg.versions) {
      const { shasum, integrity } = integrityOf(stored.tarball);
      versions[v] = { ...stored.manifest, dist: { tarball: `${base}${pkg.name}/-/${tarballName(pkg.name, v)}`, shasum, integrity } };
    }
    const times = Object.values(pkg.time).sort();
    return {
      _id: pkg.name,
      name: pkg.name,
      "dist-tags": pkg.distTags,
      versions,
      time: { created: times[0], modified: times[times.length - 1], ...pkg.time },
      ...(pkg.repository ? { repository: { type: "git", url: pkg.repository } } : {}),
    };
  }

  function store(name: string): StoredPackage {
    let pkg = packages.get(name);
    if (!pkg) {
      pkg = { name, versions: new Map(), time: {}, distTags: {} };
      packages.set(name, pkg);
    }
    return pkg;
  }

  function retag(pkg: StoredPackage, version: string, tag?: string) {
    if (tag) {
      pkg.distTags[tag] = version;
      return;
    }
    if (/-/.test(version)) return;
    const latest = pkg.distTags.latest;
    if (!latest || compare(version, latest) > 0) pkg.distTags.latest = version;
  }

  function publish(spec: PublishSpec): void {
    const pkg = store(spec.name);
    const manifest: Record<string, unknown> = {
      name: spec.name,
      version: spec.version,
      main: spec.main ?? "index.js",
      ...(spec.dependencies ? { dependencies: spec.dependencies } : {}),
      ...(spec.deprecated ? { deprecated: spec.deprecated } : {}),
      ...(spec.repository ? { repository: { type: "git", url: spec.repository } } : {}),
      ...spec.manifest,
    };
    const packageJson = JSON.stringify(Object.fromEntries(Object.entries(manifest).filter(([k]) => k !== "deprecated")), null, 2);
    const tarball = spec.tarball ?? packTarball({ "package.json": packageJson, ...(spec.files ?? { "index.js": "module.exports = {};\n" }) });
    pkg.versions.set(spec.version, { manifest, tarball });
    pkg.time[spec.version] = new Date(spec.publishedAt ?? Date.now() - 30 * DAY_MS).toISOString();
    if (spec.repository) pkg.repository = spec.repository;
    retag(pkg, spec.version, spec.tag);
  }

  /** `npm publish` and `npm deprecate` PUT the whole document (publish with `_attachments`). */
  function putDocument(name: string, body: Record<string, unknown>): number {
    const versions = (body.versions ?? {}) as Record<string, Record<string, unknown>>;
    const attachments = (body._attachments ?? {}) as Record<string, { data: string }>;
    const pkg = store(name);
    for (const [version, manifest] of Object.entries(versions)) {
      const existing = pkg.versions.get(version);
      // npm names the attachment "<name>-<version>.tgz" (scope included); one per publish.
      const attachment = attachments[`${name}-${version}.tgz`] ?? attachments[tarballName(name, version)] ?? Object.values(attachments)[0];
      if (existing && !attachment) {
        // deprecate (or un-deprecate): only `deprecated` changes
        const { dist: _dist, ...rest } = manifest;
        existing.manifest = { ...existing.manifest, deprecated: rest.deprecated };
        if (!rest.deprecated) delete existing.manifest.deprecated;
        continue;
      }
      if (existing) return 403; // a version cannot be published twice
      if (!attachment) return 400;
      const { dist: _dist, ...rest } = manifest;
      pkg.versions.set(version, { manifest: rest, tarball: Buffer.from(attachment.data, "base64") });
      pkg.time[version] = new Date().toISOString();
      const tags = (body["dist-tags"] ?? {}) as Record<string, string>;
      const tag = Object.keys(tags).find((t) => tags[t] === version);
      retag(pkg, version, tag);
    }
    return 201;
  }

  function parse(path: string): { kind: RegistryRequest["kind"]; name?: string; file?: string; version?: string } {
    const decoded = decodeURIComponent(path.split("?")[0]!).replace(/^\//, "");
    if (decoded.startsWith("-/")) return { kind: "other" };
    const m = /^((?:@[^/]+\/)?[^/@][^/]*)(?:\/-\/(.+))?$/.exec(decoded);
    // `GET /<name>/<version>`: one version's manifest (what corepack asks for).
    const one = /^((?:@[^/]+\/)?[^/@][^/]*)\/(\d+\.\d+\.\d+[^/]*)$/.exec(decoded);
    if (one) return { kind: "packument", name: one[1], version: one[2] };
    if (!m) return { kind: "other" };
    return m[2] ? { kind: "tarball", name: m[1], file: m[2] } : { kind: "packument", name: m[1] };
  }

  function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) {
    const data = body === undefined ? "" : Buffer.isBuffer(body) ? body : JSON.stringify(body);
    res.writeHead(status, { "content-length": String(Buffer.byteLength(data)), ...headers });
    res.end(data);
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "/";
      const target = parse(path);
      const kind: RegistryRequest["kind"] = req.method === "PUT" ? "publish" : target.kind;
      const record: RegistryRequest = { method: req.method ?? "GET", path, kind, ...(target.name ? { name: target.name } : {}), status: 0, headers: req.headers };
      requests.push(record);
      const reply = (status: number, body?: unknown, headers?: Record<string, string>) => {
        record.status = status;
        send(res, status, body, headers);
      };
      const fault = faults.find(
        (f) => !f.cancelled && (f.times === undefined || f.hits < f.times) && (!f.name || f.name === target.name) && (!f.kind || f.kind === kind) && kind !== "publish",
      );
      if (fault && fault.passed < (fault.after ?? 0)) fault.passed++;
      else if (fault) {
        fault.hits++;
        return reply(fault.status, { error: `injected ${fault.status}` });
      }
      if (path === "/-/ping" || path.startsWith("/-/ping?")) return reply(200, {});
      if (path === "/-/whoami") return reply(200, { username: "test" });
      // For a registry in another process (the benchmark): what it has served so far.
      if (path === "/-/stats") {
        requests.pop();
        const count = (k: RegistryRequest["kind"]) => requests.filter((r) => r.kind === k).length;
        return send(res, 200, { packument: count("packument"), tarball: count("tarball"), notModified: requests.filter((r) => r.status === 304).length, names: new Set(requests.filter((r) => r.kind === "packument").map((r) => r.name)).size });
      }
      if (req.method === "PUT" && target.kind === "packument" && target.name) {
        if (req.headers.authorization !== `Bearer ${TOKEN}`) return reply(401, { error: "authentication required" });
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
        } catch {
          return reply(400, { error: "bad json" });
        }
        const status = putDocument(target.name, body);
        return reply(status, status < 300 ? { ok: true } : { error: "refused" });
      }
      if (req.method !== "GET" && req.method !== "HEAD") return reply(405, { error: "method not allowed" });
      const pkg = target.name ? packages.get(target.name) : undefined;
      if (!pkg || pkg.versions.size === 0) return reply(404, { error: "Not found" });
      if (target.kind === "tarball") {
        const version = [...pkg.versions.keys()].find((v) => tarballName(pkg.name, v) === target.file);
        if (!version) return reply(404, { error: "Not found" });
        return reply(200, pkg.versions.get(version)!.tarball, { "content-type": "application/octet-stream" });
      }
      if (target.version) {
        const one = (doc(pkg).versions as Record<string, unknown>)[target.version];
        return one ? reply(200, one) : reply(404, { error: "Not found" });
      }
      const body = JSON.stringify(doc(pkg));
      const etag = `"${createHash("sha1").update(body).digest("hex")}"`;
      if (req.headers["if-none-match"] === etag) return reply(304, undefined, { etag });
      return reply(200, Buffer.from(body), { "content-type": "application/json", etag });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}/`;

  return {
    url: base,
    port,
    authLine: `//127.0.0.1:${port}/:_authToken=${TOKEN}`,
    publish,
    deprecate(name, version, message) {
      const v = packages.get(name)?.versions.get(version);
      if (!v) throw new Error(`${name}@${version} is not published`);
      v.manifest.deprecated = message;
    },
    setTime(name, version, at) {
      const pkg = packages.get(name);
      if (!pkg?.versions.has(version)) throw new Error(`${name}@${version} is not published`);
      pkg.time[version] = new Date(at).toISOString();
    },
    unpublish(name) {
      packages.delete(name);
    },
    fail(spec) {
      const fault = { ...spec, hits: 0, passed: 0, cancelled: false };
      faults.push(fault);
      return {
        get hits() {
          return fault.hits;
        },
        cancel() {
          fault.cancelled = true;
        },
      };
    },
    requests,
    packumentRequests: (name) => requests.filter((r) => r.kind === "packument" && (!name || r.name === name)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Compare two plain x.y.z[-pre] versions (enough for dist-tags here; semver rules for the core). */
function compare(a: string, b: string): number {
  const pa = a.split(/[.-]/).slice(0, 3).map(Number);
  const pb = b.split(/[.-]/).slice(0, 3).map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}
