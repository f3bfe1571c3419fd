import { CONFIG_PATH, describeProblems } from "../../config/repo-config.js";
import { createCommentOnce, findCommentByMarker } from "../../github/comments.js";
import { createOnce, NO_BLIND_RETRY } from "../../github/create-once.js";
import { loadRepoConfig } from "../../github/repo-config.js";
import { statusOf, type GitHub, type RepoName } from "../../github/types.js";
import { parseCommand } from "../../rules/commands.js";
import type { NotifyPayload } from "../../queue/payloads.js";
import type { Logger } from "../../shared/log.js";
import { notifyMarker, notifyText, type NotifyFacts } from "./texts.js";

/** What a notify job needs besides its client: the upgrade schedules (config-check), the bot's name. */
export interface NotifyServices {
  schedules?: {
    upsert(repo: { installationId: number; repoId: number; repo: string }, cron?: string): Promise<void>;
    remove(repoId: number): Promise<void>;
  };
  /** The app's slug, to find its own check runs (a re-run reuses the one it made). */
  appSlug?: (github: GitHub) => Promise<string | undefined>;
}

export const CONFIG_CHECK_NAME = "iquest/config";

/**
 * One notify job: a reply, a reaction or the config check run the web process decided on.
 * Each is made once: replies carry a hidden marker and are looked up before they are created
 * (a re-run, or the same comment delivered under two ids, answers once), and after a failure
 * whose answer was lost (create-once.ts). Text is re-read, never carried in the payload.
 */
export async function runNotify(github: GitHub, repo: RepoName, payload: NotifyPayload, services: NotifyServices, log: Logger): Promise<string> {
  if (payload.reason === "config-check") return configCheck(github, repo, payload, services);
  if (payload.reason === "stop-signalled") {
    // GitHub answers 200 for a reaction that exists already: a re-run adds nothing.
    await github.rest.reactions.createForIssueComment({ ...repo, comment_id: payload.commentId!, content: "+1" });
    return "reacted";
  }
  if (payload.issueNumber === undefined) throw new Error(`notify ${payload.reason} names no issue to answer on`);
  const facts: NotifyFacts = { label: "iquest:fix", now: new Date() };
  if (payload.reason === "help" || payload.reason === "unknown-command") {
    facts.label = (await loadRepoConfig(github, repo)).config.fix.label;
  }
  if (payload.reason === "unknown-command") {
    const word = await commandWord(github, repo, payload.commentId);
    if (word === undefined) return "skipped: the comment is gone or no longer holds a command";
    facts.word = word;
  }
  if (payload.reason === "check-fixes-spent") {
    facts.maxCheckFixes = (await loadRepoConfig(github, repo)).config.fix.maxCheckFixes;
    if (payload.checkRunId) {
      facts.checkName = await github.rest.checks
        .get({ ...repo, check_run_id: payload.checkRunId })
        .then((r) => r.data.name)
        .catch(() => undefined);
    }
  }
  const marker = notifyMarker(payload);
  if (await findCommentByMarker(github, repo, payload.issueNumber, marker)) return "already answered";
  await createCommentOnce(github, repo, payload.issueNumber, `${notifyText(payload, facts)}\n\n${marker}`, marker);
  log.info({ reason: payload.reason, issue: payload.issueNumber }, "reply posted");
  return "replied";
}

/** The word after `/iquest` in the asking comment, read again now (the payload holds no text). */
async function commandWord(github: GitHub, repo: RepoName, commentId: number | undefined): Promise<string | undefined> {
  if (!commentId) return undefined;
  try {
    const { data } = await github.rest.issues.getComment({ ...repo, comment_id: commentId });
    const command = parseCommand(data.body);
    return command?.kind === "other" ? command.word : undefined;
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

/**
 * The pushed `.github/iquest.yml`, as of that commit: apply its upgrade schedule, and report
 * its problems (key and line) in an `iquest/config` check run on the commit, made once.
 */
async function configCheck(github: GitHub, repo: RepoName, payload: NotifyPayload, services: NotifyServices): Promise<string> {
  const sha = payload.headSha;
  if (!sha) throw new Error("config-check needs the pushed commit");
  const loaded = await loadRepoConfig(github, repo, sha);
  if (loaded.transient) throw Object.assign(new Error(`${CONFIG_PATH} could not be read at ${sha.slice(0, 7)}`), { status: 503 });
  if (services.schedules) {
    const ref = { installationId: payload.installationId, repoId: payload.repoId, repo: payload.repo };
    if (loaded.config.upgrade.enabled) await services.schedules.upsert(ref, loaded.config.upgrade.schedule);
    else await services.schedules.remove(payload.repoId);
  }
  const slug = await services.appSlug?.(github).catch(() => undefined);
  const find = async () => {
    const { data } = await github.rest.checks.listForRef({ ...repo, ref: sha, check_name: CONFIG_CHECK_NAME, filter: "latest", per_page: 100 });
    const run = data.check_runs.find((r) => slug === undefined || r.app?.slug === slug);
    return run ? run.id : undefined;
  };
  if ((await find()) !== undefined) return "check run exists";
  const ok = loaded.problems.length === 0;
  await createOnce(async () => {
    const { data } = await github.rest.checks.create({
      ...repo,
      name: CONFIG_CHECK_NAME,
      head_sha: sha,
      status: "completed",
      conclusion: ok ? "success" : "neutral",
      output: {
        title: ok ? `${CONFIG_PATH} is valid` : `${CONFIG_PATH}: ${loaded.problems.length} problem(s), defaults used for them`,
        summary: ok ? "iquest-bot will use this configuration." : describeProblems(loaded.problems),
      },
      request: NO_BLIND_RETRY,
    });
    return data.id;
  }, find);
  return ok ? "config valid" : "config has problems";
}
