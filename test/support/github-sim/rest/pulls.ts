import { pullRequestDiff } from "../diff-lines.js";
import { HttpError, notFound, validationFailed } from "../http-error.js";
import type { SimPull, SimRepo } from "../state.js";
import { MAX_BODY, createIssue, isoNow, setIssueState } from "./issues.js";
import { pullJsonFull } from "./pull-json.js";
import { fileJson } from "./repos.js";
import { noContent, ok, type RestContext, type Router, type SimServices } from "./router.js";

/**
 * Pull requests: create (with GitHub's 422s for a duplicate head, a missing branch, or no
 * commits), get, list (filtered by head/base/state), update, files and commits from the real
 * diff, review requests (collaborators only, never the author), and merge.
 */
export function registerPulls(router: Router): void {
  router.add("POST /repos/{owner}/{repo}/pulls", async (ctx) => {
    const repo = ctx.repo(["pull_requests", "write"]);
    const title = ctx.string("title", { required: true })!;
    const body = ctx.string("body", { max: MAX_BODY, resource: "PullRequest" }) ?? null;
    const headSpec = ctx.string("head", { required: true })!;
    const base = ctx.string("base", { required: true })!;
    const pull = await openPullRequest(ctx.sim, repo, {
      title,
      body,
      head: headSpec,
      base,
      draft: ctx.body.draft === true,
      maintainerCanModify: ctx.body.maintainer_can_modify !== false,
      user: ctx.actor(),
    });
    return ok(await pullJsonFull(ctx.sim, pull), 201);
  });

  router.add("GET /repos/{owner}/{repo}/pulls", (ctx) => {
    const repo = ctx.repo(["pull_requests", "read"]);
    const state = ctx.query.state ?? "open";
    let pulls = ctx.sim.state.pulls.filter((p) => p.repoId === repo.id);
    pulls = pulls.filter((p) => state === "all" || ctx.sim.state.issue(repo.id, p.number)!.state === state);
    // GitHub filters on head only in the "owner:branch" form; a bare branch name is ignored
    // and every PR comes back. Kept here on purpose: a "look up before create" that passes a
    // bare name would otherwise pass in tests and fail on GitHub.
    if (ctx.query.head?.includes(":")) {
      const [owner, branch] = ctx.query.head.split(/:(.*)/s) as [string, string];
      pulls = pulls.filter((p) => owner.toLowerCase() === repo.owner.toLowerCase() && p.head.ref === branch);
    }
    if (ctx.query.base) pulls = pulls.filter((p) => p.base.ref === ctx.query.base);
    const asc = ctx.query.direction ? ctx.query.direction === "asc" : !!ctx.query.sort && ctx.query.sort !== "created";
    pulls = [...pulls].sort((a, b) => (asc ? a.number - b.number : b.number - a.number));
    return ctx.page(pulls, (p) => ctx.sim.shapes.pull(p));
  });

  router.add("GET /repos/{owner}/{repo}/pulls/{pull_number}", async (ctx) => {
    const { repo, pull } = pullFor(ctx, "read");
    // `mediaType: { format: "diff" }` asks for the unified diff itself, as text.
    if (ctx.mediaFormat === "diff" || ctx.mediaFormat === "patch") {
      const mergeBase = (await repo.git.mergeBase(pull.base.sha, pull.head.sha)) ?? pull.base.sha;
      return { status: 200, body: await repo.git.text(["diff", "-M", "--no-color", "--full-index", mergeBase, pull.head.sha]) };
    }
    return ok(await pullJsonFull(ctx.sim, pull));
  });

  router.add("PATCH /repos/{owner}/{repo}/pulls/{pull_number}", async (ctx) => {
    const { repo, pull } = pullFor(ctx, "write");
    const issue = ctx.sim.state.issue(repo.id, pull.number)!;
    const title = ctx.string("title");
    const body = ctx.string("body", { max: MAX_BODY, resource: "PullRequest" });
    const changes: Record<string, unknown> = {};
    if (title !== undefined && title !== issue.title) {
      changes.title = { from: issue.title };
      issue.title = title;
    }
    if (body !== undefined && body !== issue.body) {
      changes.body = { from: issue.body };
      issue.body = body;
    }
    const base = ctx.string("base");
    if (base !== undefined && base !== pull.base.ref) {
      const sha = await repo.git.resolve(`refs/heads/${base}`);
      if (!sha) throw validationFailed({ resource: "PullRequest", field: "base", code: "invalid" });
      changes.base = { ref: { from: pull.base.ref }, sha: { from: pull.base.sha } };
      pull.base = { ref: base, sha };
    }
    if (typeof ctx.body.maintainer_can_modify === "boolean") pull.maintainerCanModify = ctx.body.maintainer_can_modify;
    let action: string | undefined = Object.keys(changes).length ? "edited" : undefined;
    if (ctx.body.state === "closed" && issue.state === "open") {
      setIssueState(ctx.sim, issue, "closed");
      action = "closed";
    } else if (ctx.body.state === "open" && issue.state === "closed") {
      if (pull.merged) throw validationFailed({ resource: "PullRequest", code: "custom", message: "Cannot reopen a merged pull request" });
      const head = await repo.git.resolve(`refs/heads/${pull.head.ref}`);
      if (!head) throw validationFailed({ resource: "PullRequest", code: "custom", message: "state cannot be changed. The head branch was deleted." });
      setIssueState(ctx.sim, issue, "open");
      pull.head.sha = head;
      action = "reopened";
    }
    issue.updatedAt = isoNow(ctx.sim);
    if (action) {
      const a = action;
      ctx.sim.effects.emit("pull_request", repo, ctx.actor(), async () => ({
        action: a,
        number: pull.number,
        ...(a === "edited" ? { changes } : {}),
        pull_request: await pullJsonFull(ctx.sim, pull),
      }));
    }
    return ok(await pullJsonFull(ctx.sim, pull));
  });

  router.add("GET /repos/{owner}/{repo}/pulls/{pull_number}/files", async (ctx) => {
    const { repo, pull } = pullFor(ctx, "read");
    const files = await pullRequestDiff(repo.git, pull.base.sha, pull.head.sha);
    return ctx.page(files, (f) => fileJson(ctx, repo, pull.head.sha, f));
  });

  router.add("GET /repos/{owner}/{repo}/pulls/{pull_number}/commits", async (ctx) => {
    const { repo, pull } = pullFor(ctx, "read");
    const shas = await repo.git.commitsBetween(pull.base.sha, pull.head.sha);
    const infos = await Promise.all(shas.map((s) => repo.git.commitInfo(s)));
    return ctx.page(infos, (i) => ctx.sim.shapes.commit(repo, i));
  });

  router.add("GET /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers", (ctx) => {
    const { pull } = pullFor(ctx, "read");
    return ok({ users: pull.requestedReviewers.map((u) => ctx.sim.shapes.user(u)), teams: [] });
  });

  router.add("POST /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers", async (ctx) => {
    const { repo, pull } = pullFor(ctx, "write");
    const issue = ctx.sim.state.issue(repo.id, pull.number)!;
    const reviewers = ((ctx.body.reviewers as unknown[] | undefined) ?? []).map(String);
    const teams = (ctx.body.team_reviewers as unknown[] | undefined) ?? [];
    if (teams.length) {
      throw validationFailed({ resource: "PullRequest", code: "custom", message: "Team reviewers are not supported by the simulator" });
    }
    for (const login of reviewers) {
      if (login.toLowerCase() === issue.user.toLowerCase()) {
        throw validationFailed({ resource: "PullRequest", code: "custom", message: "Review cannot be requested from pull request author." });
      }
      const isCollaborator = repo.collaborators.has(login.toLowerCase()) || login.toLowerCase() === repo.owner.toLowerCase();
      if (!isCollaborator) {
        throw validationFailed({
          resource: "PullRequest",
          code: "custom",
          message: `Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the ${repo.fullName} repository.`,
        });
      }
    }
    for (const login of reviewers) {
      if (!pull.requestedReviewers.some((u) => u.toLowerCase() === login.toLowerCase())) {
        pull.requestedReviewers.push(ctx.sim.state.user(login).login);
        ctx.sim.effects.emit("pull_request", repo, ctx.actor(), async () => ({
          action: "review_requested",
          number: pull.number,
          pull_request: await pullJsonFull(ctx.sim, pull),
          requested_reviewer: ctx.sim.shapes.user(login),
        }));
      }
    }
    return ok(await pullJsonFull(ctx.sim, pull), 201);
  });

  router.add("DELETE /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers", async (ctx) => {
    const { pull } = pullFor(ctx, "write");
    const remove = new Set(((ctx.body.reviewers as unknown[] | undefined) ?? []).map((x) => String(x).toLowerCase()));
    pull.requestedReviewers = pull.requestedReviewers.filter((u) => !remove.has(u.toLowerCase()));
    return ok(await pullJsonFull(ctx.sim, pull));
  });

  router.add("GET /repos/{owner}/{repo}/pulls/{pull_number}/merge", (ctx) => {
    const { pull } = pullFor(ctx, "read");
    if (!pull.merged) throw notFound();
    return noContent();
  });

  router.add("PUT /repos/{owner}/{repo}/pulls/{pull_number}/merge", async (ctx) => {
    const repo = ctx.repo(["contents", "write"]);
    const pull = ctx.sim.state.pull(repo.id, ctx.int("pull_number"));
    if (!pull) throw notFound();
    const sha = await mergePullRequest(ctx.sim, repo, pull, {
      user: ctx.actor(),
      expectedHead: ctx.string("sha"),
      title: ctx.string("commit_title"),
      message: ctx.string("commit_message"),
    });
    return ok({ sha, merged: true, message: "Pull Request successfully merged" });
  });
}

