import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { clientAddress } from "../../src/http/client-address.js";
import { createSummaryLog } from "../../src/http/summary-log.js";
import { createWebhookIntake, type RejectionReason } from "../../src/http/webhook-intake.js";
import type { Logger } from "../../src/shared/log.js";
import type { HandlerDeps } from "../../src/webhooks/deps.js";
import { createRouter } from "../../src/webhooks/router.js";

/**
 * The web process's webhook door (webhook-intake.ts + the router) on a spare port, with the
 * handler deps a test chooses: what start-web composes, without Redis or metrics.
 */
export async function startIntakeServer(options: { deps: HandlerDeps; secret: string; log: Logger; path?: string }) {
  const path = options.path ?? "/api/github/webhooks";
  const router = createRouter(options.deps);
  const outcomes: Array<[string, string]> = [];
  const rejected: RejectionReason[] = [];
  const summary = createSummaryLog({ log: options.log, message: "webhook requests rejected", intervalMs: 60_000 });
  const intake = createWebhookIntake({
    secret: options.secret,
    maxBodyBytes: 25 * 1024 * 1024,
    receive: async (d) => {
      const r = await router.receive(d);
      outcomes.push([r.event, r.outcome]);
      return r;
    },
    rejections: summary,
    countRejection: (reason) => void rejected.push(reason),
    clientAddress: (req) => clientAddress(req),
    log: options.log,
  });
  const server: Server = createServer((req, res) => {
    if (new URL(req.url ?? "/", "http://x").pathname === path) void intake(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
    outcomes,
    rejected,
    close: () =>
      new Promise<void>((r) => {
        summary.close();
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
