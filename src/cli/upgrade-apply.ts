import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { runAgent } from "../agent/loop.js";
import { createVllmClient } from "../agent/model/vllm-client.js";
import { loadPrompts } from "../agent/prompts.js";
import { readRepoInstructions } from "../agent/task-prompt.js";
import { buildUpgradePrompts } from "../agent/upgrade-prompt.js";
import type { ModelClientInput } from "../agent/model/options.js";
import { createDirFiles } from "../deps/dir-files.js";
import { DAY_MS, findUpdates } from "../deps/find-updates.js";
import { parseIgnoreRules } from "../deps/ignore.js";
import type { Ecosystem } from "../deps/ecosystem.js";
import type { UpdateGroup } from "../deps/group.js";
import type { ProposedUpdate } from "../deps/types.js";
import { describeTestRun } from "../jobs/test-summary.js";
import { applyUpdates, ecosystemParts, versionsIntact } from "../jobs/upgrade/apply-updates.js";
import { bumpMessage, repairMessage, uniqueByName } from "../jobs/upgrade/work-on-group.js";
import { compareWithBaseline, runBaseline, runSetup, runTests, type BaselineVerdict, type TestPlan, type TestRun } from "../workspace/test-runner.js";
import { UsageError } from "./args.js";
import { EXIT_CODES, type ExitCode } from "./exit-codes.js";
import { progressLine, type CliContext } from "./fix-command.js";
import { sandboxNetworkOf } from "./cli-context.js";
import { cliEcosystems } from "./cli-ecosystems.js";
import { cliGit } from "./local-copy.js";
import type { Progress } from "./progress.js";
import { openSandboxedCopy, type SandboxedCopy } from "./sandboxed-copy.js";

/**
 * `iquest-bot upgrade --repo PATH` (without --dry-run): what the upgrade job does for each
 * group, on the user's machine, with nothing pushed. The baseline runs once on a copy of HEAD;
 * then each group gets a fresh copy in the sandbox: the manifests are rewritten and the lock
 * file updated (with network through the egress proxy), setup and the tests run and are
 * compared with the baseline, and when the upgrade breaks tests the agent repairs the code
 * (no network). The result is a local branch `iquest/deps-<group>` from HEAD: the bump commit
 * (manifests and lock file only), then the repair as a commit of its own. An existing branch is
 * never overwritten: its group is skipped, and said.
 */
export interface GroupOutcome {
  name: string;
  branch: string;
  updates: Array<Pick<ProposedUpdate, "name" | "currentVersion" | "newVersion" | "currentValue" | "newValue" | "updateType" | "manifest">>;
  status: "pass" | "repaired" | "failing" | "untested" | "skipped" | "error";
  /** The baseline comparison after the upgrade, and after the repair. */
  afterUpgrade?: string;
  afterRepair?: string;
  commits: { bump?: string; repair?: string };
  notes: string[];
  error?: string;
}

export interface ApplyOptions {
  ctx: CliContext;
  repo: string;
  registry: string;
  model: ModelClientInput;
  progress: Progress;
}

const RELEASE_NOTES_CHARS = 6000;

