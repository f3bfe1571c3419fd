import type { BareRepo } from "./git.js";

/**
 * The simulator's in-memory GitHub. Plain arrays and records, so tests can read anything the
 * app wrote (`sim.state.comments.filter(...)`) without an API. Ids come from one counter per
 * kind, starting at different bases so an issue id is never mistaken for a comment id.
 */

export type Permission = "read" | "write";
export type PermissionSet = Record<string, Permission>;
export type RepoRole = "read" | "triage" | "write" | "maintain" | "admin";

export interface SimUser {
  id: number;
  login: string;
  type: "User" | "Bot" | "Organization";
  name?: string;
  email?: string;
}

export interface SimRepo {
  id: number;
  owner: string;
  name: string;
  fullName: string;
  private: boolean;
  defaultBranch: string;
  description: string | null;
  createdAt: string;
  git: BareRepo;
  collaborators: Map<string, RepoRole>;
  /** Next issue/PR number (they share one sequence, as on GitHub). */
  nextNumber: number;
}

export interface SimInstallation {
  id: number;
  account: string;
  /** Repository ids the installation may reach ("all" = every repo of the account). */
  repositoryIds: number[] | "all";
  permissions: PermissionSet;
  events: string[];
  createdAt: string;
  suspended: boolean;
}

export interface TokenRecord {
  token: string;
  installationId: number;
  /** Repos this token reaches (resolved: a request without repository_ids gets them all). */
  repositoryIds: number[];
  permissions: PermissionSet;
  createdAt: string;
  expiresAt: string;
  /** What the client asked for, verbatim (undefined = not sent). */
  requested: { repository_ids?: number[]; repositories?: string[]; permissions?: Record<string, string> };
  /** "api" when minted over HTTP by the app, "sim" when a test minted it directly. */
  via: "api" | "sim";
  revoked: boolean;
}

export interface SimLabel {
  id: number;
  repoId: number;
  name: string;
  color: string;
  description: string | null;
}

export interface SimIssue {
  id: number;
  repoId: number;
  number: number;
  title: string;
  body: string | null;
  user: string;
  state: "open" | "closed";
  stateReason: string | null;
  labels: string[];
  assignees: string[];
  locked: boolean;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  /** Set when this number is a pull request. */
  isPullRequest: boolean;
}

export interface SimPull {
  id: number;
  repoId: number;
  number: number;
  head: { ref: string; sha: string };
  base: { ref: string; sha: string };
  draft: boolean;
  merged: boolean;
  mergedAt: string | null;
  mergeCommitSha: string | null;
  maintainerCanModify: boolean;
  requestedReviewers: string[];
  /** A PR from a fork: the owner of the fork the head lives in. Only the JSON shape models it
   * (head.repo is another repository); the commits are in this repo, under refs/pull/N/head. */
  forkOwner?: string;
}

export interface SimComment {
  id: number;
  repoId: number;
  issueNumber: number;
  user: string;
  body: string;
  createdAt: string;
  updatedAt: string;
  /** Every body this comment had, oldest first (the job card's edits, for instance). */
  history: string[];
}

export type ReactionSubject =
  | { type: "issue"; repoId: number; number: number }
  | { type: "issue_comment"; repoId: number; commentId: number }
  | { type: "review_comment"; repoId: number; commentId: number };

export interface SimReaction {
  id: number;
  subject: ReactionSubject;
  user: string;
  content: string;
  createdAt: string;
}

export type ReviewState = "PENDING" | "COMMENTED" | "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED";

export interface SimReview {
  id: number;
  repoId: number;
  pullNumber: number;
  user: string;
  body: string;
  state: ReviewState;
  commitId: string;
  submittedAt: string | null;
}

export interface SimReviewComment {
  id: number;
  repoId: number;
  pullNumber: number;
  reviewId: number;
  user: string;
  body: string;
  path: string;
  line: number | null;
  side: "LEFT" | "RIGHT" | null;
  startLine: number | null;
  startSide: "LEFT" | "RIGHT" | null;
  position: number | null;
  subjectType: "line" | "file";
  diffHunk: string;
  commitId: string;
  inReplyTo: number | null;
  createdAt: string;
  updatedAt: string;
}

export interface SimAnnotation {
  path: string;
  start_line: number;
  end_line: number;
  start_column?: number;
  end_column?: number;
  annotation_level: "notice" | "warning" | "failure";
  message: string;
  title?: string;
  raw_details?: string;
}

export interface SimCheckRun {
  id: number;
  repoId: number;
  /** The app that owns the run: ours, or another (CI) seeded by a test. */
  app: { id: number; slug: string; name: string };
  name: string;
  headSha: string;
  status: "queued" | "in_progress" | "completed" | "waiting" | "requested" | "pending";
  conclusion: string | null;
  startedAt: string | null;
  completedAt: string | null;
  detailsUrl: string | null;
  externalId: string | null;
  output: { title: string | null; summary: string | null; text: string | null; annotations: SimAnnotation[] };
  actions: unknown[];
  /** Every body sent to create/update, in order. */
  updates: unknown[];
}