export function pullFor(ctx: RestContext, level: "read" | "write"): { repo: SimRepo; pull: SimPull } {
  const repo = ctx.repo(["pull_requests", level]);
  const pull = ctx.sim.state.pull(repo.id, ctx.int("pull_number"));
  if (!pull) throw notFound();
  return { repo, pull };
}

export interface OpenPullRequest {
  title: string;
  body: string | null;
  /** "branch" or "owner:branch" (same-repo branches only). */
  head: string;
  base: string;
  draft: boolean;
  maintainerCanModify?: boolean;
  user: string;
  /** Seeding only: the PR comes from this user's fork (see sim.createPullRequest). */
  forkOwner?: string;
}

/** Open a PR with GitHub's checks; shared by the REST route and the test seeding helper. */
export async function openPullRequest(sim: SimServices, repo: SimRepo, req: OpenPullRequest): Promise<SimPull> {
  const [headOwner, headRef] = req.head.includes(":") ? (req.head.split(/:(.*)/s) as [string, string]) : [repo.owner, req.head];
  if (headOwner.toLowerCase() !== repo.owner.toLowerCase()) {
    throw validationFailed({ resource: "PullRequest", field: "head", code: "invalid" });
  }
  const baseSha = await repo.git.resolve(`refs/heads/${req.base}`);
  if (!baseSha) throw validationFailed({ resource: "PullRequest", field: "base", code: "invalid" });
  const headSha = await repo.git.resolve(`refs/heads/${headRef}`);
  if (!headSha) throw validationFailed({ resource: "PullRequest", field: "head", code: "invalid" });
  const duplicate = sim.state.pulls.find(
    (p) => p.repoId === repo.id && p.head.ref === headRef && p.base.ref === req.base && sim.state.issue(repo.id, p.number)!.state === "open",
  );
  if (duplicate) {
    throw validationFailed({ resource: "PullRequest", code: "custom", message: `A pull request already exists for ${repo.owner}:${headRef}.` });
  }
  if ((await repo.git.commitsBetween(baseSha, headSha, 1)).length === 0) {
    throw validationFailed({ resource: "PullRequest", code: "custom", message: `No commits between ${req.base} and ${headRef}` });
  }
  if (req.body !== null && req.body.length > MAX_BODY) {
    throw validationFailed({ resource: "PullRequest", code: "custom", field: "body", message: `body is too long (maximum is ${MAX_BODY} characters)` });
  }
  const issue = createIssue(sim, repo, { title: req.title, body: req.body, user: req.user });
  issue.isPullRequest = true;
  const pull: SimPull = {
    id: sim.state.nextId("pull"),
    repoId: repo.id,
    number: issue.number,
    head: { ref: headRef, sha: headSha },
    base: { ref: req.base, sha: baseSha },
    draft: req.draft,
    merged: false,
    mergedAt: null,
    mergeCommitSha: null,
    maintainerCanModify: req.maintainerCanModify ?? true,
    requestedReviewers: [],
    ...(req.forkOwner ? { forkOwner: req.forkOwner } : {}),
  };
  sim.state.pulls.push(pull);
  await repo.git.updateRef(`refs/pull/${pull.number}/head`, headSha);
  sim.effects.emit("pull_request", repo, req.user, async () => ({
    action: "opened",
    number: pull.number,
    pull_request: await pullJsonFull(sim, pull),
  }));
  return pull;
}

