import { BRANCH_PREFIX } from "../../deps/group.js";
import { clipBody, createCommentOnce, findCommentByMarker } from "../../github/comments.js";
import { createOnce, NO_BLIND_RETRY } from "../../github/create-once.js";
import type { GitHub, RepoName } from "../../github/types.js";
import { DASHBOARD_MARKER, HANDS_OFF_MARKER, readUpgradeMarker, type MarkedUpdate } from "./marker.js";

/**
 * What GitHub says about the upgrade's branches, PRs and dashboard: read before anything is
 * written, so every write is an update of what exists or a create of what does not (no second PR,
 * no second dashboard, no second "hands off" note).
 */
export interface BranchPulls {
  open?: { number: number; url: string; marked?: MarkedUpdate[] };
  /** Closed without merging: each one's versions are declined. */
  closed: Array<{ number: number; url: string; marked: MarkedUpdate[] }>;
}

/** Every PR ever opened from `branch` in this repository (one request; newest first). */
export async function readBranchPulls(github: GitHub, repo: RepoName, branch: string): Promise<BranchPulls> {
  const { data } = await github.rest.pulls.list({ ...repo, head: `${repo.owner}:${branch}`, state: "all", per_page: 50 });
  const out: BranchPulls = { closed: [] };
  for (const p of data) {
    if (p.head.ref !== branch) continue;
    const marked = readUpgradeMarker(p.body)?.updates;
    if (p.state === "open" && !out.open) out.open = { number: p.number, url: p.html_url, ...(marked ? { marked } : {}) };
    else if (p.state === "closed" && !p.merged_at && marked) out.closed.push({ number: p.number, url: p.html_url, marked });
  }
  return out;
}

/** The open upgrade PRs of the repository (from `iquest/deps-*` branches of this repository). */
export async function listOpenUpgradePulls(github: GitHub, repo: RepoName): Promise<Array<{ number: number; url: string; branch: string; title: string }>> {
  const pulls = await github.paginate(github.rest.pulls.list, { ...repo, state: "open", per_page: 100 });
  return pulls
    .filter((p) => p.head.ref.startsWith(BRANCH_PREFIX) && p.head.repo?.full_name?.toLowerCase() === `${repo.owner}/${repo.repo}`.toLowerCase())
    .map((p) => ({ number: p.number, url: p.html_url, branch: p.head.ref, title: p.title }));
}

/**
 * Say on the PR, once, that a human took the branch over. Returns true when the note was written
 * now (false when it was already there).
 */
export async function noteHandsOffOnce(github: GitHub, repo: RepoName, pull: number, branch: string, who: string): Promise<boolean> {
  if (await findCommentByMarker(github, repo, pull, HANDS_OFF_MARKER)) return false;
  await createCommentOnce(
    github,
    repo,
    pull,
    `${HANDS_OFF_MARKER}\nThe branch \`${branch}\` has commits by ${who}, so iquest-bot will no longer update it: it is yours now. Close this PR if you want the bot to propose these upgrades again on a fresh PR.`,
    HANDS_OFF_MARKER,
  );
  return true;
}

export type DashboardResult = { status: "created" | "updated"; number: number; url: string } | { status: "closed"; number: number; url: string };

/**
 * Find the dashboard issue by its hidden marker among the bot's issues and rewrite it, or create
 * it when there is none. A dashboard a human closed stays closed: the bot does not reopen it or
 * make a second one, and says so on the card.
 */
export async function upsertDashboard(github: GitHub, repo: RepoName, botLogin: string, title: string, body: string): Promise<DashboardResult> {
  const findAll = async () => {
    const issues = await github.paginate(github.rest.issues.listForRepo, { ...repo, state: "all", creator: botLogin, per_page: 100 });
    return issues.filter((i) => !i.pull_request && i.body?.includes(DASHBOARD_MARKER)).sort((a, b) => a.number - b.number);
  };
  const found = await findAll();
  const open = found.find((i) => i.state === "open");
  if (open) {
    await github.rest.issues.update({ ...repo, issue_number: open.number, body: clipBody(body) });
    return { status: "updated", number: open.number, url: open.html_url };
  }
  if (found[0]) return { status: "closed", number: found[0].number, url: found[0].html_url };
  // Created once: after a lost answer the marker is looked up before trying again.
  return createOnce(
    async () => {
      const { data } = await github.rest.issues.create({ ...repo, title, body: clipBody(body), request: NO_BLIND_RETRY });
      return { status: "created" as const, number: data.number, url: data.html_url };
    },
    async () => {
      const made = (await findAll())[0];
      return made ? { status: "created" as const, number: made.number, url: made.html_url } : undefined;
    },
  );
}
