import { pullRequestDiff } from "../diff-lines.js";
import type { Json } from "../shapes.js";
import type { SimPull } from "../state.js";
import type { SimServices } from "./router.js";

/**
 * The full pull request object (as `GET /pulls/{n}` and webhooks send it), with the counts
 * GitHub computes: commits, additions, deletions and changed files from the real repo, and
 * mergeability from a real `git merge-tree`.
 */
export async function pullJsonFull(sim: SimServices, pull: SimPull): Promise<Json> {
  const repo = sim.state.repoById(pull.repoId)!;
  const baseTip = (await repo.git.resolve(`refs/heads/${pull.base.ref}`)) ?? pull.base.sha;
  const files = await pullRequestDiff(repo.git, baseTip, pull.head.sha);
  const commits = await repo.git.commitsBetween(baseTip, pull.head.sha);
  let mergeable: boolean | null = null;
  if (!pull.merged) {
    const merge = await repo.git.git(["merge-tree", "--write-tree", "--no-messages", baseTip, pull.head.sha], { allowFail: true });
    mergeable = merge.code === 0;
  }
  return sim.shapes.pull(pull, {
    commits: commits.length,
    additions: files.reduce((n, f) => n + f.additions, 0),
    deletions: files.reduce((n, f) => n + f.deletions, 0),
    changedFiles: files.length,
    mergeable,
  });
}
