import { diffCommits, type FileDiff } from "../diff-lines.js";
import { ZERO_SHA } from "../git.js";
import { badCredentials, HttpError, notFound, validationFailed } from "../http-error.js";
import type { Json } from "../shapes.js";
import type { SimRepo } from "../state.js";
import { noContent, ok, type RestContext, type Router } from "./router.js";

/**
 * Repository endpoints read from the real bare repo: contents, branches, commits, compare,
 * refs, trees and blobs; and the collaborator permission that the app checks before acting.
 */
export function registerRepos(router: Router): void {
  router.add("GET /repos/{owner}/{repo}", (ctx) => {
    const repo = ctx.repo(["metadata", "read"]);
    const token = ctx.token();
    const perms = token?.permissions.contents === "write" ? { admin: false, maintain: false, push: true, triage: false, pull: true } : { admin: false, maintain: false, push: false, triage: false, pull: true };
    return ok({ ...ctx.sim.shapes.repo(repo), permissions: perms });
  });

  // A public repository's latest release (what an action's `uses:` tag is compared with): any valid token reads it.
  router.add("GET /repos/{owner}/{repo}/releases/latest", (ctx) => {
    if (!ctx.token()) throw badCredentials();
    const tags = ctx.sim.state.releases.get(`${ctx.params.owner}/${ctx.params.repo}`.toLowerCase());
    const tag = tags?.at(-1);
    if (!tag) throw notFound();
    return ok({ tag_name: tag, name: tag, draft: false, prerelease: false, html_url: `https://github.com/${ctx.params.owner}/${ctx.params.repo}/releases/tag/${tag}` });
  });

  router.add("GET /repos/{owner}/{repo}/collaborators/{username}/permission", (ctx) => {
    const repo = ctx.repo(["metadata", "read"]);
    const login = ctx.params.username!;
    const user = ctx.sim.state.findUser(login);
    if (!user) throw notFound();
    const role = repo.collaborators.get(login.toLowerCase()) ?? (login.toLowerCase() === repo.owner.toLowerCase() ? "admin" : undefined);
    // GitHub folds roles into the legacy permission: maintain → write, triage → read.
    const permission = role === undefined ? (repo.private ? "none" : "read") : role === "maintain" ? "write" : role === "triage" ? "read" : role;
    return ok({
      permission,
      role_name: role ?? permission,
      user: { ...ctx.sim.shapes.user(user.login), permissions: { admin: role === "admin", maintain: role === "maintain" || role === "admin", push: permission === "write" || permission === "admin", triage: role !== undefined, pull: permission !== "none" }, role_name: role ?? permission },
    });
  });

  router.add("GET /repos/{owner}/{repo}/collaborators", (ctx) => {
    const repo = ctx.repo(["metadata", "read"]);
    return ctx.page([...repo.collaborators.entries()], ([login, role]) => ({ ...ctx.sim.shapes.user(login), role_name: role }));
  });

  router.add("GET /repos/{owner}/{repo}/contents/{path+}", (ctx) => getContents(ctx));
  router.add("GET /repos/{owner}/{repo}/readme", async (ctx) => {
    const repo = ctx.repo(["contents", "read"]);
    const commit = await commitFor(repo, ctx.query.ref);
    const entry = (await repo.git.lsTree(commit, "")).find((e) => e.type === "blob" && /^readme(\.|$)/i.test(e.path));
    if (!entry) throw notFound();
    return getContents(ctx, entry.path);
  });

  router.add("GET /repos/{owner}/{repo}/branches", async (ctx) => {
    const repo = ctx.repo(["metadata", "read"]);
    const refs = await repo.git.refs();
    const branches = [...refs].filter(([name]) => name.startsWith("refs/heads/")).map(([name, sha]) => ({ name: name.slice(11), sha }));
    return ctx.page(branches, (b) => ({
      name: b.name,
      commit: { sha: b.sha, url: `${ctx.sim.urls.api}/repos/${repo.fullName}/commits/${b.sha}` },
      protected: false,
    }));
  });

  router.add("GET /repos/{owner}/{repo}/branches/{branch+}", async (ctx) => {
    const repo = ctx.repo(["metadata", "read"]);
    const sha = (await repo.git.refs()).get(`refs/heads/${ctx.params.branch}`);
    if (!sha) throw new HttpError(404, "Branch not found");
    return ok({
      name: ctx.params.branch,
      commit: ctx.sim.shapes.commit(repo, await repo.git.commitInfo(sha)),
      _links: { self: `${ctx.sim.urls.api}/repos/${repo.fullName}/branches/${ctx.params.branch}`, html: `${ctx.sim.urls.web}/${repo.fullName}/tree/${ctx.params.branch}` },
      protected: false,
      protection: { enabled: false, required_status_checks: { enforcement_level: "off", contexts: [], checks: [] } },
      protection_url: `${ctx.sim.urls.api}/repos/${repo.fullName}/branches/${ctx.params.branch}/protection`,
    });
  });

  router.add("GET /repos/{owner}/{repo}/commits", async (ctx) => {
    const repo = ctx.repo(["contents", "read"]);
    const head = await commitFor(repo, ctx.query.sha);
    const args = ["rev-list", "--max-count=1000", head];
    if (ctx.query.path) args.push("--", ctx.query.path);
    const shas = (await repo.git.text(args)).split("\n").filter(Boolean);
    const perPage = Math.min(Number(ctx.query.per_page ?? 30) || 30, 100);
    const page = Math.max(Number(ctx.query.page ?? 1) || 1, 1);
    const infos = await Promise.all(shas.slice((page - 1) * perPage, page * perPage).map((s) => repo.git.commitInfo(s)));
    const paged = ctx.page(shas, (s) => s);
    return { ...paged, body: infos.map((i) => ctx.sim.shapes.commit(repo, i)) };
  });

  router.add("GET /repos/{owner}/{repo}/commits/{ref+}", async (ctx) => {
    const repo = ctx.repo(["contents", "read"]);
    const sha = await commitFor(repo, ctx.params.ref);
    const info = await repo.git.commitInfo(sha);
    const files = await diffCommits(repo.git, info.parents[0] ?? emptyTree, sha);
    return ok({ ...ctx.sim.shapes.commit(repo, info), stats: stats(files), files: files.map((f) => fileJson(ctx, repo, sha, f)) });
  });

  router.add("GET /repos/{owner}/{repo}/compare/{basehead+}", async (ctx) => {
    const repo = ctx.repo(["contents", "read"]);
    const m = /^(.+?)\.\.\.(.+)$/.exec(ctx.params.basehead!);
    if (!m) throw notFound();
    const base = await commitFor(repo, m[1]);
    const head = await commitFor(repo, m[2]);
    const mergeBase = await repo.git.mergeBase(base, head);
    const ahead = await repo.git.commitsBetween(base, head);
    const behind = await repo.git.commitsBetween(head, base);
    const files = mergeBase ? await diffCommits(repo.git, mergeBase, head) : [];
    const status = ahead.length && behind.length ? "diverged" : ahead.length ? "ahead" : behind.length ? "behind" : "identical";
    const commits = await Promise.all(ahead.map((s) => repo.git.commitInfo(s)));
    return ok({
      url: `${ctx.sim.urls.api}/repos/${repo.fullName}/compare/${ctx.params.basehead}`,
      html_url: `${ctx.sim.urls.web}/${repo.fullName}/compare/${ctx.params.basehead}`,
      base_commit: ctx.sim.shapes.commit(repo, await repo.git.commitInfo(base)),
      merge_base_commit: mergeBase ? ctx.sim.shapes.commit(repo, await repo.git.commitInfo(mergeBase)) : null,
      status,
      ahead_by: ahead.length,
      behind_by: behind.length,
      total_commits: ahead.length,
      commits: commits.map((c) => ctx.sim.shapes.commit(repo, c)),
      files: files.map((f) => fileJson(ctx, repo, head, f)),
    });
  });

  // --- git data: refs, trees, blobs ---

  const refJson = (ctx: RestContext, repo: SimRepo, ref: string, sha: string) => ({
    ref,
    node_id: Buffer.from(`ref:${ref}`).toString("base64"),
    url: `${ctx.sim.urls.api}/repos/${repo.fullName}/git/${ref}`,
    object: { sha, type: "commit", url: `${ctx.sim.urls.api}/repos/${repo.fullName}/git/commits/${sha}` },
  });

  router.add("GET /repos/{owner}/{repo}/git/ref/{ref+}", async (ctx) => {
    const repo = ctx.repo(["contents", "read"]);
    const name = `refs/${ctx.params.ref}`;
    const sha = (await repo.git.refs()).get(name);
    if (!sha) throw notFound();
    return ok(refJson(ctx, repo, name, sha));
  });

  router.add("GET /repos/{owner}/{repo}/git/matching-refs/{ref+}", async (ctx) => {
    const repo = ctx.repo(["contents", "read"]);
    const prefix = `refs/${ctx.params.ref}`;
    const refs = [...(await repo.git.refs())].filter(([name]) => name.startsWith(prefix));
    return ok(refs.map(([name, sha]) => refJson(ctx, repo, name, sha)));
  });

  router.add("POST /repos/{owner}/{repo}/git/refs", async (ctx) => {
    const repo = ctx.repo(["contents", "write"]);
    const ref = ctx.string("ref", { required: true })!;
    const sha = ctx.string("sha", { required: true })!;
    if (!/^refs\/(heads|tags)\/.+/.test(ref) || ref.split("/").length < 3) throw new HttpError(422, "Reference name must start with 'refs/' and have at least two slashes.");
    if (!(await repo.git.objectExists(sha))) throw new HttpError(422, "Object does not exist");
    if ((await repo.git.refs()).has(ref)) throw new HttpError(422, "Reference already exists");
    await assertNoWorkflowChange(ctx, repo, undefined, sha);
    await repo.git.updateRef(ref, sha);
    await ctx.sim.effects.refsUpdated(repo, [{ ref, before: ZERO_SHA, after: sha }], "api", ctx.token()?.token);
    return ok(refJson(ctx, repo, ref, sha), 201);
  });

  router.add("PATCH /repos/{owner}/{repo}/git/refs/{ref+}", async (ctx) => {
    const repo = ctx.repo(["contents", "write"]);
    const ref = `refs/${ctx.params.ref}`;
    const sha = ctx.string("sha", { required: true })!;
    const before = (await repo.git.refs()).get(ref);
    if (!before) throw new HttpError(422, "Reference does not exist");
    if (!(await repo.git.objectExists(sha))) throw new HttpError(422, "Object does not exist");
    if (ctx.body.force !== true && !(await repo.git.isAncestor(before, sha))) throw new HttpError(422, "Update is not a fast forward");
    await assertNoWorkflowChange(ctx, repo, before, sha);
    await repo.git.updateRef(ref, sha, before);
    await ctx.sim.effects.refsUpdated(repo, [{ ref, before, after: sha }], "api", ctx.token()?.token);
    return ok(refJson(ctx, repo, ref, sha));
  });

  router.add("DELETE /repos/{owner}/{repo}/git/refs/{ref+}", async (ctx) => {
    const repo = ctx.repo(["contents", "write"]);
    const ref = `refs/${ctx.params.ref}`;
    const before = (await repo.git.refs()).get(ref);
    if (!before) throw new HttpError(422, "Reference does not exist");
    if (ref === `refs/heads/${repo.defaultBranch}`) throw new HttpError(422, "Cannot delete the default branch");
    await repo.git.deleteRef(ref);
    await ctx.sim.effects.refsUpdated(repo, [{ ref, before, after: ZERO_SHA }], "api", ctx.token()?.token);
    return noContent();
  });

  router.add("GET /repos/{owner}/{repo}/git/commits/{commit_sha}", async (ctx) => {
    const repo = ctx.repo(["contents", "read"]);
    const sha = await commitFor(repo, ctx.params.commit_sha);
    const c = ctx.sim.shapes.commit(repo, await repo.git.commitInfo(sha)) as { commit: Json };
    return ok({ sha, ...c.commit, parents: (c as Json).parents, html_url: (c as Json).html_url });
  });

  router.add("GET /repos/{owner}/{repo}/git/trees/{tree_sha+}", async (ctx) => {
    const repo = ctx.repo(["contents", "read"]);
    const id = ctx.params.tree_sha!;
    const ok1 = await repo.git.git(["rev-parse", "--verify", "--quiet", "--end-of-options", `${id}^{tree}`], { allowFail: true });
    if (ok1.code !== 0) throw notFound();
    const tree = ok1.stdout.toString().trim();
    const entries = ctx.query.recursive && ctx.query.recursive !== "0" && ctx.query.recursive !== "false" ? await repo.git.lsTreeRecursive(tree) : await repo.git.lsTree(tree, "");
    return ok({
      sha: tree,
      url: `${ctx.sim.urls.api}/repos/${repo.fullName}/git/trees/${tree}`,
      tree: entries.map((e) => ({ path: e.path, mode: e.mode, type: e.type, sha: e.sha, ...(e.size !== undefined ? { size: e.size } : {}), url: `${ctx.sim.urls.api}/repos/${repo.fullName}/git/${e.type}s/${e.sha}` })),
      truncated: false,
    });
  });

  router.add("GET /repos/{owner}/{repo}/git/blobs/{file_sha}", async (ctx) => {
    const repo = ctx.repo(["contents", "read"]);
    const sha = ctx.params.file_sha!;
    const type = await repo.git.git(["cat-file", "-t", sha], { allowFail: true });
    if (type.code !== 0 || type.stdout.toString().trim() !== "blob") throw notFound();
    const content = await repo.git.readBlob(sha);
    return ok({ sha, node_id: sha, size: content.length, url: `${ctx.sim.urls.api}/repos/${repo.fullName}/git/blobs/${sha}`, content: base64Lines(content), encoding: "base64" });
  });
}

