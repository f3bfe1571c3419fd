import type { RepoConfig } from "../config/repo-config.js";
import { STEP_PERMISSIONS } from "../github/app-client.js";
import { cancelledFromSignal } from "../shared/errors.js";
import type { JobCheckout } from "../workspace/checkout.js";
import { createSandbox, type SandboxEnvironment } from "../workspace/sandbox.js";
import type { EgressReport } from "../workspace/egress-proxy.js";
import { jobSandboxOptions } from "./sandbox-options.js";
import { setupFailureLine } from "../workspace/setup-failure.js";
import { describeVersionPin } from "../workspace/version-pins.js";
import { detectTestPlan, readerFor, runBaseline, runSetup, toolchainVersions, type SetupResult, type TestPlan, type TestRun } from "../workspace/test-runner.js";
import { addWarning, setPhase } from "./job-card.js";
import type { JobContext } from "./run-job.js";
import type { JobServices } from "./services.js";
import { describeTestRun, recordTests } from "./test-summary.js";

/**
 * The "prepare" half every job shares: a checkout of the exact commit (read-only token, minted
 * for this step), a sandbox over it, the test plan, setup, and the baseline test run. Card
 * phases tick as it goes. The caller owns the result and must call `close()` in a `finally`.
 */
export interface PreparedWorkspace {
  checkout: JobCheckout;
  env: SandboxEnvironment;
  plan: TestPlan | null;
  /** Whether setup commands get network (the job asked, and the operator allows some registry). */
  setupNetwork: boolean;
  setup?: SetupResult;
  baseline?: TestRun;
  close(): Promise<void>;
}

export interface PrepareOptions {
  commit: string;
  /** Refs to fetch if the commit is not in the mirror yet (e.g. refs/pull/7/head). */
  fetchRefs?: readonly string[];
  localBranch?: string;
  /** Card phase names; `baseline` absent skips the baseline run. */
  phases: { checkout: string; baseline?: string };
  /** Network during setup (dependency install) only; never for untrusted code. */
  setupNetwork: boolean;
  /** Install cache: off for untrusted code (a PR could poison the cache for later jobs). */
  useInstallCache: boolean;
  tests?: RepoConfig["tests"];
}

export async function prepareWorkspace(ctx: JobContext, services: JobServices, options: PrepareOptions): Promise<PreparedWorkspace> {
  const { payload, card, signal } = ctx;
  await card.update((s) => setPhase(s, options.phases.checkout, "running"));
  const [owner, name] = payload.repo.split("/") as [string, string];
  const checkout = await services.workspace.checkout({
    repo: { owner, name, id: payload.repoId },
    commit: options.commit,
    jobId: ctx.jobId,
    // A fresh read-only token for this step, minted when git needs it.
    token: () => ctx.app.tokenForRepo(payload.installationId, payload.repoId, STEP_PERMISSIONS.checkout),
    ...(options.fetchRefs ? { fetchRefs: options.fetchRefs } : {}),
    ...(options.localBranch ? { localBranch: options.localBranch } : {}),
    signal,
  });
  // EGRESS_ALLOW=none: the operator gave setup no registry at all.
  const setupNetwork = options.setupNetwork && services.sandbox.egressRules?.length !== 0;
  let env: SandboxEnvironment | undefined;
  try {
    env = await createSandbox(jobSandboxOptions(services, checkout, setupNetwork, ctx.redact));
    if (env.warning) await card.update((s) => addWarning(s, env!.warning!));
    await card.update((s) => setPhase(s, options.phases.checkout, "done", `\`${options.commit.slice(0, 12)}\``));
    if (signal.aborted) throw cancelledFromSignal(signal);

    let plan = await detectTestPlan(readerFor(env), {
      ...(options.tests?.setup ? { setup: options.tests.setup } : {}),
      ...(options.tests?.command ? { test: options.tests.command } : {}),
    });
    let setup: SetupResult | undefined;
    let baseline: TestRun | undefined;
    if (options.phases.baseline) {
      const phase = options.phases.baseline;
      if (!plan) {
        await card.update((s) => setPhase(s, phase, "skipped", "no test command found; set `tests.command` in `.github/iquest.yml`"));
      } else {
        const detected = plan;
        await card.update((s) => setPhase(s, phase, "running", detected.reason));
        for (const note of detected.notes ?? []) await card.update((s) => addWarning(s, note));
        setup = await runSetup(env, plan, {
          timeoutMs: services.sandbox.setupTimeoutMs,
          network: setupNetwork,
          signal,
          ...(options.useInstallCache
            ? {
                cache: {
                  dir: services.workspace.installCacheDirOf(checkout.repo),
                  worktree: checkout.worktree,
                  home: checkout.home,
                  owner: checkout.uid === null ? null : { uid: checkout.uid, gid: checkout.gid ?? checkout.uid },
                },
              }
            : {}),
        });
        if (!setup.ok) {
          await card.update((s) =>
            addWarning(s, describeSetupFailure(detected.setup!, setup!)),
          );
        }
        const refusals = describeEgressRefusals(env.egressReport());
        if (refusals) await card.update((s) => addWarning(s, refusals));
        const base = await runBaseline(env, plan, { timeoutMs: services.sandbox.testTimeoutMs, signal });
        baseline = base.run;
        plan = base.plan;
        if (base.note) await card.update((s) => addWarning(s, base.note!));
        recordTests(ctx.metrics, baseline);
        const versions = await toolchainVersions(env, plan, signal);
        const pinNote = describeVersionPin(plan.versionPin, versions);
        if (pinNote) await card.update((s) => addWarning(s, pinNote));
        await card.update((s) => setPhase(s, phase, "done", `${describeTestRun(baseline!)}${versions ? ` (ran with ${versions})` : ""}`));
      }
    }
    const sandbox = env;
    return {
      checkout,
      env: sandbox,
      plan,
      setupNetwork,
      ...(setup ? { setup } : {}),
      ...(baseline ? { baseline } : {}),
      async close() {
        await sandbox.close().catch(() => {});
        await checkout.remove();
      },
    };
  } catch (err) {
    await env?.close().catch(() => {});
    await checkout.remove();
    throw err;
  }
}

/** What the job card says when setup failed: the step, the exit, and the line that says why. */
export function describeSetupFailure(step: string, setup: Pick<SetupResult, "exitCode" | "killed" | "output">): string {
  const why = setupFailureLine(setup.output);
  return `Setup (\`${step}\`) failed with exit code ${setup.exitCode}${setup.killed ? ` (${setup.killed})` : ""}${why ? `: \`${why.replace(/`/g, "'")}\`` : ""}; tests may fail for that reason.`;
}

/**
 * What the job card says when setup tried to reach hosts the egress proxy refused: the host and
 * how often, so a team sees which registry to ask its operator to allow (EGRESS_ALLOW).
 */
export function describeEgressRefusals(report: EgressReport): string | undefined {
  if (report.refused.length === 0) return undefined;
  const shown = report.refused.slice(0, 5).map((r) => `\`${r.host}\` (${r.count}×: ${r.reason.replace(/^\S+ /, "")})`);
  const more = report.refused.length > 5 ? `, and ${report.refused.length - 5} more` : "";
  return `Setup's network requests were refused for ${shown.join(", ")}${more}. Setup may only reach the registries the operator allows (\`EGRESS_ALLOW\`); ask them to add the one this repository needs.`;
}
