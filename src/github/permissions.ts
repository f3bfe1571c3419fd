import type { GitHub, RepoName } from "./types.js";
import { statusOf } from "./types.js";

import type { PermissionResult } from "../rules/triggers.js";

export type { PermissionResult };

/**
 * The actor's permission on the repository, asked live (never cached from the payload, which
 * only says "author_association" and is not a permission). A 404 means "not a collaborator".
 * Any other failure is returned as `ok: false` so the caller can fail closed.
 */
export async function fetchPermission(github: GitHub, repo: RepoName, username: string): Promise<PermissionResult> {
  try {
    const { data } = await github.rest.repos.getCollaboratorPermissionLevel({ ...repo, username });
    const roleName = (data as { role_name?: string }).role_name;
    return { ok: true, permission: data.permission, roleName };
  } catch (err) {
    if (statusOf(err) === 404) return { ok: true, permission: "none" };
    return { ok: false, reason: `permission check failed (${statusOf(err) ?? "network"}): ${(err as Error).message}` };
  }
}
