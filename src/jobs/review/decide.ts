/**
 * Whether to review at all, decided again in the worker (the PR may have changed since the
 * webhook): closed PRs never; drafts, bots' PRs and repos with review off only on demand
 * (`/iquest review` by a writer). Pure; returns the sentence for the card, or undefined to go on.
 */
export interface SkipInput {
  state: string;
  draft: boolean;
  authorIsBot: boolean;
  enabled: boolean;
  onDemand: boolean;
}

export function skipReason(input: SkipInput): string | undefined {
  if (input.state !== "open") return "The pull request is closed, so there is nothing to review.";
  if (input.onDemand) return undefined;
  if (!input.enabled) return "Automatic reviews are off for this repository (`review.enabled: false`); comment `/iquest review` to ask for one.";
  if (input.draft) return "The pull request is a draft: drafts are reviewed on request. Comment `/iquest review`, or mark it ready for review.";
  if (input.authorIsBot) return "The pull request was opened by a bot: bots' PRs are reviewed on request. Comment `/iquest review` to ask for one.";
  return undefined;
}

/** Untrusted: the head lives in another repository (a fork), or its repository is gone. */
export function isForkPull(pr: { head: { repo: { id: number } | null }; base: { repo: { id: number } } }): boolean {
  return !pr.head.repo || pr.head.repo.id !== pr.base.repo.id;
}
