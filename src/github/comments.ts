import { createOnce, NO_BLIND_RETRY } from "./create-once.js";
import type { GitHub, RepoName } from "./types.js";

/** GitHub rejects comment and PR bodies over 65,536 characters. */
export const MAX_BODY = 65_536;

/** Clip text to GitHub's body limit, saying so at the end instead of failing the request. */
export function clipBody(body: string, limit = MAX_BODY): string {
  if (body.length <= limit) return body;
  const note = "\n\n… (clipped to fit GitHub's 65,536-character limit)";
  return body.slice(0, limit - note.length) + note;
}

/**
 * Find the bot's earlier comment by a hidden marker. This is what makes card and reply writes
 * idempotent: a job re-run after a crash edits the comment it made before instead of adding one.
 */
export async function findCommentByMarker(
  github: GitHub,
  repo: RepoName,
  issueNumber: number,
  marker: string,
): Promise<{ id: number; body: string } | undefined> {
  const iterator = github.paginate.iterator(github.rest.issues.listComments, {
    ...repo,
    issue_number: issueNumber,
    per_page: 100,
  });
  for await (const page of iterator) {
    for (const c of page.data) {
      if (c.body?.includes(marker) && c.user?.type === "Bot") return { id: c.id, body: c.body };
    }
  }
  return undefined;
}

/**
 * Create a comment that carries `marker`, at most once: after a failure that may have landed, the
 * marker is looked up before creating it again (see create-once.ts).
 */
export async function createCommentOnce(
  github: GitHub,
  repo: RepoName,
  issueNumber: number,
  body: string,
  marker: string,
  sleep?: (ms: number) => Promise<void>,
): Promise<{ id: number }> {
  return createOnce(
    async () => {
      const { data } = await github.rest.issues.createComment({ ...repo, issue_number: issueNumber, body, request: NO_BLIND_RETRY });
      return { id: data.id };
    },
    async () => {
      const found = await findCommentByMarker(github, repo, issueNumber, marker);
      return found ? { id: found.id } : undefined;
    },
    sleep,
  );
}
