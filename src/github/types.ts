import type { ProbotOctokit } from "probot";

/** An authenticated REST client (Probot's Octokit with retry and throttling plugins). */
export type GitHub = InstanceType<typeof ProbotOctokit>;

export interface RepoName {
  owner: string;
  repo: string;
}

export function splitFullName(fullName: string): RepoName {
  const [owner, repo] = fullName.split("/");
  if (!owner || !repo) throw new Error(`not an owner/name: ${fullName}`);
  return { owner, repo };
}

/** HTTP status of an Octokit RequestError, if any. */
export function statusOf(err: unknown): number | undefined {
  const status = (err as { status?: unknown })?.status;
  return typeof status === "number" ? status : undefined;
}
