import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Metrics } from "../shared/metrics.js";
import type { Logger } from "../shared/log.js";

export type NodeMiddleware = (req: IncomingMessage, res: ServerResponse, next?: () => void) => unknown;

/** A route the web server serves besides webhooks (admin pages, run viewer). */
export interface Route {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Matches the path; return false to pass. */
  match(path: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> | void;
}

export interface HealthReport {
  ok: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

export interface WebServerOptions {
  webhookPath: string;
  webhooks: NodeMiddleware;
  maxBodyBytes: number;
  health(deep: boolean): Promise<HealthReport>;
  metrics: Metrics;
  log: Logger;
  routes?: Route[];
}

/**
 * The web process's HTTP server. It reads webhook bodies itself, with a size cap and a cap on
 * bytes held in memory across requests, before handing them to Probot's middleware (which
 * verifies the signature before parsing). A 30 MB body is refused from its Content-Length, or
 * cut off as soon as it passes the cap, so memory stays flat under abuse.
 */
export function createWebServer(options: WebServerOptions): Server {
  const maxInflight = options.maxBodyBytes * 4;
  let inflightBytes = 0;

  const finish = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) => {
    if (res.headersSent) return;
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(body);
  };

  const countRejected = (req: IncomingMessage, res: ServerResponse) => {
    res.once("finish", () => {
      if (res.statusCode >= 400) {
        const event = String(req.headers["x-github-event"] ?? "unknown").slice(0, 40);
        options.metrics.webhooks.inc({ event, outcome: `http_${res.statusCode}` });
      }
    });
  };

  const readBody = (req: IncomingMessage, res: ServerResponse): Promise<Buffer | undefined> =>
    new Promise((resolve) => {
      const declared = Number(req.headers["content-length"] ?? "0");
      if (declared > options.maxBodyBytes) {
        finish(res, 413, JSON.stringify({ error: `body larger than ${options.maxBodyBytes} bytes` }), { connection: "close" });
        req.destroy();
        return resolve(undefined);
      }
      if (inflightBytes + Math.max(declared, 0) > maxInflight) {
        finish(res, 503, JSON.stringify({ error: "too many webhook bytes in flight; retry later" }), { "retry-after": "5" });
        req.destroy();
        return resolve(undefined);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      const settle = (value: Buffer | undefined) => {
        if (done) return;
        done = true;
        inflightBytes -= size;
        resolve(value);
      };
      req.on("data", (chunk: Buffer) => {
        if (done) return;
        size += chunk.length;
        inflightBytes += chunk.length;
        if (size > options.maxBodyBytes || inflightBytes > maxInflight) {
          const tooBig = size > options.maxBodyBytes;
          finish(
            res,
            tooBig ? 413 : 503,
            JSON.stringify({ error: tooBig ? `body larger than ${options.maxBodyBytes} bytes` : "too many webhook bytes in flight" }),
            { connection: "close" },
          );
          req.destroy();
          chunks.length = 0;
          return settle(undefined);
        }
        chunks.push(chunk);
      });
      req.on("end", () => settle(Buffer.concat(chunks)));
      req.on("error", () => settle(undefined));
      req.on("close", () => settle(undefined));
    });

  return createServer(async (req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://localhost");
    } catch {
      return finish(res, 400, JSON.stringify({ error: "bad request URL" }));
    }
    try {
      if (url.pathname === options.webhookPath) {
        countRejected(req, res);
        if (req.method !== "POST") return finish(res, 405, JSON.stringify({ error: "POST only" }), { allow: "POST" });
        const body = await readBody(req, res);
        if (!body) return;
        // Probot's middleware takes a pre-read string body and verifies the HMAC over it.
        (req as IncomingMessage & { body?: string }).body = body.toString("utf8");
        const handled = await options.webhooks(req, res);
        if (!handled) finish(res, 404, JSON.stringify({ error: "not found" }));
        return;
      }
      if (req.method === "GET" && url.pathname === "/healthz") {
        const report = await options.health(url.searchParams.get("deep") === "1");
        return finish(res, report.ok ? 200 : 503, JSON.stringify(report));
      }
      if (req.method === "GET" && url.pathname === "/metrics") {
        const text = await options.metrics.registry.metrics();
        return finish(res, 200, text, { "content-type": options.metrics.registry.contentType });
      }
      for (const route of options.routes ?? []) {
        if (req.method === route.method && route.match(url.pathname)) return await route.handle(req, res, url);
      }
      finish(res, 404, JSON.stringify({ error: "not found" }));
    } catch (err) {
      options.log.error({ err, path: url.pathname }, "request failed");
      finish(res, 500, JSON.stringify({ error: "internal error" }));
    }
  });
}
