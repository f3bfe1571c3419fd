import { describeLimit } from "../../rules/limits.js";
import { helpText, unknownCommandText } from "../../rules/commands.js";
import type { NotifyPayload, NotifyReason } from "../../queue/payloads.js";

/**
 * What each notify job says: pure, from the payload and what the worker re-read (the repo's fix
 * label, the asking command's word, the failing check's name). Replies end with a hidden marker
 * (`notifyMarker`) by which a re-run finds the reply it already made.
 */
export interface NotifyFacts {
  label: string;
  /** unknown-command: the word after /iquest in the comment, as re-read now. */
  word?: string;
  /** check-fixes-spent: the check's name and the configured number of repair rounds. */
  checkName?: string;
  maxCheckFixes?: number;
  /** limited: now, for the time the window ends. */
  now?: Date;
}

const FIXED: Partial<Record<NotifyReason, string>> = {
  "issue-closed": "This issue is closed; reopen it first if it still needs a fix.",
  "pr-closed": "This pull request is closed; reopen it for another round.",
  "fix-on-pr": "`/iquest fix` works on issues. On a pull request opened by iquest-bot, write `/iquest <feedback>` for another round.",
  "review-on-issue": "`/iquest review` works on pull requests.",
  "review-pr-closed": "This pull request is closed; there is nothing to review.",
  "nothing-to-stop": "Nothing is running here, so there is nothing to stop.",
  "stopped-queued": "Stopped: the queued job was removed before it started.",
};

/** The comment body for a reply reason (not for the reaction or the check run). */
export function notifyText(payload: NotifyPayload, facts: NotifyFacts): string {
  const fixed = FIXED[payload.reason];
  if (fixed) return fixed;
  switch (payload.reason) {
    case "help":
      return helpText(facts.label);
    case "unknown-command":
      return unknownCommandText(facts.word ?? "", facts.label);
    case "check-fixes-spent":
      return (
        `The check \`${facts.checkName ?? "a check"}\` failed again. I already made ${facts.maxCheckFixes ?? 0} attempt(s) to fix failing checks on this PR ` +
        "(`fix.maxCheckFixes`), so I stopped: a human needs to look. Comment `/iquest <feedback>` to ask for another round."
      );
    case "limited":
      return limitedText(payload, facts.now ?? new Date());
    default:
      throw new Error(`notify reason ${payload.reason} has no comment text`);
  }
}

function limitedText(payload: NotifyPayload, now: Date): string {
  const limit = payload.limit;
  if (!limit) throw new Error("a limited notice needs its limit");
  const until = new Date(now.getTime() + limit.resetInSeconds * 1000);
  const when = `${until.toISOString().slice(11, 16)} UTC (in about ${Math.max(1, Math.round(limit.resetInSeconds / 60))} min)`;
  const how = describeLimit({ count: limit.count, windowSeconds: limit.windowSeconds });
  const who = payload.actor ? `@${payload.actor}, ` : "";
  return limit.scope === "sender"
    ? `${who}you have asked iquest-bot for more work than one person may ask for at a time (${how}), so this request and any others before ${when} were not started. Ask again after that; nothing already running is affected.`
    : `${who}this installation of iquest-bot has received more requests than it takes at a time (${how}), so this request and others before ${when} were not started. Ask again after that; work already queued or running goes on.`;
}

/** The hidden marker of one reply: one per asking comment (or delivery) and reason. */
export function notifyMarker(payload: NotifyPayload): string {
  const key = payload.commentId ? `c${payload.commentId}` : payload.checkRunId ? `r${payload.checkRunId}` : `d${payload.deliveryId ?? "none"}`;
  return `<!-- iquest:notify:${payload.reason}:${key} -->`;
}
