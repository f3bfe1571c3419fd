import { createHash } from "node:crypto";

/**
 * Upgrade schedules. The default is weekly, at a minute of the week derived from the repository
 * id, so that a thousand installed repositories spread over the week instead of all hitting the
 * model at Monday 00:00. Pure: the same repo always gets the same slot.
 */
export function defaultUpgradeCron(repoId: number): string {
  const digest = createHash("sha256").update(String(repoId)).digest();
  const minuteOfWeek = digest.readUInt32BE(0) % (7 * 24 * 60);
  const dow = Math.floor(minuteOfWeek / (24 * 60));
  const hour = Math.floor((minuteOfWeek % (24 * 60)) / 60);
  const minute = minuteOfWeek % 60;
  return `${minute} ${hour} * * ${dow}`;
}

export function upgradeSchedulerId(repoId: number): string {
  return `upgrade-repo-${repoId}`;
}
