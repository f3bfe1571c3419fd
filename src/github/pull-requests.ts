import type { GitHub, RepoName } from "./types.js";
import { statusOf } from "./types.js";
import { clipBody } from "./comments.js";
import { createOnce, NO_BLIND_RETRY } from "./create-once.js";

/**
 * Pull requests, idempotently: look up before create, look up again after a create whose answer
 * was lost (create-once.ts, no blind re-send), and treat GitHub's "already exists" 422 (opened
 * by someone else in between) as "update the one that exists". So a job re-run after a crash,
 * or a 502 on a create that landed, still leaves one PR.
 */
export interface PullRef {
  number: number;
  url: string;
  state: "open" | "closed";
  draft: boolean;
  headSha: string;
  merged: boolean;
}

function toRef(p: { number: number; html_url: string; state: string; draft?: boolean; head: { sha: string }; merged_at?: string | null }): PullRef {
  return {
    number: p.number,
    url: p.html_url,
    state: p.state === "open" ? "open" : "closed",
    draft: Boolean(p.draft),
    headSha: p.head.sha,
    merged: Boolean(p.merged_at),
  };
}

/** The open PR from `branch` in this repository, if any (the `owner:branch` form filters; a bare name does not). */
export async function findOpenPull(github: GitHub, repo: RepoName, branch: string): Promise<PullRef | undefined> {
  const { data } = await github.rest.pulls.list({ ...repo, head: `${repo.owner}:${branch}`, state: "open", per_page: 10 });
  return data[0] ? toRef(data[0]) : undefined;
}

/** Every PR ever opened from `branch` (newest first): closed ones tell "don't recreate" stories. */
export async function listPullsForBranch(github: GitHub, repo: RepoName, branch: string): Promise<PullRef[]> {
  const { data } = await github.rest.pulls.list({ ...repo, head: `${repo.owner}:${branch}`, state: "all", per_page: 30 });
  return data.map(toRef);
}

export interface PullSpec {
  branch: string;
  base: string;
  title: string;
  body: string;
  draft: boolean;
}

export async function upsertPull(github: GitHub, repo: RepoName, spec: PullSpec): Promise<PullRef & { created: boolean }> {
  const body = clipBody(spec.body);
  const update = async (existing: PullRef) => {
    const { data } = await github.rest.pulls.update({ ...repo, pull_number: existing.number, title: spec.title, body });
    return { ...toRef(data), created: false };
  };
  const existing = await findOpenPull(github, repo, spec.branch);
  if (existing) return update(existing);
  try {
    // Created at most once: after a 5xx or a dropped connection the open PR of the branch is
    // looked up before trying again (a lost answer to a create that landed).
    const made = await createOnce(
      async () => {
        const { data } = await github.rest.pulls.create({
          ...repo,
          head: spec.branch,
          base: spec.base,
          title: spec.title,
          body,
          draft: spec.draft,
          request: NO_BLIND_RETRY,
        });
        return { ...toRef(data), created: true };
      },
      async () => {
        const found = await findOpenPull(github, repo, spec.branch);
        return found ? { ...found, created: true } : undefined;
      },
    );
    return made;
  } catch (err) {
    // Someone (a human, or another run) opened it between the look-up and the create.
    if (statusOf(err) === 422 && /already exists/i.test((err as Error).message)) {
      const found = await findOpenPull(github, repo, spec.branch);
      if (found) return update(found);
    }
    throw err;
  }
}

/** Ask `login` to review. A user who cannot be asked (no access, the author) is not an error worth failing a job for. */
export async function requestReview(github: GitHub, repo: RepoName, pull: number, login: string): Promise<boolean> {
  try {
    await github.rest.pulls.requestReviewers({ ...repo, pull_number: pull, reviewers: [login] });
    return true;
  } catch (err) {
    if (statusOf(err) === 422) return false;
    throw err;
  }
}