const emptyTree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

/** A ref, branch, tag or sha → commit sha (default branch when absent); 404/422 as GitHub. */
export async function commitFor(repo: SimRepo, ref: string | undefined, missing: "422" | "404" = "422"): Promise<string> {
  const name = ref && ref.length ? ref : repo.defaultBranch;
  const sha = await repo.git.resolve(name);
  if (sha) return sha;
  if (!ref) throw new HttpError(404, "This repository is empty.");
  // The commits API says 422 for an unknown ref; the contents API says 404.
  throw missing === "404" ? new HttpError(404, `No commit found for the ref ${ref}`) : new HttpError(422, `No commit found for SHA: ${ref}`);
}

/** GitHub wraps base64 content at 60 characters. */
export function base64Lines(buf: Buffer): string {
  return (buf.toString("base64").match(/.{1,60}/g) ?? [""]).join("\n") + "\n";
}

async function getContents(ctx: RestContext, pathOverride?: string) {
  const repo = ctx.repo(["contents", "read"]);
  const path = (pathOverride ?? ctx.params.path ?? "").replace(/^\/+|\/+$/g, "");
  const commit = await commitFor(repo, ctx.query.ref, "404");
  const ref = ctx.query.ref ?? repo.defaultBranch;
  const api = `${ctx.sim.urls.api}/repos/${repo.fullName}`;
  const entryJson = (e: { path: string; sha: string; type: string; size?: number }) => {
    const type = e.type === "tree" ? "dir" : e.type === "commit" ? "submodule" : "file";
    const url = `${api}/contents/${e.path}?ref=${encodeURIComponent(ref)}`;
    const html = `${ctx.sim.urls.web}/${repo.fullName}/${type === "dir" ? "tree" : "blob"}/${ref}/${e.path}`;
    const git = `${api}/git/${e.type === "tree" ? "trees" : "blobs"}/${e.sha}`;
    return {
      name: e.path.split("/").pop(),
      path: e.path,
      sha: e.sha,
      size: e.size ?? 0,
      url,
      html_url: html,
      git_url: git,
      download_url: type === "file" ? `${ctx.sim.urls.web}/${repo.fullName}/raw/${ref}/${e.path}` : null,
      type,
      _links: { self: url, git, html },
    };
  };
  if (path === "") {
    const entries = await repo.git.lsTree(commit, "");
    return ok(entries.map(entryJson));
  }
  const [entry] = (await repo.git.lsTree(commit, path)).filter((e) => e.path === path);
  if (!entry) throw notFound();
  if (entry.type === "tree") {
    const children = await repo.git.lsTree(commit, `${path}/`);
    return ok(children.map(entryJson));
  }
  if (entry.type === "commit") return ok({ ...entryJson(entry), submodule_git_url: null });
  const content = await repo.git.readBlob(entry.sha);
  if (entry.mode === "120000") return ok({ ...entryJson(entry), type: "symlink", target: content.toString("utf8") });
  return ok({ ...entryJson(entry), content: base64Lines(content), encoding: "base64" });
}