export async function applyUpgrades(options: ApplyOptions): Promise<{ code: ExitCode; groups: GroupOutcome[]; upToDate: boolean; baseline?: string }> {
  const { ctx, progress } = options;
  const say = (line: string) => progress.line(line);
  const copyOptions = {
    repo: options.repo,
    ...sandboxNetworkOf(ctx),
    npmRegistry: options.registry,
    setupTimeoutMs: ctx.setupTimeoutMs ?? 20 * 60_000,
    ...(ctx.bwrapPath ? { bwrapPath: ctx.bwrapPath } : {}),
    ...(ctx.tmpDir ? { tmpRoot: ctx.tmpDir } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    say,
  };
  const testTimeoutMs = 30 * 60_000;

  // --- the baseline, and what to upgrade, on a copy of HEAD ---
  say("baseline: a copy of HEAD in the sandbox");
  const base = await openSandboxedCopy({
    ...copyOptions,
    setup: true,
    before: async (facts) => {
      if (facts.dirty.length) say(`upgrade: ${facts.dirty.length} uncommitted path(s) are left alone: the branches are made from HEAD (${facts.head.slice(0, 12)})`);
    },
  });
  const cfg = base.config.config.upgrade;
  const { ecosystems } = cliEcosystems(ctx, options.registry, cfg.ecosystems);
  const policy = { now: Date.now(), minimumAgeMs: cfg.minimumAgeDays * DAY_MS, ignore: parseIgnoreRules(cfg.ignore) };
  let plan: TestPlan | null;
  let baseline: TestRun | undefined;
  let groups: UpdateGroup[];
  let lockFiles: Map<string, string | undefined>;
  try {
    const found = await findUpdates({ files: createDirFiles(base.copy.worktree), ecosystems, policy, groups: cfg.groups });
    if (found.findings.length === 0) throw new UsageError(`--repo ${options.repo}: no supported project (package.json, go.mod, requirements.txt, Cargo.toml) at HEAD`);
    lockFiles = new Map(found.findings.map((f) => [f.ecosystem, f.lockFile]));
    for (const p of found.problems) say(`upgrade: ${p.message}`);
    groups = found.groups;
    if (groups.length === 0) return { code: found.problems.length ? EXIT_CODES.error : EXIT_CODES.submitted, groups: [], upToDate: true };
    say(`upgrade: ${groups.length} group(s): ${groups.map((g) => g.name).join(", ")}`);
    plan = base.plan;
    if (plan) {
      say(`baseline: \`${plan.test}\` …`);
      const b = await runBaseline(base.env, plan, { timeoutMs: testTimeoutMs, ...(ctx.signal ? { signal: ctx.signal } : {}) });
      plan = b.plan;
      baseline = b.run;
      if (b.note) say(`baseline: ${b.note}`);
      say(`baseline: ${describeTestRun(baseline)}`);
    } else {
      say("baseline: no test command found; the upgrades are not tested (set `tests.command` in .github/iquest.yml)");
    }
  } finally {
    await base.close();
  }

  const { git, dispose } = await cliGit(ctx.tmpDir);
  const outcomes: GroupOutcome[] = [];
  try {
    for (const [i, group] of groups.entries()) {
      if (ctx.signal?.aborted) break;
      const label = `${group.name} (${i + 1} of ${groups.length})`;
      const outcome: GroupOutcome = {
        name: group.name,
        branch: group.branch,
        updates: group.updates.map((u) => ({ name: u.name, currentVersion: u.currentVersion, newVersion: u.newVersion, currentValue: u.currentValue, newValue: u.newValue, updateType: u.updateType, manifest: u.manifest })),
        status: "error",
        commits: {},
        notes: [],
      };
      outcomes.push(outcome);
      const exists = await git(["rev-parse", "--verify", "--quiet", `refs/heads/${group.branch}`], { cwd: base.facts.top, okExitCodes: [1] });
      if (exists.code === 0) {
        outcome.status = "skipped";
        outcome.notes.push(`the branch ${group.branch} exists; it is left alone (delete it to redo this group)`);
        say(`${label}: skipped, ${group.branch} exists`);
        continue;
      }
      say(`${label}: applying ${group.updates.length} update(s) in a fresh copy`);
      const work = await openSandboxedCopy({ ...copyOptions, setup: false, network: true });
      try {
        await workOnGroup(work, group, outcome, { ecosystems, policy, lockFiles, plan, baseline, options, label, testTimeoutMs, budget: cfg.budget });
      } catch (err) {
        if (ctx.signal?.aborted) throw err;
        outcome.status = "error";
        outcome.error = (err as Error).message.split("\n")[0]!.slice(0, 300);
      } finally {
        await work.close();
      }
      say(`${label}: ${outcome.status}${outcome.error ? `: ${outcome.error}` : ""}${outcome.commits.bump ? ` → branch ${group.branch}` : ""}`);
    }
  } finally {
    await dispose();
  }
  const bad = outcomes.some((o) => o.status === "failing" || o.status === "error");
  return { code: bad ? EXIT_CODES.error : EXIT_CODES.submitted, groups: outcomes, upToDate: false, ...(baseline ? { baseline: describeTestRun(baseline) } : {}) };
}

interface GroupDeps {
  ecosystems: readonly Ecosystem[];
  policy: { now: number; minimumAgeMs: number };
  /** Per ecosystem id. */
  lockFiles: ReadonlyMap<string, string | undefined>;
  plan: TestPlan | null;
  baseline: TestRun | undefined;
  options: ApplyOptions;
  label: string;
  testTimeoutMs: number;
  budget: { maxSteps: number; maxTokens: number; maxMinutes: number };
}

async function workOnGroup(work: SandboxedCopy, group: UpdateGroup, outcome: GroupOutcome, d: GroupDeps): Promise<void> {
  const { ctx } = d.options;
  const say = (line: string) => d.options.progress.line(line);
  const signal = ctx.signal ? { signal: ctx.signal } : {};
  const updates = group.updates.map((u) => ({ ...u }));

  // --- apply: the job's own step (jobs/upgrade/apply-updates.ts) ---
  const parts = ecosystemParts(d.ecosystems, d.lockFiles, updates);
  const applied = await applyUpdates(work.env, parts, { policy: d.policy, timeoutMs: ctx.setupTimeoutMs ?? 20 * 60_000, ...signal });
  outcome.notes.push(...applied.notes);
  if (!applied.ok) {
    outcome.error = applied.error;
    return;
  }
  const bumpFiles = new Map<string, Buffer>();
  for (const path of applied.bumpFiles) bumpFiles.set(path, await readFile(join(work.copy.worktree, path)));

  // --- test, compared with the baseline ---
  let repairPatch = "";
  let summary = "";
  if (!d.plan || !d.baseline) {
    outcome.status = "untested";
    await work.copy.snapshot();
  } else {
    const setup = await runSetup(work.env, d.plan, { timeoutMs: ctx.setupTimeoutMs ?? 20 * 60_000, network: work.network, ...signal });
    if (!setup.ok) outcome.notes.push(`setup (\`${d.plan.setup}\`) failed with the upgrade (exit ${setup.exitCode})`);
    // What setup wrote is not the agent's: the repair is what changes after this.
    await work.copy.snapshot();
    const after = await runTests(work.env, d.plan, { timeoutMs: d.testTimeoutMs, ...signal });
    const verdict = compareWithBaseline(d.baseline, after);
    outcome.afterUpgrade = verdictText(verdict, after);
    outcome.status = verdict.verdict === "fail" ? "failing" : "pass";
    say(`${d.label}: with the upgrade: ${outcome.afterUpgrade}`);

    // --- repair, when the upgrade broke tests ---
    if (outcome.status === "failing") {
      say(`${d.label}: the agent repairs the code (no network)`);
      const notes: Array<{ name: string; source: string; text: string }> = [];
      for (const u of uniqueByName(updates)) {
        const n = await d.ecosystems.find((e) => e.id === u.ecosystem)?.releaseNotes(u, RELEASE_NOTES_CHARS).catch(() => undefined);
        if (n) notes.push({ name: u.name, ...n });
      }
      const built = buildUpgradePrompts(await loadPrompts(), {
        workdir: work.env.workdir,
        updates: updates.map((u) => `- \`${u.name}\` ${u.currentVersion ?? u.currentValue} → ${u.newVersion} (${u.updateType}) in \`${u.manifest}\`${u.releaseNotesUrl ? `; release notes: ${u.releaseNotesUrl}` : ""}`),
        verdict: verdict.note,
        testOutput: after.outputTail,
        releaseNotes: notes,
        repoInstructions: await readRepoInstructions(work.env),
        testCommand: d.plan.test,
        commandTimeoutMs: ctx.commandTimeoutMs ?? 300_000,
      });
      const result = await runAgent({
        model: createVllmClient(d.options.model),
        environment: work.env,
        systemPrompt: built.systemPrompt,
        taskPrompt: built.taskPrompt,
        budgets: { maxSteps: d.budget.maxSteps, maxTotalTokens: d.budget.maxTokens, maxWallClockMs: Math.round(d.budget.maxMinutes * 60_000) },
        ...signal,
        onStep: (event) => d.options.progress.step(event, progressLine(event)),
      });
      d.options.progress.done();
      if (result.outcome.kind === "cancelled") throw new Error("interrupted");
      summary = result.outcome.kind === "submitted" ? result.outcome.summary : "";
      const repaired = await runTests(work.env, d.plan, { timeoutMs: d.testTimeoutMs, ...signal });
      const again = compareWithBaseline(d.baseline, repaired);
      outcome.afterRepair = verdictText(again, repaired);
      const intact = await versionsIntact(work.copy.worktree, parts);
      if (!intact) {
        outcome.notes.push("the agent changed the upgraded versions, which a repair may not do, so its change was left out");
      } else {
        repairPatch = await work.copy.patch();
        outcome.status = again.verdict === "fail" ? "failing" : "repaired";
        if (result.outcome.kind !== "submitted") outcome.notes.push(`the agent did not finish (${result.outcome.kind})`);
      }
      say(`${d.label}: after the repair: ${outcome.afterRepair}`);
    }
  }

  // --- the branch: the bump, then the repair as its own commit ---
  const bump = await work.copy.commitFiles(work.facts.head, bumpFiles, bumpMessage(updates));
  outcome.commits.bump = bump;
  let tip = bump;
  const repair = repairPatch ? await work.copy.commitPatch(bump, repairPatch, repairMessage(group.name, summary)) : undefined;
  if (repair) {
    outcome.commits.repair = repair;
    tip = repair;
  }
  await work.copy.createBranch(group.branch, tip);
  outcome.updates = updates.map((u) => ({ name: u.name, currentVersion: u.currentVersion, newVersion: u.newVersion, currentValue: u.currentValue, newValue: u.newValue, updateType: u.updateType, manifest: u.manifest }));
}

function verdictText(verdict: BaselineVerdict, run: TestRun): string {
  return `${describeTestRun(run)}: ${verdict.note}`;
}
