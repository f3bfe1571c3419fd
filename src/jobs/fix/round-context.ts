import type { GitHub, RepoName } from "../../github/types.js";
import type { FixPayload } from "../../queue/payloads.js";
import { PermanentError, UserFacingError } from "../../shared/errors.js";
import { parseCommand } from "../../rules/commands.js";

/**
 * A feedback or check round on the bot's PR: where the PR is, and the text that becomes the
 * task (the writer's feedback, or the failing check's output and annotations).
 */
export interface RoundContext {
  prNumber: number;
  prUrl: string;
  headSha: string;
  baseBranch: string;
  extra: { title: string; text: string };
}

const MAX_CHECK_TEXT = 20_000;

export async function roundContext(github: GitHub, repo: RepoName, p: FixPayload): Promise<RoundContext> {
  if (!p.prNumber) throw new PermanentError(`a ${p.mode} round needs a PR number`);
  const { data: pr } = await github.rest.pulls.get({ ...repo, pull_number: p.prNumber });
  if (pr.state !== "open") throw new UserFacingError(`PR #${pr.number} is closed`, { userMessage: `PR #${pr.number} is closed, so I did not start another round.` });
  const base = { prNumber: pr.number, prUrl: pr.html_url, headSha: pr.head.sha, baseBranch: pr.base.ref };

  if (p.mode === "check") {
    if (!p.checkRunId) throw new PermanentError("a check round needs a check run id");
    const { data: run } = await github.rest.checks.get({ ...repo, check_run_id: p.checkRunId });
    const annotations = await github.rest.checks
      .listAnnotations({ ...repo, check_run_id: p.checkRunId, per_page: 50 })
      .then((r) => r.data)
      .catch(() => []);
    const lines = [
      `The check \`${run.name}\` failed on this pull request (conclusion: ${run.conclusion}). Make it pass without weakening the check.`,
      "",
      run.output?.title ? `Title: ${run.output.title}` : "",
      run.output?.summary ?? "",
      run.output?.text ?? "",
      ...annotations.map((a) => `- ${a.path}:${a.start_line}: ${a.annotation_level}: ${a.message}`),
    ];
    return { ...base, extra: { title: "The failing check", text: lines.join("\n").slice(0, MAX_CHECK_TEXT) } };
  }

  // Feedback: a `/iquest <feedback>` comment, or a review that requested changes.
  let text = "";
  if (p.commentId) {
    const { data: c } = await github.rest.issues.getComment({ ...repo, comment_id: p.commentId });
    const command = parseCommand(c.body);
    text = command?.kind === "other" ? command.text : command?.kind === "fix" ? command.notes : (c.body ?? "");
  } else if (p.reviewId) {
    const { data: review } = await github.rest.pulls.getReview({ ...repo, pull_number: pr.number, review_id: p.reviewId });
    const comments = await github.rest.pulls
      .listCommentsForReview({ ...repo, pull_number: pr.number, review_id: p.reviewId, per_page: 100 })
      .then((r) => r.data)
      .catch(() => []);
    text = [review.body ?? "", ...comments.map((c) => `- ${c.path}:${c.line ?? c.original_line ?? "?"}: ${c.body}`)].join("\n");
  }
  return { ...base, extra: { title: `Feedback on PR #${pr.number}, to address in this round`, text: text.trim() || "(no text)" } };
}
