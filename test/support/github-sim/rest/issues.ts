import type { Need } from "../auth.js";
import { HttpError, notFound, validationFailed } from "../http-error.js";
import type { SimComment, SimIssue, SimLabel, SimRepo } from "../state.js";
import { pullJsonFull } from "./pull-json.js";
import { noContent, ok, type RestContext, type Router, type SimServices } from "./router.js";

/** GitHub's limit on issue, PR and comment bodies. */
export const MAX_BODY = 65_536;

/**
 * Issues and their comments and labels. PRs are issues too (same numbers, same comments
 * endpoint), and GitHub accepts either the `issues` or the `pull_requests` permission for a
 * PR's conversation.
 */
export function registerIssues(router: Router): void {
  router.add("GET /repos/{owner}/{repo}/issues", (ctx) => {
    const repo = ctx.repo(["issues", "read"], ["pull_requests", "read"]);
    const state = ctx.query.state ?? "open";
    const labels = ctx.query.labels ? ctx.query.labels.split(",").map((l) => l.trim().toLowerCase()) : [];
    let issues = ctx.sim.state.issues.filter((i) => i.repoId === repo.id && (state === "all" || i.state === state));
    if (labels.length) issues = issues.filter((i) => labels.every((l) => i.labels.some((x) => x.toLowerCase() === l)));
    if (ctx.query.creator) issues = issues.filter((i) => i.user.toLowerCase() === ctx.query.creator!.toLowerCase());
    if (ctx.query.since) issues = issues.filter((i) => i.updatedAt >= ctx.query.since!);
    issues = [...issues].sort((a, b) => (ctx.query.direction === "asc" ? a.number - b.number : b.number - a.number));
    return ctx.page(issues, (i) => ctx.sim.shapes.issue(i));
  });

  router.add("POST /repos/{owner}/{repo}/issues", (ctx) => {
    const repo = ctx.repo(["issues", "write"]);
    const title = ctx.string("title", { required: true })!;
    const body = ctx.string("body", { max: MAX_BODY }) ?? null;
    const issue = createIssue(ctx.sim, repo, { title, body, user: ctx.actor() });
    if (Array.isArray(ctx.body.labels)) issue.labels = ensureLabels(ctx.sim, repo, ctx.body.labels as unknown[]);
    if (Array.isArray(ctx.body.assignees)) issue.assignees = (ctx.body.assignees as unknown[]).map(String);
    ctx.sim.effects.emit("issues", repo, ctx.actor(), () => ({ action: "opened", issue: ctx.sim.shapes.issue(issue) }));
    return ok(ctx.sim.shapes.issue(issue), 201);
  });

  router.add("GET /repos/{owner}/{repo}/issues/{issue_number}", (ctx) => {
    const { issue } = issueFor(ctx, "read");
    return ok(ctx.sim.shapes.issue(issue));
  });

  router.add("PATCH /repos/{owner}/{repo}/issues/{issue_number}", (ctx) => {
    const { repo, issue } = issueFor(ctx, "write");
    const title = ctx.string("title");
    const body = ctx.string("body", { max: MAX_BODY });
    if (title !== undefined) issue.title = title;
    if (body !== undefined) issue.body = body;
    if (ctx.body.state === "open" || ctx.body.state === "closed") setIssueState(ctx.sim, issue, ctx.body.state, ctx.body.state_reason as string | undefined);
    if (Array.isArray(ctx.body.labels)) issue.labels = ensureLabels(ctx.sim, repo, ctx.body.labels as unknown[]);
    if (Array.isArray(ctx.body.assignees)) issue.assignees = (ctx.body.assignees as unknown[]).map(String);
    touch(ctx, issue);
    return ok(ctx.sim.shapes.issue(issue));
  });

  router.add("POST /repos/{owner}/{repo}/issues/{issue_number}/assignees", (ctx) => {
    const { issue } = issueFor(ctx, "write");
    for (const a of (ctx.body.assignees as unknown[] | undefined) ?? []) if (!issue.assignees.includes(String(a))) issue.assignees.push(String(a));
    touch(ctx, issue);
    return ok(ctx.sim.shapes.issue(issue), 201);
  });

  // --- comments ---

  router.add("GET /repos/{owner}/{repo}/issues/{issue_number}/comments", (ctx) => {
    const { repo, issue } = issueFor(ctx, "read");
    let comments = ctx.sim.state.comments.filter((c) => c.repoId === repo.id && c.issueNumber === issue.number);
    if (ctx.query.since) comments = comments.filter((c) => c.updatedAt >= ctx.query.since!);
    return ctx.page(comments, (c) => ctx.sim.shapes.comment(c));
  });

  router.add("GET /repos/{owner}/{repo}/issues/comments", (ctx) => {
    const repo = ctx.repo(["issues", "read"], ["pull_requests", "read"]);
    return ctx.page(ctx.sim.state.comments.filter((c) => c.repoId === repo.id), (c) => ctx.sim.shapes.comment(c));
  });

  router.add("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", (ctx) => {
    const { repo, issue } = issueFor(ctx, "write");
    const body = ctx.string("body", { required: true, max: MAX_BODY, resource: "IssueComment" })!;
    const comment = addComment(ctx.sim, repo, issue, ctx.actor(), body);
    return ok(ctx.sim.shapes.comment(comment), 201);
  });

  router.add("GET /repos/{owner}/{repo}/issues/comments/{comment_id}", (ctx) => {
    const { comment } = commentFor(ctx, "read");
    return ok(ctx.sim.shapes.comment(comment));
  });

  router.add("PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}", (ctx) => {
    const { repo, comment } = commentFor(ctx, "write");
    const body = ctx.string("body", { required: true, max: MAX_BODY, resource: "IssueComment" })!;
    comment.body = body;
    comment.history.push(body);
    comment.updatedAt = iso(ctx);
    ctx.sim.effects.emit("issue_comment", repo, ctx.actor(), () => ({
      action: "edited",
      issue: ctx.sim.shapes.issue(ctx.sim.state.issue(repo.id, comment.issueNumber)!),
      comment: ctx.sim.shapes.comment(comment),
    }));
    return ok(ctx.sim.shapes.comment(comment));
  });

  router.add("DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}", (ctx) => {
    const { comment } = commentFor(ctx, "write");
    ctx.sim.state.comments = ctx.sim.state.comments.filter((c) => c !== comment);
    return noContent();
  });

  // --- labels ---

  router.add("GET /repos/{owner}/{repo}/labels", (ctx) => {
    const repo = ctx.repo(["issues", "read"], ["pull_requests", "read"]);
    return ctx.page(ctx.sim.state.labels.filter((l) => l.repoId === repo.id), (l) => ctx.sim.shapes.label(l));
  });

  router.add("GET /repos/{owner}/{repo}/labels/{name}", (ctx) => {
    const repo = ctx.repo(["issues", "read"], ["pull_requests", "read"]);
    const label = findLabel(ctx.sim, repo, ctx.params.name!);
    if (!label) throw notFound();
    return ok(ctx.sim.shapes.label(label));
  });

  router.add("POST /repos/{owner}/{repo}/labels", (ctx) => {
    const repo = ctx.repo(["issues", "write"], ["pull_requests", "write"]);
    const name = ctx.string("name", { required: true })!;
    if (findLabel(ctx.sim, repo, name)) throw validationFailed({ resource: "Label", code: "already_exists", field: "name" });
    const label = createLabel(ctx.sim, repo, name, ctx.string("color") ?? "ededed", ctx.string("description") ?? null);
    return ok(ctx.sim.shapes.label(label), 201);
  });

  router.add("GET /repos/{owner}/{repo}/issues/{issue_number}/labels", (ctx) => {
    const { repo, issue } = issueFor(ctx, "read");
    return ok(ctx.sim.shapes.labelsOf(repo.id, issue.labels));
  });

  const addLabels = (ctx: RestContext, replace: boolean) => {
    const { repo, issue } = issueFor(ctx, "write");
    const names = Array.isArray(ctx.body) ? (ctx.body as unknown[]) : ((ctx.body.labels as unknown[] | undefined) ?? []);
    const before = new Set(issue.labels.map((l) => l.toLowerCase()));
    const wanted = ensureLabels(ctx.sim, repo, names);
    issue.labels = replace ? wanted : [...issue.labels, ...wanted.filter((n) => !before.has(n.toLowerCase()))];
    touch(ctx, issue);
    for (const name of issue.labels.filter((n) => !before.has(n.toLowerCase()))) {
      const label = findLabel(ctx.sim, repo, name)!;
      if (issue.isPullRequest) {
        const pull = ctx.sim.state.pull(repo.id, issue.number)!;
        ctx.sim.effects.emit("pull_request", repo, ctx.actor(), async () => ({
          action: "labeled",
          number: pull.number,
          pull_request: await pullJsonFull(ctx.sim, pull),
          label: ctx.sim.shapes.label(label),
        }));
      } else {
        ctx.sim.effects.emit("issues", repo, ctx.actor(), () => ({
          action: "labeled",
          issue: ctx.sim.shapes.issue(issue),
          label: ctx.sim.shapes.label(label),
        }));
      }
    }
    return ok(ctx.sim.shapes.labelsOf(repo.id, issue.labels));
  };
  router.add("POST /repos/{owner}/{repo}/issues/{issue_number}/labels", (ctx) => addLabels(ctx, false));
  router.add("PUT /repos/{owner}/{repo}/issues/{issue_number}/labels", (ctx) => addLabels(ctx, true));

  router.add("DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}", (ctx) => {
    const { repo, issue } = issueFor(ctx, "write");
    const name = ctx.params.name!.toLowerCase();
    if (!issue.labels.some((l) => l.toLowerCase() === name)) throw new HttpError(404, "Label does not exist");
    issue.labels = issue.labels.filter((l) => l.toLowerCase() !== name);
    touch(ctx, issue);
    return ok(ctx.sim.shapes.labelsOf(repo.id, issue.labels));
  });

  router.add("DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels", (ctx) => {
    const { issue } = issueFor(ctx, "write");
    issue.labels = [];
    touch(ctx, issue);
    return noContent();
  });
}

