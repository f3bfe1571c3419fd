import type { Delivery } from "./delivery.js";
import { issueOfFixBranch } from "../rules/branches.js";
import { deliveryInfo } from "./context.js";
import { enqueueJob, notify } from "./enqueue-job.js";
import type { HandlerDeps, Outcome } from "./deps.js";

const FAILED = new Set(["failure", "timed_out"]);

/**
 * A check that failed on the head of the bot's fix PR → a bounded number of repair rounds
 * (`fix.maxCheckFixes`, 2 by default), counted per PR. Past the limit the bot says once on the
 * PR that it stopped, and why. Only `iquest/fix-*` branches count, and the bot's own checks
 * (iquest/review, iquest/config) never trigger a round.
 */
export async function onCheckRun(delivery: Delivery<"check_run.completed">, deps: HandlerDeps): Promise<Outcome> {
  const { payload } = delivery;
  const info = deliveryInfo(delivery, deps);
  if (!info) return "ignored:no-repository";
  const run = payload.check_run;
  if (!run.conclusion || !FAILED.has(run.conclusion)) return "ignored:not-failed";
  if (deps.appId !== undefined && run.app?.id === deps.appId) return "ignored:own-check";
  // The PR the check ran for, on a fix branch (the PR list names the head ref; the suite's
  // head_branch is the fallback).
  const pr = run.pull_requests.find((p) => p.head.sha === run.head_sha) ?? run.pull_requests[0];
  if (!pr) return "ignored:no-pull-request";
  const fixIssue = issueOfFixBranch(pr.head.ref ?? run.check_suite?.head_branch);
  if (fixIssue === undefined) return "ignored:not-a-bot-branch";
  const { config } = await deps.loadConfig(info.github, info.repo, info.repoId);
  const attempt = await deps.enqueuer.countAttempt(`checkfix-${info.repoId}-${pr.number}`);
  if (attempt > config.fix.maxCheckFixes) {
    if (attempt === config.fix.maxCheckFixes + 1) {
      // Said once on the PR (a notify job, made once): the bot stopped, and why.
      return notify(
        deps,
        { installationId: info.installationId, repoId: info.repoId, repo: info.fullName, deliveryId: info.deliveryId, trigger: "check_run" },
        "check-fixes-spent",
        { issueNumber: pr.number, checkRunId: run.id },
      );
    }
    return "ignored:attempts-spent";
  }
  return enqueueJob(
    deps,
    {
      kind: "fix",
      mode: "check",
      installationId: info.installationId,
      repoId: info.repoId,
      repo: info.fullName,
      deliveryId: info.deliveryId,
      trigger: "check_run",
      issueNumber: fixIssue,
      prNumber: pr.number,
      checkRunId: run.id,
    },
    `failing check \`${run.name}\``,
  );
}
