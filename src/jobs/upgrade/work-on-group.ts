import { loadPrompts } from "../../agent/prompts.js";
import { readRepoInstructions } from "../../agent/task-prompt.js";
import { buildUpgradePrompts } from "../../agent/upgrade-prompt.js";
import type { Ecosystem, FindPolicy } from "../../deps/ecosystem.js";
import { slug } from "../../deps/group.js";
import type { ProposedUpdate } from "../../deps/types.js";
import { STEP_PERMISSIONS } from "../../github/app-client.js";
import type { BotIdentity } from "../../github/bot-identity.js";
import { upsertPull } from "../../github/pull-requests.js";
import { IquestError, cancelledFromSignal, errorMessage } from "../../shared/errors.js";
import { inlineCode } from "../../shared/model-text.js";
import type { JobCheckout } from "../../workspace/checkout.js";
import { writeConfined } from "../../workspace/confined-fs.js";
import { ForbiddenChangeError, GitCommandError } from "../../workspace/errors.js";
import { publishCheckout, type PublishResult } from "../../workspace/publish.js";
import { createSandbox, type SandboxEnvironment } from "../../workspace/sandbox.js";
import { compareWithBaseline, runSetup, runTests, type TestPlan, type TestRun } from "../../workspace/test-runner.js";
import { runAgentPhase } from "../agent-phase.js";
import { jobSandboxOptions } from "../sandbox-options.js";
import { addWarning } from "../job-card.js";
import type { JobContext } from "../run-job.js";
import type { JobServices } from "../services.js";
import type { GroupDecision } from "./plan.js";
import { upgradePrBody, upgradePrTitle } from "./pr-body.js";
import type { GroupResult } from "./results.js";
import { applyUpdates, ecosystemParts, versionsIntact } from "./apply-updates.js";
import { markPhase } from "./card-phase.js";

/**
 * One group, start to end, in a checkout of its own (so what the agent did for one group cannot
 * reach the next):
 *
 * 1. apply: the manifests are rewritten host-side, then the package manager updates the lock
 *    file in the sandbox, with network (the install phase is the only one that gets it); what
 *    npm actually locked is read back, and the table says it when it differs from the proposal;
 * 2. test: setup and the test command, compared with the default branch's baseline;
 * 3. repair: when something newly fails, the agent gets the failing output and the release notes,
 *    under the upgrade budget, with no network; its change must leave the upgraded versions alone;
 * 4. publish: the bump commit (only the manifests and the lock file, from a clean checkout), then
 *    the agent's repair as a second commit, each a fast-forward; then the PR is opened or updated.
 */
export interface GroupRunContext {
  ctx: JobContext;
  services: JobServices;
  commit: string;
  baseBranch: string;
  identity: BotIdentity;
  ecosystems: readonly Ecosystem[];
  /** Per ecosystem id: the lock file its updates change. */
  lockFiles: ReadonlyMap<string, string | undefined>;
  policy: FindPolicy;
  plan: TestPlan | null;
  baseline?: TestRun;
  total: number;
}

interface Workspace {
  checkout: JobCheckout;
  env: SandboxEnvironment;
  close(): Promise<void>;
}

const RELEASE_NOTES_CHARS = 6000;

