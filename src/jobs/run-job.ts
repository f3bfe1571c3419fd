import { describeProblems, type LoadedRepoConfig } from "../config/repo-config.js";
import { STEP_PERMISSIONS, type GitHubApp } from "../github/app-client.js";
import { loadRepoConfig } from "../github/repo-config.js";
import { describeRequestError } from "../github/request-errors.js";
import { splitFullName, type GitHub, type RepoName } from "../github/types.js";
import { jobPayloadSchema, targetKey, type AnswerPayload, type JobPayload, type NotifyPayload, type RebasePayload, type WorkKind } from "../queue/payloads.js";
import { CancelledError, IquestError, RateLimitedError, cancelledFromSignal, errorMessage, nextStepOf, primaryRateLimitReset } from "../shared/errors.js";
import type { Logger } from "../shared/log.js";
import type { Metrics } from "../shared/metrics.js";
import type { Redact } from "../shared/redact.js";
import type { RunLinks } from "../runs/run-links.js";
import { JobCard, createCommentSink, nullSink } from "./card-publisher.js";
import type { ModelSetup } from "./model-for-job.js";
import { addWarning, finishCard, initialCard, type CardTone } from "./job-card.js";
import { runNotify, type NotifyServices } from "./notify/run-notify.js";

/** Everything a job handler gets: ids, a narrow GitHub client, the repo config and its card. */
export interface JobContext {
  payload: JobPayload;
  jobId: string;
  attempt: number;
  maxAttempts: number;
  signal: AbortSignal;
  github: GitHub;
  app: GitHubApp;
  repo: RepoName;
  config: LoadedRepoConfig;
  card: JobCard;
  log: Logger;
  redact: Redact;
  models: ModelSetup;
  /** The process's metrics, for shared/recorders.ts (recordAgentRun, recordTestRun, …). */
  metrics?: Metrics;
  /** Where this job's trajectory goes and the viewer link for its card (runs/run-links.ts). */
  runs: RunLinks;
  /** The repository as GitHub describes it (read once per job). */
  repoInfo: { defaultBranch: string; private: boolean; htmlUrl: string };
}

export interface JobOutcome {
  tone: CardTone;
  text: string;
}

export type JobHandler = (ctx: JobContext) => Promise<JobOutcome>;

/** Notes left for a job's card by the web side (a duplicate request, for instance). */
export interface JobNotes {
  /** Take (and remove) the notes waiting for a job. */
  take(jobId: string): Promise<string[]>;
  /** Jobs running in this process: a note's arrival calls the job's drain function. */
  live: Map<string, () => Promise<void>>;
}

export interface WorkerDeps {
  app: GitHubApp;
  notes?: JobNotes;
  handlers: Record<WorkKind, JobHandler>;
  /** Answer jobs (replies in the bot's review threads); absent: they fail as not configured. */
  answer?: (payload: AnswerPayload, jobId: string, log: Logger, signal: AbortSignal) => Promise<string>;
  /** Rebase jobs (the bot's PRs onto their base's new head); absent: they fail as not configured. */
  rebase?: (payload: RebasePayload, jobId: string, log: Logger, signal: AbortSignal) => Promise<string>;
  /** What notify jobs need (schedules for the config check, the app's slug). */
  notify?: NotifyServices;
  redact: Redact;
  log: Logger;
  models: ModelSetup;
  metrics?: Metrics;
  runs: RunLinks;
  progressIntervalMs?: number;
}

/** The BullMQ job, reduced to what the core needs (so it can run without BullMQ in tests). */
export interface JobLike {
  id?: string;
  data: unknown;
  attemptsMade: number;
  opts: { attempts?: number; backoff?: number | { type?: string; delay?: number } };
  /** Whether this worker still holds the job's lock (absent: assume it does). */
  ownsLock?: () => Promise<boolean>;
}

/** Thrown to the queue layer: `retry` false becomes BullMQ's UnrecoverableError. */
export class JobFailed extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
  ) {
    super(message);
    this.name = "JobFailed";
  }
}

const TITLES: Record<WorkKind, (p: JobPayload) => string> = {
  fix: (p) => `fix for #${(p as { issueNumber: number }).issueNumber}`,
  review: (p) => `review of #${(p as { prNumber: number }).prNumber}`,
  upgrade: () => "dependency upgrade",
};

