import { STEP_PERMISSIONS } from "../../github/app-client.js";
import { fetchPermission } from "../../github/permissions.js";
import type { FixPayload } from "../../queue/payloads.js";
import { UserFacingError } from "../../shared/errors.js";
import { HumanCommitsError } from "../../workspace/errors.js";
import { readForeignCommits, readPublishedJob, readRemoteBranch } from "../../workspace/publish.js";
import { addWarning, setPhase } from "../job-card.js";
import { describeEgressRefusals, prepareWorkspace, type PreparedWorkspace } from "../prepare-workspace.js";
import type { JobContext, JobHandler, JobOutcome } from "../run-job.js";
import type { JobServices } from "../services.js";
import { saveDiff } from "../test-summary.js";
import { attemptsPhase } from "./attempts-phase.js";
import { decideFix } from "./decide.js";
import { gatherFixTask } from "./gather.js";
import { publishFix, resumeAfterPush } from "./publish-fix.js";
import { roundContext } from "./round-context.js";

/**
 * The fix job as a sequence of phases, the job card ticking: gather (the task) → prepare (checkout,
 * setup, baseline) → reproduce, attempt, verify (attempts-phase.ts: the agent writes a failing
 * test first, then fixes; a failed verification is undone and retried) → choose (decide.ts) →
 * publish (publish-fix.ts).
 *
 * - "issue" mode: a fix from the issue, on `iquest/fix-<n>` from the default branch's head.
 * - "feedback" / "check" modes: another round on the bot's PR, from the PR's head, with the
 *   feedback (or the failing check's output) as the task. Human commits on the branch are kept
 *   and built upon, since a writer asked for this round on that PR.
 *
 * Every write to GitHub that could duplicate is looked up first (PR by branch, card by marker);
 * the push is a fast-forward from the sha the job saw at the start, so a job that lost its lock
 * and runs late cannot overwrite a newer run's work.
 */
export function createFixHandler(services: JobServices): JobHandler {
  return (ctx) => runFix(ctx, services);
}

async function runFix(ctx: JobContext, services: JobServices): Promise<JobOutcome> {
  const p = ctx.payload as FixPayload;
  const mode = p.mode ?? "issue";
  const { github, repo, card } = ctx;
  const config = ctx.config.config;
  const branch = `iquest/fix-${p.issueNumber}`;

  // --- gather ---
  const task = await gatherFixTask(github, repo, p.issueNumber, { commentId: p.commentId, checkPermission: fetchPermission });
  if (mode === "issue" && task.issue.state !== "open") {
    return { tone: "neutral", text: `Issue #${p.issueNumber} is closed, so I did not start. Reopen it if it still needs a fix.` };
  }
  if (task.leftOut > 0) {
    await card.update((s) =>
      addWarning(s, `${task.leftOut} comment(s) by people without write access were left out of the task (only maintainers' words reach the model).`),
    );
  }
  const round = mode === "issue" ? undefined : await roundContext(github, repo, p);
  const baseBranch = round?.baseBranch ?? ctx.repoInfo.defaultBranch;
  const commit = round?.headSha ?? (await github.rest.repos.getBranch({ ...repo, branch: baseBranch })).data.commit.sha;
  const identity = await services.botIdentity(github);
  const readToken = () => ctx.app.tokenForRepo(p.installationId, p.repoId, STEP_PERMISSIONS.checkout);

  // --- prepare ---
  const prepared = await prepareWorkspace(ctx, services, {
    commit,
    ...(round ? { fetchRefs: [`refs/heads/${branch}`] } : {}),
    localBranch: branch,
    phases: { checkout: "checkout", baseline: "baseline tests" },
    setupNetwork: config.tests?.setupNetwork ?? true,
    useInstallCache: true,
    tests: config.tests,
  });
  try {
    // Setup failed (a registry it could not reach, a broken install): the tests cannot say
    // anything, so the fix stops unless the repository allows untested work.
    const untested = prepared.setup && !prepared.setup.ok ? setupFailure(prepared) : undefined;
    if (untested && !config.tests?.allowUntested) {
      throw new UserFacingError(`setup failed: ${untested}`, {
        userMessage:
          `${untested} Without it the tests cannot run, so I stopped before changing anything. ` +
          "Fix the install (or ask the operator to allow the registry: `EGRESS_ALLOW`), or set `tests.allowUntested: true` in `.github/iquest.yml` to let me work without tests (the PR is then marked untested).",
      });
    }
    if (untested) await card.update((s) => addWarning(s, `Untested: ${untested} \`tests.allowUntested\` lets the fix go on; the PR says it is untested.`));
    // Where the bot branch is now: the push must start from here (expected-commit push).
    const remoteSha = await readRemoteBranch(services.workspace, prepared.checkout, branch, readToken);
    if (remoteSha && mode === "issue") {
      // An earlier attempt of this very job pushed before it was interrupted (a crash between the
      // push and the PR): open the PR from that push instead of running the agent again.
      const earlier = await readPublishedJob(services.workspace, prepared.checkout, branch, remoteSha, readToken);
      if (earlier.jobId === ctx.jobId) return await resumeAfterPush(ctx, { branch, baseBranch, task, message: earlier.message });
      const foreign = await readForeignCommits(services.workspace, prepared.checkout, branch, remoteSha, identity.email, readToken);
      if (foreign.length > 0) {
        // Checked before the model spends anything: a re-trigger never overwrites human work.
        throw new HumanCommitsError(branch, foreign);
      }
    }

    // --- reproduce, attempt, verify ---
    const attempts = await attemptsPhase(ctx, services, {
      prepared,
      task,
      ...(round ? { extra: round.extra } : {}),
      reproduce: mode === "issue" && config.fix.reproduce,
    });
    // The change as the run viewer shows it (new files included), before publishing.
    await saveDiff(ctx, prepared.env);

    // --- choose ---
    const decision = decideFix({
      records: attempts.records,
      ...(attempts.winner ? { winner: attempts.winner } : {}),
      ...(attempts.fallback ? { fallback: attempts.fallback } : {}),
      openOnFailure: config.fix.openOnFailure,
      onTestsFailing: config.fix.onTestsFailing,
      mode,
      ...(attempts.stoppedEarly ? { stoppedEarly: attempts.stoppedEarly } : {}),
    });
    if (decision.kind === "stop") {
      await card.update((s) => setPhase(s, "PR", "skipped", "nothing verified to publish"));
      return decision.outcome;
    }

    // --- publish ---
    return await publishFix(ctx, services, {
      prepared,
      decision,
      attempts,
      task,
      ...(round ? { round } : {}),
      mode,
      branch,
      baseBranch,
      remoteSha,
      identity,
      ...(untested ? { untested } : {}),
    });
  } finally {
    await prepared.close();
  }
}

/** Why setup failed, for the card and the PR: the command, its exit, and what the proxy refused. */
function setupFailure(prepared: PreparedWorkspace): string {
  const setup = prepared.setup!;
  const refused = describeEgressRefusals(prepared.env.egressReport());
  return `Setup (\`${prepared.plan?.setup ?? "setup"}\`) failed with exit code ${setup.exitCode}${setup.killed ? ` (${setup.killed})` : ""}.${refused ? ` ${refused}` : ""}`;
}