export async function workOnGroup(run: GroupRunContext, decision: Extract<GroupDecision, { kind: "work" }>, index: number): Promise<GroupResult> {
  const { ctx, services } = run;
  const { card } = ctx;
  const group = { ...decision.group, updates: decision.group.updates.map((u) => ({ ...u })) };
  const result: GroupResult = { group, action: decision.action, status: "error", notes: [], releaseNotes: [], commits: {} };
  const label = `\`${group.name}\` (${index + 1} of ${run.total})`;
  const tick = (phase: string, detail: string) => card.update((s) => markPhase(s, phase, "running", `${label}: ${detail}`));

  const work = await openWorkspace(run);
  try {
    // --- 1. apply, per ecosystem in the group ---
    await tick("apply and test", "updating the package files");
    const parts = ecosystemParts(run.ecosystems, run.lockFiles, group.updates);
    const applied = await applyUpdates(work.env, parts, { policy: run.policy, timeoutMs: services.sandbox.setupTimeoutMs, signal: ctx.signal });
    result.notes.push(...applied.notes);
    if (!applied.ok) {
      result.error = applied.error;
      return result;
    }
    const bumpFiles = applied.bumpFiles;
    const snapshot = new Map<string, Buffer>();
    for (const path of bumpFiles) snapshot.set(path, await work.env.readFile(path));

    // --- 2. test ---
    if (!run.plan || !run.baseline) {
      result.status = "untested";
    } else {
      await tick("apply and test", "installing and testing");
      const setup = await runSetup(work.env, run.plan, { timeoutMs: services.sandbox.setupTimeoutMs, network: true, signal: ctx.signal, cache: installCache(services, work.checkout) });
      if (!setup.ok) result.notes.push(`Setup (\`${run.plan.setup}\`) failed with the upgrade (exit ${setup.exitCode}).`);
      result.baseline = run.baseline;
      result.afterUpgrade = await runTests(work.env, run.plan, { timeoutMs: services.sandbox.testTimeoutMs, signal: ctx.signal });
      result.upgradeVerdict = compareWithBaseline(run.baseline, result.afterUpgrade);
      result.status = result.upgradeVerdict.verdict === "fail" ? "failing" : "pass";
    }

    // A stop or shutdown during the tests ends the group here, before the model or a push.
    if (ctx.signal.aborted) throw cancelledFromSignal(ctx.signal);

    // --- 3. repair ---
    let repairChanged = false;
    if (result.status === "failing" && run.plan && run.baseline && result.afterUpgrade) {
      await tick("repair", "the agent is repairing");
      repairChanged = await repair(run, work, result, index);
    }
    if (result.status === "failing" && ctx.config.config.upgrade.onRepairFailure === "skip") {
      result.unpublished = "the tests fail with it, and `upgrade.onRepairFailure` is `skip`";
      return result;
    }

    // --- 4. publish ---
    if (ctx.signal.aborted) throw cancelledFromSignal(ctx.signal);
    await tick("PRs", "pushing");
    try {
      await publishGroup(run, decision, work, snapshot, result, repairChanged);
    } catch (err) {
      if (!(err instanceof GitCommandError && /refusing to allow a GitHub App to create or update workflow/.test(err.stderr))) throw err;
      // The merge with the default branch would bring its workflow changes onto the bot's branch,
      // and the app may not push those. Retrying cannot help; a human can.
      if (result.status !== "failing") result.status = "error";
      result.error =
        `GitHub refused the push to \`${group.branch}\`: the default branch changed files under \`.github/workflows/\` since the branch was made, ` +
        "and this app may not push workflow changes (it has no `workflows` permission), not even by merging the default branch in. " +
        "Merge the default branch into it, or delete the branch, and the next run continues";
    }
    return result;
  } catch (err) {
    if (ctx.signal.aborted) throw cancelledFromSignal(ctx.signal);
    if (err instanceof IquestError && err.next === "tell-user") {
      if (result.status !== "failing") result.status = "error";
      result.error = err.userMessage;
      return result;
    }
    throw err;
  } finally {
    await work.close();
  }
}

async function openWorkspace(run: GroupRunContext): Promise<Workspace> {
  const { ctx, services } = run;
  const [owner, name] = ctx.payload.repo.split("/") as [string, string];
  const checkout = await services.workspace.checkout({
    repo: { owner, name, id: ctx.payload.repoId },
    commit: run.commit,
    jobId: ctx.jobId,
    token: () => ctx.app.tokenForRepo(ctx.payload.installationId, ctx.payload.repoId, STEP_PERMISSIONS.checkout),
    signal: ctx.signal,
  });
  try {
    // The install steps reach the registries through the egress proxy (never the host's network).
    const env = await createSandbox(jobSandboxOptions(services, checkout, services.sandbox.egressRules?.length !== 0, ctx.redact));
    return {
      checkout,
      env,
      async close() {
        await env.close().catch(() => {});
        await checkout.remove();
      },
    };
  } catch (err) {
    await checkout.remove();
    throw err;
  }
}

function installCache(services: JobServices, c: JobCheckout) {
  return { dir: services.workspace.installCacheDirOf(c.repo), worktree: c.worktree, home: c.home, owner: c.uid === null ? null : { uid: c.uid, gid: c.gid ?? c.uid } };
}