/** A commit status (the legacy API that some CI systems still use instead of check runs). */
export interface SimStatus {
  id: number;
  repoId: number;
  sha: string;
  state: "error" | "failure" | "pending" | "success";
  context: string;
  description: string | null;
  targetUrl: string | null;
  creator: string;
  createdAt: string;
}

export interface PushRecord {
  repo: string;
  ref: string;
  before: string;
  after: string;
  /** The new commit does not descend from the old one (a force push or a deletion). */
  forced: boolean;
  accepted: boolean;
  /** Why the server refused it (the pre-receive hook's message). */
  rejection?: string;
  /** "git" over smart HTTP, "api" through the refs API, "sim" from a test seed. */
  via: "git" | "api" | "sim";
  token?: string;
  at: string;
}

export interface DeliveryRecord {
  id: number;
  guid: string;
  event: string;
  action: string | null;
  installationId: number | null;
  repositoryId: number | null;
  deliveredAt: string;
  redelivery: boolean;
  /** Seconds, as GitHub reports it. */
  duration: number;
  /** "OK", "Invalid HTTP Response: 503", "timed out", "failed to connect". */
  status: string;
  /** 0 when no HTTP answer came back. */
  statusCode: number;
  url: string;
  request: { headers: Record<string, string>; payload: string };
  response: { headers: Record<string, string>; payload: string };
}

export type AuthInfo =
  | { kind: "none" }
  | { kind: "app"; appId: string }
  | { kind: "installation"; token: string; installationId: number; via: "header" | "basic" }
  | { kind: "invalid"; reason: string };

export interface RecordedRequest {
  seq: number;
  at: string;
  target: "rest" | "git";
  method: string;
  /** Path without the /api/v3 prefix and without the query. */
  path: string;
  query: Record<string, string>;
  /** The matched route template, e.g. "POST /repos/{owner}/{repo}/pulls". */
  route?: string;
  auth: AuthInfo;
  body?: unknown;
  status?: number;
  /** The injected fault that answered this request instead of the simulator. */
  fault?: string;
  durationMs?: number;
}

export type IdKind =
  | "user"
  | "repo"
  | "issue"
  | "pull"
  | "comment"
  | "reaction"
  | "review"
  | "reviewComment"
  | "checkRun"
  | "status"
  | "label"
  | "delivery"
  | "request";

export class SimState {
  users = new Map<string, SimUser>();
  repos: SimRepo[] = [];
  installations: SimInstallation[] = [];
  tokens: TokenRecord[] = [];
  labels: SimLabel[] = [];
  issues: SimIssue[] = [];
  pulls: SimPull[] = [];
  comments: SimComment[] = [];
  reactions: SimReaction[] = [];
  reviews: SimReview[] = [];
  reviewComments: SimReviewComment[] = [];
  checkRuns: SimCheckRun[] = [];
  statuses: SimStatus[] = [];
  pushes: PushRecord[] = [];
  deliveries: DeliveryRecord[] = [];
  requests: RecordedRequest[] = [];
  /** Releases of public repositories outside the simulation (actions such as actions/checkout): full name → tags, newest last. */
  releases = new Map<string, string[]>();

  #ids: Record<IdKind, number> = {
    user: 5_000,
    repo: 700_000,
    issue: 2_000_000,
    pull: 3_000_000,
    comment: 4_000_000,
    reaction: 5_000_000,
    review: 6_000_000,
    reviewComment: 7_000_000,
    checkRun: 8_000_000,
    status: 8_500_000,
    label: 9_000_000,
    delivery: 10_000_000,
    request: 0,
  };

  nextId(kind: IdKind): number {
    return ++this.#ids[kind];
  }

  user(login: string, type: SimUser["type"] = "User"): SimUser {
    let u = this.users.get(login.toLowerCase());
    if (!u) {
      u = { id: this.nextId("user"), login, type: login.endsWith("[bot]") ? "Bot" : type };
      this.users.set(login.toLowerCase(), u);
    }
    return u;
  }

  findUser(login: string): SimUser | undefined {
    return this.users.get(login.toLowerCase());
  }

  findRepo(owner: string, name: string): SimRepo | undefined {
    const full = `${owner}/${name}`.toLowerCase();
    return this.repos.find((r) => r.fullName.toLowerCase() === full);
  }

  repoById(id: number): SimRepo | undefined {
    return this.repos.find((r) => r.id === id);
  }

  issue(repoId: number, number: number): SimIssue | undefined {
    return this.issues.find((i) => i.repoId === repoId && i.number === number);
  }

  pull(repoId: number, number: number): SimPull | undefined {
    return this.pulls.find((p) => p.repoId === repoId && p.number === number);
  }

  installationFor(repo: SimRepo): SimInstallation | undefined {
    return this.installations.find(
      (i) => !i.suspended && (i.repositoryIds === "all" ? i.account.toLowerCase() === repo.owner.toLowerCase() : i.repositoryIds.includes(repo.id)),
    );
  }

  installationRepos(inst: SimInstallation): SimRepo[] {
    return inst.repositoryIds === "all"
      ? this.repos.filter((r) => r.owner.toLowerCase() === inst.account.toLowerCase())
      : inst.repositoryIds.map((id) => this.repoById(id)).filter((r): r is SimRepo => !!r);
  }
}
