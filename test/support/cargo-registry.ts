import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { packTarball } from "./npm-registry/tarball.js";

/**
 * A Cargo sparse registry for tests, on 127.0.0.1 and a free port: `config.json`, one index
 * file per crate (JSON lines at cargo's prefix paths: `1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd…`),
 * and `.crate` downloads (gzipped tar archives under `name-version/`, built at run time, their
 * sha256 in the index as `cksum`). The real cargo resolves and downloads from it; the app's
 * client reads the same index files. Every request is recorded; a crate can be made to fail.
 */
export interface CrateSpec {
  name: string;
  version: string;
  /** src/lib.rs */
  lib: string;
  /** Publish time (the index's optional `pubtime`); `null`: the entry has none. Default: 30 days ago. */
  publishedAt?: Date | null;
  yanked?: boolean;
  /** [dependencies] of the crate: name → requirement. */
  deps?: Record<string, string>;
  /** More files in the crate (CHANGELOG.md, …). */
  files?: Record<string, string>;
}

export interface CargoRegistry {
  /** The registry's index URL as cargo names it: `sparse+http://127.0.0.1:PORT/index/`. */
  index: string;
  /** http://127.0.0.1:PORT, for the egress rule. */
  url: string;
  publish(spec: CrateSpec): void;
  yank(name: string, version: string): void;
  /** Answer `status` for this crate's index file (0: stop). */
  failCrate(name: string, status: number): void;
  requests: Array<{ path: string; status: number }>;
  close(): Promise<void>;
}

export function indexPath(name: string): string {
  const n = name.toLowerCase();
  if (n.length <= 2) return `${n.length}/${n}`;
  if (n.length === 3) return `3/${n[0]}/${n}`;
  return `${n.slice(0, 2)}/${n.slice(2, 4)}/${n}`;
}

export async function startCargoRegistry(): Promise<CargoRegistry> {
  const crates = new Map<string, Array<{ line: Record<string, unknown>; crate: Buffer }>>();
  const failing = new Map<string, number>();
  const requests: CargoRegistry["requests"] = [];
  let base = "";
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const answer = (status: number, body: string | Buffer, type = "application/json") => {
      requests.push({ path, status });
      res.writeHead(status, { "content-type": type, "content-length": String(Buffer.byteLength(body)) });
      res.end(body);
    };
    if (path === "/index/config.json") return answer(200, JSON.stringify({ dl: `${base}/api/v1/crates`, api: base }));
    const dl = /^\/api\/v1\/crates\/([^/]+)\/([^/]+)\/download$/.exec(path);
    if (dl) {
      const entry = crates.get(dl[1]!.toLowerCase())?.find((e) => e.line.vers === dl[2]);
      return entry ? answer(200, entry.crate, "application/gzip") : answer(404, "not found\n", "text/plain");
    }
    const file = /^\/index\/(.+)$/.exec(path);
    if (file) {
      const name = file[1]!.split("/").pop()!;
      const status = failing.get(name.toLowerCase());
      if (status) return answer(status, "injected\n", "text/plain");
      const list = crates.get(name.toLowerCase());
      if (!list || indexPath(name) !== file[1]) return answer(404, "not found\n", "text/plain");
      return answer(200, list.map((e) => JSON.stringify(e.line)).join("\n") + "\n", "text/plain");
    }
    answer(404, "not found\n", "text/plain");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    index: `sparse+${base}/index/`,
    url: base,
    requests,
    publish(spec) {
      const deps = Object.entries(spec.deps ?? {});
      const toml = [
        "[package]",
        `name = "${spec.name}"`,
        `version = "${spec.version}"`,
        'edition = "2021"',
        "",
        "[dependencies]",
        ...deps.map(([n, r]) => `${n} = "${r}"`),
        "",
      ].join("\n");
      const crate = packTarball({ "Cargo.toml": toml, "src/lib.rs": spec.lib, ...spec.files }, `${spec.name}-${spec.version}`);
      const publishedAt = spec.publishedAt === undefined ? new Date(Date.now() - 30 * 24 * 3600_000) : spec.publishedAt;
      const line: Record<string, unknown> = {
        name: spec.name,
        vers: spec.version,
        deps: deps.map(([n, r]) => ({ name: n, req: r, features: [], optional: false, default_features: true, target: null, kind: "normal" })),
        cksum: createHash("sha256").update(crate).digest("hex"),
        features: {},
        yanked: spec.yanked ?? false,
        ...(publishedAt ? { pubtime: publishedAt.toISOString().replace(/\.\d{3}Z$/, "Z") } : {}),
      };
      const key = spec.name.toLowerCase();
      crates.set(key, [...(crates.get(key) ?? []), { line, crate }]);
    },
    yank(name, version) {
      const entry = crates.get(name.toLowerCase())?.find((e) => e.line.vers === version);
      if (!entry) throw new Error(`${name}@${version} is not published`);
      entry.line.yanked = true;
    },
    failCrate(name, status) {
      if (status) failing.set(name.toLowerCase(), status);
      else failing.delete(name.toLowerCase());
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
