import type { Delivery } from "./delivery.js";
import { deliveryInfo } from "./context.js";
import { enqueueJob } from "./enqueue-job.js";
import type { HandlerDeps, Outcome } from "./deps.js";
import { decideActor, isBot } from "../rules/triggers.js";

/**
 * `issues.labeled` with the repo's fix label (default `iquest:fix`) by a writer → a fix job.
 * Decided from the payload, the cached config and the cached permission: no GitHub call on the
 * way for a repository and user seen in the last half minute.
 */
export async function onIssuesLabeled(delivery: Delivery<"issues.labeled">, deps: HandlerDeps): Promise<Outcome> {
  const { payload } = delivery;
  const info = deliveryInfo(delivery, deps);
  if (!info) return "ignored:no-repository";
  if (isBot(payload.sender)) return "ignored:bot";
  if (payload.issue.state !== "open") return "ignored:closed";
  if (!payload.label) return "ignored:no-label";
  const { config } = await deps.loadConfig(info.github, info.repo, info.repoId);
  if (payload.label.name !== config.fix.label) return "ignored:other-label";
  const permission = await deps.checkPermission(info, payload.sender.login);
  const decision = decideActor(payload.sender, permission);
  if (!decision.allowed) {
    // Nothing visible: a non-writer's label leaves no trace of the bot (no card, no reaction).
    deps.log.info({ deliveryId: info.deliveryId, actor: payload.sender.login, reason: decision.reason }, "fix label ignored");
    return "denied";
  }
  return enqueueJob(
    deps,
    {
      kind: "fix",
      installationId: info.installationId,
      repoId: info.repoId,
      repo: info.fullName,
      deliveryId: info.deliveryId,
      trigger: "label",
      issueNumber: payload.issue.number,
      actor: payload.sender.login,
    },
    `label \`${payload.label.name}\` by @${payload.sender.login}`,
    { sender: payload.sender.login, replyOn: payload.issue.number },
  );
}
