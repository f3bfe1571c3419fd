import { ZERO_SHA } from "./git.js";
import { setIssueState } from "./rest/issues.js";
import { pullJsonFull } from "./rest/pull-json.js";
import type { SimServices } from "./rest/router.js";
import type { PushRecord, SimRepo } from "./state.js";

export interface RefUpdate {
  ref: string;
  before: string;
  after: string;
}

/**
 * What follows when refs move, wherever they moved (git push, refs API, merge, seed): the push
 * log, PR heads and bases, `refs/pull/N/head`, PRs closed with their deleted head branch, and
 * the `push` / `pull_request.synchronize` webhooks (sent only with auto-delivery on).
 * Git pushes log themselves (with rejections), so only other sources are logged here.
 */
export async function applyRefUpdates(
  sim: SimServices,
  repo: SimRepo,
  updates: RefUpdate[],
  via: PushRecord["via"],
  token?: string,
): Promise<void> {
  const sender = via === "sim" ? repo.owner : sim.app.botLogin;
  for (const u of updates) {
    if (via !== "git") {
      const forced = u.before !== ZERO_SHA && (u.after === ZERO_SHA || !(await repo.git.isAncestor(u.before, u.after)));
      sim.state.pushes.push({
        repo: repo.fullName,
        ref: u.ref,
        before: u.before,
        after: u.after,
        forced,
        accepted: true,
        via,
        at: new Date(sim.now()).toISOString(),
        ...(token ? { token } : {}),
      });
    }
    sim.effects.emit("push", repo, sender, () => sim.effects.pushFields(repo, u.ref, u.before, u.after, sender));
    if (!u.ref.startsWith("refs/heads/")) continue;
    const branch = u.ref.slice("refs/heads/".length);
    for (const pull of sim.state.pulls.filter((p) => p.repoId === repo.id)) {
      const issue = sim.state.issue(repo.id, pull.number)!;
      if (issue.state !== "open") continue;
      if (pull.base.ref === branch && u.after !== ZERO_SHA) pull.base.sha = u.after;
      if (pull.head.ref !== branch) continue;
      if (u.after === ZERO_SHA) {
        setIssueState(sim, issue, "closed");
        continue;
      }
      const before = pull.head.sha;
      pull.head.sha = u.after;
      await repo.git.updateRef(`refs/pull/${pull.number}/head`, u.after);
      sim.effects.emit("pull_request", repo, sender, async () => ({
        action: "synchronize",
        number: pull.number,
        before,
        after: u.after,
        pull_request: await pullJsonFull(sim, pull),
      }));
    }
  }
}