export const isoNow = (sim: SimServices) => new Date(sim.now()).toISOString().replace(/\.\d{3}Z$/, "Z");
const iso = (ctx: RestContext) => isoNow(ctx.sim);

function touch(ctx: RestContext, issue: SimIssue): void {
  issue.updatedAt = iso(ctx);
}

/** Needs for an issue number: a PR's conversation also opens to `pull_requests`. */
function needsFor(level: "read" | "write", isPull: boolean): Need[] {
  return isPull ? [["issues", level], ["pull_requests", level]] : [["issues", level]];
}

export function issueFor(ctx: RestContext, level: "read" | "write"): { repo: SimRepo; issue: SimIssue } {
  const peek = ctx.sim.state.findRepo(ctx.params.owner!, ctx.params.repo!);
  const number = ctx.int("issue_number");
  const peeked = peek && ctx.sim.state.issue(peek.id, number);
  const repo = ctx.repo(...needsFor(level, !!peeked?.isPullRequest));
  const issue = ctx.sim.state.issue(repo.id, number);
  if (!issue) throw notFound();
  return { repo, issue };
}

function commentFor(ctx: RestContext, level: "read" | "write"): { repo: SimRepo; comment: SimComment } {
  const peek = ctx.sim.state.findRepo(ctx.params.owner!, ctx.params.repo!);
  const id = ctx.int("comment_id");
  const found = ctx.sim.state.comments.find((c) => c.id === id && c.repoId === peek?.id);
  const isPull = !!(found && peek && ctx.sim.state.issue(peek.id, found.issueNumber)?.isPullRequest);
  const repo = ctx.repo(...needsFor(level, isPull));
  if (!found) throw notFound();
  return { repo, comment: found };
}