/** Run the agent; returns true when its change is kept (tests judged, versions untouched). */
async function repair(run: GroupRunContext, work: Workspace, result: GroupResult, index: number): Promise<boolean> {
  const { ctx, services } = run;
  const cfg = ctx.config.config.upgrade;
  const notes: Array<{ name: string; source: string; text: string }> = [];
  for (const u of uniqueByName(result.group.updates)) {
    try {
      const n = await run.ecosystems.find((e) => e.id === u.ecosystem)?.releaseNotes(u, RELEASE_NOTES_CHARS);
      if (n) notes.push({ name: u.name, ...n });
    } catch (err) {
      ctx.log.info({ name: u.name, err: errorMessage(err) }, "upgrade: no release notes");
    }
  }
  result.releaseNotes = notes.map((n) => ({ name: n.name, source: n.source }));
  const prompts = await loadPrompts();
  const built = buildUpgradePrompts(prompts, {
    workdir: work.env.workdir,
    updates: result.group.updates.map((u) => `- \`${u.name}\` ${u.currentVersion ?? u.currentValue} → ${u.newVersion} (${u.updateType}) in \`${u.manifest}\`${u.releaseNotesUrl ? `; release notes: ${u.releaseNotesUrl}` : ""}`),
    verdict: result.upgradeVerdict?.note ?? "the tests fail",
    testOutput: result.afterUpgrade?.outputTail ?? "",
    releaseNotes: notes,
    repoInstructions: await readRepoInstructions(work.env),
    ...(run.plan ? { testCommand: run.plan.test } : {}),
    commandTimeoutMs: services.sandbox.testTimeoutMs,
  });
  if (built.hiddenRemoved > 0) {
    await ctx.card.update((s) => addWarning(s, `Removed ${built.hiddenRemoved} hidden item(s) (HTML comments, invisible characters) from the test output and release notes before the model saw them.`));
  }
  // One trajectory per group: the run viewer shows each repair on its own.
  const groupCtx: JobContext = { ...ctx, jobId: `${ctx.jobId}-${slug(result.group.name)}` };
  ctx.runs.writeMeta({
    jobId: groupCtx.jobId,
    kind: "upgrade",
    repo: ctx.payload.repo,
    private: ctx.repoInfo.private,
    title: `dependency upgrade: ${result.group.name}`,
    htmlUrl: ctx.repoInfo.htmlUrl,
    startedAt: new Date().toISOString(),
  });
  const agent = await runAgentPhase(groupCtx, services, {
    use: "upgrade",
    ...(cfg.profile ? { repoProfile: cfg.profile } : {}),
    phase: "repair",
    env: work.env,
    workdir: work.env.workdir,
    systemPrompt: built.systemPrompt,
    taskPrompt: built.taskPrompt,
    budget: cfg.budget,
  });
  const outcome = agent.result.outcome;
  if (outcome.kind === "cancelled") throw cancelledFromSignal(ctx.signal);
  result.agent = {
    summary: outcome.kind === "submitted" ? outcome.summary : "",
    outcome: outcome.kind === "budget-exhausted" ? `out of budget (${outcome.budget})` : outcome.kind === "error" ? `error: ${outcome.message}` : outcome.kind,
    steps: agent.result.steps,
    maxSteps: cfg.budget.maxSteps,
    tokens: agent.result.usage.totalTokens,
    minutes: agent.result.durationMs / 60_000,
    profile: agent.profile.name,
    model: agent.profile.model,
    kept: true,
    path: agent.steps,
  };
  await ctx.card.update((s) => markPhase(s, "repair", "running", `\`${result.group.name}\` (${index + 1} of ${run.total}): ${agent.result.steps} steps · ${agent.result.usage.totalTokens.toLocaleString("en-US")} tokens; testing`));

  result.afterRepair = await runTests(work.env, run.plan!, { timeoutMs: services.sandbox.testTimeoutMs, signal: ctx.signal });
  result.repairVerdict = compareWithBaseline(run.baseline!, result.afterRepair);
  const intact = await versionsIntact(work.checkout.worktree, ecosystemParts(run.ecosystems, run.lockFiles, result.group.updates));
  if (!intact) {
    result.agent.kept = false;
    result.notes.push("The agent changed the upgraded versions in the manifest or the lock file, which a repair may not do, so its change was left out.");
    result.status = "failing";
    await ctx.card.update((s) => markPhase(s, "repair", "failed", `\`${result.group.name}\`: the agent changed the versions; its work was dropped`));
    return false;
  }
  result.status = result.repairVerdict.verdict === "fail" ? "failing" : "repaired";
  await ctx.card.update((s) => markPhase(s, "repair", result.status === "repaired" ? "done" : "failed", `\`${result.group.name}\`: ${result.repairVerdict!.note}`));
  return true;
}

