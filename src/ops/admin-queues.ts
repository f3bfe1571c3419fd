import { dirname } from "node:path";
import { createRequire } from "node:module";
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import type { Queue } from "bullmq";
import type { Route } from "../http/server.js";
import type { Logger } from "../shared/log.js";
import { isSameOrigin } from "./basic-auth.js";
import { refuseLogin, type LoginGuard } from "./login-guard.js";
import { NodeHttpBullBoardAdapter } from "./bull-board-adapter.js";
import { sendText } from "./security-headers.js";

/**
 * `/admin/queues`: Bull Board over the job queues, behind HTTP Basic authentication. Off (404)
 * unless ADMIN_USERNAME and ADMIN_PASSWORD are set: the board can retry, promote and delete jobs,
 * and job data names repositories and issues.
 */
export const ADMIN_QUEUES_PATH = "/admin/queues";

export interface AdminQueuesOptions {
  queues: readonly Queue[];
  /** The operator login, throttled per source address. */
  login: LoginGuard;
  log: Logger;
  /** Shown as the board's title. */
  title?: string;
}

export function adminQueuesRoutes(options: AdminQueuesOptions): Route[] {
  const adapter = new NodeHttpBullBoardAdapter(ADMIN_QUEUES_PATH);
  // Given explicitly: bull-board's default finds the UI with an eval'd require.resolve.
  const uiBasePath = dirname(createRequire(import.meta.url).resolve("@bull-board/ui/package.json"));
  createBullBoard({
    queues: options.queues.map((q) => new BullMQAdapter(q)),
    serverAdapter: adapter,
    options: { uiBasePath, uiConfig: { boardTitle: options.title ?? "iquest-bot queues" } },
  });

  const match = (path: string) => path === ADMIN_QUEUES_PATH || path.startsWith(`${ADMIN_QUEUES_PATH}/`);
  const handle: Route["handle"] = async (req, res, url) => {
    const login = options.login.check(req);
    if (login !== "ok") return refuseLogin(res, options.login, req, login);
    if (req.method !== "GET" && !isSameOrigin(req)) return sendText(res, 403, "cross-site request refused");
    // The board's pages link relative to a trailing slash (<base href="/admin/queues/">).
    if (url.pathname === ADMIN_QUEUES_PATH) {
      res.writeHead(302, { location: `${ADMIN_QUEUES_PATH}/` });
      return void res.end();
    }
    const sub = url.pathname.slice(ADMIN_QUEUES_PATH.length) || "/";
    const handled = await adapter.handle(req, res, sub, url.searchParams);
    if (!handled) sendText(res, 404, "not found");
  };
  return (["GET", "POST", "PUT", "PATCH"] as const).map((method) => ({ method, match, handle }));
}
