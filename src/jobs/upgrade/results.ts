import type { StepEvent } from "../../agent/loop.js";
import type { UpdateGroup } from "../../deps/group.js";
import type { BaselineVerdict, TestRun } from "../../workspace/test-runner.js";

/**
 * What happened to one group in a run: the shapes the PR body, the card and the dashboard are
 * rendered from. Pure data.
 *
 * - pass: the tests pass with the upgrade as it is (no new failures against the base);
 * - untested: no test command was found, so nothing could be checked;
 * - repaired: the upgrade broke something, and the agent's change makes the tests pass again;
 * - failing: the tests still fail (the agent could not repair it, or was not allowed to keep
 *   its change);
 * - error: the upgrade could not be applied (npm refused, the manifest changed, a push failed).
 */
export type GroupStatus = "pass" | "untested" | "repaired" | "failing" | "error";

export interface AgentReport {
  summary: string;
  /** submitted, budget-exhausted, … */
  outcome: string;
  steps: number;
  maxSteps: number;
  tokens: number;
  minutes: number;
  profile: string;
  model: string;
  /** False when the agent's change was not published (it touched the upgraded versions). */
  kept: boolean;
  path: StepEvent[];
}

export interface GroupResult {
  group: UpdateGroup;
  action: "create" | "update";
  status: GroupStatus;
  /** Things a reviewer should know (npm locked another version, the repair was dropped, …). */
  notes: string[];
  baseline?: TestRun;
  afterUpgrade?: TestRun;
  afterRepair?: TestRun;
  /** The upgrade alone against the baseline. */
  upgradeVerdict?: BaselineVerdict;
  /** After the repair, when there was one. */
  repairVerdict?: BaselineVerdict;
  agent?: AgentReport;
  releaseNotes: Array<{ name: string; source: string }>;
  commits: { bump?: string; repair?: string };
  pull?: { number: number; url: string; created: boolean; draft: boolean };
  /** Why nothing was published for a group that was worked on. */
  unpublished?: string;
  error?: string;
}
