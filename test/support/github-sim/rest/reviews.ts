import { pullRequestDiff, resolveAnchor, type CommentAnchor, type ResolvedAnchor } from "../diff-lines.js";
import { notFound, unprocessable, validationFailed } from "../http-error.js";
import type { ReviewState, SimPull, SimRepo, SimReview, SimReviewComment } from "../state.js";
import { MAX_BODY, isoNow } from "./issues.js";
import { pullJsonFull } from "./pull-json.js";
import { pullFor } from "./pulls.js";
import { noContent, ok, type RestContext, type Router } from "./router.js";

const EVENT_STATE: Record<string, ReviewState> = { APPROVE: "APPROVED", REQUEST_CHANGES: "CHANGES_REQUESTED", COMMENT: "COMMENTED" };

/**
 * Reviews and review comments. Every inline comment is checked against the PR's real diff (at
 * `commit_id`, or the head): a path outside the diff, or a line the diff does not show on the
 * chosen side, fails the whole review with GitHub's 422 and stores nothing.
 */
export function registerReviews(router: Router): void {
  router.add("POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews", async (ctx) => {
    const { repo, pull } = pullFor(ctx, "write");
    const user = ctx.actor();
    const event = ctx.string("event");
    if (event !== undefined && !(event in EVENT_STATE)) {
      throw unprocessable(`Unprocessable Entity: event must be one of APPROVE, REQUEST_CHANGES, COMMENT`);
    }
    const body = ctx.string("body", { max: MAX_BODY, resource: "PullRequestReview" }) ?? "";
    const rawComments = (ctx.body.comments as unknown[] | undefined) ?? [];
    if (!Array.isArray(rawComments)) throw unprocessable("comments must be an array");
    const author = ctx.sim.state.issue(repo.id, pull.number)!.user;
    if (author === user && event === "APPROVE") throw unprocessable("Can not approve your own pull request");
    if (author === user && event === "REQUEST_CHANGES") throw unprocessable("Can not request changes on your own pull request");
    if (event === "REQUEST_CHANGES" && !body.trim()) throw unprocessable("Body is required when using REQUEST_CHANGES");
    if (event === "COMMENT" && !body.trim() && rawComments.length === 0) throw unprocessable("Body is required when using COMMENT without comments");
    if (event === undefined && ctx.sim.state.reviews.some((r) => r.repoId === repo.id && r.pullNumber === pull.number && r.user === user && r.state === "PENDING")) {
      throw unprocessable("User can only have one pending review per pull request");
    }
    const commitId = await reviewCommit(repo, pull, ctx.string("commit_id"));
    const anchors = await resolveComments(repo, pull, commitId, rawComments);
    const review: SimReview = {
      id: ctx.sim.state.nextId("review"),
      repoId: repo.id,
      pullNumber: pull.number,
      user,
      body,
      state: event ? EVENT_STATE[event]! : "PENDING",
      commitId,
      submittedAt: event ? isoNow(ctx.sim) : null,
    };
    ctx.sim.state.reviews.push(review);
    for (const { anchor, body: text } of anchors) storeComment(ctx, repo, pull, review, anchor, text, commitId, null);
    if (review.state !== "PENDING") emitSubmitted(ctx, repo, pull, review);
    return ok(ctx.sim.shapes.review(review));
  });

  router.add("GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews", (ctx) => {
    const { repo, pull } = pullFor(ctx, "read");
    const user = ctx.auth.kind === "installation" ? ctx.sim.app.botLogin : undefined;
    // Someone else's pending review is invisible, as on GitHub.
    const reviews = ctx.sim.state.reviews.filter(
      (r) => r.repoId === repo.id && r.pullNumber === pull.number && (r.state !== "PENDING" || r.user === user),
    );
    return ctx.page(reviews, (r) => ctx.sim.shapes.review(r));
  });

  const reviewFor = (ctx: RestContext, level: "read" | "write") => {
    const { repo, pull } = pullFor(ctx, level);
    const review = ctx.sim.state.reviews.find((r) => r.id === ctx.int("review_id") && r.repoId === repo.id && r.pullNumber === pull.number);
    if (!review) throw notFound();
    return { repo, pull, review };
  };

  router.add("GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}", (ctx) => ok(ctx.sim.shapes.review(reviewFor(ctx, "read").review)));

  router.add("PUT /repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}", (ctx) => {
    const { review } = reviewFor(ctx, "write");
    review.body = ctx.string("body", { required: true, max: MAX_BODY, resource: "PullRequestReview" })!;
    return ok(ctx.sim.shapes.review(review));
  });

  router.add("DELETE /repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}", (ctx) => {
    const { review } = reviewFor(ctx, "write");
    if (review.state !== "PENDING") throw unprocessable("Can not delete a non-pending pull request review");
    ctx.sim.state.reviews = ctx.sim.state.reviews.filter((r) => r !== review);
    ctx.sim.state.reviewComments = ctx.sim.state.reviewComments.filter((c) => c.reviewId !== review.id);
    return ok(ctx.sim.shapes.review(review));
  });

  router.add("POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/events", (ctx) => {
    const { repo, pull, review } = reviewFor(ctx, "write");
    if (review.state !== "PENDING") throw unprocessable("Can not submit a non-pending pull request review");
    const event = ctx.string("event", { required: true })!;
    if (!(event in EVENT_STATE)) throw unprocessable("event must be one of APPROVE, REQUEST_CHANGES, COMMENT");
    const body = ctx.string("body", { max: MAX_BODY });
    if (body !== undefined) review.body = body;
    review.state = EVENT_STATE[event]!;
    review.submittedAt = isoNow(ctx.sim);
    emitSubmitted(ctx, repo, pull, review);
    return ok(ctx.sim.shapes.review(review));
  });

  router.add("PUT /repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/dismissals", (ctx) => {
    const { review } = reviewFor(ctx, "write");
    if (review.state !== "APPROVED" && review.state !== "CHANGES_REQUESTED") throw unprocessable("Can not dismiss a commented pull request review");
    review.state = "DISMISSED";
    return ok(ctx.sim.shapes.review(review));
  });

  router.add("GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/comments", (ctx) => {
    const { review } = reviewFor(ctx, "read");
    return ctx.page(ctx.sim.state.reviewComments.filter((c) => c.reviewId === review.id), (c) => ctx.sim.shapes.reviewComment(c));
  });

  // --- review comments ---

  router.add("GET /repos/{owner}/{repo}/pulls/{pull_number}/comments", (ctx) => {
    const { repo, pull } = pullFor(ctx, "read");
    const submitted = new Set(ctx.sim.state.reviews.filter((r) => r.state !== "PENDING").map((r) => r.id));
    return ctx.page(
      ctx.sim.state.reviewComments.filter((c) => c.repoId === repo.id && c.pullNumber === pull.number && submitted.has(c.reviewId)),
      (c) => ctx.sim.shapes.reviewComment(c),
    );
  });

  router.add("GET /repos/{owner}/{repo}/pulls/comments", (ctx) => {
    const repo = ctx.repo(["pull_requests", "read"]);
    return ctx.page(ctx.sim.state.reviewComments.filter((c) => c.repoId === repo.id), (c) => ctx.sim.shapes.reviewComment(c));
  });

  const commentFor = (ctx: RestContext, level: "read" | "write") => {
    const repo = ctx.repo(["pull_requests", level]);
    const comment = ctx.sim.state.reviewComments.find((c) => c.id === ctx.int("comment_id") && c.repoId === repo.id);
    if (!comment) throw notFound();
    return { repo, comment };
  };

  router.add("GET /repos/{owner}/{repo}/pulls/comments/{comment_id}", (ctx) => ok(ctx.sim.shapes.reviewComment(commentFor(ctx, "read").comment)));

  router.add("PATCH /repos/{owner}/{repo}/pulls/comments/{comment_id}", (ctx) => {
    const { comment } = commentFor(ctx, "write");
    comment.body = ctx.string("body", { required: true, max: MAX_BODY, resource: "PullRequestReviewComment" })!;
    comment.updatedAt = isoNow(ctx.sim);
    return ok(ctx.sim.shapes.reviewComment(comment));
  });

  router.add("DELETE /repos/{owner}/{repo}/pulls/comments/{comment_id}", (ctx) => {
    const { comment } = commentFor(ctx, "write");
    ctx.sim.state.reviewComments = ctx.sim.state.reviewComments.filter((c) => c !== comment);
    return noContent();
  });

  const reply = (ctx: RestContext, repo: SimRepo, pull: SimPull, parentId: number, body: string) => {
    const parent = ctx.sim.state.reviewComments.find((c) => c.id === parentId && c.repoId === repo.id && c.pullNumber === pull.number);
    if (!parent) throw notFound();
    const top = parent.inReplyTo ? ctx.sim.state.reviewComments.find((c) => c.id === parent.inReplyTo) ?? parent : parent;
    const review = newSubmittedReview(ctx, repo, pull, parent.commitId);
    const anchor: ResolvedAnchor = {
      path: top.path,
      subjectType: top.subjectType,
      diffHunk: top.diffHunk,
      ...(top.line !== null ? { line: top.line } : {}),
      ...(top.side !== null ? { side: top.side } : {}),
      ...(top.position !== null ? { position: top.position } : {}),
      ...(top.startLine !== null ? { startLine: top.startLine, startSide: top.startSide ?? undefined } : {}),
    };
    return storeComment(ctx, repo, pull, review, anchor, body, top.commitId, top.id);
  };

  router.add("POST /repos/{owner}/{repo}/pulls/{pull_number}/comments", async (ctx) => {
    const { repo, pull } = pullFor(ctx, "write");
    const body = ctx.string("body", { required: true, max: MAX_BODY, resource: "PullRequestReviewComment" })!;
    if (ctx.body.in_reply_to !== undefined) {
      return ok(ctx.sim.shapes.reviewComment(reply(ctx, repo, pull, Number(ctx.body.in_reply_to), body)), 201);
    }
    const commitId = await reviewCommit(repo, pull, ctx.string("commit_id", { required: true }));
    const [resolved] = await resolveComments(repo, pull, commitId, [{ ...ctx.body, body }]);
    const review = newSubmittedReview(ctx, repo, pull, commitId);
    const comment = storeComment(ctx, repo, pull, review, resolved!.anchor, body, commitId, null);
    return ok(ctx.sim.shapes.reviewComment(comment), 201);
  });

  router.add("POST /repos/{owner}/{repo}/pulls/{pull_number}/comments/{comment_id}/replies", (ctx) => {
    const { repo, pull } = pullFor(ctx, "write");
    const body = ctx.string("body", { required: true, max: MAX_BODY, resource: "PullRequestReviewComment" })!;
    return ok(ctx.sim.shapes.reviewComment(reply(ctx, repo, pull, ctx.int("comment_id"), body)), 201);
  });
}

