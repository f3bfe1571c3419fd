import type { Ecosystem, Findings, FindPolicy } from "./ecosystem.js";
import { groupUpdates, type GroupRule, type UpdateGroup } from "./group.js";
import type { RepoFiles, ScanProblem, SkippedUpdate } from "./types.js";

/**
 * Finding updates, for every ecosystem present: scan, ask the registries, propose, group. The
 * same core serves `iquest-bot upgrade --dry-run` and the upgrade job; neither GitHub nor the
 * sandbox is involved (files are read through RepoFiles).
 */
export interface FindUpdatesInput {
  files: RepoFiles;
  ecosystems: readonly Ecosystem[];
  policy: FindPolicy;
  groups: readonly GroupRule[];
}

export interface FindUpdatesResult {
  groups: UpdateGroup[];
  /** Per ecosystem found in the repository. */
  findings: Findings[];
  skipped: SkippedUpdate[];
  problems: ScanProblem[];
  /** Registry dependencies read from the manifests. */
  dependencies: number;
  durationMs: number;
}

export async function findUpdates(input: FindUpdatesInput): Promise<FindUpdatesResult> {
  const started = Date.now();
  const findings: Findings[] = [];
  for (const ecosystem of input.ecosystems) {
    const found = await ecosystem.find(input.files, input.policy);
    if (found) findings.push(found);
  }
  return {
    groups: groupUpdates(
      findings.flatMap((f) => f.updates),
      input.groups,
    ),
    findings,
    skipped: findings.flatMap((f) => f.skipped),
    problems: findings.flatMap((f) => f.problems),
    dependencies: findings.reduce((n, f) => n + f.dependencies.length, 0),
    durationMs: Date.now() - started,
  };
}

export const MINUTE_MS = 60_000;
export const DAY_MS = 24 * 60 * MINUTE_MS;
