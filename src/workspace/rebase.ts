import { gitAuthEnv, resolveToken, tokenForms, type TokenSource } from "./credentials.js";
import type { JobCheckout, WorkspaceManager } from "./checkout.js";
import { ForbiddenPushError } from "./errors.js";
import type { Git } from "./git.js";
import { foreignCommits, remoteBranchSha } from "./publish.js";
import { branchProblem } from "./publish-policy.js";

/**
 * Rebase one of the bot's own branches onto its base's new head, entirely in the host's mirror
 * (no worktree, nothing of the repository runs): each of the branch's commits is cherry-picked
 * with `git merge-tree` (a three-way merge of the commit with its parent as the base), and the
 * result replaces the branch with `--force-with-lease` on the exact sha read here.
 *
 * This is the one push that is not a fast-forward, so it is narrow: only `iquest/*` branches,
 * only when every commit on the branch that the base does not have was authored and committed
 * by the bot (a human's commit → "human-commits", nothing pushed), and the lease makes a push by
 * anyone in between fail instead of being overwritten. Merge commits (the bot's "update branch"
 * merges of the base) are dropped: what they brought is in the new base.
 */
export type RebaseResult =
  | { status: "up-to-date"; head: string }
  | { status: "rebased"; head: string; previous: string; onto: string; commits: number }
  | { status: "human-commits"; authors: string[] }
  | { status: "conflict"; files: string[]; onto: string }
  | { status: "moved" }
  | { status: "gone" };

export interface RebaseRequest {
  branch: string;
  base: string;
  botEmail: string;
  identity: { name: string; email: string };
  token: TokenSource;
  signal?: AbortSignal;
}

export async function rebaseBotBranch(manager: WorkspaceManager, checkout: Pick<JobCheckout, "repo" | "mirrorDir" | "remoteUrl">, request: RebaseRequest): Promise<RebaseResult> {
  const problem = branchProblem(request.branch);
  if (problem) throw new ForbiddenPushError(problem);
  const token = await resolveToken(request.token);
  const auth = gitAuthEnv(checkout.remoteUrl, token);
  const secrets = tokenForms(token);
  const call = { env: auth, secrets, ...(request.signal ? { signal: request.signal } : {}) };
  const git: Git = manager.git;
  const M = ["--git-dir", checkout.mirrorDir];
  return manager.withRepoLock(checkout.repo, async () => {
    const head = await remoteBranchSha(git, checkout.mirrorDir, checkout.remoteUrl, request.branch, { auth, secrets, ...(request.signal ? { signal: request.signal } : {}) });
    if (!head) return { status: "gone" } as const;
    // Fetches every branch into the mirror, the base included.
    const foreign = await foreignCommits(git, checkout.mirrorDir, checkout.remoteUrl, request.branch, head, request.botEmail, call);
    if (foreign.length) return { status: "human-commits", authors: [...new Set(foreign.map((f) => f.author))] } as const;
    const onto = (await git([...M, "rev-parse", "--verify", `refs/heads/${request.base}^{commit}`])).stdout.trim();
    if ((await git([...M, "merge-base", "--is-ancestor", onto, head], { okExitCodes: [1] })).code === 0) return { status: "up-to-date", head } as const;

    const list = (await git([...M, "rev-list", "--reverse", "--topo-order", "--parents", head, "--not", onto])).stdout.split("\n").filter(Boolean);
    const botEnv = {
      GIT_COMMITTER_NAME: request.identity.name,
      GIT_COMMITTER_EMAIL: request.identity.email,
    };
    let parent = onto;
    let picked = 0;
    for (const line of list) {
      const [sha, ...parents] = line.split(" ");
      if (parents.length !== 1) continue; // a merge of the base: its content is in `onto`
      // A stand-in for `parent` whose parent is the commit's own parent: merge-tree then merges
      // with that as the base, which is a cherry-pick (git 2.39 has no --merge-base).
      const parentTree = (await git([...M, "rev-parse", `${parent}^{tree}`])).stdout.trim();
      const standIn = (await git([...M, "commit-tree", parentTree, "-p", parents[0]!, "-m", "iquest-bot rebase stand-in"], { env: { ...botEnv, GIT_AUTHOR_NAME: request.identity.name, GIT_AUTHOR_EMAIL: request.identity.email } })).stdout.trim();
      const merged = await git([...M, "merge-tree", "--write-tree", "--name-only", "--no-messages", standIn, sha!], { okExitCodes: [1] });
      const [tree, ...conflicted] = merged.stdout.split("\n").filter(Boolean);
      if (merged.code === 1) return { status: "conflict", files: [...new Set(conflicted)], onto } as const;
      if (tree === parentTree) continue; // already in the base
      const meta = (await git([...M, "log", "-1", "--format=%an%x00%ae%x00%aI%x00%B", sha!])).stdout;
      const [an, ae, ad, ...body] = meta.split("\0");
      parent = (
        await git([...M, "commit-tree", tree!, "-p", parent, "-F", "-"], {
          env: { ...botEnv, GIT_AUTHOR_NAME: an!, GIT_AUTHOR_EMAIL: ae!, GIT_AUTHOR_DATE: ad! },
          input: body.join("\0").trimEnd() + "\n",
        })
      ).stdout.trim();
      picked++;
    }
    // The lease: only the sha read above is replaced; a push in between makes this fail.
    const push = await git(
      [...M, "push", "--porcelain", "--no-verify", "--no-recurse-submodules", `--force-with-lease=refs/heads/${request.branch}:${head}`, checkout.remoteUrl, `${parent}:refs/heads/${request.branch}`],
      { ...call, okExitCodes: [1] },
    );
    if (push.code !== 0) {
      if (/stale info|rejected|fetch first/.test(push.stdout + push.stderr)) return { status: "moved" } as const;
      throw new Error(`push of the rebased ${request.branch} failed: ${push.stderr.trim().split("\n").pop() ?? push.code}`);
    }
    await git([...M, "update-ref", `refs/heads/${request.branch}`, parent]).catch(() => {});
    return { status: "rebased", head: parent, previous: head, onto, commits: picked } as const;
  });
}
