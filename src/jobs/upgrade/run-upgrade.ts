import { latestReleaseTag } from "../../github/releases.js";
import { createDirFiles } from "../../deps/dir-files.js";
import { enabledEcosystems, type Ecosystem, type FindPolicy } from "../../deps/ecosystem.js";
import { DAY_MS, findUpdates, type FindUpdatesResult } from "../../deps/find-updates.js";
import { parseIgnoreRules } from "../../deps/ignore.js";
import { createDiskMetadataStore } from "../../deps/metadata-store.js";
import { findOutdatedActions } from "../../deps/actions/outdated-actions.js";
import { createCargoEcosystem } from "../../deps/cargo/cargo-ecosystem.js";
import { createSparseIndexClient } from "../../deps/cargo/sparse-client.js";
import { createNpmEcosystem } from "../../deps/npm/npm-ecosystem.js";
import { createGoEcosystem } from "../../deps/go/go-ecosystem.js";
import { createGoProxyClient } from "../../deps/go/proxy.js";
import { createPyIndexClient } from "../../deps/python/index-client.js";
import { createPoetryEcosystem } from "../../deps/python/poetry-ecosystem.js";
import { createPythonEcosystem } from "../../deps/python/python-ecosystem.js";
import { createNpmRegistryClient } from "../../deps/npm/registry.js";
import { STEP_PERMISSIONS } from "../../github/app-client.js";
import type { UpgradePayload } from "../../queue/payloads.js";
import { errorMessage } from "../../shared/errors.js";
import { readForeignCommits, readRemoteBranch } from "../../workspace/publish.js";
import { runBaseline, runSetup, type TestRun } from "../../workspace/test-runner.js";
import { addWarning } from "../job-card.js";
import { markPhase } from "./card-phase.js";
import { describeEgressRefusals, describeSetupFailure, prepareWorkspace, type PreparedWorkspace } from "../prepare-workspace.js";
import type { JobContext, JobHandler, JobOutcome } from "../run-job.js";
import type { JobServices } from "../services.js";
import { describeTestRun } from "../test-summary.js";
import { listOpenUpgradePulls, noteHandsOffOnce, readBranchPulls, upsertDashboard } from "./github-state.js";
import { planGroups, type BranchFacts, type GroupDecision } from "./plan.js";
import { cardOutcome, dashboardBody, DASHBOARD_TITLE, type RunReport } from "./report.js";
import type { GroupResult } from "./results.js";
import { DEFAULT_GOPROXY, DEFAULT_NPM_REGISTRY, DEFAULT_PIP_INDEX, registryAllowList } from "./settings.js";
import { workOnGroup, type GroupRunContext } from "./work-on-group.js";

/**
 * The upgrade job: checkout → find updates → (baseline) → per group: apply, test, repair, publish
 * → dashboard. Scheduled runs have no card (no issue to put it on): they report on the dashboard
 * issue when `upgrade.dashboard` is on, and in the log. `/iquest upgrade` reports on its card.
 *
 * Idempotent like the fix job: branches are deterministic (`iquest/deps-<group>`), PRs and the
 * dashboard are looked up before they are created, pushes are fast-forwards from the sha seen at
 * the start, and what was declined or taken over by a human is read from GitHub each run.
 */
export function createUpgradeHandler(services: JobServices): JobHandler {
  return (ctx) => runUpgrade(ctx, services);
}

