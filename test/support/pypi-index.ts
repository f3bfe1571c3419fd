import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/**
 * A Python package index for tests (PEP 503 "simple" pages, the protocol pip speaks), on
 * 127.0.0.1 and a free port, with no uplink: pip in the sandbox installs from it through the
 * egress proxy. It serves only the files a test adds: wheels the test builds at run time with
 * this machine's own pip (`buildWheel`), or wheels already on the machine (Debian's
 * /usr/share/python-wheels). Every request is recorded.
 */
export interface PypiIndex {
  /** The index URL for pip's `--index-url`: http://127.0.0.1:PORT/simple/ */
  simple: string;
  /** The server's origin, for the egress rule. */
  url: string;
  /** `uploadedAt`: the upload time the JSON API gives (default: 30 days ago). */
  add(file: string, uploadedAt?: Date): void;
  requests: { path: string; status: number }[];
  close(): Promise<void>;
}

/** PEP 503 normalisation: runs of -, _ and . become one -, lower case. */
export const normalizeName = (name: string) => name.toLowerCase().replace(/[-_.]+/g, "-");

/** The project a wheel or sdist file belongs to (the file name's first field). */
const projectOf = (file: string) => normalizeName(basename(file).split("-")[0]!);

export async function startPypiIndex(): Promise<PypiIndex> {
  const files = new Map<string, { path: string; sha256: string; uploadedAt: Date }[]>();
  const byName = new Map<string, string>();
  const requests: PypiIndex["requests"] = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? "/").split("?")[0]!);
    const answer = (status: number, body: string | Buffer, type = "text/html") => {
      requests.push({ path, status });
      res.writeHead(status, { "content-type": type });
      res.end(body);
    };
    if (path === "/simple/") {
      return answer(200, `<!DOCTYPE html><html><body>\n${[...files.keys()].map((n) => `<a href="/simple/${n}/">${n}</a>`).join("\n")}\n</body></html>\n`);
    }
    const project = /^\/simple\/([^/]+)\/?$/.exec(path);
    if (project) {
      const list = files.get(normalizeName(project[1]!));
      if (!list) return answer(404, "not found\n", "text/plain");
      // PEP 691: the JSON form when asked for it, with PEP 700's upload-time.
      if (/application\/vnd\.pypi\.simple\.v1\+json/.test(String(req.headers.accept ?? ""))) {
        const json = { meta: { "api-version": "1.1" }, name: normalizeName(project[1]!), files: list.map((f) => ({ filename: basename(f.path), url: `/files/${basename(f.path)}`, hashes: { sha256: f.sha256 }, "upload-time": f.uploadedAt.toISOString() })) };
        return answer(200, JSON.stringify(json), "application/vnd.pypi.simple.v1+json");
      }
      const links = list.map((f) => `<a href="/files/${basename(f.path)}#sha256=${f.sha256}">${basename(f.path)}</a>`);
      return answer(200, `<!DOCTYPE html><html><body>\n${links.join("<br>\n")}\n</body></html>\n`);
    }
    const file = /^\/files\/([^/]+)$/.exec(path);
    const found = file ? byName.get(file[1]!) : undefined;
    if (found) return answer(200, readFileSync(found), "application/octet-stream");
    answer(404, "not found\n", "text/plain");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    simple: `${url}/simple/`,
    requests,
    add(file, uploadedAt = new Date(Date.now() - 30 * 24 * 3600_000)) {
      const name = projectOf(file);
      const sha256 = createHash("sha256").update(readFileSync(file)).digest("hex");
      files.set(name, [...(files.get(name) ?? []), { path: file, sha256, uploadedAt }]);
      byName.set(basename(file), file);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface WheelSpec {
  name: string;
  version: string;
  /** Module files, e.g. { "greeter/__init__.py": "..." }. */
  files: Record<string, string>;
  requires?: string[];
}

/**
 * Builds a pure-Python wheel with this machine's own pip and setuptools (offline: no build
 * isolation, no index), into `outDir`. Returns the wheel's path.
 */
export async function buildWheel(outDir: string, spec: WheelSpec): Promise<string> {
  const src = mkdtempSync(join(tmpdir(), "wheel-src-"));
  try {
    const packages = [...new Set(Object.keys(spec.files).map((f) => dirname(f)).filter((d) => d !== "."))];
    writeFileSync(
      join(src, "setup.py"),
      `from setuptools import setup\nsetup(name=${JSON.stringify(spec.name)}, version=${JSON.stringify(spec.version)}, packages=${JSON.stringify(packages)}, install_requires=${JSON.stringify(spec.requires ?? [])})\n`,
    );
    for (const [rel, text] of Object.entries(spec.files)) {
      mkdirSync(dirname(join(src, rel)), { recursive: true });
      writeFileSync(join(src, rel), text);
    }
    mkdirSync(outDir, { recursive: true });
    const before = new Set(readdirSync(outDir));
    await execFileAsync("/usr/bin/python3", ["-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-w", outDir, src], {
      env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: "1" },
    });
    const made = readdirSync(outDir).find((f) => !before.has(f) && f.endsWith(".whl"));
    if (!made) throw new Error(`pip wheel built no wheel for ${spec.name} ${spec.version}`);
    return join(outDir, made);
  } finally {
    rmSync(src, { recursive: true, force: true });
  }
}
