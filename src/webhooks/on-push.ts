import type { Context } from "probot";
import { CONFIG_PATH, describeProblems } from "../config/repo-config.js";
import { deliveryInfo } from "./context.js";
import type { HandlerDeps, Outcome } from "./deps.js";

/**
 * A push to the default branch that touches `.github/iquest.yml`: forget the cached config,
 * apply its upgrade schedule, and report its problems (key and line) in an `iquest/config`
 * check run on that commit, so a typo in the config is visible where it was made.
 */
export async function onPush(ctx: Context<"push">, deps: HandlerDeps): Promise<Outcome> {
  const { payload } = ctx;
  const info = deliveryInfo(ctx, deps);
  if (!info) return "ignored:no-repository";
  const defaultBranch = payload.repository.default_branch;
  if (payload.ref !== `refs/heads/${defaultBranch}` || payload.deleted) return "ignored:not-default-branch";
  const touched = payload.commits.some((c) =>
    [...(c.added ?? []), ...(c.modified ?? []), ...(c.removed ?? [])].includes(CONFIG_PATH),
  );
  if (!touched) return "ignored:config-unchanged";
  deps.invalidateConfig?.(info.repoId);
  const loaded = await deps.loadConfig(info.github, info.repo, info.repoId);
  const repoRef = { installationId: info.installationId, repoId: info.repoId, repo: info.fullName };
  if (loaded.config.upgrade.enabled) await deps.enqueuer.upsertUpgradeSchedule(repoRef, loaded.config.upgrade.schedule);
  else await deps.enqueuer.removeUpgradeSchedule(info.repoId);
  const ok = loaded.problems.length === 0;
  await info.github.rest.checks.create({
    ...info.repo,
    name: "iquest/config",
    head_sha: payload.after,
    status: "completed",
    conclusion: ok ? "success" : "neutral",
    output: {
      title: ok ? `${CONFIG_PATH} is valid` : `${CONFIG_PATH}: ${loaded.problems.length} problem(s), defaults used for them`,
      summary: ok ? "iquest-bot will use this configuration." : describeProblems(loaded.problems),
    },
  });
  return "scheduled";
}
