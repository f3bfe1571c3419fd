import { parseCommand } from "../rules/commands.js";
import type { Delivery } from "./delivery.js";
import { deliveryInfo } from "./context.js";
import { enqueueJob, notify, type Asker, type JobBase } from "./enqueue-job.js";
import type { HandlerDeps, Outcome } from "./deps.js";
import { botFixPull } from "../rules/branches.js";
import { decideActor, isBot } from "../rules/triggers.js";

/**
 * `/iquest <command>` in a new comment. Only writers get anything done; a command from anyone
 * else leaves no trace (no reply, no reaction, no job): a spammer gets nothing to multiply.
 * Replies (help, unknown commands, "this issue is closed", …) are notify jobs: the worker
 * writes them once, so the webhook path makes no GitHub write. The only GitHub read left here
 * is the PR itself, for commands on a pull request (is it the bot's own? its head?).
 */
export async function onIssueComment(delivery: Delivery<"issue_comment.created">, deps: HandlerDeps): Promise<Outcome> {
  const { payload } = delivery;
  const info = deliveryInfo(delivery, deps);
  if (!info) return "ignored:no-repository";
  if (isBot(payload.sender) || isBot(payload.comment.user)) return "ignored:bot";
  const command = parseCommand(payload.comment.body);
  if (!command) return "ignored:no-command";

  const permission = await deps.checkPermission(info, payload.sender.login);
  const decision = decideActor(payload.sender, permission);
  if (!decision.allowed) {
    deps.log.info({ deliveryId: info.deliveryId, actor: payload.sender.login, reason: decision.reason }, "command denied");
    return "denied";
  }

  const issue = payload.issue;
  const isPullRequest = Boolean(issue.pull_request);
  const base: JobBase = {
    installationId: info.installationId,
    repoId: info.repoId,
    repo: info.fullName,
    deliveryId: info.deliveryId,
    trigger: "comment",
    commentId: payload.comment.id,
    actor: payload.sender.login,
  };
  const asker: Asker = { sender: payload.sender.login, replyOn: issue.number };
  const reply = (reason: Parameters<typeof notify>[2]) => notify(deps, base, reason, { issueNumber: issue.number }, asker);
  const who = `\`/iquest ${command.kind === "other" ? command.word : command.kind}\` by @${payload.sender.login}`;
  // On the bot's own fix PR, `/iquest <anything>` (and `/iquest fix [notes]`) is feedback for
  // another round on the same branch.
  const feedbackRound = async (): Promise<Outcome | undefined> => {
    if (!isPullRequest) return undefined;
    const { data: pr } = await info.github.rest.pulls.get({ ...info.repo, pull_number: issue.number });
    const fixIssue = botFixPull(pr, info.fullName);
    if (fixIssue === undefined) return undefined;
    if (pr.state !== "open") return reply("pr-closed");
    return enqueueJob(deps, { ...base, kind: "fix", mode: "feedback", issueNumber: fixIssue, prNumber: pr.number }, who, asker);
  };

  switch (command.kind) {
    case "help":
      return reply("help");
    case "other":
      return (await feedbackRound()) ?? reply("unknown-command");
    case "fix": {
      if (isPullRequest) return (await feedbackRound()) ?? reply("fix-on-pr");
      if (issue.state !== "open") return reply("issue-closed");
      return enqueueJob(deps, { ...base, kind: "fix", issueNumber: issue.number }, who, asker);
    }
    case "review": {
      if (!isPullRequest) return reply("review-on-issue");
      const { data: pr } = await info.github.rest.pulls.get({ ...info.repo, pull_number: issue.number });
      if (pr.state !== "open") return reply("review-pr-closed");
      return enqueueJob(deps, { ...base, kind: "review", prNumber: issue.number, headSha: pr.head.sha, onDemand: true }, who, asker);
    }
    case "upgrade":
      return enqueueJob(deps, { ...base, kind: "upgrade", issueNumber: issue.number }, who, asker);
    case "stop": {
      const kind = isPullRequest ? "review" : "fix";
      const target = `${kind}-${info.repoId}-${issue.number}`;
      const result = await deps.enqueuer.cancel(kind, target, "stop");
      if (result.removedWaiting.length > 0) {
        await reply("stopped-queued");
        return "cancelled";
      }
      if (result.signalledActive.length === 0) return reply("nothing-to-stop");
      // The job card says "cancelled" once the worker has stopped; a 👍 says the stop was heard.
      await reply("stop-signalled");
      return "cancelled";
    }
  }
}
