import type { Need } from "../auth.js";
import { notFound, validationFailed } from "../http-error.js";
import type { ReactionSubject, SimReaction } from "../state.js";
import { issueFor, isoNow } from "./issues.js";
import { noContent, ok, type RestContext, type Router } from "./router.js";

const CONTENTS = new Set(["+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"]);

const sameSubject = (a: ReactionSubject, b: ReactionSubject) =>
  a.type === b.type &&
  a.repoId === b.repoId &&
  (a.type === "issue" ? a.number === (b as typeof a).number : a.commentId === (b as { commentId: number }).commentId);

/**
 * Reactions on issues, issue comments and review comments. Creating one is idempotent, as on
 * GitHub: the same user's same reaction answers 200 with the existing one, a new one 201.
 */
export function registerReactions(router: Router): void {
  const create = (ctx: RestContext, subject: ReactionSubject) => {
    const content = ctx.string("content", { required: true })!;
    if (!CONTENTS.has(content)) throw validationFailed({ resource: "Reaction", code: "invalid", field: "content" });
    const user = ctx.actor();
    const existing = ctx.sim.state.reactions.find((r) => sameSubject(r.subject, subject) && r.user === user && r.content === content);
    if (existing) return ok(ctx.sim.shapes.reaction(existing), 200);
    const reaction: SimReaction = { id: ctx.sim.state.nextId("reaction"), subject, user, content, createdAt: isoNow(ctx.sim) };
    ctx.sim.state.reactions.push(reaction);
    return ok(ctx.sim.shapes.reaction(reaction), 201);
  };
  const list = (ctx: RestContext, subject: ReactionSubject) => {
    let found = ctx.sim.state.reactions.filter((r) => sameSubject(r.subject, subject));
    if (ctx.query.content) found = found.filter((r) => r.content === ctx.query.content);
    return ctx.page(found, (r) => ctx.sim.shapes.reaction(r));
  };
  const remove = (ctx: RestContext, subject: ReactionSubject) => {
    const id = ctx.int("reaction_id");
    const before = ctx.sim.state.reactions.length;
    ctx.sim.state.reactions = ctx.sim.state.reactions.filter((r) => !(r.id === id && sameSubject(r.subject, subject)));
    if (ctx.sim.state.reactions.length === before) throw notFound();
    return noContent();
  };

  const issueSubject = (ctx: RestContext, level: "read" | "write"): ReactionSubject => {
    const { repo, issue } = issueFor(ctx, level);
    return { type: "issue", repoId: repo.id, number: issue.number };
  };
  router.add("POST /repos/{owner}/{repo}/issues/{issue_number}/reactions", (ctx) => create(ctx, issueSubject(ctx, "write")));
  router.add("GET /repos/{owner}/{repo}/issues/{issue_number}/reactions", (ctx) => list(ctx, issueSubject(ctx, "read")));
  router.add("DELETE /repos/{owner}/{repo}/issues/{issue_number}/reactions/{reaction_id}", (ctx) => remove(ctx, issueSubject(ctx, "write")));

  const commentSubject = (ctx: RestContext, level: "read" | "write"): ReactionSubject => {
    const peek = ctx.sim.state.findRepo(ctx.params.owner!, ctx.params.repo!);
    const id = ctx.int("comment_id");
    const comment = ctx.sim.state.comments.find((c) => c.id === id && c.repoId === peek?.id);
    const isPull = !!(comment && peek && ctx.sim.state.issue(peek.id, comment.issueNumber)?.isPullRequest);
    const needs: Need[] = isPull ? [["issues", level], ["pull_requests", level]] : [["issues", level]];
    const repo = ctx.repo(...needs);
    if (!comment) throw notFound();
    return { type: "issue_comment", repoId: repo.id, commentId: comment.id };
  };
  router.add("POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", (ctx) => create(ctx, commentSubject(ctx, "write")));
  router.add("GET /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", (ctx) => list(ctx, commentSubject(ctx, "read")));
  router.add("DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions/{reaction_id}", (ctx) =>
    remove(ctx, commentSubject(ctx, "write")),
  );

  const reviewCommentSubject = (ctx: RestContext, level: "read" | "write"): ReactionSubject => {
    const repo = ctx.repo(["pull_requests", level]);
    const comment = ctx.sim.state.reviewComments.find((c) => c.id === ctx.int("comment_id") && c.repoId === repo.id);
    if (!comment) throw notFound();
    return { type: "review_comment", repoId: repo.id, commentId: comment.id };
  };
  router.add("POST /repos/{owner}/{repo}/pulls/comments/{comment_id}/reactions", (ctx) => create(ctx, reviewCommentSubject(ctx, "write")));
  router.add("GET /repos/{owner}/{repo}/pulls/comments/{comment_id}/reactions", (ctx) => list(ctx, reviewCommentSubject(ctx, "read")));
}
