import type { Context } from "probot";
import { helpText, parseCommand, unknownCommandText } from "../rules/commands.js";
import { deliveryInfo } from "./context.js";
import { enqueueJob } from "./enqueue-job.js";
import type { HandlerDeps, Outcome } from "./deps.js";
import { botFixPull } from "../rules/branches.js";
import { decideActor, isBot } from "../rules/triggers.js";

/**
 * `/iquest <command>` in a new comment. Only writers get anything done; a command from anyone
 * else gets a 😕 reaction (visible, but no comment a spammer could multiply). `help` and unknown
 * commands are answered at once here, because there is no job to run.
 */
export async function onIssueComment(ctx: Context<"issue_comment.created">, deps: HandlerDeps): Promise<Outcome> {
  const { payload } = ctx;
  const info = deliveryInfo(ctx, deps);
  if (!info) return "ignored:no-repository";
  if (isBot(payload.sender) || isBot(payload.comment.user)) return "ignored:bot";
  const command = parseCommand(payload.comment.body);
  if (!command) return "ignored:no-command";

  const permission = await deps.checkPermission(info.github, info.repo, payload.sender.login);
  const decision = decideActor(payload.sender, permission);
  if (!decision.allowed) {
    deps.log.info({ deliveryId: info.deliveryId, actor: payload.sender.login, reason: decision.reason }, "command denied");
    // A failed permission check is our problem, not the user's: no reaction that blames them.
    if (permission.ok) {
      await info.github.rest.reactions.createForIssueComment({
        ...info.repo,
        comment_id: payload.comment.id,
        content: "confused",
      });
    }
    return "denied";
  }

  const issue = payload.issue;
  const isPullRequest = Boolean(issue.pull_request);
  const reply = async (body: string): Promise<Outcome> => {
    await info.github.rest.issues.createComment({ ...info.repo, issue_number: issue.number, body });
    return "replied";
  };
  const base = {
    installationId: info.installationId,
    repoId: info.repoId,
    repo: info.fullName,
    deliveryId: info.deliveryId,
    trigger: "comment" as const,
    commentId: payload.comment.id,
    actor: payload.sender.login,
  };
  const { config } = await deps.loadConfig(info.github, info.repo, info.repoId);
  const who = `\`/iquest ${command.kind === "other" ? command.word : command.kind}\` by @${payload.sender.login}`;
  // On the bot's own fix PR, `/iquest <anything>` (and `/iquest fix [notes]`) is feedback for
  // another round on the same branch.
  const feedbackRound = async (): Promise<Outcome | undefined> => {
    if (!isPullRequest) return undefined;
    const { data: pr } = await info.github.rest.pulls.get({ ...info.repo, pull_number: issue.number });
    const fixIssue = botFixPull(pr, info.fullName);
    if (fixIssue === undefined) return undefined;
    if (pr.state !== "open") return reply("This pull request is closed; reopen it for another round.");
    return enqueueJob(deps, { ...base, kind: "fix", mode: "feedback", issueNumber: fixIssue, prNumber: pr.number }, who);
  };

  switch (command.kind) {
    case "help":
      return reply(helpText(config.fix.label));
    case "other":
      return (await feedbackRound()) ?? reply(unknownCommandText(command.word, config.fix.label));
    case "fix": {
      if (isPullRequest) {
        return (
          (await feedbackRound()) ??
          reply("`/iquest fix` works on issues. On a pull request opened by iquest-bot, write `/iquest <feedback>` for another round.")
        );
      }
      if (issue.state !== "open") return reply("This issue is closed; reopen it first if it still needs a fix.");
      return enqueueJob(deps, { ...base, kind: "fix", issueNumber: issue.number }, who);
    }
    case "review": {
      if (!isPullRequest) return reply("`/iquest review` works on pull requests.");
      const { data: pr } = await info.github.rest.pulls.get({ ...info.repo, pull_number: issue.number });
      if (pr.state !== "open") return reply("This pull request is closed; there is nothing to review.");
      return enqueueJob(deps, { ...base, kind: "review", prNumber: issue.number, headSha: pr.head.sha, onDemand: true }, who);
    }
    case "upgrade": {
      return enqueueJob(deps, { ...base, kind: "upgrade", issueNumber: issue.number }, who);
    }
    case "stop": {
      const kind = isPullRequest ? "review" : "fix";
      const target = `${kind}-${info.repoId}-${issue.number}`;
      const result = await deps.enqueuer.cancel(kind, target, "stop");
      const stopped = result.removedWaiting.length + result.signalledActive.length;
      if (stopped === 0) return reply("Nothing is running here, so there is nothing to stop.");
      // The job card says "cancelled" once the worker has stopped; a queued job never got a card.
      if (result.removedWaiting.length > 0) return reply("Stopped: the queued job was removed before it started.");
      await info.github.rest.reactions.createForIssueComment({ ...info.repo, comment_id: payload.comment.id, content: "+1" });
      return "cancelled";
    }
  }
}
