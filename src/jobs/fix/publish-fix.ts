import { STEP_PERMISSIONS } from "../../github/app-client.js";
import { clipBody, createCommentOnce, findCommentByMarker, MAX_BODY } from "../../github/comments.js";
import { requestReview, upsertPull } from "../../github/pull-requests.js";
import type { FixPayload } from "../../queue/payloads.js";
import { inlineCode, sanitizeModelText } from "../../shared/model-text.js";
import { BranchMovedError, ForbiddenChangeError } from "../../workspace/errors.js";
import { publishCheckout, readPublishedJob, readRemoteBranch, type PublishResult } from "../../workspace/publish.js";
import { revertPaths } from "../../workspace/revert-paths.js";
import { literalIgnorePattern, setupLeftovers } from "../../workspace/sandbox-change.js";
import { addWarning, finishCard, setPhase } from "../job-card.js";
import type { PreparedWorkspace } from "../prepare-workspace.js";
import type { JobContext, JobOutcome } from "../run-job.js";
import type { JobServices } from "../services.js";
import { describeTestRun, describeVerdict } from "../test-summary.js";
import type { AttemptsPhaseResult } from "./attempts-phase.js";
import { attemptsTable } from "./attempts.js";
import { nothingPublished, publishedOutcome, unverifiedReason, type FixDecision } from "./decide.js";
import type { FixTask } from "./gather.js";
import { fixPrBody, fixPrTitle } from "./pr-body.js";
import { reproductionSection } from "./reproduction.js";
import type { RoundContext } from "./round-context.js";
import type { BotIdentity } from "../../github/bot-identity.js";

/**
 * The fix job's publish phase: push the chosen attempt's change (a fast-forward from the sha the
 * job saw, so a late run cannot overwrite a newer one), then open or update the draft PR, or
 * post the round's summary on the PR. Refused paths (workflows, submodules) are taken out and
 * said; a secret stops the publish.
 */
export interface PublishFixInput {
  prepared: PreparedWorkspace;
  decision: Extract<FixDecision, { kind: "publish" }>;
  attempts: AttemptsPhaseResult;
  task: FixTask;
  round?: RoundContext;
  mode: "issue" | "feedback" | "check";
  branch: string;
  baseBranch: string;
  remoteSha: string | null;
  identity: BotIdentity;
  untested?: string;
}

