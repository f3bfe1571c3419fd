import { createRequire } from "node:module";

/**
 * Real webhook payloads from GitHub's own examples (@octokit/webhooks-examples), with the few
 * fields a test cares about overridden. Starting from real payloads keeps handlers honest about
 * the shapes GitHub sends.
 */
const require = createRequire(import.meta.url);
export const EXAMPLES = require("@octokit/webhooks-examples") as Array<{
  name: string;
  examples: Array<Record<string, unknown> & { action?: string }>;
}>;

export const INSTALLATION_ID = 2;
export const REPO_ID = 186853002;
export const OWNER = "Codertocat";
export const REPO = "Hello-World";

function example(name: string, action?: string): Record<string, any> {
  const group = EXAMPLES.find((e) => e.name === name);
  const ex = group?.examples.find((x) => action === undefined || x.action === action);
  if (!ex) throw new Error(`no example for ${name}.${action}`);
  return structuredClone(ex) as Record<string, any>;
}

const writer = { login: "alice", id: 1001, type: "User" };

function withRepo(p: Record<string, any>): Record<string, any> {
  p.installation = { id: INSTALLATION_ID, node_id: "x" };
  p.repository.id = REPO_ID;
  return p;
}

export function issuesLabeled(opts: { label?: string; sender?: object; state?: string; issue?: number } = {}) {
  const p = withRepo(example("issues", "labeled"));
  p.label.name = opts.label ?? "iquest:fix";
  p.sender = { ...p.sender, ...(opts.sender ?? writer) };
  p.issue.state = opts.state ?? "open";
  p.issue.number = opts.issue ?? 1;
  return p;
}

export function issueComment(body: string, opts: { sender?: object; pr?: boolean; issue?: number; commentId?: number; state?: string } = {}) {
  const p = withRepo(example("issue_comment", "created"));
  const sender = { ...p.sender, ...(opts.sender ?? writer) };
  p.sender = sender;
  p.comment.user = sender;
  p.comment.body = body;
  p.comment.id = opts.commentId ?? 5001;
  p.issue.number = opts.issue ?? 1;
  p.issue.state = opts.state ?? "open";
  if (opts.pr) p.issue.pull_request = { url: "https://api.github.com/repos/Codertocat/Hello-World/pulls/1" };
  else delete p.issue.pull_request;
  return p;
}

export function pullRequest(action: string, opts: { draft?: boolean; user?: object; number?: number; sha?: string } = {}) {
  const p = withRepo(example("pull_request", "opened"));
  p.action = action;
  p.pull_request.draft = opts.draft ?? false;
  p.pull_request.state = "open";
  p.pull_request.number = opts.number ?? 2;
  p.number = p.pull_request.number;
  if (opts.user) p.pull_request.user = { ...p.pull_request.user, ...opts.user };
  p.sender = { ...p.sender, ...(opts.user ?? writer) };
  if (opts.sha) p.pull_request.head.sha = opts.sha;
  return p;
}

export function installation(action: string, repos: Array<{ id: number; full_name: string }>) {
  const p = example("installation", "created");
  p.action = action;
  p.installation = { ...p.installation, id: INSTALLATION_ID };
  p.repositories = repos.map((r) => ({ ...r, name: r.full_name.split("/")[1], node_id: "x", private: false }));
  return p;
}

export function installationRepositories(added: Array<{ id: number; full_name: string }>, removed: Array<{ id: number; full_name: string }>) {
  const p = example("installation_repositories");
  p.action = added.length ? "added" : "removed";
  p.installation = { ...p.installation, id: INSTALLATION_ID };
  p.repositories_added = added;
  p.repositories_removed = removed;
  return p;
}

export function push(opts: { ref?: string; files?: string[]; after?: string } = {}) {
  const p = withRepo(example("push"));
  p.repository.default_branch = "main";
  p.ref = opts.ref ?? "refs/heads/main";
  p.deleted = false;
  p.after = opts.after ?? "a".repeat(40);
  p.commits = [{ id: p.after, added: [], removed: [], modified: opts.files ?? [] }];
  return p;
}

export function pullRequestReview(opts: { state?: string; user?: object; headRef?: string; number?: number; prState?: string } = {}) {
  const p = withRepo(example("pull_request_review", "submitted"));
  const user = { ...p.review.user, ...(opts.user ?? writer) };
  p.review.state = opts.state ?? "changes_requested";
  p.review.user = user;
  p.review.id = 8001;
  p.sender = user;
  p.pull_request.number = opts.number ?? 12;
  p.pull_request.state = opts.prState ?? "open";
  p.pull_request.head.ref = opts.headRef ?? "iquest/fix-7";
  p.pull_request.head.repo = { ...p.pull_request.head.repo, full_name: `${OWNER}/${REPO}` };
  return p;
}

export function checkRunCompleted(opts: { conclusion?: string; headBranch?: string; appId?: number; pr?: number; name?: string } = {}) {
  const p = withRepo(example("check_run", "completed"));
  p.check_run.conclusion = opts.conclusion ?? "failure";
  p.check_run.name = opts.name ?? "test";
  p.check_run.id = 9001;
  p.check_run.check_suite.head_branch = opts.headBranch ?? "iquest/fix-7";
  p.check_run.app = { ...p.check_run.app, id: opts.appId ?? 29310 };
  p.check_run.pull_requests = [{ number: opts.pr ?? 12, head: { ref: p.check_run.check_suite.head_branch, sha: p.check_run.head_sha }, base: { ref: "main", sha: "0".repeat(40) } }];
  return p;
}

/** A reply in a review thread (GitHub's example, as `alice` unless told). */
export function reviewCommentReply(opts: { body?: string; user?: object; inReplyTo?: number | null; prState?: string } = {}) {
  const p = withRepo(example("pull_request_review_comment", "created"));
  const user = { ...p.comment.user, ...(opts.user ?? writer) };
  p.comment.user = user;
  p.sender = user;
  p.comment.id = 6001;
  p.comment.body = opts.body ?? "@iquest-bot why?";
  if (opts.inReplyTo === null) delete p.comment.in_reply_to_id;
  else p.comment.in_reply_to_id = opts.inReplyTo ?? 5001;
  p.pull_request.number = 12;
  p.pull_request.state = opts.prState ?? "open";
  return p;
}