/** A merge commit of head into base (the "merge" method), with GitHub's 405/409 answers. */
export async function mergePullRequest(
  sim: SimServices,
  repo: SimRepo,
  pull: SimPull,
  options: { user: string; expectedHead?: string; title?: string; message?: string },
): Promise<string> {
  const issue = sim.state.issue(repo.id, pull.number)!;
  if (pull.merged || issue.state !== "open") throw new HttpError(405, "Pull Request is not mergeable");
  if (pull.draft) throw new HttpError(405, "Pull Request is still a draft");
  if (options.expectedHead && options.expectedHead !== pull.head.sha) {
    throw new HttpError(409, "Head branch was modified. Review and try the merge again.");
  }
  const baseRef = `refs/heads/${pull.base.ref}`;
  const baseTip = (await repo.git.resolve(baseRef))!;
  const merged = await repo.git.git(["merge-tree", "--write-tree", "--no-messages", baseTip, pull.head.sha], { allowFail: true });
  if (merged.code !== 0) throw new HttpError(405, "Pull Request is not mergeable");
  const tree = merged.stdout.toString().split("\n")[0]!.trim();
  const user = sim.state.user(options.user);
  const identity = { name: user.name ?? user.login, email: user.email ?? `${user.id}+${user.login}@users.noreply.github.com` };
  const message = `${options.title ?? `Merge pull request #${pull.number} from ${repo.owner}/${pull.head.ref}`}\n\n${options.message ?? issue.title}`;
  const sha = await repo.git.commitTree(tree, [baseTip, pull.head.sha], message, identity);
  await repo.git.updateRef(baseRef, sha, baseTip);
  pull.merged = true;
  pull.mergedAt = isoNow(sim);
  pull.mergeCommitSha = sha;
  setIssueState(sim, issue, "closed");
  await sim.effects.refsUpdated(repo, [{ ref: baseRef, before: baseTip, after: sha }], "api");
  sim.effects.emit("pull_request", repo, options.user, async () => ({
    action: "closed",
    number: pull.number,
    pull_request: await pullJsonFull(sim, pull),
  }));
  return sha;
}