async function runUpgrade(ctx: JobContext, services: JobServices): Promise<JobOutcome> {
  const p = ctx.payload as UpgradePayload;
  const { github, repo, card, log } = ctx;
  const config = ctx.config.config;
  const cfg = config.upgrade;
  const settings = services.upgrade ?? { npmRegistry: DEFAULT_NPM_REGISTRY, allowedRegistries: [] };
  if (settings.schedules && !ctx.config.transient) {
    const ref = { installationId: p.installationId, repoId: p.repoId, repo: p.repo };
    await (cfg.enabled ? settings.schedules.upsert(ref, cfg.schedule) : settings.schedules.remove(p.repoId)).catch((err: unknown) =>
      log.warn({ err: errorMessage(err) }, "upgrade: schedule not updated"),
    );
  }
  if (!cfg.enabled) {
    return { tone: "neutral", text: "Upgrades are turned off for this repository (`upgrade.enabled: false` in `.github/iquest.yml`), so nothing was checked." };
  }
  const { data: repoInfo } = await github.rest.repos.get({ ...repo });
  if (repoInfo.archived) return { tone: "neutral", text: "The repository is archived, so nothing was upgraded." };
  const baseBranch = repoInfo.default_branch;
  const commit = (await github.rest.repos.getBranch({ ...repo, branch: baseBranch })).data.commit.sha;
  const identity = await services.botIdentity(github);
  const readToken = () => ctx.app.tokenForRepo(p.installationId, p.repoId, STEP_PERMISSIONS.checkout);
  const now = (settings.now ?? Date.now)();

  const prepared = await prepareWorkspace(ctx, services, {
    commit,
    phases: { checkout: "checkout" },
    // The install phase needs the registry; the repo's own commands never get the network.
    setupNetwork: true,
    useInstallCache: true,
    tests: config.tests,
  });
  const report: RunReport = { jobId: ctx.jobId, at: new Date(now).toISOString(), results: [], skipped: [], declined: [], held: [], problems: [], openPulls: [], dependencies: 0 };
  try {
    // --- find updates ---
    await card.update((s) => markPhase(s, "find updates", "running"));
    const client = createNpmRegistryClient({
      isAllowed: registryAllowList(settings),
      ...(settings.metadataDir ? { store: createDiskMetadataStore(settings.metadataDir), freshMs: settings.metadataFreshMs ?? 0 } : {}),
      signal: ctx.signal,
      now: () => (settings.now ?? Date.now)(),
    });
    const goClient = createGoProxyClient({ isAllowed: registryAllowList(settings), signal: ctx.signal });
    const pyClient = createPyIndexClient({ isAllowed: registryAllowList(settings), signal: ctx.signal });
    const ecosystems: Ecosystem[] = enabledEcosystems([
      createNpmEcosystem({ defaultRegistry: settings.npmRegistry, client }),
      createGoEcosystem({ proxy: settings.goProxy ?? DEFAULT_GOPROXY, client: goClient, ...(settings.goPrivate ? { privatePatterns: settings.goPrivate } : {}) }),
      createPythonEcosystem({ index: settings.pipIndex ?? DEFAULT_PIP_INDEX, client: pyClient }),
      createPoetryEcosystem({ index: settings.pipIndex ?? DEFAULT_PIP_INDEX, client: pyClient }),
      createCargoEcosystem({ ...(settings.cargoIndex ? { defaultIndex: settings.cargoIndex } : {}), client: createSparseIndexClient({ isAllowed: registryAllowList(settings), signal: ctx.signal }) }),
    ], cfg.ecosystems);
    const policy: FindPolicy = { now, minimumAgeMs: cfg.minimumAgeDays * DAY_MS, ignore: parseIgnoreRules(cfg.ignore) };
    const found: FindUpdatesResult = await findUpdates({ files: createDirFiles(prepared.checkout.worktree), ecosystems, policy, groups: cfg.groups });
    report.dependencies = found.dependencies;
    report.held = found.skipped;
    report.problems = found.problems;
    log.info({ dependencies: found.dependencies, groups: found.groups.length, problems: found.problems.length, registryRequests: client.stats.requests, ms: found.durationMs }, "upgrade: updates found");
    // Outdated actions in .github/workflows: listed on the dashboard only (never changed).
    if (cfg.dashboard) report.actions = await findOutdatedActions(createDirFiles(prepared.checkout.worktree), (owner, name) => latestReleaseTag(github, owner, name));
    if (found.problems.length) {
      await card.update((s) => addWarning(s, `Some of the project could not be checked:\n${found.problems.map((x) => `- ${x.message}`).join("\n")}`));
    }
    if (found.findings.length === 0) {
      report.note = "No supported project was found (iquest-bot upgrades npm projects, `package.json` with `package-lock.json`; Go modules, `go.mod`; and Python pins in `requirements*.txt`).";
      await card.update((s) => markPhase(s, "find updates", "done", "no package.json, go.mod or requirements.txt"));
      return await finish(ctx, report, cfg.dashboard, identity.login);
    }

    // --- what GitHub says about each group's branch ---
    const openPulls = await listOpenUpgradePulls(github, repo);
    const facts = new Map<string, BranchFacts>();
    const lockFiles = new Map(found.findings.map((f) => [f.ecosystem, f.lockFile]));
    for (const g of found.groups) {
      const files = [...new Set([...g.updates.map((u) => u.manifest), ...[...lockFiles.values()].filter((f): f is string => !!f)])];
      facts.set(g.branch, await branchFacts(ctx, services, prepared, g.branch, commit, identity.email, readToken, files));
    }
    const decisions = planGroups(found.groups, facts, openPulls.length, { maxOpen: cfg.maxOpenPRs, maxNewPerRun: cfg.maxNewPRsPerRun });
    report.skipped = decisions.filter((d): d is Extract<GroupDecision, { kind: "skip" }> => d.kind === "skip");
    report.declined = decisions.flatMap((d) => d.declined);
    const work = decisions.filter((d): d is Extract<GroupDecision, { kind: "work" }> => d.kind === "work");
    const updates = found.groups.reduce((n, g) => n + g.updates.length, 0);
    await card.update((s) =>
      markPhase(s, "find updates", "done", `${found.dependencies} dependencies · ${updates} update${updates === 1 ? "" : "s"} in ${found.groups.length} group${found.groups.length === 1 ? "" : "s"} · ${work.length} to work on`),
    );

    // A human took a branch over: say so once on its PR.
    for (const s of report.skipped.filter((x) => x.reason === "human-edited" && x.facts.open)) {
      const who = [...new Set(s.facts.humanCommits.map((c) => c.author))].slice(0, 3).join(", ");
      await noteHandsOffOnce(github, repo, s.facts.open!.number, s.group.branch, who);
    }

    if (work.length === 0) {
      for (const phase of ["apply and test", "repair", "PRs"]) await card.update((s) => markPhase(s, phase, "skipped"));
      report.openPulls = openPulls;
      return await finish(ctx, report, cfg.dashboard, identity.login);
    }

    // --- baseline: the default branch's tests, once, for every group to compare with ---
    let baseline: TestRun | undefined;
    let plan = prepared.plan;
    if (prepared.plan) {
      await card.update((s) => markPhase(s, "apply and test", "running", `baseline: ${prepared.plan!.reason}`));
      const setup = await runSetup(prepared.env, prepared.plan, {
        timeoutMs: services.sandbox.setupTimeoutMs,
        network: true,
        signal: ctx.signal,
        cache: installCache(services, prepared),
      });
      if (!setup.ok) await card.update((s) => addWarning(s, `On the default branch: ${describeSetupFailure(prepared.plan!.setup!, setup)}`));
      const refusals = describeEgressRefusals(prepared.env.egressReport());
      if (refusals) await card.update((s) => addWarning(s, refusals));
      // As a fix does: when the chain fails before its runner (a lint step broken on the default
      // branch), the runner's own step is the baseline and what every group is verified with.
      const base = await runBaseline(prepared.env, prepared.plan, { timeoutMs: services.sandbox.testTimeoutMs, signal: ctx.signal });
      baseline = base.run;
      plan = base.plan;
      if (base.note) await card.update((s) => addWarning(s, base.note!));
      log.info({ baseline: describeTestRun(baseline) }, "upgrade: baseline");
    }
    // The scan's checkout is done with: each group gets a fresh one.
    await prepared.close();

    const run: GroupRunContext = {
      ctx,
      services,
      commit,
      baseBranch,
      identity,
      ecosystems,
      lockFiles,
      policy,
      plan,
      ...(baseline ? { baseline } : {}),
      total: work.length,
    };
    for (let i = 0; i < work.length; i++) {
      const result: GroupResult = await workOnGroup(run, work[i]!, i);
      report.results.push(result);
      log.info({ group: result.group.name, status: result.status, pull: result.pull?.number, error: result.error }, "upgrade: group done");
    }
    const summary = (status: GroupResult["status"][]) => report.results.filter((r) => status.includes(r.status)).length;
    await card.update((s) => markPhase(s, "apply and test", summary(["error"]) ? "failed" : "done", `${report.results.length} group(s): ${summary(["pass", "untested"])} pass, ${summary(["repaired"])} repaired, ${summary(["failing"])} failing, ${summary(["error"])} not applied`));
    if (!report.results.some((r) => r.agent)) await card.update((s) => markPhase(s, "repair", "skipped", "nothing broke"));
    const pulls = report.results.filter((r) => r.pull);
    await card.update((s) => markPhase(s, "PRs", pulls.length ? "done" : "skipped", pulls.map((r) => `#${r.pull!.number}`).join(", ") || "none"));
    report.openPulls = await listOpenUpgradePulls(github, repo).catch(() => openPulls);
    return await finish(ctx, report, cfg.dashboard, identity.login);
  } finally {
    await prepared.close();
  }
}

