import semver from "semver";
import type { UpdateGroup } from "../../deps/group.js";
import type { ProposedUpdate } from "../../deps/types.js";
import type { MarkedUpdate } from "./marker.js";

/**
 * Which groups a run works on, decided from GitHub's state and the branch's history. Pure.
 *
 * - A closed, unmerged PR from the group's branch declines the versions it proposed: an update
 *   to the same version (or an older one) is dropped until a newer version appears.
 * - A branch with commits the bot did not make is a human's: left alone.
 * - An open PR that already holds exactly these updates is up to date: nothing to do, even when
 *   the default branch moved (as Renovate, it is not rebuilt for that alone: a rebuild can mean
 *   another agent run), unless the default branch changed the group's own files (a conflict).
 * - New PRs are limited: at most `maxOpen` open upgrade PRs in the repository, at most
 *   `maxNewPerRun` new ones per run. Updating an open PR is always allowed (it adds none).
 */
export interface BranchFacts {
  /** The branch on GitHub now; null when it does not exist. */
  remoteSha: string | null;
  open?: { number: number; url: string; marked?: MarkedUpdate[] };
  closed: Array<{ number: number; url: string; marked: MarkedUpdate[] }>;
  humanCommits: Array<{ sha: string; author: string }>;
  /** The default branch's head is in the branch's history. */
  containsBase: boolean;
  /**
   * The default branch changed the group's files (manifests, lock file) since the branch was
   * based on it: the PR likely conflicts and must be rebuilt even when its versions are current.
   */
  baseTouchedFiles?: boolean;
}

export interface PlanLimits {
  maxOpen: number;
  maxNewPerRun: number;
}

export type GroupDecision =
  | { kind: "work"; group: UpdateGroup; action: "create" | "update"; facts: BranchFacts; declined: DeclinedUpdate[] }
  | { kind: "skip"; group: UpdateGroup; reason: "human-edited" | "declined" | "limit" | "up-to-date"; detail: string; facts: BranchFacts; declined: DeclinedUpdate[] };

export interface DeclinedUpdate {
  update: ProposedUpdate;
  pull: { number: number; url: string };
}

export function planGroups(groups: readonly UpdateGroup[], facts: ReadonlyMap<string, BranchFacts>, openUpgradePulls: number, limits: PlanLimits): GroupDecision[] {
  let room = Math.max(0, Math.min(limits.maxNewPerRun, limits.maxOpen - openUpgradePulls));
  let created = 0;
  const out: GroupDecision[] = [];
  for (const original of groups) {
    const f = facts.get(original.branch) ?? { remoteSha: null, closed: [], humanCommits: [], containsBase: false };
    const declined: DeclinedUpdate[] = [];
    const kept = original.updates.filter((u) => {
      const pull = f.closed.find((c) => c.marked.some((m) => m.name === u.name && m.manifest === u.manifest && !isNewer(u.newVersion, m.version)));
      if (pull) declined.push({ update: u, pull: { number: pull.number, url: pull.url } });
      return !pull;
    });
    const group: UpdateGroup = { ...original, updates: kept, major: kept.some((u) => u.updateType === "major") };
    if (kept.length === 0) {
      const prs = [...new Set(declined.map((d) => `#${d.pull.number}`))].join(", ");
      out.push({ kind: "skip", group, reason: "declined", detail: `declined in closed PR ${prs}; proposed again when a newer version appears`, facts: f, declined });
      continue;
    }
    if (f.humanCommits.length > 0) {
      const who = [...new Set(f.humanCommits.map((c) => c.author))].slice(0, 3).join(", ");
      out.push({ kind: "skip", group, reason: "human-edited", detail: `\`${group.branch}\` has commits by ${who}; the bot leaves it alone`, facts: f, declined });
      continue;
    }
    if (f.open && f.remoteSha && sameUpdates(f.open.marked, kept) && (f.containsBase || !f.baseTouchedFiles)) {
      out.push({ kind: "skip", group, reason: "up-to-date", detail: `#${f.open.number} already holds these versions`, facts: f, declined });
      continue;
    }
    if (f.open) {
      out.push({ kind: "work", group, action: "update", facts: f, declined });
      continue;
    }
    if (room <= 0) {
      const open = openUpgradePulls + created;
      const why =
        open >= limits.maxOpen
          ? `${open} upgrade PRs are open (\`upgrade.maxOpenPRs\`: ${limits.maxOpen})`
          : `this run opened its ${limits.maxNewPerRun} new PRs (\`upgrade.maxNewPRsPerRun\`)`;
      out.push({ kind: "skip", group, reason: "limit", detail: `waits: ${why}`, facts: f, declined });
      continue;
    }
    room--;
    created++;
    out.push({ kind: "work", group, action: "create", facts: f, declined });
  }
  return out;
}

function isNewer(a: string, b: string): boolean {
  return semver.valid(a) && semver.valid(b) ? semver.gt(a, b) : a !== b;
}

function sameUpdates(marked: readonly MarkedUpdate[] | undefined, updates: readonly ProposedUpdate[]): boolean {
  if (!marked) return false;
  const key = (name: string, manifest: string, version: string) => `${name}\0${manifest}\0${version}`;
  const a = new Set(marked.map((m) => key(m.name, m.manifest, m.version)));
  const b = new Set(updates.map((u) => key(u.name, u.manifest, u.newVersion)));
  return a.size === b.size && [...a].every((k) => b.has(k));
}
