import type { Delivery } from "./delivery.js";
import { parseCommand } from "../rules/commands.js";
import { decideActor, isBot } from "../rules/triggers.js";
import { deliveryInfo } from "./context.js";
import { enqueueJob } from "./enqueue-job.js";
import type { HandlerDeps, Outcome } from "./deps.js";

/**
 * A reply in a review thread → an answer job, when it could be meant for the bot: it starts
 * with `/iquest` (`/iquest apply` applies the thread's suggestion) or mentions someone (the
 * worker checks that the mention is the bot's and that the thread is on the bot's comment: the
 * payload says neither, and this path makes no GitHub call). Writers only, bots ignored, fail
 * closed on permissions (a failed lookup is not a yes).
 */
export async function onReviewComment(delivery: Delivery<"pull_request_review_comment.created">, deps: HandlerDeps): Promise<Outcome> {
  const { payload } = delivery;
  const info = deliveryInfo(delivery, deps);
  if (!info) return "ignored:no-repository";
  const comment = payload.comment;
  if (isBot(payload.sender) || isBot(comment.user)) return "ignored:bot";
  if (!comment.in_reply_to_id) return "ignored:not-a-reply";
  if (payload.pull_request.state !== "open") return "ignored:closed";
  const command = parseCommand(comment.body);
  const apply = command?.kind === "other" && command.word === "apply";
  if (!command && !/(^|[^\w`])@[A-Za-z0-9][A-Za-z0-9-]*(\[bot\])?\b/.test(comment.body)) return "ignored:not-for-the-bot";
  const login = comment.user?.login;
  if (!login) return "ignored:no-user";
  const decision = decideActor(comment.user, await deps.checkPermission(info, login));
  if (!decision.allowed) {
    deps.log.info({ deliveryId: info.deliveryId, actor: login, reason: decision.reason }, "thread reply denied");
    return "denied";
  }
  return enqueueJob(
    deps,
    {
      kind: "answer",
      mode: apply ? "apply" : "answer",
      installationId: info.installationId,
      repoId: info.repoId,
      repo: info.fullName,
      deliveryId: info.deliveryId,
      trigger: "review_comment",
      prNumber: payload.pull_request.number,
      commentId: comment.id,
      actor: login,
    },
    `thread reply by @${login}`,
    { sender: login },
  );
}