export async function publishFix(ctx: JobContext, services: JobServices, input: PublishFixInput): Promise<JobOutcome> {
  const p = ctx.payload as FixPayload;
  const { card, repo } = ctx;
  const { prepared, decision, mode, branch, round } = input;
  const chosen = decision.chosen;
  const records = input.attempts.records;
  const tests = records.find((r) => r.n === chosen.n)!.tests;
  const readToken = () => ctx.app.tokenForRepo(p.installationId, p.repoId, STEP_PERMISSIONS.checkout);
  const writeToken = () => ctx.app.tokenForRepo(p.installationId, p.repoId, STEP_PERMISSIONS.publish);
  await card.update((s) => setPhase(s, "PR", "running"));
  const summary = chosen.end.kind === "submitted" ? chosen.end.summary : "";
  // The commit message carries the model's words too: the same cleaning as the PR body.
  const commitText = sanitizeModelText(summary).slice(0, 4000);
  const message =
    mode === "issue"
      ? `Fix #${p.issueNumber}: ${input.task.issue.title.slice(0, 60)}\n\n${commitText}`
      : `Address ${mode === "check" ? "failing check" : "review feedback"} on #${round!.prNumber}\n\n${commitText}`;
  const withheld: string[] = [];
  // What setup wrote and the agent left alone is not part of the fix: new files are left out,
  // changed tracked files put back as they are on the base.
  const leftovers = await setupLeftovers(prepared.env, input.attempts.setup, ctx.signal);
  if (leftovers.modified.length) await revertPaths(services.workspace.git, prepared.checkout, leftovers.modified);
  const publishOnce = (): Promise<PublishResult> =>
    publishCheckout(
      services.workspace,
      prepared.checkout,
      {
        branch,
        expectedRemoteSha: input.remoteSha,
        identity: { name: input.identity.name, email: input.identity.email },
        message,
        jobId: ctx.jobId,
        token: writeToken,
        knownSecrets: services.knownSecrets,
        allowHumanCommits: mode !== "issue",
        ...(leftovers.created.length ? { exclude: leftovers.created.map(literalIgnorePattern) } : {}),
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
    if (err instanceof AlreadyPublished) return await resumeAfterPush(ctx, { branch, baseBranch: input.baseBranch, task: input.task, message: err.message });
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
    return nothingPublished(summary, withheld);
  }
  const outcome = (pull?: { number: number; url: string; created?: boolean }) =>
    publishedOutcome(decision, { branch, mode, records, ...(pull ? { pull } : {}) });
  if (!decision.openPr) {
    await card.update((s) => setPhase(s, "PR", "skipped", `pushed \`${branch}\``));
    return outcome();
  }

  const testsText = tests.verdict ? describeVerdict(tests.verdict) : "_No test command was found, so no tests ran. Set `tests.command` in `.github/iquest.yml`._";
  const runUrl = ctx.runs.urlFor(ctx.jobId);
  const publishClient = await ctx.app.forRepo(p.installationId, p.repoId, STEP_PERMISSIONS.publish, { signal: ctx.signal });
  const unverified = decision.verified ? undefined : unverifiedReason(chosen);
  if (mode === "issue") {
    const pull = await upsertPull(publishClient, repo, {
      branch,
      base: input.baseBranch,
      draft: true,
      title: fixPrTitle({ issueNumber: p.issueNumber, issueTitle: input.task.issue.title, ...(unverified ? { unverified } : {}), ...(input.untested ? { untested: input.untested } : {}) }),
      body: fixPrBody({
        issueNumber: p.issueNumber,
        issueTitle: input.task.issue.title,
        summary,
        ...(unverified ? { unverified } : {}),
        ...(input.untested ? { untested: input.untested } : {}),
        tests: testsText,
        ...(input.attempts.reproduction ? { reproduction: reproductionSection(input.attempts.reproduction, records.find((r) => r.n === chosen.n)!.reproAfter) } : {}),
        ...(records.length > 1 ? { attempts: attemptsTable(records, decision.verified ? chosen : undefined) } : {}),
        ...(prepared.baseline ? { baselineLine: describeTestRun(prepared.baseline) } : {}),
        ...(tests.after ? { afterLine: describeTestRun(tests.after) } : {}),
        budget: { steps: chosen.steps, maxSteps: ctx.config.config.fix.budget.maxSteps, tokens: chosen.tokens, minutes: chosen.minutes },
        profile: chosen.profile,
        model: chosen.model,
        steps: input.attempts.stepsOf(chosen.n),
        withheld,
        ...(runUrl ? { runUrl } : {}),
        jobId: ctx.jobId,
      }),
    });
    await card.update((s) => setPhase(s, "PR", "done", `#${pull.number}`));
    const result = outcome(pull);
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
  const pushed = (published as { commit: string }).commit;
  // One summary per push: looked up by its marker before it is created, and not blindly
  // re-sent after a lost answer (a re-run, or a 5xx after GitHub posted it, finds it).
  const marker = `<!-- iquest-round:${pushed} -->`;
  if (!(await findCommentByMarker(publishClient, repo, round!.prNumber, marker))) {
    const body = ctx.redact(
      [
        `**iquest-bot pushed \`${pushed.slice(0, 12)}\`** for ${mode === "check" ? "the failing check" : "the feedback"}${unverified ? `, **unverified**: ${unverified}` : ""}.`,
        "",
        sanitizeModelText(summary) || "_No summary._",
        "",
        testsText,
        ...(records.length > 1 ? ["", attemptsTable(records, decision.verified ? chosen : undefined)] : []),
        ...(withheld.length ? ["", "Not included:", ...withheld.map((w) => `- ${w}`)] : []),
      ].join("\n"),
    );
    await createCommentOnce(publishClient, repo, round!.prNumber, `${clipBody(body, MAX_BODY - marker.length - 2)}\n\n${marker}`, marker);
  }
  await card.update((s) => setPhase(s, "PR", "done", `#${round!.prNumber} updated`));
  return outcome({ number: round!.prNumber, url: round!.prUrl });
}

/** This job's push is already on the branch (see resumeAfterPush). */
class AlreadyPublished extends Error {}

/**
 * An earlier attempt of this job pushed its commit and was interrupted before the PR (a crash,
 * a lost lock). The commit is the work: open or update the draft PR from it, once, and say on
 * the card what happened. The test result of that attempt is in its run log, not here.
 */
export async function resumeAfterPush(
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
    title: fixPrTitle({ issueNumber: p.issueNumber, issueTitle: o.task.issue.title }),
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
