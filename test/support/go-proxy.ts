import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A Go module proxy for tests (the GOPROXY protocol: `<module>/@v/list`, `.info`, `.mod`, `.zip`),
 * on 127.0.0.1 and a free port, serving modules the test publishes; the zips are built at run time
 * in Go's module zip layout (`<module>@<version>/<file>`). `go` in the sandbox downloads from it
 * through the egress proxy, with GOSUMDB=off (there is no checksum database here). Every request
 * is recorded.
 */
export interface GoModuleSpec {
  module: string;
  version: string;
  /** Files of the module; go.mod defaults to `module <module>`. */
  files: Record<string, string>;
  /** Default: 30 days ago. */
  time?: Date;
  /** Serve no zip (lookups only: benchmarks publish thousands of versions). */
  noZip?: boolean;
}

export interface GoProxy {
  url: string;
  publish(spec: GoModuleSpec): void;
  requests: { path: string; status: number }[];
  /** Make every request for this module fail with this status. */
  failModule(module: string, status: number): void;
  close(): Promise<void>;
}

const unescape = (p: string) => p.replace(/!([a-z])/g, (_, c: string) => c.toUpperCase());

function moduleZip(spec: GoModuleSpec, goMod: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), "go-zip-"));
  try {
    const entries = Object.entries({ ...spec.files, "go.mod": goMod }).map(([path, text]) => [`${spec.module}@${spec.version}/${path}`, text]);
    writeFileSync(join(dir, "entries.json"), JSON.stringify(entries));
    execFileSync("/usr/bin/python3", ["-c", "import json,sys,zipfile\nz=zipfile.ZipFile(sys.argv[2],'w')\nfor n,t in json.load(open(sys.argv[1])): z.writestr(n,t)\nz.close()", join(dir, "entries.json"), join(dir, "m.zip")]);
    return readFileSync(join(dir, "m.zip"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startGoProxy(): Promise<GoProxy> {
  const modules = new Map<string, Map<string, { mod: string; zip: Buffer; time: Date }>>();
  const failing = new Map<string, number>();
  const requests: GoProxy["requests"] = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? "/").split("?")[0]!);
    const answer = (status: number, body: string | Buffer, type = "text/plain; charset=utf-8") => {
      requests.push({ path, status });
      res.writeHead(status, { "content-type": type });
      res.end(body);
    };
    const m = /^\/(.+)\/@v\/(list|(.+)\.(info|mod|zip))$/.exec(path);
    if (!m) return answer(404, "not found\n");
    const module = unescape(m[1]!);
    const fail = failing.get(module);
    if (fail) return answer(fail, "failing on purpose\n");
    const versions = modules.get(module);
    if (!versions) return answer(404, `not found: ${module}\n`);
    if (m[2] === "list") return answer(200, [...versions.keys()].map((v) => `${v}\n`).join(""));
    const v = versions.get(unescape(m[3]!));
    if (!v) return answer(404, "not found\n");
    if (m[4] === "info") return answer(200, JSON.stringify({ Version: unescape(m[3]!), Time: v.time.toISOString() }), "application/json");
    if (m[4] === "mod") return answer(200, v.mod);
    return answer(200, v.zip, "application/zip");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    publish(spec) {
      const goMod = spec.files["go.mod"] ?? `module ${spec.module}\n\ngo 1.19\n`;
      const versions = modules.get(spec.module) ?? new Map();
      versions.set(spec.version, { mod: goMod, zip: spec.noZip ? Buffer.alloc(0) : moduleZip(spec, goMod), time: spec.time ?? new Date(Date.now() - 30 * 24 * 3600_000) });
      modules.set(spec.module, versions);
    },
    failModule(module, status) {
      failing.set(module, status);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
