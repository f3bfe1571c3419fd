import { spawn } from "node:child_process";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Real git smart HTTP (`git http-backend` as CGI) over bare repositories under `root`, guarded
 * like GitHub: every request must carry `Authorization: Basic base64(x-access-token:<token>)`.
 * It records what it saw, so tests can check where the token travelled (header, never URL).
 */

export interface SeenRequest {
  method: string;
  url: string;
  authorization: string | undefined;
  status: number;
}

export interface GitHttpServer {
  /** `http://127.0.0.1:<port>`: use as gitBaseUrl (like GHE_PROTOCOL=http, GHE_HOST=127.0.0.1:<port>). */
  baseUrl: string;
  seen: SeenRequest[];
  setToken(token: string): void;
  close(): Promise<void>;
}

export async function startGitHttpServer(root: string, token: string): Promise<GitHttpServer> {
  let expected = token;
  const seen: SeenRequest[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const auth = req.headers.authorization;
    const ok = auth === `Basic ${Buffer.from(`x-access-token:${expected}`).toString("base64")}`;
    const record = (status: number) => seen.push({ method: req.method ?? "", url: req.url ?? "", authorization: auth, status });
    if (!ok) {
      record(401);
      res.writeHead(401, { "WWW-Authenticate": 'Basic realm="GitHub"' });
      res.end("Bad credentials");
      return;
    }
    const cgi = spawn("git", ["http-backend"], {
      env: {
        PATH: "/usr/bin:/bin",
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: "1",
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_CONFIG_GLOBAL: "/dev/null",
        HOME: "/nonexistent",
        REQUEST_METHOD: req.method ?? "GET",
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers["content-type"] ?? "",
        ...(req.headers["content-encoding"] ? { HTTP_CONTENT_ENCODING: String(req.headers["content-encoding"]) } : {}),
        ...(req.headers["git-protocol"] ? { GIT_PROTOCOL: String(req.headers["git-protocol"]) } : {}),
        REMOTE_USER: "x-access-token",
        REMOTE_ADDR: "127.0.0.1",
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    req.pipe(cgi.stdin);
    let buffer = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on("data", (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of buffer.subarray(0, end).toString().split("\r\n")) {
        const i = line.indexOf(":");
        const k = line.slice(0, i).trim();
        const v = line.slice(i + 1).trim();
        if (k.toLowerCase() === "status") status = Number(v.split(" ")[0]);
        else headers[k] = v;
      }
      record(status);
      res.writeHead(status, headers);
      res.write(buffer.subarray(end + 4));
    });
    cgi.stdout.on("end", () => res.end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    seen,
    setToken(t) {
      expected = t;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
