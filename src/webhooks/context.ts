import type { GitHub, RepoName } from "../github/types.js";
import type { Delivery } from "./delivery.js";
import type { HandlerDeps, PermissionTarget } from "./deps.js";

/** The few parts of a delivery that handlers use, so they read the same for every event. */
export interface DeliveryInfo extends PermissionTarget {
  deliveryId: string;
  github: GitHub;
  repo: RepoName;
  repoId: number;
  fullName: string;
  installationId: number;
}

export function deliveryInfo(delivery: Pick<Delivery, "id"> & { payload: unknown }, deps: Pick<HandlerDeps, "repoClient">): DeliveryInfo | undefined {
  const payload = delivery.payload as {
    repository?: { id: number; name: string; full_name: string; owner: { login: string } };
    installation?: { id: number };
  };
  if (!payload.repository || !payload.installation) return undefined;
  return {
    deliveryId: delivery.id,
    // A kept client (github/app-client.ts lazyForRepo): no GitHub call until a handler makes one.
    github: deps.repoClient(payload.installation.id, payload.repository.id),
    repo: { owner: payload.repository.owner.login, repo: payload.repository.name },
    repoId: payload.repository.id,
    fullName: payload.repository.full_name,
    installationId: payload.installation.id,
  };
}
