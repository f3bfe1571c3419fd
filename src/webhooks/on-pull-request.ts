import type { Delivery } from "./delivery.js";
import { deliveryInfo } from "./context.js";
import { enqueueJob } from "./enqueue-job.js";
import type { HandlerDeps, Outcome } from "./deps.js";
import { isBot } from "../rules/triggers.js";

type PullRequestEvent =
  | "pull_request.opened"
  | "pull_request.synchronize"
  | "pull_request.reopened"
  | "pull_request.ready_for_review";

/**
 * A PR opened, updated, reopened or marked ready → a review job, unless review is off in the
 * repo config, the PR is a draft, or a bot opened it (including this app: no self-review
 * loops). New commits supersede a review that is still running on an older head.
 */
export async function onPullRequest(delivery: Delivery<PullRequestEvent>, deps: HandlerDeps): Promise<Outcome> {
  const { payload } = delivery;
  const info = deliveryInfo(delivery, deps);
  if (!info) return "ignored:no-repository";
  const pr = payload.pull_request;
  if (pr.state !== "open") return "ignored:closed";
  if (pr.draft) return "ignored:draft";
  if (isBot(pr.user) || isBot(payload.sender)) return "ignored:bot";
  const { config } = await deps.loadConfig(info.github, info.repo, info.repoId);
  if (!config.review.enabled) return "ignored:review-disabled";
  if (payload.action === "synchronize") {
    await deps.enqueuer.cancel("review", `review-${info.repoId}-${pr.number}`, "superseded");
  }
  return enqueueJob(
    deps,
    {
      kind: "review",
      installationId: info.installationId,
      repoId: info.repoId,
      repo: info.fullName,
      deliveryId: info.deliveryId,
      trigger: "pull_request",
      prNumber: pr.number,
      headSha: pr.head.sha,
    },
    `${payload.action} by @${payload.sender.login}`,
  );
}