function installCache(services: JobServices, prepared: PreparedWorkspace) {
  const c = prepared.checkout;
  return { dir: services.workspace.installCacheDirOf(c.repo), worktree: c.worktree, home: c.home, owner: c.uid === null ? null : { uid: c.uid, gid: c.gid ?? c.uid } };
}

/** The branch on GitHub: its PRs, where it is, whether a human committed, whether it has the base. */
async function branchFacts(
  ctx: JobContext,
  services: JobServices,
  prepared: PreparedWorkspace,
  branch: string,
  base: string,
  botEmail: string,
  readToken: () => Promise<string>,
  groupFiles: readonly string[],
): Promise<BranchFacts> {
  const pulls = await readBranchPulls(ctx.github, ctx.repo, branch);
  const remoteSha = await readRemoteBranch(services.workspace, prepared.checkout, branch, readToken);
  if (!remoteSha) return { remoteSha: null, ...(pulls.open ? { open: pulls.open } : {}), closed: pulls.closed, humanCommits: [], containsBase: false };
  const humanCommits = await readForeignCommits(services.workspace, prepared.checkout, branch, remoteSha, botEmail, readToken);
  // (readForeignCommits fetched the remote's branches into the mirror.)
  const git = services.workspace.git;
  const M = ["--git-dir", prepared.checkout.mirrorDir];
  const { containsBase, baseTouchedFiles } = await services.workspace.withRepoLock(prepared.checkout.repo, async () => {
    const ancestor = await git([...M, "merge-base", "--is-ancestor", base, remoteSha], { okExitCodes: [1] });
    if (ancestor.code === 0) return { containsBase: true, baseTouchedFiles: false };
    const forkPoint = (await git([...M, "merge-base", base, remoteSha], { okExitCodes: [1] })).stdout.trim();
    if (!forkPoint) return { containsBase: false, baseTouchedFiles: true };
    const touched = await git([...M, "diff", "--name-only", forkPoint, base, "--", ...groupFiles.map((f) => `:(literal)${f}`)]);
    return { containsBase: false, baseTouchedFiles: touched.stdout.trim() !== "" };
  });
  return { remoteSha, ...(pulls.open ? { open: pulls.open } : {}), closed: pulls.closed, humanCommits, containsBase, baseTouchedFiles };
}