/** Where the card lives: the issue, the PR, or the issue where `/iquest upgrade` was asked. */
function cardIssue(p: JobPayload): number | undefined {
  // A feedback or check round reports on the PR where it was asked for.
  if (p.kind === "fix") return p.prNumber ?? p.issueNumber;
  if (p.kind === "review" || p.kind === "answer") return p.prNumber;
  if (p.kind === "rebase") return undefined;
  return p.issueNumber;
}

export async function processJob(deps: WorkerDeps, job: JobLike, signal: AbortSignal): Promise<JobOutcome> {
  const parsed = jobPayloadSchema.safeParse(job.data);
  if (!parsed.success) throw new JobFailed(`invalid job payload: ${parsed.error.issues[0]?.message}`, false);
  const payload = parsed.data;
  const jobId = job.id ?? "unknown";
  const log = deps.log.child({ jobId, deliveryId: payload.deliveryId, kind: payload.kind, repo: payload.repo });
  const attempt = job.attemptsMade + 1;
  const maxAttempts = job.opts.attempts ?? 1;
  const repo = splitFullName(payload.repo);
  // Which process runs which job, for operators with several workers (and after a takeover).
  log.info({ attempt }, "job started");
  if (payload.kind === "notify" || payload.kind === "answer" || payload.kind === "rebase") {
    return processQuiet(deps, payload, jobId, log, attempt, maxAttempts, signal);
  }

  // Two clients with the same narrow token: the job's work is cancelled with the job, but the
  // card must still be written after a cancel, so its client ignores the signal.
  const cardGithub = await deps.app.forRepo(payload.installationId, payload.repoId, STEP_PERMISSIONS.converse);
  const github = await deps.app.forRepo(payload.installationId, payload.repoId, STEP_PERMISSIONS.converse, { signal });
  const issueNumber = cardIssue(payload);
  // Reviews keep one card per PR, edited by each push's review, instead of one per push.
  const cardKey = payload.kind === "review" ? targetKey(payload) : jobId;
  const commentSink = issueNumber ? createCommentSink(cardGithub, repo, issueNumber, cardKey) : nullSink;
  // A worker that lost the job's lock (it froze; another worker took the job over) must not
  // write the card any more: its progress would overwrite the other worker's result.
  const sink = job.ownsLock
    ? {
        write: async (body: string) => {
          if (!(await job.ownsLock!().catch(() => true))) {
            log.warn("not writing the job card: this worker no longer holds the job's lock");
            return;
          }
          await commentSink.write(body);
        },
      }
    : commentSink;
  const card = new JobCard(
    sink,
    cardKey,
    initialCard(payload.kind, jobId, TITLES[payload.kind](payload)),
    deps.redact,
    deps.progressIntervalMs,
    Date.now,
    (err) => log.warn({ err }, "job card write failed; the next write carries the latest state"),
  );
  /** End the card and wait until GitHub shows it (the card's last word must not be lost). */
  const finish = async (tone: CardTone, text: string) => {
    await card.update((s) => finishCard(s, tone, text));
    await card.flush();
  };
  let cardStarted = false;

  try {
    // 👀 first: the cheapest visible sign that the request was heard. GitHub answers 200 for a
    // reaction that already exists, so a re-run adds nothing.
    if (payload.commentId) {
      await github.rest.reactions.createForIssueComment({ ...repo, comment_id: payload.commentId, content: "eyes" });
    } else if (payload.kind === "fix") {
      await github.rest.reactions.createForIssue({ ...repo, issue_number: payload.issueNumber, content: "eyes" });
    }
    const config = await loadRepoConfig(github, repo);
    const { data: repoData } = await github.rest.repos.get({ ...repo });
    const repoInfo = { defaultBranch: repoData.default_branch, private: repoData.private, htmlUrl: repoData.html_url };
    // The run viewer's record: without it a run counts as private (the safe default).
    deps.runs.writeMeta({
      jobId,
      kind: payload.kind,
      repo: payload.repo,
      private: repoInfo.private,
      title: TITLES[payload.kind](payload),
      htmlUrl: issueNumber ? `${repoInfo.htmlUrl}/issues/${issueNumber}` : repoInfo.htmlUrl,
      startedAt: new Date().toISOString(),
    });
    const runUrl = deps.runs.urlFor(jobId);
    if (runUrl) await card.update((s) => ({ ...s, footer: { ...s.footer, runUrl } }));
    if (config.problems.length > 0) {
      await card.update((s) => addWarning(s, `\`.github/iquest.yml\` has problems:\n${describeProblems(config.problems)}`));
    }
    await card.flush();
    cardStarted = true;
    if (deps.notes) {
      const notes = deps.notes;
      const drain = async () => {
        for (const note of await notes.take(jobId)) await card.update((s) => addWarning(s, note));
      };
      notes.live.set(jobId, () => drain().catch((err) => log.warn({ err }, "card note failed")));
      await drain();
    }

    const ctx: JobContext = {
      payload,
      jobId,
      attempt,
      maxAttempts,
      signal,
      github,
      app: deps.app,
      repo,
      config,
      card,
      log,
      redact: deps.redact,
      models: deps.models,
      metrics: deps.metrics,
      runs: deps.runs,
      repoInfo,
    };
    const outcome = await deps.handlers[payload.kind](ctx);
    await finish(outcome.tone, outcome.text);
    deps.metrics?.jobsFinished.inc({ kind: payload.kind, outcome: outcome.tone });
    log.info({ outcome: outcome.tone }, "job finished");
    return outcome;
  } catch (caught) {
    // An aborted GitHub call or tool surfaces as an AbortError: report it as the cancel it is.
    const err = signal.aborted && !(caught instanceof CancelledError) ? cancelledFromSignal(signal) : caught;
    // A worker that lost the job's lock says nothing more: the card belongs to whoever runs the
    // job now, and a late "failed" must not overwrite their result.
    if ((err instanceof CancelledError && err.reason === "lock-lost") || !(await (job.ownsLock?.() ?? Promise.resolve(true)).catch(() => true))) {
      log.warn({ err }, "this worker lost the job's lock; leaving the card and the branch to the worker that has it");
      throw err instanceof CancelledError ? err : new CancelledError("lock-lost");
    }
    if (err instanceof CancelledError && err.reason !== "shutdown") {
      const text =
        err.reason === "stop" ? "Cancelled by `/iquest stop`. Nothing was published." : "Superseded by a newer request.";
      await finish("cancelled", text).catch((e) => log.error({ err: e }, "card update failed"));
      deps.metrics?.jobsFinished.inc({ kind: payload.kind, outcome: "cancelled" });
      return { tone: "cancelled", text };
    }
    if (err instanceof CancelledError) throw err; // shutdown: the queue layer hands the job back
    const resetAt = err instanceof RateLimitedError ? err.resetAt : primaryRateLimitReset(err);
    if (resetAt !== undefined) {
      // Not a failure: the queue delays this job (and the installation's others) until GitHub
      // resets the limit, without spending an attempt (queue/worker.ts).
      log.warn({ resetAt: new Date(resetAt).toISOString() }, "GitHub rate limit spent: job delayed until the reset");
      if (cardStarted) {
        await card.update((s) => addWarning(s, `GitHub's API rate limit for this installation is used up; the job waits and starts again at about ${new Date(resetAt).toISOString().slice(11, 16)} UTC.`));
        await card.flush().catch(() => {});
      }
      throw new RateLimitedError(payload.installationId, resetAt);
    }
    const next = nextStepOf(err);
    const message = err instanceof IquestError ? err.userMessage : (describeRequestError(err) ?? errorMessage(err));
    const willRetry = next === "retry" && attempt < maxAttempts;
    log.error({ err, attempt, maxAttempts, willRetry }, "job failed");
    if (willRetry) {
      // Before the card exists, a retry stays quiet: the next attempt makes the card.
      if (cardStarted) {
        const delay = retryDelayMs(job.opts.backoff, attempt);
        const when = delay === undefined ? "" : ` in about ${formatDelay(delay)}`;
        await card.update((s) => addWarning(s, `Attempt ${attempt} of ${maxAttempts} hit a temporary problem (${message}); retrying${when}.`));
        await card.flush().catch(() => {});
      }
      throw new JobFailed(message, true);
    }
    const text =
      next === "tell-user"
        ? message
        : `The job failed: ${message.replace(/\.\s*$/, "")}${next === "retry" ? ` (gave up after ${maxAttempts} attempts)` : ""}. Comment \`/iquest ${payload.kind}\` to try again.`;
    await finish("failure", text).catch((e) => log.error({ err: e }, "card update failed"));
    deps.metrics?.jobsFinished.inc({ kind: payload.kind, outcome: "failure" });
    throw new JobFailed(message, false);
  } finally {
    deps.notes?.live.delete(jobId);
  }
}