/** The commit a review is anchored on: the given one (must exist) or the PR head. */
async function reviewCommit(repo: SimRepo, pull: SimPull, commitId: string | undefined): Promise<string> {
  if (!commitId) return pull.head.sha;
  const sha = await repo.git.resolve(commitId);
  if (!sha) throw unprocessable(`No commit found for SHA: ${commitId}`);
  if (!(await repo.git.isAncestor(sha, pull.head.sha))) throw unprocessable("commit_id is not part of the pull request");
  return sha;
}

async function resolveComments(
  repo: SimRepo,
  pull: SimPull,
  commitId: string,
  raw: unknown[],
): Promise<Array<{ anchor: ResolvedAnchor; body: string }>> {
  if (raw.length === 0) return [];
  const files = await pullRequestDiff(repo.git, pull.base.sha, commitId);
  return raw.map((c) => {
    const comment = c as Record<string, unknown>;
    if (typeof comment.path !== "string") throw validationFailed({ resource: "PullRequestReviewComment", field: "path", code: "missing_field" });
    if (typeof comment.body !== "string" || !comment.body) throw validationFailed({ resource: "PullRequestReviewComment", field: "body", code: "missing_field" });
    const num = (k: string) => (comment[k] === undefined || comment[k] === null ? undefined : Number(comment[k]));
    const anchor: CommentAnchor = {
      path: comment.path,
      line: num("line"),
      side: comment.side as CommentAnchor["side"],
      start_line: num("start_line"),
      start_side: comment.start_side as CommentAnchor["start_side"],
      position: num("position"),
      subject_type: comment.subject_type as CommentAnchor["subject_type"],
    };
    const result = resolveAnchor(files, anchor);
    if ("error" in result) throw unprocessable(result.error);
    return { anchor: result.anchor, body: comment.body };
  });
}

