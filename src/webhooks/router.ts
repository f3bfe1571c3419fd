import type { EmitterWebhookEventName } from "@octokit/webhooks";
import { IquestError } from "../shared/errors.js";
import type { RawDelivery } from "./delivery.js";
import type { HandlerDeps, Outcome } from "./deps.js";
import { onInstallation } from "./on-installation.js";
import { onIssueComment } from "./on-issue-comment.js";
import { onIssuesLabeled } from "./on-issues-labeled.js";
import { onMembershipChange } from "./on-membership-change.js";
import { onPullRequest } from "./on-pull-request.js";
import { onCheckRun } from "./on-check-run.js";
import { onPullRequestReview } from "./on-pull-request-review.js";
import { onPush } from "./on-push.js";
import { onReviewComment } from "./on-review-comment.js";

/** How a delivery ended: the HTTP status for GitHub, and the decision (counted in /metrics). */
export interface RouteResult {
  status: number;
  /** `event.action`, or the bare event name. */
  event: string;
  outcome: Outcome | "malformed" | "error" | "transient";
  /** The handler's error, for the intake to log (never with the payload). */
  error?: unknown;
}

export interface WebhookRouter {
  /** Run the one handler for this event (if any) and say what to answer. Never throws. */
  receive(delivery: RawDelivery): Promise<RouteResult>;
  /** The events this router handles (for tests and app.yml's `default_events`). */
  events: readonly string[];
}

type Handler = (delivery: never, deps: HandlerDeps) => Promise<Outcome>;

/**
 * One small handler per event, looked up by `event.action` then by `event`. Each handler only
 * decides and enqueues. This replaces Probot's `app.on(...)` for the webhook path: Probot's
 * receive builds an installation Octokit for every delivery (12% of the web process's CPU at
 * 1,500 deliveries a second, measured) that our handlers never use, and logs a failed handler
 * with the whole payload. Handlers are typed by Probot's own event types (@octokit/webhooks).
 */
export function createRouter(deps: HandlerDeps): WebhookRouter {
  const routes = new Map<string, Handler>();
  // Each handler is typed by its own events; here they are only stored (a `never` parameter
  // takes any of them without making the compiler unify every event's payload).
  const on = (names: EmitterWebhookEventName | EmitterWebhookEventName[], handler: (d: never, deps: HandlerDeps) => Promise<Outcome>) => {
    for (const name of Array.isArray(names) ? names : [names]) routes.set(name, handler as Handler);
  };

  on("issues.labeled", onIssuesLabeled);
  on("issue_comment.created", onIssueComment);
  on(["pull_request.opened", "pull_request.synchronize", "pull_request.reopened", "pull_request.ready_for_review"], onPullRequest);
  on(["installation", "installation_repositories"], onInstallation);
  on("push", onPush);
  on("pull_request_review.submitted", onPullRequestReview);
  on("check_run.completed", onCheckRun);
  on("pull_request_review_comment.created", onReviewComment);
  // Who may trigger work is cached for a short while; these events say it changed.
  on(["member", "membership", "organization", "team", "team_add"], onMembershipChange);

  return {
    events: [...routes.keys()],
    async receive(delivery) {
      const action = typeof delivery.payload.action === "string" ? delivery.payload.action : undefined;
      const event = action ? `${delivery.name}.${action}` : delivery.name;
      const handler = routes.get(event) ?? routes.get(delivery.name);
      if (!handler) return { status: 200, event, outcome: "ignored:event" };
      try {
        const outcome = await handler(delivery as never, deps);
        return { status: 200, event, outcome };
      } catch (error) {
        // A payload that is not shaped like the event it claims (a field missing or of another
        // type) is the sender's problem: 400, not 500. GitHub never sends one; a fuzzer with the
        // secret does.
        const name = (error as { name?: string })?.name;
        if (error instanceof TypeError || name === "ZodError") return { status: 400, event, outcome: "malformed", error };
        // Redis or GitHub trouble → 503: GitHub shows a failed delivery, and the reconciler asks
        // for it again.
        const status = (error as { status?: unknown })?.status;
        const transient =
          (error instanceof IquestError && error.next === "retry") ||
          (typeof status === "number" && (status >= 500 || status === 429 || status === 403)) ||
          (error instanceof Error && status === undefined && !(error instanceof IquestError));
        return { status: transient ? 503 : 500, event, outcome: transient ? "transient" : "error", error };
      }
    },
  };
}
