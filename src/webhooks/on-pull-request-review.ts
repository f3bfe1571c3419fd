import type { Delivery } from "./delivery.js";
import { botFixPull } from "../rules/branches.js";
import { decideActor, isBot } from "../rules/triggers.js";
import { deliveryInfo } from "./context.js";
import { enqueueJob } from "./enqueue-job.js";
import type { HandlerDeps, Outcome } from "./deps.js";

/** A writer's review that requests changes on the bot's fix PR → a feedback round on that branch. */
export async function onPullRequestReview(delivery: Delivery<"pull_request_review.submitted">, deps: HandlerDeps): Promise<Outcome> {
  const { payload } = delivery;
  const info = deliveryInfo(delivery, deps);
  if (!info) return "ignored:no-repository";
  if (payload.review.state !== "changes_requested") return "ignored:not-changes-requested";
  if (isBot(payload.review.user) || isBot(payload.sender)) return "ignored:bot";
  const fixIssue = botFixPull(payload.pull_request, info.fullName);
  if (fixIssue === undefined) return "ignored:not-a-bot-pr";
  if (payload.pull_request.state !== "open") return "ignored:closed";
  const login = payload.review.user!.login;
  const decision = decideActor(payload.review.user, await deps.checkPermission(info, login));
  if (!decision.allowed) return "denied";
  return enqueueJob(
    deps,
    {
      kind: "fix",
      mode: "feedback",
      installationId: info.installationId,
      repoId: info.repoId,
      repo: info.fullName,
      deliveryId: info.deliveryId,
      trigger: "review",
      issueNumber: fixIssue,
      prNumber: payload.pull_request.number,
      reviewId: payload.review.id,
      actor: login,
    },
    `review by @${login}`,
    { sender: login, replyOn: payload.pull_request.number },
  );
}
