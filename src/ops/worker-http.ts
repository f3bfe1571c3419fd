import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "../shared/log.js";
import type { Metrics } from "../shared/metrics.js";

/**
 * The worker's own small HTTP port (WORKER_PORT): `/healthz` for the container's HEALTHCHECK and
 * Kubernetes probes, `/metrics` for Prometheus (job durations, model calls, the gate: they live in
 * the worker process, so the web process's /metrics cannot show them), and `/drain` for the
 * Kubernetes preStop hook (bin/drain.mjs): POST stops taking new jobs, GET says whether the
 * running ones are done. The port listens on the pod's address (Prometheus scrapes it), so POST
 * /drain is accepted from loopback only: the hook runs inside the pod, and nobody else on the
 * network may pause a worker.
 */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.replace(/^::ffff:/, "");
  return a === "::1" || /^127\./.test(a);
}

export interface Drain {
  /** Stop taking jobs; running ones go on. Idempotent. */
  start(): void;
  draining(): boolean;
  /** True once draining and no job is running any more. */
  done(): boolean;
}
export interface WorkerHttp {
  port: number;
  close(): Promise<void>;
}

export interface WorkerHealth {
  ok: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

export async function startWorkerHttp(options: {
  port: number;
  host: string;
  metrics: Metrics;
  health: () => Promise<WorkerHealth>;
  drain?: Drain;
  log: Logger;
}): Promise<WorkerHttp> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const send = (status: number, body: string, type = "application/json") => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    if (path === "/drain" && options.drain) {
      if (req.method === "POST") {
        if (!isLoopback(req.socket.remoteAddress)) return send(403, JSON.stringify({ error: "drain is accepted from inside the pod only" }));
        if (!options.drain.draining()) options.log.info("worker: draining (preStop): no new jobs");
        options.drain.start();
        return send(202, JSON.stringify({ draining: true, done: options.drain.done() }));
      }
      if (req.method === "GET") return send(200, JSON.stringify({ draining: options.drain.draining(), done: options.drain.done() }));
    }
    if (req.method !== "GET") return send(405, JSON.stringify({ error: "GET only" }));
    if (path === "/healthz") {
      options.health().then(
        (h) => send(h.ok ? 200 : 503, JSON.stringify(h)),
        (err: unknown) => send(503, JSON.stringify({ ok: false, error: (err as Error).message })),
      );
      return;
    }
    if (path === "/metrics") {
      options.metrics.registry.metrics().then(
        (text) => send(200, text, options.metrics.registry.contentType),
        () => send(500, JSON.stringify({ error: "metrics failed" })),
      );
      return;
    }
    send(404, JSON.stringify({ error: "not found" }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  options.log.info({ port }, "worker: /healthz and /metrics");
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
