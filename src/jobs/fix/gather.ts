import type { PermissionResult } from "../../github/permissions.js";
import type { GitHub, RepoName } from "../../github/types.js";
import { parseCommand } from "../../rules/commands.js";
import { decideActor, isBot } from "../../rules/triggers.js";
import { cleanTitle } from "../../shared/model-text.js";

/**
 * What a fix is about: the issue, the comments of people with write access (others' words never
 * reach the prompt: anyone can comment on a public issue), and the notes given with
 * `/iquest fix`. Text is untrusted either way; the prompt builder strips hidden content.
 */
export interface FixTask {
  issue: { number: number; title: string; body: string; url: string; author: string; state: string };
  comments: Array<{ author: string; body: string }>;
  /** Comments left out because their author lacks write access (said on the card). */
  leftOut: number;
  notes?: string;
}

export type CheckPermission = (github: GitHub, repo: RepoName, user: string) => Promise<PermissionResult>;

const MAX_COMMENTS = 30;

export async function gatherFixTask(
  github: GitHub,
  repo: RepoName,
  issueNumber: number,
  options: { commentId?: number; checkPermission: CheckPermission },
): Promise<FixTask> {
  const { data: issue } = await github.rest.issues.get({ ...repo, issue_number: issueNumber });
  const comments = await github.paginate(github.rest.issues.listComments, { ...repo, issue_number: issueNumber, per_page: 100 });

  const verdicts = new Map<string, boolean>();
  const isWriter = async (user: { login?: string; type?: string } | null | undefined) => {
    const login = user?.login;
    if (!login || isBot(user)) return false;
    if (!verdicts.has(login)) {
      verdicts.set(login, decideActor(user, await options.checkPermission(github, repo, login)).allowed);
    }
    return verdicts.get(login)!;
  };

  const kept: FixTask["comments"] = [];
  let leftOut = 0;
  let notes: string | undefined;
  for (const c of comments) {
    if (isBot(c.user)) continue; // our own cards and other bots' output are not the task
    if (!(await isWriter(c.user))) {
      leftOut++;
      continue;
    }
    const command = parseCommand(c.body);
    if (c.id === options.commentId && command?.kind === "fix") {
      notes = command.notes || undefined;
      continue;
    }
    if (command) continue; // other /iquest commands are instructions to the bot, not the task
    kept.push({ author: c.user!.login, body: c.body ?? "" });
  }
  return {
    issue: {
      number: issue.number,
      // The title becomes the PR title and the commit subject: what the maintainer saw, no hidden text.
      title: cleanTitle(issue.title),
      body: issue.body ?? "",
      url: issue.html_url,
      author: issue.user?.login ?? "unknown",
      state: issue.state,
    },
    // The most recent comments matter most when a thread is long.
    comments: kept.slice(-MAX_COMMENTS),
    leftOut,
    ...(notes ? { notes } : {}),
  };
}

/** The task text the agent reads. Pure. */
export function formatFixTask(task: FixTask, ...extras: Array<{ title: string; text: string }>): string {
  const parts = [`# ${task.issue.title} (issue #${task.issue.number})`, "", task.issue.body.trim() || "(no description)"];
  if (task.comments.length) {
    parts.push("", "## Comments from maintainers");
    for (const c of task.comments) parts.push("", `@${c.author} wrote:`, c.body.trim());
  }
  if (task.notes) parts.push("", "## Notes given with the request", task.notes.trim());
  for (const extra of extras) parts.push("", `## ${extra.title}`, extra.text.trim());
  return parts.join("\n");
}
