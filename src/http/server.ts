import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Metrics } from "../shared/metrics.js";
import type { Logger } from "../shared/log.js";

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

/** Who may read /metrics: anyone who reaches the port (a private scrape), or a bearer token. */
export interface MetricsAccess {
  /** Serve /metrics on this server (false when METRICS_PORT gives it a listener of its own). */
  serve: boolean;
  /** METRICS_TOKEN: required as `Authorization: Bearer <token>`. */
  token?: string;
}

export interface WebServerOptions {
  webhookPath: string;
  /** The webhook door (webhook-intake.ts): verifies, parses, runs the handler, answers. */
  webhook: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
  health(deep: boolean): Promise<HealthReport>;
  metrics: Metrics;
  metricsAccess?: MetricsAccess;
  log: Logger;
  routes?: Route[];
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Compare a request's bearer token with the configured one, in constant time. */
export function bearerMatches(req: IncomingMessage, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(String(req.headers.authorization ?? ""));
  return !!m && timingSafeEqual(digest(m[1]!), digest(token));
}

/** GET /metrics, with the token check when one is configured. */
export async function serveMetrics(req: IncomingMessage, res: ServerResponse, metrics: Metrics, token?: string): Promise<void> {
  if (token && !bearerMatches(req, token)) {
    res.writeHead(401, { "content-type": "text/plain", "www-authenticate": 'Bearer realm="metrics"' });
    res.end("metrics need METRICS_TOKEN as a bearer token\n");
    return;
  }
  const text = await metrics.registry.metrics();
  res.writeHead(200, { "content-type": metrics.registry.contentType });
  res.end(text);
}

/**
 * The web process's HTTP server: the webhook door, health, metrics and the pages. Webhook
 * bodies are read and verified by webhook-intake.ts, before anything is parsed.
 */
export function createWebServer(options: WebServerOptions): Server {
  const metricsAccess = options.metricsAccess ?? { serve: true };
  const finish = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) => {
    if (res.headersSent) return;
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(body);
  };

  const server = createServer(async (req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://localhost");
    } catch {
      return finish(res, 400, JSON.stringify({ error: "bad request URL" }));
    }
    try {
      if (url.pathname === options.webhookPath) return await options.webhook(req, res);
      if (req.method === "GET" && url.pathname === "/healthz") {
        const report = await options.health(url.searchParams.get("deep") === "1");
        return finish(res, report.ok ? 200 : 503, JSON.stringify(report));
      }
      if (req.method === "GET" && url.pathname === "/metrics" && metricsAccess.serve) {
        return await serveMetrics(req, res, options.metrics, metricsAccess.token);
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
  // `Expect: 100-continue` (curl sends it for bodies over 1 MB): Node would answer "100 Continue"
  // before any handler runs, inviting a 30 MB upload the door then refuses mid-stream. The door
  // answers it itself once the headers pass (webhook-intake.ts); every other route gets the usual
  // 100 at once.
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
    if ((req.url ?? "").split("?")[0] !== options.webhookPath) res.writeContinue();
    server.emit("request", req, res);
  });
  return server;
}
