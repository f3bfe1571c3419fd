import { CONFIG_PATH } from "../config/repo-config.js";
import type { Delivery } from "./delivery.js";
import { deliveryInfo } from "./context.js";
import { enqueueJob, notify } from "./enqueue-job.js";
import type { HandlerDeps, Outcome } from "./deps.js";

/**
 * A push to the default branch: a rebase job for the bot's open PRs on it (they may be behind
 * now; the worker looks). If it touches `.github/iquest.yml`: forget the cached config (in
 * every web process), and leave the rest to a notify job: it reads the new file at the pushed
 * commit, applies its upgrade schedule, and reports its problems (key and line) in an
 * `iquest/config` check run on that commit, made once.
 */
export async function onPush(delivery: Delivery<"push">, deps: HandlerDeps): Promise<Outcome> {
  const { payload } = delivery;
  const info = deliveryInfo(delivery, deps);
  if (!info) return "ignored:no-repository";
  const defaultBranch = payload.repository.default_branch;
  if (payload.ref !== `refs/heads/${defaultBranch}` || payload.deleted) return "ignored:not-default-branch";
  const base = { installationId: info.installationId, repoId: info.repoId, repo: info.fullName, deliveryId: info.deliveryId, trigger: "push" as const };
  // The bot's open PRs on this branch may be behind now: a rebase job looks (one per branch at a time).
  const rebase = await enqueueJob(deps, { ...base, kind: "rebase", branch: defaultBranch }, `push to ${defaultBranch}`);
  const touched = payload.commits.some((c) =>
    [...(c.added ?? []), ...(c.modified ?? []), ...(c.removed ?? [])].includes(CONFIG_PATH),
  );
  if (!touched) return rebase === "enqueued" || rebase === "duplicate" ? "scheduled" : rebase;
  await deps.invalidateConfig?.(info.repoId);
  const outcome = await notify(deps, base, "config-check", { headSha: payload.after });
  return outcome === "replied" || outcome === "duplicate" ? "scheduled" : outcome;
}