function newSubmittedReview(ctx: RestContext, repo: SimRepo, pull: SimPull, commitId: string): SimReview {
  const review: SimReview = {
    id: ctx.sim.state.nextId("review"),
    repoId: repo.id,
    pullNumber: pull.number,
    user: ctx.actor(),
    body: "",
    state: "COMMENTED",
    commitId,
    submittedAt: isoNow(ctx.sim),
  };
  ctx.sim.state.reviews.push(review);
  return review;
}

function storeComment(
  ctx: RestContext,
  repo: SimRepo,
  pull: SimPull,
  review: SimReview,
  anchor: ResolvedAnchor,
  body: string,
  commitId: string,
  inReplyTo: number | null,
): SimReviewComment {
  const now = isoNow(ctx.sim);
  const comment: SimReviewComment = {
    id: ctx.sim.state.nextId("reviewComment"),
    repoId: repo.id,
    pullNumber: pull.number,
    reviewId: review.id,
    user: review.user,
    body,
    path: anchor.path,
    line: anchor.line ?? null,
    side: anchor.side ?? null,
    startLine: anchor.startLine ?? null,
    startSide: anchor.startSide ?? null,
    position: anchor.position ?? null,
    subjectType: anchor.subjectType,
    diffHunk: anchor.diffHunk ?? "",
    commitId,
    inReplyTo,
    createdAt: now,
    updatedAt: now,
  };
  ctx.sim.state.reviewComments.push(comment);
  // GitHub sends pull_request_review_comment.created for every comment, the app's own included.
  ctx.sim.effects.emit("pull_request_review_comment", repo, comment.user, async () => ({
    action: "created",
    comment: ctx.sim.shapes.reviewComment(comment),
    pull_request: await pullJsonFull(ctx.sim, pull),
  }));
  return comment;
}

function emitSubmitted(ctx: RestContext, repo: SimRepo, pull: SimPull, review: SimReview): void {
  ctx.sim.effects.emit("pull_request_review", repo, review.user, async () => ({
    action: "submitted",
    review: { ...ctx.sim.shapes.review(review), state: review.state.toLowerCase() },
    pull_request: await pullJsonFull(ctx.sim, pull),
  }));
}
