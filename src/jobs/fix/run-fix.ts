import { loadPrompts } from "../../agent/prompts.js";
import { buildFixPrompts, readRepoInstructions } from "../../agent/task-prompt.js";
import { STEP_PERMISSIONS } from "../../github/app-client.js";
import { clipBody, createCommentOnce, findCommentByMarker, MAX_BODY } from "../../github/comments.js";
import { fetchPermission } from "../../github/permissions.js";
import { requestReview, upsertPull } from "../../github/pull-requests.js";
import type { FixPayload } from "../../queue/payloads.js";
import { PermanentError, UserFacingError, cancelledFromSignal } from "../../shared/errors.js";
import { inlineCode, sanitizeModelText } from "../../shared/model-text.js";
import { BranchMovedError, ForbiddenChangeError, HumanCommitsError } from "../../workspace/errors.js";
import { publishCheckout, readForeignCommits, readPublishedJob, readRemoteBranch, type PublishResult } from "../../workspace/publish.js";
import { revertPaths } from "../../workspace/revert-paths.js";
import { compareWithBaseline, runTests, type BaselineVerdict, type TestRun } from "../../workspace/test-runner.js";
import { runAgentPhase } from "../agent-phase.js";
import { addWarning, finishCard, setPhase } from "../job-card.js";
import { describeEgressRefusals, prepareWorkspace, type PreparedWorkspace } from "../prepare-workspace.js";
import type { JobContext, JobHandler, JobOutcome } from "../run-job.js";
import type { JobServices } from "../services.js";
import { describeTestRun, describeVerdict, recordTests, saveDiff } from "../test-summary.js";
import { decideFix, whatWasTried } from "./decide.js";
import { formatFixTask, gatherFixTask } from "./gather.js";
import { roundContext } from "./round-context.js";
import { fixPrBody, fixPrTitle } from "./pr-body.js";
import type { FixTask } from "./gather.js";