/** The dashboard (when on), the log line, and the card's final text. */
async function finish(ctx: JobContext, report: RunReport, dashboard: boolean, botLogin: string): Promise<JobOutcome> {
  const outcome = cardOutcome(report);
  if (dashboard) {
    try {
      const publishClient = await ctx.app.forRepo(ctx.payload.installationId, ctx.payload.repoId, STEP_PERMISSIONS.publish, { signal: ctx.signal });
      const d = await upsertDashboard(publishClient, ctx.repo, botLogin, DASHBOARD_TITLE, ctx.redact(dashboardBody(report)));
      if (d.status === "closed") {
        await ctx.card.update((s) => addWarning(s, `The dependency dashboard [#${d.number}](${d.url}) is closed, so it was not updated. Reopen it, or set \`upgrade.dashboard: false\`.`));
        outcome.text += `\n\nThe dashboard [#${d.number}](${d.url}) is closed and was left as it is.`;
      } else {
        outcome.text += `\n\nDashboard: [#${d.number}](${d.url}).`;
      }
    } catch (err) {
      ctx.log.warn({ err: errorMessage(err) }, "upgrade: dashboard not updated");
      outcome.text += `\n\nThe dashboard could not be updated: ${errorMessage(err)}.`;
    }
  }
  ctx.log.info(
    {
      trigger: ctx.payload.trigger,
      groups: report.results.map((r) => ({ group: r.group.name, status: r.status, pull: r.pull?.number })),
      skipped: report.skipped.map((s) => ({ group: s.group.name, reason: s.reason })),
      problems: report.problems.map((x) => x.message),
    },
    "upgrade: run report",
  );
  return outcome;
}