async function publishGroup(
  run: GroupRunContext,
  decision: Extract<GroupDecision, { kind: "work" }>,
  work: Workspace,
  snapshot: Map<string, Buffer>,
  result: GroupResult,
  repairKept: boolean,
): Promise<void> {
  const { ctx, services } = run;
  const p = ctx.payload;
  const { group } = result;
  const writeToken = () => ctx.app.tokenForRepo(p.installationId, p.repoId, STEP_PERMISSIONS.publish);
  const common = {
    branch: group.branch,
    identity: { name: run.identity.name, email: run.identity.email },
    token: writeToken,
    knownSecrets: services.knownSecrets,
    mergeBase: true,
    signal: ctx.signal,
  };
  // The bump commit: only the manifests and the lock file, written into a clean checkout.
  const [owner, name] = p.repo.split("/") as [string, string];
  const clean = await services.workspace.checkout({ repo: { owner, name, id: p.repoId }, commit: run.commit, jobId: ctx.jobId, token: () => ctx.app.tokenForRepo(p.installationId, p.repoId, STEP_PERMISSIONS.checkout), signal: ctx.signal });
  let bump: PublishResult;
  try {
    for (const [path, data] of snapshot) await writeConfined(clean.worktree, path, data, null);
    bump = await publishCheckout(services.workspace, clean, { ...common, expectedRemoteSha: decision.facts.remoteSha, message: bumpMessage(group.updates), jobId: ctx.jobId }, ctx.log);
  } finally {
    await clean.remove();
  }
  let head = bump.status === "pushed" ? bump.commit : decision.facts.remoteSha;
  if (bump.status === "pushed") result.commits.bump = bump.commit;
  if (repairKept && result.agent) {
    try {
      const repaired = await publishCheckout(
        services.workspace,
        work.checkout,
        { ...common, expectedRemoteSha: head, message: repairMessage(group.name, result.agent.summary), jobId: ctx.jobId },
        ctx.log,
      );
      if (repaired.status === "pushed") {
        result.commits.repair = repaired.commit;
        head = repaired.commit;
      } else {
        result.notes.push("The agent's repair changed no file beyond the upgrade itself.");
      }
    } catch (err) {
      if (!(err instanceof ForbiddenChangeError)) throw err;
      // The bump stands on its own; what the agent may not publish is dropped and said.
      result.agent.kept = false;
      result.notes.push(`The agent's repair was not pushed: ${err.violations.map((v) => `${inlineCode(v.path)} (${v.detail})`).join("; ")}.`);
      if (result.status === "repaired") result.status = "failing";
    }
  }
  if (!head) {
    result.unpublished = "there was nothing to push";
    return;
  }
  const failing = result.status === "failing";
  // Drafts whenever a human must look harder: the tests fail, or the model wrote code.
  const draft = failing || Boolean(result.agent);
  const publishClient = await ctx.app.forRepo(p.installationId, p.repoId, STEP_PERMISSIONS.publish, { signal: ctx.signal });
  const runUrl = result.agent ? ctx.runs.urlFor(`${ctx.jobId}-${slug(group.name)}`) : undefined;
  const pull = await upsertPull(publishClient, ctx.repo, {
    branch: group.branch,
    base: run.baseBranch,
    draft,
    title: upgradePrTitle(group, failing),
    body: ctx.redact(upgradePrBody(result, { jobId: ctx.jobId, baseBranch: run.baseBranch, repairCommitsSeparate: true, ...(runUrl ? { runUrl } : {}) })),
  });
  result.pull = { number: pull.number, url: pull.url, created: pull.created, draft: pull.draft };
}

export function uniqueByName(updates: readonly ProposedUpdate[]): ProposedUpdate[] {
  const seen = new Set<string>();
  return updates.filter((u) => (seen.has(u.name) ? false : (seen.add(u.name), true)));
}

/** The bump commit's message (shared with `iquest-bot upgrade`). */
export function bumpMessage(updates: readonly ProposedUpdate[]): string {
  const names = uniqueByName(updates);
  const subject = names.length === 1 ? `Update ${names[0]!.name} to ${names[0]!.newVersion}` : `Update ${names.length} dependencies`;
  const lines = updates.map((u) => `- ${u.name} ${u.currentVersion ?? u.currentValue} -> ${u.newVersion} (${u.updateType}, ${u.manifest})`);
  return `${subject}\n\n${lines.join("\n").slice(0, 8000)}`;
}

/** The repair commit's message (shared with `iquest-bot upgrade`). */
export function repairMessage(group: string, summary: string): string {
  return `Repair the code for the ${group} upgrade\n\n${summary.trim().slice(0, 4000) || "(no summary)"}\n\nIQuest-Upgrade-Repair: ${group}`;
}
