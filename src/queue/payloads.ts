import { z } from "zod";

/**
 * Job payloads: ids only. No tokens, no issue or comment text: the worker re-reads text from
 * GitHub with a fresh, narrow token, so a payload in Redis leaks nothing and a re-run always acts
 * on current data. `.strict()` makes an extra field a bug we hear about, not a silent leak.
 */

/**
 * `notify`: a short write the web process decided on but does not make itself (a reply to a
 * command, a reaction, the config check run, the polite "slow down"), so the webhook path makes
 * no GitHub call and the write is made once, looked up by its marker before it is created.
 */
/**
 * `answer`: a reply in a thread on one of the bot's review comments (a question, or
 * `/iquest apply`): answered in the thread, no job card (the answer is the output).
 */
export const JOB_KINDS = ["fix", "review", "upgrade", "notify", "answer", "rebase"] as const;
export type JobKind = (typeof JOB_KINDS)[number];
/**
 * The kinds with a job card. Notify jobs are a write, no more; answers reply in their thread;
 * rebases (`rebase`: the bot's PRs onto their base's new head) comment only when they cannot.
 */
export type WorkKind = Exclude<JobKind, "notify" | "answer" | "rebase">;
/** The kinds without a card: a failure is logged and retried, never shown on an issue. */
export type QuietKind = Exclude<JobKind, WorkKind>;

const repoFullName = z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, "owner/name");
const positiveId = z.number().int().positive();

const base = {
  installationId: positiveId,
  repoId: positiveId,
  repo: repoFullName,
  /** X-GitHub-Delivery of the webhook that caused this job; absent for scheduled runs. */
  deliveryId: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/).optional(),
  trigger: z.enum(["label", "comment", "pull_request", "schedule", "review", "check_run", "push", "review_comment"]),
  /** The comment that asked for the job (its text holds /iquest notes; re-read by the worker). */
  commentId: positiveId.optional(),
  /** Login of the user who triggered the job (for review requests and mentions). */
  actor: z.string().regex(/^[A-Za-z0-9_.\[\]-]{1,100}$/).optional(),
};

export const fixPayloadSchema = z
  .object({
    kind: z.literal("fix"),
    ...base,
    issueNumber: positiveId,
    /**
     * "issue": a fix from the issue (label or /iquest fix). "feedback": another round on the bot's
     * PR, asked for by `/iquest <feedback>` (commentId) or a review requesting changes (reviewId).
     * "check": repair a failing check run on the bot's PR (checkRunId).
     */
    mode: z.enum(["issue", "feedback", "check"]).optional(),
    prNumber: positiveId.optional(),
    reviewId: positiveId.optional(),
    checkRunId: positiveId.optional(),
  })
  .strict();

export const reviewPayloadSchema = z
  .object({
    kind: z.literal("review"),
    ...base,
    prNumber: positiveId,
    headSha: z.string().regex(/^[0-9a-f]{40}$/),
    /** `/iquest review`: reviews drafts too. */
    onDemand: z.boolean().optional(),
  })
  .strict();

export const upgradePayloadSchema = z
  .object({
    kind: z.literal("upgrade"),
    ...base,
    /** Where `/iquest upgrade` was asked, so the job card goes there; absent for schedules. */
    issueNumber: positiveId.optional(),
  })
  .strict();

/** What a notify job says; each reason's text is built by the worker (jobs/notify/texts.ts). */
export const NOTIFY_REASONS = [
  "help",
  "unknown-command",
  "issue-closed",
  "pr-closed",
  "fix-on-pr",
  "review-on-issue",
  "review-pr-closed",
  "nothing-to-stop",
  "stopped-queued",
  "stop-signalled",
  "check-fixes-spent",
  "limited",
  "config-check",
] as const;
export type NotifyReason = (typeof NOTIFY_REASONS)[number];

export const notifyPayloadSchema = z
  .object({
    kind: z.literal("notify"),
    ...base,
    reason: z.enum(NOTIFY_REASONS),
    /** The issue or PR the reply goes on (absent for the config check run). */
    issueNumber: positiveId.optional(),
    /** config-check: the pushed commit the check run is for. */
    headSha: z.string().regex(/^[0-9a-f]{40}$/).optional(),
    /** check-fixes-spent: the failing check (its name is re-read by the worker). */
    checkRunId: positiveId.optional(),
    /** limited: which limit, how much, and when its window ends. */
    limit: z
      .object({
        scope: z.enum(["sender", "installation"]),
        count: positiveId,
        windowSeconds: positiveId,
        resetInSeconds: positiveId,
      })
      .strict()
      .optional(),
  })
  .strict();

export const answerPayloadSchema = z
  .object({
    kind: z.literal("answer"),
    ...base,
    prNumber: positiveId,
    /** The reply to answer (a review comment; its text and thread are re-read by the worker). */
    commentId: positiveId,
    /** "answer": a question to the bot; "apply": `/iquest apply` of the thread's suggestion. */
    mode: z.enum(["answer", "apply"]),
  })
  .strict();

export const rebasePayloadSchema = z
  .object({
    kind: z.literal("rebase"),
    ...base,
    /** The branch that moved: the bot's open PRs based on it are rebased onto its new head. */
    branch: z.string().min(1).max(255).regex(/^[^\s~^:?*[\\]+$/, "a branch name"),
  })
  .strict();

export const jobPayloadSchema = z.discriminatedUnion("kind", [
  fixPayloadSchema,
  reviewPayloadSchema,
  upgradePayloadSchema,
  notifyPayloadSchema,
  answerPayloadSchema,
  rebasePayloadSchema,
]);

export type FixPayload = z.infer<typeof fixPayloadSchema>;
export type ReviewPayload = z.infer<typeof reviewPayloadSchema>;
export type UpgradePayload = z.infer<typeof upgradePayloadSchema>;
export type NotifyPayload = z.infer<typeof notifyPayloadSchema>;
export type AnswerPayload = z.infer<typeof answerPayloadSchema>;
export type RebasePayload = z.infer<typeof rebasePayloadSchema>;
export type JobPayload = z.infer<typeof jobPayloadSchema>;

/** The issue or PR a job is about: the unit for "one job at a time" and for /iquest stop. */
export function targetKey(p: JobPayload): string {
  switch (p.kind) {
    case "fix":
      return `fix-${p.repoId}-${p.issueNumber}`;
    case "review":
      return `review-${p.repoId}-${p.prNumber}`;
    case "upgrade":
      return `upgrade-${p.repoId}`;
    case "notify":
      // One reply per asking comment and reason (a comment delivered under two ids answers once).
      return `notify-${p.repoId}-${p.reason}-${p.commentId ?? p.headSha ?? p.checkRunId ?? p.deliveryId ?? p.issueNumber ?? 0}`;
    case "answer":
      // One answer per asking comment.
      return `answer-${p.repoId}-${p.commentId}`;
    case "rebase":
      return `rebase-${p.repoId}-${p.branch.replace(/[^A-Za-z0-9._-]/g, "_")}`;
  }
}

/** BullMQ custom ids may not contain ':'; delivery GUIDs never do, but be explicit. */
export function jobIdFor(p: JobPayload): string {
  if (p.deliveryId) return `${p.kind}-${p.deliveryId}`;
  return `${targetKey(p)}-${Date.now()}`;
}