export function createIssue(sim: SimServices, repo: SimRepo, fields: { title: string; body: string | null; user: string }): SimIssue {
  const now = isoNow(sim);
  const issue: SimIssue = {
    id: sim.state.nextId("issue"),
    repoId: repo.id,
    number: repo.nextNumber++,
    title: fields.title,
    body: fields.body,
    user: fields.user,
    state: "open",
    stateReason: null,
    labels: [],
    assignees: [],
    locked: false,
    createdAt: now,
    updatedAt: now,
    closedAt: null,
    isPullRequest: false,
  };
  sim.state.issues.push(issue);
  return issue;
}

export function setIssueState(sim: SimServices, issue: SimIssue, state: "open" | "closed", reason?: string): void {
  if (issue.state === state) return;
  issue.state = state;
  issue.closedAt = state === "closed" ? isoNow(sim) : null;
  issue.stateReason = state === "closed" ? (reason ?? "completed") : "reopened";
}

export function addComment(sim: SimServices, repo: SimRepo, issue: SimIssue, user: string, body: string): SimComment {
  const now = isoNow(sim);
  const comment: SimComment = {
    id: sim.state.nextId("comment"),
    repoId: repo.id,
    issueNumber: issue.number,
    user,
    body,
    createdAt: now,
    updatedAt: now,
    history: [body],
  };
  sim.state.comments.push(comment);
  sim.effects.emit("issue_comment", repo, user, () => ({
    action: "created",
    issue: sim.shapes.issue(issue),
    comment: sim.shapes.comment(comment),
  }));
  return comment;
}

export function findLabel(sim: SimServices, repo: SimRepo, name: string): SimLabel | undefined {
  return sim.state.labels.find((l) => l.repoId === repo.id && l.name.toLowerCase() === name.toLowerCase());
}

export function createLabel(sim: SimServices, repo: SimRepo, name: string, color: string, description: string | null): SimLabel {
  const label: SimLabel = { id: sim.state.nextId("label"), repoId: repo.id, name, color, description };
  sim.state.labels.push(label);
  return label;
}

/** Adding an unknown label to an issue creates it, as GitHub does. Returns canonical names. */
export function ensureLabels(sim: SimServices, repo: SimRepo, names: unknown[]): string[] {
  const out: string[] = [];
  for (const raw of names) {
    const name = typeof raw === "string" ? raw : (raw as { name?: unknown })?.name;
    if (typeof name !== "string" || !name.trim()) throw validationFailed({ resource: "Label", code: "invalid", field: "name" });
    const label = findLabel(sim, repo, name) ?? createLabel(sim, repo, name, "ededed", null);
    if (!out.includes(label.name)) out.push(label.name);
  }
  return out;
}
