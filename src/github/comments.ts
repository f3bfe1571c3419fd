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

/** How often `createCommentOnce` tries, and how long it waits before each retry (ms). */
export const CREATE_ONCE_WAITS_MS = [1000, 4000];

/**
 * Create a comment that carries `marker`, at most once. Octokit's retry plugin re-sends a POST
 * that failed with a 5xx or a dropped connection, but GitHub may have made the comment before
 * the answer was lost, and the re-send makes a second one. So the create goes out without that
 * retry, and after such a failure the marker is looked up before trying again. Rate limits are
 * still waited out by the throttling plugin: GitHub answers them before doing anything.
 */
export async function createCommentOnce(
  github: GitHub,
  repo: RepoName,
  issueNumber: number,
  body: string,
  marker: string,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<{ id: number }> {
  for (let attempt = 0; ; attempt++) {
    try {
      const { data } = await github.rest.issues.createComment({ ...repo, issue_number: issueNumber, body, request: { retries: 0 } });
      return { id: data.id };
    } catch (err) {
      const status = (err as { status?: unknown }).status;
      const mayHaveLanded = typeof status !== "number" || status >= 500;
      if (!mayHaveLanded || attempt >= CREATE_ONCE_WAITS_MS.length) throw err;
      await sleep(CREATE_ONCE_WAITS_MS[attempt]!);
      const existing = await findCommentByMarker(github, repo, issueNumber, marker);
      if (existing) return { id: existing.id };
    }
  }
}