/**
 * The fix job: gather → prepare → agent → verify → publish, with the job card ticking.
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

    // --- agent ---
    const prompts = await loadPrompts();
    const built = buildFixPrompts(prompts, {
      task: formatFixTask(task, round?.extra),
      workdir: prepared.env.workdir,
      repoInstructions: await readRepoInstructions(prepared.env),
      ...(prepared.plan ? { testCommand: prepared.plan.test } : {}),
      commandTimeoutMs: services.sandbox.testTimeoutMs,
    });
    if (built.hiddenRemoved > 0) {
      await card.update((s) => addWarning(s, `Removed ${built.hiddenRemoved} hidden item(s) (HTML comments, invisible characters) from the task before the model saw it.`));
    }
    const agent = await runAgentPhase(ctx, services, {
      use: "fix",
      repoProfile: config.fix.profile,
      phase: "agent",
      env: prepared.env,
      workdir: prepared.env.workdir,
      systemPrompt: built.systemPrompt,
      taskPrompt: built.taskPrompt,
      budget: config.fix.budget,
    });
    const outcome = agent.result.outcome;
    const used = {
      steps: agent.result.steps,
      maxSteps: config.fix.budget.maxSteps,
      tokens: agent.result.usage.totalTokens,
      minutes: agent.result.durationMs / 60_000,
    };
    await card.update((s) =>
      setPhase(s, "agent", outcome.kind === "submitted" ? "done" : "failed", `${used.steps} steps · ${used.tokens.toLocaleString("en-US")} tokens`),
    );
    if (outcome.kind === "cancelled") throw cancelledFromSignal(ctx.signal);
    if (outcome.kind === "error") throw new PermanentError(outcome.message, { userMessage: `The agent stopped with an error: ${outcome.message}` });

    // --- verify ---
    let after: TestRun | undefined;
    let verdict: BaselineVerdict | undefined;
    if (prepared.plan && prepared.baseline) {
      await card.update((s) => setPhase(s, "tests", "running", prepared.plan!.test));
      after = await runTests(prepared.env, prepared.plan, { timeoutMs: services.sandbox.testTimeoutMs, signal: ctx.signal });
      recordTests(ctx.metrics, after);
      verdict = compareWithBaseline(prepared.baseline, after);
      await card.update((s) => setPhase(s, "tests", verdict!.verdict === "fail" ? "failed" : "done", describeTestRun(after!)));
    } else {
      await card.update((s) => setPhase(s, "tests", "skipped", "no test command"));
    }

    // The change as the run viewer shows it (new files included), before publishing.
    await saveDiff(ctx, prepared.env);

    // --- publish ---
    const decision = decideFix({
      outcome,
      verdict,
      testsFailAfter: after ? after.exitCode !== 0 || after.killed !== undefined : false,
      onTestsFailing: config.fix.onTestsFailing,
      mode,
    });
    const writeToken = () => ctx.app.tokenForRepo(p.installationId, p.repoId, STEP_PERMISSIONS.publish);
    await card.update((s) => setPhase(s, "PR", "running"));
    const summary = outcome.kind === "submitted" ? outcome.summary : "";
    // The commit message carries the model's words too: the same cleaning as the PR body.
    const commitText = sanitizeModelText(summary).slice(0, 4000);
    const message =
      mode === "issue"
        ? `Fix #${p.issueNumber}: ${task.issue.title.slice(0, 60)}\n\n${commitText}`
        : `Address ${mode === "check" ? "failing check" : "review feedback"} on #${round!.prNumber}\n\n${commitText}`;
    const withheld: string[] = [];
    const publishOnce = (): Promise<PublishResult> =>
      publishCheckout(
        services.workspace,
        prepared.checkout,
        {
          branch,
          expectedRemoteSha: remoteSha,
          identity: { name: identity.name, email: identity.email },
          message,
          jobId: ctx.jobId,
          token: writeToken,
          knownSecrets: services.knownSecrets,
          allowHumanCommits: mode !== "issue",
          signal: ctx.signal,
        },
        ctx.log,
      );
    let published: PublishResult;
    try {
      published = await publishOnce().catch(async (err: unknown) => {
        // The branch moved under us. If what is there now is this very job's push (a worker
        // that lost the lock but pushed first), the work is published: go on from it.
        if (err instanceof BranchMovedError && mode === "issue") {
          const now = await readRemoteBranch(services.workspace, prepared.checkout, branch, readToken);
          const earlier = now ? await readPublishedJob(services.workspace, prepared.checkout, branch, now, readToken) : undefined;
          if (earlier?.jobId === ctx.jobId) throw new AlreadyPublished(earlier.message);
        }
        throw err;
      });
    } catch (err) {
      if (err instanceof AlreadyPublished) return await resumeAfterPush(ctx, { branch, baseBranch, task, message: err.message });
      // Workflow files, submodules and oversized files are taken out and the rest published, with
      // the reason on the card and in the PR. A secret in the change stops the publish: part of a
      // file cannot be taken out safely.
      if (!(err instanceof ForbiddenChangeError) || err.violations.some((v) => v.kind === "secret")) throw err;
      const paths = [...new Set(err.violations.map((v) => v.path))];
      await revertPaths(services.workspace.git, prepared.checkout, paths);
      // The paths are the model's choice: shown so that no name can close the code span.
      for (const v of err.violations) withheld.push(`${inlineCode(v.path)}: ${v.detail}`);
      await card.update((s) => addWarning(s, `Left out of the change (not allowed for iquest-bot):\n${withheld.map((w) => `- ${w}`).join("\n")}`));
      published = await publishOnce();
    }

    if (published.status === "no-changes") {
      await card.update((s) => setPhase(s, "PR", "skipped", "no change"));
      return decision.noChange(summary, withheld);
    }
    if (decision.kind === "branch-only") {
      await card.update((s) => setPhase(s, "PR", "skipped", `pushed \`${branch}\``));
      return decision.outcome(branch, whatWasTried(agent.steps));
    }

    const testsText = verdict ? describeVerdict(verdict) : "_No test command was found, so no tests ran. Set `tests.command` in `.github/iquest.yml`._";
    const runUrl = ctx.runs.urlFor(ctx.jobId);
    if (mode === "issue") {
      const publishClient = await ctx.app.forRepo(p.installationId, p.repoId, STEP_PERMISSIONS.publish, { signal: ctx.signal });
      const pull = await upsertPull(publishClient, repo, {
        branch,
        base: baseBranch,
        draft: true,
        title: fixPrTitle({ issueNumber: p.issueNumber, issueTitle: task.issue.title, testsFailing: decision.testsFailing, ...(untested ? { untested } : {}) }),
        body: fixPrBody({
          issueNumber: p.issueNumber,
          issueTitle: task.issue.title,
          summary,
          testsFailing: decision.testsFailing,
          ...(untested ? { untested } : {}),
          tests: testsText,
          ...(prepared.baseline ? { baselineLine: describeTestRun(prepared.baseline) } : {}),
          ...(after ? { afterLine: describeTestRun(after) } : {}),
          budget: used,
          profile: agent.profile.name,
          model: agent.profile.model,
          steps: agent.steps,
          withheld,
          ...(runUrl ? { runUrl } : {}),
          jobId: ctx.jobId,
        }),
      });
      await card.update((s) => setPhase(s, "PR", "done", `#${pull.number}`));
      const result = decision.outcome(branch, whatWasTried(agent.steps), pull);
      if (pull.created && p.actor) {
        // The card says "done" first: the review request is one more paced write (3 s apart
        // from the PR's creation on GitHub.com), and the person does not need to wait for it.
        await card.update((s) => finishCard(s, result.tone, result.text));
        const flushed = card.flush().catch(() => {});
        await requestReview(publishClient, repo, pull.number, p.actor);
        await flushed;
      }
      return result;
    }

    // A feedback or check round: the PR exists; say what this round did on it.
    const publishClient = await ctx.app.forRepo(p.installationId, p.repoId, STEP_PERMISSIONS.publish, { signal: ctx.signal });
    const pushed = (published as { commit: string }).commit;
    // One summary per push: looked up by its marker before it is created, and not blindly
    // re-sent after a lost answer (a re-run, or a 5xx after GitHub posted it, finds it).
    const marker = `<!-- iquest-round:${pushed} -->`;
    if (!(await findCommentByMarker(publishClient, repo, round!.prNumber, marker))) {
      const body = ctx.redact(
        [
          `**iquest-bot pushed \`${pushed.slice(0, 12)}\`** for ${mode === "check" ? "the failing check" : "the feedback"}.`,
          "",
          sanitizeModelText(summary) || "_No summary._",
          "",
          testsText,
          ...(withheld.length ? ["", "Not included:", ...withheld.map((w) => `- ${w}`)] : []),
        ].join("\n"),
      );
      await createCommentOnce(publishClient, repo, round!.prNumber, `${clipBody(body, MAX_BODY - marker.length - 2)}\n\n${marker}`, marker);
    }
    await card.update((s) => setPhase(s, "PR", "done", `#${round!.prNumber} updated`));
    return decision.outcome(branch, whatWasTried(agent.steps), { number: round!.prNumber, url: round!.prUrl });
  } finally {
    await prepared.close();
  }
}

/** This job's push is already on the branch (see resumeAfterPush). */
class AlreadyPublished extends Error {}

