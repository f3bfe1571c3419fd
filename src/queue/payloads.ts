import { z } from "zod";

/**
 * Job payloads: ids only. No tokens, no issue or comment text: the worker re-reads text from
 * GitHub with a fresh, narrow token, so a payload in Redis leaks nothing and a re-run always acts
 * on current data. `.strict()` makes an extra field a bug we hear about, not a silent leak.
 */

export const JOB_KINDS = ["fix", "review", "upgrade"] as const;
export type JobKind = (typeof JOB_KINDS)[number];

const repoFullName = z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, "owner/name");
const positiveId = z.number().int().positive();

const base = {
  installationId: positiveId,
  repoId: positiveId,
  repo: repoFullName,
  /** X-GitHub-Delivery of the webhook that caused this job; absent for scheduled runs. */
  deliveryId: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/).optional(),
  trigger: z.enum(["label", "comment", "pull_request", "schedule", "review", "check_run"]),
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

export const jobPayloadSchema = z.discriminatedUnion("kind", [
  fixPayloadSchema,
  reviewPayloadSchema,
  upgradePayloadSchema,
]);

export type FixPayload = z.infer<typeof fixPayloadSchema>;
export type ReviewPayload = z.infer<typeof reviewPayloadSchema>;
export type UpgradePayload = z.infer<typeof upgradePayloadSchema>;
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
  }
}

/** BullMQ custom ids may not contain ':'; delivery GUIDs never do, but be explicit. */
export function jobIdFor(p: JobPayload): string {
  if (p.deliveryId) return `${p.kind}-${p.deliveryId}`;
  return `${targetKey(p)}-${Date.now()}`;
}
