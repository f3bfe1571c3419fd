import type { Delivery } from "./delivery.js";
import type { HandlerDeps, Outcome } from "./deps.js";
import type { PermissionScope } from "./permission-cache.js";

type MembershipEvent = "member" | "membership" | "organization" | "team" | "team_add";

interface Payload {
  action?: string;
  installation?: { id: number };
  repository?: { id: number };
  member?: { login?: string };
  membership?: { user?: { login?: string } | null };
}

/**
 * Who may write changed: forget the cached permissions it touches (permission-cache.ts) in
 * every web process, so a revoked user is refused at the next delivery, not after the cache's
 * TTL. Each event is read for the narrowest scope it names:
 * - `member` (a collaborator added, removed, or their role changed): that user on that repo;
 * - `membership` (team membership) and `organization` member_added/member_removed: that user on
 *   every repository of the installation (a team's repositories are not in the payload);
 * - `team` and `team_add`: every user of that repository, or of the installation when no
 *   repository is named (a team deleted or its permission edited);
 * - `organization` deleted: everything of the installation.
 */
export async function onMembershipChange(delivery: Delivery<MembershipEvent>, deps: HandlerDeps): Promise<Outcome> {
  const payload = delivery.payload as Payload;
  const installationId = payload.installation?.id;
  if (!installationId || !deps.invalidatePermissions) return "ignored:no-installation";
  const scope = scopeOf(delivery.name as MembershipEvent, payload, installationId);
  if (!scope) return `ignored:${payload.action ?? "no-action"}`;
  await deps.invalidatePermissions(scope);
  deps.log.info({ deliveryId: delivery.id, event: delivery.name, action: payload.action, ...scope }, "cached permissions forgotten");
  return "invalidated";
}

/** Exported for tests. */
export function scopeOf(event: MembershipEvent, p: Payload, installationId: number): PermissionScope | undefined {
  switch (event) {
    case "member":
      return p.member?.login && p.repository ? { installationId, repoId: p.repository.id, login: p.member.login } : { installationId };
    case "membership":
      return p.member?.login ? { installationId, login: p.member.login } : { installationId };
    case "organization": {
      if (p.action === "deleted") return { installationId };
      if (p.action !== "member_added" && p.action !== "member_removed") return undefined;
      const login = p.membership?.user?.login;
      return login ? { installationId, login } : { installationId };
    }
    case "team":
    case "team_add":
      if (p.action === "created") return undefined;
      return p.repository ? { installationId, repoId: p.repository.id } : { installationId };
  }
}