/**
 * An earlier attempt of this job pushed its commit and was interrupted before the PR (a crash,
 * a lost lock). The commit is the work: open or update the draft PR from it, once, and say on
 * the card what happened. The test result of that attempt is in its run log, not here.
 */
async function resumeAfterPush(
  ctx: JobContext,
  o: { branch: string; baseBranch: string; task: FixTask; message: string },
): Promise<JobOutcome> {
  const p = ctx.payload as FixPayload;
  const summary = o.message.split("\n").slice(1).join("\n").trim();
  await ctx.card.update((s) =>
    ["agent", "tests"].reduce((acc, phase) => setPhase(acc, phase, "skipped", "done by an earlier attempt of this job"), s),
  );
  const client = await ctx.app.forRepo(p.installationId, p.repoId, STEP_PERMISSIONS.publish, { signal: ctx.signal });
  const pull = await upsertPull(client, ctx.repo, {
    branch: o.branch,
    base: o.baseBranch,
    draft: true,
    title: fixPrTitle({ issueNumber: p.issueNumber, issueTitle: o.task.issue.title, testsFailing: false }),
    body: [
      `Fixes #${p.issueNumber}`,
      "",
      "### What changed and why",
      "",
      sanitizeModelText(summary) || "_See the commit._",
      "",
      "### Tests",
      "",
      "_This job was interrupted after it pushed the change and before it opened this PR; it was resumed from the push. The test result is in the run log of the job._",
      "",
      `<sub>Opened by iquest-bot as a draft. Job \`${ctx.jobId}\`. Comment \`/iquest <feedback>\` for another round.</sub>`,
    ].join("\n"),
  });
  if (pull.created && p.actor) await requestReview(client, ctx.repo, pull.number, p.actor);
  await ctx.card.update((s) => setPhase(s, "PR", "done", `#${pull.number}`));
  return { tone: "success", text: `${pull.created ? "Opened" : "Updated"} draft PR [#${pull.number}](${pull.url}) from the change an interrupted attempt of this job had pushed.` };
}

/** Why setup failed, for the card and the PR: the command, its exit, and what the proxy refused. */
function setupFailure(prepared: PreparedWorkspace): string {
  const setup = prepared.setup!;
  const refused = describeEgressRefusals(prepared.env.egressReport());
  return `Setup (\`${prepared.plan?.setup ?? "setup"}\`) failed with exit code ${setup.exitCode}${setup.killed ? ` (${setup.killed})` : ""}.${refused ? ` ${refused}` : ""}`;
}
