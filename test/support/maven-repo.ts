import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join, normalize } from "node:path";

/**
 * A Maven repository for tests, on 127.0.0.1 and a free port: a Maven repository is static files
 * in a fixed layout (group/artifact/version/artifact-version.ext), so this serves a directory
 * that has that layout. Here that is Debian's /usr/share/maven-repo (the plugins and JUnit that
 * Debian's maven packages install), standing in for Maven Central, which this machine cannot
 * reach. Every request is recorded.
 */
export interface MavenRepo {
  url: string;
  requests: { method: string; path: string; status: number }[];
  close(): Promise<void>;
}

export async function startMavenRepo(root: string): Promise<MavenRepo> {
  const requests: MavenRepo["requests"] = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? "/").split("?")[0]!);
    const file = join(root, normalize(path).replace(/^(\.\.[/\\])+/, ""));
    const status = (() => {
      if (req.method !== "GET" && req.method !== "HEAD") return 405;
      if (!file.startsWith(root)) return 404;
      try {
        return statSync(file).isFile() ? 200 : 404;
      } catch {
        return 404;
      }
    })();
    requests.push({ method: req.method ?? "", path, status });
    if (status !== 200) {
      res.writeHead(status, { "content-type": "text/plain" });
      return res.end(`${status}\n`);
    }
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": statSync(file).size });
    if (req.method === "HEAD") return res.end();
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
