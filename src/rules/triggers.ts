/** The actor's permission on the repo as GitHub answered it, or why it could not be asked. */
export type PermissionResult =
  | { ok: true; permission: string; roleName?: string }
  | { ok: false; reason: string };

/**
 * Who may trigger work: pure rules, tested row by row against threat T5.
 * Bots never trigger (that includes this app, which closes self-trigger loops). Humans need
 * admin, maintain or write on the repository, checked live. A failed check denies: fail closed.
 */

export interface Sender {
  login?: string;
  type?: string;
}

export type TriggerDecision = { allowed: true } | { allowed: false; reason: string };

const WRITE_PERMISSIONS = new Set(["admin", "maintain", "write"]);

export function isBot(sender: Sender | null | undefined): boolean {
  if (!sender) return true;
  return sender.type === "Bot" || (sender.login ?? "").endsWith("[bot]");
}

export function decideActor(sender: Sender | null | undefined, permission: PermissionResult): TriggerDecision {
  if (isBot(sender)) return { allowed: false, reason: "bot sender" };
  if (!permission.ok) return { allowed: false, reason: `fail closed: ${permission.reason}` };
  const level = permission.permission;
  const role = permission.roleName;
  if (WRITE_PERMISSIONS.has(level) || (role !== undefined && WRITE_PERMISSIONS.has(role))) return { allowed: true };
  return { allowed: false, reason: `permission "${level}"${role ? ` (role ${role})` : ""} is below write` };
}
