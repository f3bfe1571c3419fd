import type { Queue } from "bullmq";
import type { Env } from "../config/env.js";
import type { Route } from "../http/server.js";
import { runLinks } from "../runs/run-links.js";
import type { Logger } from "../shared/log.js";
import type { Redact } from "../shared/redact.js";
import { adminQueuesRoutes } from "./admin-queues.js";
import type { BasicCredentials } from "./basic-auth.js";
import type { LoginGuard } from "./login-guard.js";
import { runViewerRoutes } from "./run-viewer.js";

/**
 * The web process's pages for people: the run viewer (always, when a webhook secret exists to
 * sign links) and the queue dashboard (only with admin credentials).
 */
export function adminCredentials(env: Pick<Env, "ADMIN_USERNAME" | "ADMIN_PASSWORD">): BasicCredentials | undefined {
  return env.ADMIN_USERNAME && env.ADMIN_PASSWORD ? { username: env.ADMIN_USERNAME, password: env.ADMIN_PASSWORD } : undefined;
}

/**
 * `login` is the throttled operator login (login-guard.ts), built by the composition root from
 * `adminCredentials(env)`; without it the admin pages are off and private runs are shown to no one.
 */
export function createOpsRoutes(options: { env: Env; queues: readonly Queue[]; log: Logger; redact: Redact; login?: LoginGuard }): Route[] {
  const { env, log, redact } = options;
  const admin = options.login;
  const routes: Route[] = [...runViewerRoutes({ links: runLinks(env, redact), admin, redact, log })];
  if (admin) routes.push(...adminQueuesRoutes({ queues: options.queues, login: admin, log }));
  log.info(
    { runViewer: true, adminQueues: !!admin, publicUrl: env.PUBLIC_URL ?? null },
    admin ? "pages: /runs/<job id>, /admin/queues (basic auth)" : "pages: /runs/<job id>; /admin/queues is off (no ADMIN_USERNAME/ADMIN_PASSWORD)",
  );
  return routes;
}