/**
 * A job without a card: a notify job (one write), an answer in a review thread, a rebase of the
 * bot's PRs. No 👀 (each is itself the answer, or silent). A failure that may pass (GitHub 5xx, a
 * dropped connection, a rate limit, the model away) is retried by the queue; a 4xx is final.
 * Each job makes its writes once (markers, leases), so a retry never duplicates.
 */
async function processQuiet(
  deps: WorkerDeps,
  payload: NotifyPayload | AnswerPayload | RebasePayload,
  jobId: string,
  log: Logger,
  attempt: number,
  maxAttempts: number,
  signal: AbortSignal,
): Promise<JobOutcome> {
  const kind = payload.kind;
  try {
    let text: string;
    if (payload.kind === "notify") {
      const github = await deps.app.forRepo(payload.installationId, payload.repoId, STEP_PERMISSIONS.notify, { signal });
      text = await runNotify(github, splitFullName(payload.repo), payload, deps.notify ?? {}, log);
    } else if (payload.kind === "answer") {
      if (!deps.answer) throw new JobFailed("answer jobs are not configured in this worker", false);
      text = await deps.answer(payload, jobId, log, signal);
    } else {
      if (!deps.rebase) throw new JobFailed("rebase jobs are not configured in this worker", false);
      text = await deps.rebase(payload, jobId, log, signal);
    }
    if (kind !== "notify") log.info({ kind, result: text }, "job done");
    deps.metrics?.jobsFinished.inc({ kind, outcome: "success" });
    return { tone: "success", text };
  } catch (err) {
    if (err instanceof JobFailed) throw err;
    if (signal.aborted) throw cancelledFromSignal(signal);
    const resetAt = primaryRateLimitReset(err);
    if (resetAt !== undefined) throw new RateLimitedError(payload.installationId, resetAt);
    const status = (err as { status?: unknown }).status;
    const transient = nextStepOf(err) === "retry" || typeof status !== "number" || status >= 500 || status === 429 || status === 403;
    const message = describeRequestError(err) ?? errorMessage(err);
    log.warn({ err: message, kind, ...(payload.kind === "notify" ? { reason: payload.reason } : {}), attempt, maxAttempts }, `${kind} failed`);
    if (!transient || attempt >= maxAttempts) deps.metrics?.jobsFinished.inc({ kind, outcome: "failure" });
    throw new JobFailed(`${payload.kind === "notify" ? `notify ${payload.reason}` : kind}: ${message}`, transient && attempt < maxAttempts);
  }
}

/** When the queue will run the next attempt after `attempt` failed (BullMQ's backoff rules). */
export function retryDelayMs(backoff: JobLike["opts"]["backoff"], attempt: number): number | undefined {
  if (backoff === undefined) return undefined;
  if (typeof backoff === "number") return backoff;
  if (backoff.type === "fixed") return backoff.delay ?? 0;
  if (backoff.type === "exponential") return Math.round(2 ** (attempt - 1) * (backoff.delay ?? 0));
  return undefined; // a custom strategy: no promise about when
}

function formatDelay(ms: number): string {
  if (ms < 1500) return "1 s";
  if (ms < 90_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 90 * 60_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}

/**
 * The honest placeholder for a job kind that is not built yet: it does the visible first part
 * for real (reaction and card) and then says plainly that nothing else happened.
 */
export function notBuiltYet(kind: WorkKind): JobHandler {
  return async () => ({
    tone: "neutral",
    text: `The **${kind}** job is not built yet in this version of iquest-bot, so nothing was changed. The request was received and checked; this card is all it does for now.`,
  });
}
