import type { Context, Probot } from "probot";
import type { HandlerDeps, Outcome } from "./deps.js";
import { onInstallation } from "./on-installation.js";
import { onIssueComment } from "./on-issue-comment.js";
import { onIssuesLabeled } from "./on-issues-labeled.js";
import { onPullRequest } from "./on-pull-request.js";
import { onCheckRun } from "./on-check-run.js";
import { onPullRequestReview } from "./on-pull-request-review.js";
import { onPush } from "./on-push.js";

/**
 * Registers one small handler per event. Each handler only decides and enqueues; this wrapper
 * counts outcomes and gives a failed enqueue an HTTP status, so Redis trouble answers GitHub
 * with a 5xx (redeliverable) instead of a 2xx for a job that was never stored.
 */
export function createApp(deps: HandlerDeps) {
  return (app: Probot): void => {
    const handle =
      <C extends Context>(handler: (ctx: C, deps: HandlerDeps) => Promise<Outcome>) =>
      async (ctx: C): Promise<void> => {
        const event = `${ctx.name}.${(ctx.payload as { action?: string }).action ?? ""}`.replace(/\.$/, "");
        const started = performance.now();
        const seconds = () => (performance.now() - started) / 1000;
        try {
          const outcome = await handler(ctx, deps);
          deps.record(event, outcome, seconds());
        } catch (err) {
          const e = err as { status?: number; next?: string; name?: string };
          // A payload that is not shaped like the event it claims (a field missing or of another
          // type) is the sender's problem: 400, not 500. GitHub never sends one; a fuzzer does.
          const malformed = err instanceof TypeError || e.name === "ZodError";
          deps.record(event, malformed ? "malformed" : "error", seconds());
          deps.log.error({ deliveryId: ctx.id, event, err, malformed }, "webhook handler failed");
          // Transient (Redis, GitHub 5xx) → 503 so GitHub shows a failed delivery to redeliver.
          if (e.status === undefined) e.status = malformed ? 400 : e.next === "retry" ? 503 : 500;
          throw err;
        }
      };

    app.on("issues.labeled", handle(onIssuesLabeled));
    app.on("issue_comment.created", handle(onIssueComment));
    app.on(
      ["pull_request.opened", "pull_request.synchronize", "pull_request.reopened", "pull_request.ready_for_review"],
      handle(onPullRequest),
    );
    app.on(["installation", "installation_repositories"], handle(onInstallation));
    app.on("push", handle(onPush));
    app.on("pull_request_review.submitted", handle(onPullRequestReview));
    app.on("check_run.completed", handle(onCheckRun));
  };
}
