import { nameMatches } from "./ignore.js";
import type { ProposedUpdate } from "./types.js";

/**
 * Which updates travel together, one branch and one PR per group. By default every non-major
 * update is in the group "non-major" and each major is alone ("<name>-<major>"). Config groups
 * (`upgrade.groups`) collect the dependencies whose names match their patterns: their non-major
 * updates, and their majors too when `majors` is set. Pure.
 */
export interface GroupRule {
  name: string;
  match: readonly string[];
  majors: boolean;
}

export interface UpdateGroup {
  name: string;
  branch: string;
  updates: ProposedUpdate[];
  /** Holds at least one major update. */
  major: boolean;
}

export const NON_MAJOR_GROUP = "non-major";
export const BRANCH_PREFIX = "iquest/deps-";

/** A group name that is safe in a branch name: lower case, [a-z0-9._-], no leading dot or dash. */
export function slug(text: string): string {
  const s = text
    .toLowerCase()
    .replace(/^@/, "")
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/\.{2,}/g, ".")
    .replace(/^[-.]+|[-.]+$/g, "")
    .replace(/\.lock$/, "-lock")
    .slice(0, 80)
    .replace(/[-.]+$/, "");
  return s || "deps";
}

export function branchFor(group: string): string {
  return `${BRANCH_PREFIX}${slug(group)}`;
}

export function groupNameFor(update: Omit<ProposedUpdate, "group">, rules: readonly GroupRule[]): string {
  const isMajor = update.updateType === "major";
  const rule = rules.find((r) => (!isMajor || r.majors) && r.match.some((p) => nameMatches(p, update.name)));
  if (rule) return slug(rule.name);
  if (!isMajor) return NON_MAJOR_GROUP;
  const major = /^(\d+)/.exec(update.newVersion)?.[1] ?? "next";
  return slug(`${update.name}-${major}`);
}

export function groupUpdates(updates: ReadonlyArray<Omit<ProposedUpdate, "group">>, rules: readonly GroupRule[]): UpdateGroup[] {
  const byName = new Map<string, ProposedUpdate[]>();
  for (const u of updates) {
    const group = groupNameFor(u, rules);
    const list = byName.get(group) ?? [];
    // A group that takes majors too may get both updates of one dependency: keep the major.
    const same = list.findIndex((o) => o.name === u.name && o.manifest === u.manifest && o.depType === u.depType);
    if (same >= 0) {
      if (u.updateType === "major") list[same] = { ...u, group };
    } else list.push({ ...u, group });
    byName.set(group, list);
  }
  const groups = [...byName.entries()].map(([name, list]) => ({
    name,
    branch: branchFor(name),
    updates: list.sort((a, b) => a.name.localeCompare(b.name) || a.manifest.localeCompare(b.manifest)),
    major: list.some((u) => u.updateType === "major"),
  }));
  // The non-major group first, then config groups, then majors, each by name: a stable order, so
  // the per-run PR limit always favours the same groups.
  const rank = (g: UpdateGroup) => (g.name === NON_MAJOR_GROUP ? 0 : rules.some((r) => slug(r.name) === g.name) ? 1 : 2);
  return groups.sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
}
