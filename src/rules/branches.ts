/**
 * The bot's branch names. The publisher pushes nowhere else (src/workspace/publish-policy.ts);
 * these tell the web side which PRs are the bot's own, where `/iquest <feedback>`, a review
 * requesting changes, or a failing check start another round.
 */
const FIX_BRANCH = /^iquest\/fix-(\d{1,9})$/;

export function fixBranch(issueNumber: number): string {
  return `iquest/fix-${issueNumber}`;
}

/** The issue number of a fix branch, or undefined for any other ref. */
export function issueOfFixBranch(ref: string | null | undefined): number | undefined {
  const m = FIX_BRANCH.exec(ref ?? "");
  return m ? Number(m[1]) : undefined;
}

/** A PR is the bot's fix PR when its head is a fix branch in the same repository (not a fork). */
export function botFixPull(pr: { head: { ref: string; repo?: { full_name?: string } | null } }, repoFullName: string): number | undefined {
  if (pr.head.repo?.full_name && pr.head.repo.full_name !== repoFullName) return undefined;
  return issueOfFixBranch(pr.head.ref);
}
