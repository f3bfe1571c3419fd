import type { Context } from "probot";
import type { GitHub, RepoName } from "../github/types.js";
import type { HandlerDeps } from "./deps.js";

/** The few parts of a Probot context that handlers use, so they read the same for every event. */
export interface DeliveryInfo {
  deliveryId: string;
  github: GitHub;
  repo: RepoName;
  repoId: number;
  fullName: string;
  installationId: number;
}

export function deliveryInfo(ctx: Context, deps?: Pick<HandlerDeps, "repoClient">): DeliveryInfo | undefined {
  const payload = ctx.payload as {
    repository?: { id: number; name: string; full_name: string; owner: { login: string } };
    installation?: { id: number };
  };
  if (!payload.repository || !payload.installation) return undefined;
  const installationId = payload.installation.id;
  const repoId = payload.repository.id;
  let github: GitHub | undefined;
  return {
    deliveryId: ctx.id,
    // Made on first use: a handler that ignores the event never builds a client.
    get github() {
      github ??= deps?.repoClient?.(installationId, repoId) ?? (ctx.octokit as unknown as GitHub);
      return github;
    },
    repo: { owner: payload.repository.owner.login, repo: payload.repository.name },
    repoId: payload.repository.id,
    fullName: payload.repository.full_name,
    installationId: payload.installation.id,
  };
}