export function stats(files: FileDiff[]): { total: number; additions: number; deletions: number } {
  const additions = files.reduce((n, f) => n + f.additions, 0);
  const deletions = files.reduce((n, f) => n + f.deletions, 0);
  return { total: additions + deletions, additions, deletions };
}

/** A file entry as GitHub lists it (PR files, commit files, compare files). */
export function fileJson(ctx: RestContext, repo: SimRepo, sha: string, f: FileDiff): Json {
  return {
    sha: null,
    filename: f.filename,
    status: f.status,
    additions: f.additions,
    deletions: f.deletions,
    changes: f.additions + f.deletions,
    blob_url: `${ctx.sim.urls.web}/${repo.fullName}/blob/${sha}/${f.filename}`,
    raw_url: `${ctx.sim.urls.web}/${repo.fullName}/raw/${sha}/${f.filename}`,
    contents_url: `${ctx.sim.urls.api}/repos/${repo.fullName}/contents/${f.filename}?ref=${sha}`,
    ...(f.patch !== undefined ? { patch: f.patch } : {}),
    ...(f.previousFilename ? { previous_filename: f.previousFilename } : {}),
  };
}

/** The refs API enforces the `workflows` permission too (GitHub checks every write path). */
async function assertNoWorkflowChange(ctx: RestContext, repo: SimRepo, before: string | undefined, after: string): Promise<void> {
  if (ctx.token()?.permissions.workflows === "write") return;
  const commits = await repo.git.text(["rev-list", after, "--not", ...(before ? [before] : []), "--all"]);
  for (const c of commits.split("\n").filter(Boolean)) {
    const names = await repo.git.text(["diff-tree", "--no-commit-id", "--name-only", "-r", "-m", "--root", c]);
    const touched = names.split("\n").find((n) => n.startsWith(".github/workflows/"));
    if (touched) {
      throw validationFailed({
        resource: "Reference",
        code: "custom",
        message: `refusing to allow a GitHub App to create or update workflow \`${touched}\` without \`workflows\` permission`,
      });
    }
  }
}
