import { STEP_PERMISSIONS, type GitHubApp } from "../../github/app-client.js";
import { createCommentOnce, findCommentByMarker } from "../../github/comments.js";
import type { GitHub, RepoName } from "../../github/types.js";
import type { RebasePayload } from "../../queue/payloads.js";
import type { Logger } from "../../shared/log.js";
import { inlineCode } from "../../shared/model-text.js";
import { rebaseBotBranch, type RebaseResult } from "../../workspace/rebase.js";
import type { JobServices } from "../services.js";

/**
 * A branch moved (a push to the default branch): the bot's own open PRs based on it are rebased
 * onto its new head (workspace/rebase.ts: only the bot's commits, a lease on the sha it read).
 * A PR with a human's commit, or one whose rebase conflicts, is left alone with one comment
 * saying why and what to do (looked up by its marker first: said once per PR, not per push).
 * When the base moved again while the job ran, it goes round once more (bounded).
 */
export interface RebaseDeps {
  app: GitHubApp;
  log: Logger;
}

type Services = Pick<JobServices, "botIdentity" | "workspace">;

const MAX_ROUNDS = 3;

export async function runRebase(deps: RebaseDeps, services: Services, payload: RebasePayload, jobId: string, signal: AbortSignal): Promise<string> {
  const [owner, name] = payload.repo.split("/") as [string, string];
  const repo: RepoName = { owner, repo: name };
  const github = await deps.app.forRepo(payload.installationId, payload.repoId, STEP_PERMISSIONS.publish, { signal });
  const identity = await services.botIdentity(github);
  const said: string[] = [];
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    const pulls = (await github.paginate(github.rest.pulls.list, { ...repo, state: "open", base: payload.branch, per_page: 100 })).filter(
      (p) => p.head.repo?.full_name === payload.repo && p.head.ref.startsWith("iquest/") && p.user?.login === identity.login,
    );
    if (pulls.length === 0) return said.length ? said.join("; ") : `no open iquest-bot PRs on ${payload.branch}`;
    // The mirror, fetched: a checkout of the base's head (nothing of the repository runs).
    const { data: base } = await github.rest.repos.getBranch({ ...repo, branch: payload.branch });
    const checkout = await services.workspace.checkout({
      repo: { owner, name, id: payload.repoId },
      commit: base.commit.sha,
      jobId: `${jobId}-r${round}`,
      token: () => deps.app.tokenForRepo(payload.installationId, payload.repoId, STEP_PERMISSIONS.checkout),
      fetchRefs: [`refs/heads/${payload.branch}`],
      signal,
    });
    let onto = base.commit.sha;
    try {
      for (const pr of pulls) {
        const result = await rebaseBotBranch(services.workspace, checkout, {
          branch: pr.head.ref,
          base: payload.branch,
          botEmail: identity.email,
          identity: { name: identity.name, email: identity.email },
          token: () => deps.app.tokenForRepo(payload.installationId, payload.repoId, STEP_PERMISSIONS.publish),
          signal,
        });
        if (result.status === "rebased" || result.status === "conflict") onto = result.onto;
        said.push(`#${pr.number}: ${result.status}`);
        deps.log.info({ pr: pr.number, branch: pr.head.ref, result: result.status }, "rebase");
        await tellOnce(github, repo, pr.number, payload.branch, result);
      }
    } finally {
      await checkout.remove();
    }
    // A push while this ran: go round again so the PRs end on the newest head.
    const { data: now } = await github.rest.repos.getBranch({ ...repo, branch: payload.branch });
    if (now.commit.sha === onto || now.commit.sha === base.commit.sha) break;
  }
  return said.join("; ");
}

/** Why a PR was left alone, once per PR and reason. */
async function tellOnce(github: GitHub, repo: RepoName, pr: number, branch: string, result: RebaseResult): Promise<void> {
  if (result.status !== "human-commits" && result.status !== "conflict") return;
  const marker = `<!-- iquest-rebase:${result.status}:${pr} -->`;
  if (await findCommentByMarker(github, repo, pr, marker)) return;
  const text =
    result.status === "human-commits"
      ? `\`${branch}\` moved on, but this branch has commits by ${result.authors.map((a) => inlineCode(a.replace(/\s*<[^>]*>$/, ""))).join(", ")}, so I did not rebase it: I never rewrite a person's commits. Update it yourself (GitHub's **Update branch**, or a rebase), and I will leave it alone.`
      : `\`${branch}\` moved on and this PR no longer rebases cleanly onto it (conflicts in ${result.files.slice(0, 10).map((f) => inlineCode(f)).join(", ")}), so I left it as it is. Resolve it yourself, or, for a fix, comment \`/iquest fix\` on the issue to have it redone from the new code.`;
  await createCommentOnce(github, repo, pr, `${text}\n\n${marker}`, marker);
}
