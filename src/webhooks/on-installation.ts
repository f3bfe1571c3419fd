import type { Delivery } from "./delivery.js";
import type { HandlerDeps, Outcome } from "./deps.js";

interface RepoLite {
  id: number;
  full_name: string;
}

/**
 * Installations add and remove each repository's upgrade schedule. The schedule starts at the
 * default (weekly, spread by repo id); a repo's own `upgrade.schedule` is applied when its
 * config is next read (push to the default branch, or the first upgrade run). Reading every
 * repo's config here would make a 1,000-repo installation slow to acknowledge.
 */
export async function onInstallation(
  delivery: Delivery<"installation"> | Delivery<"installation_repositories">,
  deps: HandlerDeps,
): Promise<Outcome> {
  const payload = delivery.payload as {
    action: string;
    installation: { id: number };
    repositories?: RepoLite[];
    repositories_added?: RepoLite[];
    repositories_removed?: RepoLite[];
  };
  const installationId = payload.installation.id;
  let add: RepoLite[] = [];
  let remove: RepoLite[] = [];
  if (delivery.name === "installation") {
    if (payload.action === "created" || payload.action === "unsuspend") add = payload.repositories ?? [];
    else if (payload.action === "deleted" || payload.action === "suspend") {
      // The payload's repository list can be partial; remove by installation instead.
      const removed = await deps.enqueuer.removeInstallationSchedules(installationId);
      deps.log.info({ deliveryId: delivery.id, installationId, removed }, "upgrade schedules removed");
      return "scheduled";
    } else return `ignored:${payload.action}`;
  } else {
    add = payload.repositories_added ?? [];
    remove = payload.repositories_removed ?? [];
  }
  for (const r of add) {
    await deps.enqueuer.upsertUpgradeSchedule({ installationId, repoId: r.id, repo: r.full_name });
  }
  for (const r of remove) await deps.enqueuer.removeUpgradeSchedule(r.id);
  deps.log.info({ deliveryId: delivery.id, installationId, added: add.length, removed: remove.length }, "upgrade schedules updated");
  return add.length + remove.length > 0 ? "scheduled" : "ignored:no-repositories";
}
