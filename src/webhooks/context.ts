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
  return {
    deliveryId: ctx.id,
    // A kept client (github/app-client.ts lazyForRepo): no GitHub call until a handler makes one.
    github: deps?.repoClient?.(payload.installation.id, payload.repository.id) ?? (ctx.octokit as unknown as GitHub),
    repo: { owner: payload.repository.owner.login, repo: payload.repository.name },
    repoId: payload.repository.id,
    fullName: payload.repository.full_name,
    installationId: payload.installation.id,
  };
}
