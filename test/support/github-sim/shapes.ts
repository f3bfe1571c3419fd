import type { AppIdentity } from "./auth.js";
import type { CommitInfo } from "./git.js";
import type {
  SimCheckRun,
  SimComment,
  SimInstallation,
  SimIssue,
  SimLabel,
  SimPull,
  SimReaction,
  SimRepo,
  SimReview,
  SimReviewComment,
  SimState,
} from "./state.js";

/**
 * State → the JSON GitHub sends, for REST answers and webhook payloads alike (they share
 * shapes). Only the fields a client can plausibly read are filled; URLs point back at the
 * simulator so a client that follows one stays here.
 */

export type Json = Record<string, unknown>;

export interface Urls {
  /** http://127.0.0.1:PORT/api/v3 */
  api: string;
  /** http://127.0.0.1:PORT (html pages and git) */
  web: string;
}

const nodeId = (kind: string, id: number) => Buffer.from(`0:${kind}${id}`).toString("base64").replace(/=+$/, "");

export class Shapes {
  constructor(
    private readonly state: SimState,
    private readonly urls: Urls,
    private readonly app: AppIdentity,
  ) {}

  user(login: string): Json {
    const u = this.state.user(login);
    const api = `${this.urls.api}/users/${encodeURIComponent(u.login)}`;
    return {
      login: u.login,
      id: u.id,
      node_id: nodeId("User", u.id),
      avatar_url: `${this.urls.web}/avatars/u/${u.id}`,
      gravatar_id: "",
      url: api,
      html_url: u.type === "Bot" ? `${this.urls.web}/apps/${u.login.replace(/\[bot\]$/, "")}` : `${this.urls.web}/${u.login}`,
      followers_url: `${api}/followers`,
      following_url: `${api}/following{/other_user}`,
      gists_url: `${api}/gists{/gist_id}`,
      starred_url: `${api}/starred{/owner}{/repo}`,
      subscriptions_url: `${api}/subscriptions`,
      organizations_url: `${api}/orgs`,
      repos_url: `${api}/repos`,
      events_url: `${api}/events{/privacy}`,
      received_events_url: `${api}/received_events`,
      type: u.type,
      user_view_type: "public",
      site_admin: false,
    };
  }

  repo(r: SimRepo): Json {
    const api = `${this.urls.api}/repos/${r.fullName}`;
    return {
      id: r.id,
      node_id: nodeId("Repository", r.id),
      name: r.name,
      full_name: r.fullName,
      private: r.private,
      owner: this.user(r.owner),
      html_url: `${this.urls.web}/${r.fullName}`,
      description: r.description,
      fork: false,
      url: api,
      issues_url: `${api}/issues{/number}`,
      pulls_url: `${api}/pulls{/number}`,
      contents_url: `${api}/contents/{+path}`,
      git_url: `${this.urls.web}/${r.fullName}.git`,
      clone_url: `${this.urls.web}/${r.fullName}.git`,
      ssh_url: `git@${new URL(this.urls.web).host}:${r.fullName}.git`,
      svn_url: `${this.urls.web}/${r.fullName}`,
      homepage: null,
      size: 0,
      language: null,
      has_issues: true,
      has_projects: true,
      has_downloads: true,
      has_wiki: true,
      has_pages: false,
      has_discussions: false,
      forks_count: 0,
      archived: false,
      disabled: false,
      open_issues_count: this.state.issues.filter((i) => i.repoId === r.id && i.state === "open").length,
      license: null,
      allow_forking: true,
      is_template: false,
      topics: [],
      visibility: r.private ? "private" : "public",
      forks: 0,
      open_issues: this.state.issues.filter((i) => i.repoId === r.id && i.state === "open").length,
      watchers: 0,
      default_branch: r.defaultBranch,
      created_at: r.createdAt,
      updated_at: r.createdAt,
      pushed_at: r.createdAt,
    };
  }

  /** The short repo form used in installation token answers and installation payloads. */
  repoLite(r: SimRepo): Json {
    return { id: r.id, node_id: nodeId("Repository", r.id), name: r.name, full_name: r.fullName, private: r.private };
  }

  authorAssociation(login: string, repo: SimRepo): string {
    if (login.toLowerCase() === repo.owner.toLowerCase()) return "OWNER";
    if (repo.collaborators.has(login.toLowerCase())) return "COLLABORATOR";
    return "NONE";
  }

  label(l: SimLabel): Json {
    const r = this.state.repoById(l.repoId)!;
    return {
      id: l.id,
      node_id: nodeId("Label", l.id),
      url: `${this.urls.api}/repos/${r.fullName}/labels/${encodeURIComponent(l.name)}`,
      name: l.name,
      color: l.color,
      default: false,
      description: l.description,
    };
  }

  labelsOf(repoId: number, names: string[]): Json[] {
    return names
      .map((n) => this.state.labels.find((l) => l.repoId === repoId && l.name.toLowerCase() === n.toLowerCase()))
      .filter((l): l is SimLabel => !!l)
      .map((l) => this.label(l));
  }

  reactionSummary(url: string, reactions: SimReaction[]): Json {
    const count = (c: string) => reactions.filter((r) => r.content === c).length;
    return {
      url,
      total_count: reactions.length,
      "+1": count("+1"),
      "-1": count("-1"),
      laugh: count("laugh"),
      hooray: count("hooray"),
      confused: count("confused"),
      heart: count("heart"),
      rocket: count("rocket"),
      eyes: count("eyes"),
    };
  }

  issue(i: SimIssue): Json {
    const r = this.state.repoById(i.repoId)!;
    const api = `${this.urls.api}/repos/${r.fullName}/issues/${i.number}`;
    const html = `${this.urls.web}/${r.fullName}/${i.isPullRequest ? "pull" : "issues"}/${i.number}`;
    const pull = i.isPullRequest ? this.state.pull(r.id, i.number) : undefined;
    const reactions = this.state.reactions.filter(
      (x) => x.subject.type === "issue" && x.subject.repoId === r.id && x.subject.number === i.number,
    );
    return {
      url: api,
      repository_url: `${this.urls.api}/repos/${r.fullName}`,
      labels_url: `${api}/labels{/name}`,
      comments_url: `${api}/comments`,
      events_url: `${api}/events`,
      html_url: html,
      id: i.id,
      node_id: nodeId(i.isPullRequest ? "PullRequest" : "Issue", i.id),
      number: i.number,
      title: i.title,
      user: this.user(i.user),
      labels: this.labelsOf(r.id, i.labels),
      state: i.state,
      locked: i.locked,
      assignee: i.assignees[0] ? this.user(i.assignees[0]) : null,
      assignees: i.assignees.map((a) => this.user(a)),
      milestone: null,
      comments: this.state.comments.filter((c) => c.repoId === r.id && c.issueNumber === i.number).length,
      created_at: i.createdAt,
      updated_at: i.updatedAt,
      closed_at: i.closedAt,
      author_association: this.authorAssociation(i.user, r),
      active_lock_reason: null,
      body: i.body,
      reactions: this.reactionSummary(`${api}/reactions`, reactions),
      state_reason: i.stateReason,
      ...(pull
        ? {
            draft: pull.draft,
            pull_request: {
              url: `${this.urls.api}/repos/${r.fullName}/pulls/${i.number}`,
              html_url: html,
              diff_url: `${html}.diff`,
              patch_url: `${html}.patch`,
              merged_at: pull.mergedAt,
            },
          }
        : {}),
    };
  }

  /**
   * A pull request. `stats` adds the fields only the single-PR answer has (commit, line and
   * file counts, mergeability), computed by the caller from real git.
   */
  pull(p: SimPull, stats?: { commits: number; additions: number; deletions: number; changedFiles: number; mergeable: boolean | null }): Json {
    const r = this.state.repoById(p.repoId)!;
    const i = this.state.issue(p.repoId, p.number)!;
    const api = `${this.urls.api}/repos/${r.fullName}/pulls/${p.number}`;
    const html = `${this.urls.web}/${r.fullName}/pull/${p.number}`;
    const owner = this.user(r.owner);
    const end = (ref: string, sha: string) => ({
      label: `${r.owner}:${ref}`,
      ref,
      sha,
      user: owner,
      repo: this.repo(r),
    });
    const fork = p.forkOwner;
    const headEnd = fork
      ? {
          label: `${fork}:${p.head.ref}`,
          ref: p.head.ref,
          sha: p.head.sha,
          user: this.user(fork),
          repo: {
            ...this.repo(r),
            id: r.id + 1_000_000,
            node_id: nodeId("Repository", r.id + 1_000_000),
            full_name: `${fork}/${r.name}`,
            owner: this.user(fork),
            html_url: `${this.urls.web}/${fork}/${r.name}`,
            fork: true,
          },
        }
      : end(p.head.ref, p.head.sha);
    return {
      url: api,
      id: p.id,
      node_id: nodeId("PullRequest", p.id),
      html_url: html,
      diff_url: `${html}.diff`,
      patch_url: `${html}.patch`,
      issue_url: `${this.urls.api}/repos/${r.fullName}/issues/${p.number}`,
      commits_url: `${api}/commits`,
      review_comments_url: `${api}/comments`,
      review_comment_url: `${this.urls.api}/repos/${r.fullName}/pulls/comments{/number}`,
      comments_url: `${this.urls.api}/repos/${r.fullName}/issues/${p.number}/comments`,
      statuses_url: `${this.urls.api}/repos/${r.fullName}/statuses/${p.head.sha}`,
      number: p.number,
      state: i.state,
      locked: i.locked,
      title: i.title,
      user: this.user(i.user),
      body: i.body,
      labels: this.labelsOf(r.id, i.labels),
      milestone: null,
      active_lock_reason: null,
      created_at: i.createdAt,
      updated_at: i.updatedAt,
      closed_at: i.closedAt,
      merged_at: p.mergedAt,
      merge_commit_sha: p.mergeCommitSha,
      assignee: i.assignees[0] ? this.user(i.assignees[0]) : null,
      assignees: i.assignees.map((a) => this.user(a)),
      requested_reviewers: p.requestedReviewers.map((u) => this.user(u)),
      requested_teams: [],
      head: headEnd,
      base: end(p.base.ref, p.base.sha),
      _links: {
        self: { href: api },
        html: { href: html },
        issue: { href: `${this.urls.api}/repos/${r.fullName}/issues/${p.number}` },
        comments: { href: `${this.urls.api}/repos/${r.fullName}/issues/${p.number}/comments` },
        review_comments: { href: `${api}/comments` },
        commits: { href: `${api}/commits` },
        statuses: { href: `${this.urls.api}/repos/${r.fullName}/statuses/${p.head.sha}` },
      },
      author_association: this.authorAssociation(i.user, r),
      auto_merge: null,
      draft: p.draft,
      ...(stats
        ? {
            merged: p.merged,
            mergeable: stats.mergeable,
            rebaseable: stats.mergeable,
            mergeable_state: stats.mergeable === false ? "dirty" : p.draft ? "draft" : "clean",
            merged_by: null,
            comments: this.state.comments.filter((c) => c.repoId === r.id && c.issueNumber === p.number).length,
            review_comments: this.state.reviewComments.filter((c) => c.repoId === r.id && c.pullNumber === p.number).length,
            maintainer_can_modify: p.maintainerCanModify,
            commits: stats.commits,
            additions: stats.additions,
            deletions: stats.deletions,
            changed_files: stats.changedFiles,
          }
        : {}),
    };
  }

  comment(c: SimComment): Json {
    const r = this.state.repoById(c.repoId)!;
    const i = this.state.issue(c.repoId, c.issueNumber)!;
    const api = `${this.urls.api}/repos/${r.fullName}/issues/comments/${c.id}`;
    const reactions = this.state.reactions.filter((x) => x.subject.type === "issue_comment" && x.subject.commentId === c.id);
    return {
      url: api,
      html_url: `${this.urls.web}/${r.fullName}/${i.isPullRequest ? "pull" : "issues"}/${c.issueNumber}#issuecomment-${c.id}`,
      issue_url: `${this.urls.api}/repos/${r.fullName}/issues/${c.issueNumber}`,
      id: c.id,
      node_id: nodeId("IssueComment", c.id),
      user: this.user(c.user),
      created_at: c.createdAt,
      updated_at: c.updatedAt,
      author_association: this.authorAssociation(c.user, r),
      body: c.body,
      reactions: this.reactionSummary(`${api}/reactions`, reactions),
      performed_via_github_app: this.state.findUser(c.user)?.login === this.app.botLogin ? this.appJson() : null,
    };
  }

  reaction(x: SimReaction): Json {
    return { id: x.id, node_id: nodeId("Reaction", x.id), user: this.user(x.user), content: x.content, created_at: x.createdAt };
  }

  review(v: SimReview): Json {
    const r = this.state.repoById(v.repoId)!;
    const html = `${this.urls.web}/${r.fullName}/pull/${v.pullNumber}#pullrequestreview-${v.id}`;
    const pr = `${this.urls.api}/repos/${r.fullName}/pulls/${v.pullNumber}`;
    return {
      id: v.id,
      node_id: nodeId("PullRequestReview", v.id),
      user: this.user(v.user),
      body: v.body,
      state: v.state,
      html_url: html,
      pull_request_url: pr,
      author_association: this.authorAssociation(v.user, r),
      _links: { html: { href: html }, pull_request: { href: pr } },
      ...(v.submittedAt ? { submitted_at: v.submittedAt } : {}),
      commit_id: v.commitId,
    };
  }

  reviewComment(c: SimReviewComment): Json {
    const r = this.state.repoById(c.repoId)!;
    const api = `${this.urls.api}/repos/${r.fullName}/pulls/comments/${c.id}`;
    const html = `${this.urls.web}/${r.fullName}/pull/${c.pullNumber}#discussion_r${c.id}`;
    const pr = `${this.urls.api}/repos/${r.fullName}/pulls/${c.pullNumber}`;
    return {
      url: api,
      pull_request_review_id: c.reviewId,
      id: c.id,
      node_id: nodeId("PullRequestReviewComment", c.id),
      diff_hunk: c.diffHunk,
      path: c.path,
      position: c.position,
      original_position: c.position,
      commit_id: c.commitId,
      original_commit_id: c.commitId,
      ...(c.inReplyTo ? { in_reply_to_id: c.inReplyTo } : {}),
      user: this.user(c.user),
      body: c.body,
      created_at: c.createdAt,
      updated_at: c.updatedAt,
      html_url: html,
      pull_request_url: pr,
      author_association: this.authorAssociation(c.user, r),
      _links: { self: { href: api }, html: { href: html }, pull_request: { href: pr } },
      start_line: c.startLine,
      original_start_line: c.startLine,
      start_side: c.startSide,
      line: c.line,
      original_line: c.line,
      side: c.side,
      subject_type: c.subjectType,
      reactions: this.reactionSummary(
        `${api}/reactions`,
        this.state.reactions.filter((x) => x.subject.type === "review_comment" && x.subject.commentId === c.id),
      ),
    };
  }

  checkRun(c: SimCheckRun): Json {
    const r = this.state.repoById(c.repoId)!;
    const api = `${this.urls.api}/repos/${r.fullName}/check-runs/${c.id}`;
    const prs = this.state.pulls
      .filter((p) => p.repoId === r.id && p.head.sha === c.headSha && this.state.issue(r.id, p.number)?.state === "open")
      .map((p) => ({
        url: `${this.urls.api}/repos/${r.fullName}/pulls/${p.number}`,
        id: p.id,
        number: p.number,
        head: { ref: p.head.ref, sha: p.head.sha, repo: { id: r.id, url: `${this.urls.api}/repos/${r.fullName}`, name: r.name } },
        base: { ref: p.base.ref, sha: p.base.sha, repo: { id: r.id, url: `${this.urls.api}/repos/${r.fullName}`, name: r.name } },
      }));
    return {
      id: c.id,
      node_id: nodeId("CheckRun", c.id),
      head_sha: c.headSha,
      external_id: c.externalId ?? "",
      url: api,
      html_url: `${this.urls.web}/${r.fullName}/runs/${c.id}`,
      details_url: c.detailsUrl,
      status: c.status,
      conclusion: c.conclusion,
      started_at: c.startedAt,
      completed_at: c.completedAt,
      output: {
        title: c.output.title,
        summary: c.output.summary,
        text: c.output.text,
        annotations_count: c.output.annotations.length,
        annotations_url: `${api}/annotations`,
      },
      name: c.name,
      // GitHub's check_suite carries the branch and sha the suite ran on.
      check_suite: { id: c.id + 1_000_000, head_sha: c.headSha, head_branch: prs[0] ? (prs[0] as { head: { ref: string } }).head.ref : null },
      app: c.app.id === this.app.id ? this.appJson() : { id: c.app.id, slug: c.app.slug, name: c.app.name, owner: this.user(r.owner) },
      pull_requests: prs,
    };
  }

  appJson(): Json {
    return {
      id: this.app.id,
      slug: this.app.slug,
      client_id: this.app.clientId,
      node_id: nodeId("App", this.app.id),
      owner: this.user(this.app.owner),
      name: this.app.name,
      description: "",
      external_url: this.urls.web,
      html_url: `${this.urls.web}/apps/${this.app.slug}`,
      created_at: "2024-01-01T00:00:00Z",
      updated_at: "2024-01-01T00:00:00Z",
      permissions: { checks: "write", contents: "write", issues: "write", metadata: "read", pull_requests: "write", workflows: "write" },
      events: ["check_run", "issue_comment", "issues", "pull_request", "pull_request_review", "push"],
      installations_count: this.state.installations.length,
    };
  }

  installation(inst: SimInstallation): Json {
    const account = this.state.user(inst.account);
    return {
      id: inst.id,
      account: this.user(inst.account),
      repository_selection: inst.repositoryIds === "all" ? "all" : "selected",
      access_tokens_url: `${this.urls.api}/app/installations/${inst.id}/access_tokens`,
      repositories_url: `${this.urls.api}/installation/repositories`,
      html_url: `${this.urls.web}/settings/installations/${inst.id}`,
      app_id: this.app.id,
      app_slug: this.app.slug,
      target_id: account.id,
      target_type: account.type === "Organization" ? "Organization" : "User",
      permissions: inst.permissions,
      events: inst.events,
      created_at: inst.createdAt,
      updated_at: inst.createdAt,
      single_file_name: null,
      has_multiple_single_files: false,
      single_file_paths: [],
      suspended_at: inst.suspended ? inst.createdAt : null,
      suspended_by: null,
    };
  }

  commit(repo: SimRepo, info: CommitInfo): Json {
    const api = `${this.urls.api}/repos/${repo.fullName}`;
    const person = (p: CommitInfo["author"]) => ({ name: p.name, email: p.email, date: p.date });
    const account = (email: string) => {
      const u = [...this.state.users.values()].find((x) => x.email?.toLowerCase() === email.toLowerCase());
      return u ? this.user(u.login) : null;
    };
    return {
      sha: info.sha,
      node_id: nodeId("Commit", parseInt(info.sha.slice(0, 8), 16)),
      commit: {
        author: person(info.author),
        committer: person(info.committer),
        message: info.message,
        tree: { sha: info.tree, url: `${api}/git/trees/${info.tree}` },
        url: `${api}/git/commits/${info.sha}`,
        comment_count: 0,
        verification: { verified: false, reason: "unsigned", signature: null, payload: null },
      },
      url: `${api}/commits/${info.sha}`,
      html_url: `${this.urls.web}/${repo.fullName}/commit/${info.sha}`,
      comments_url: `${api}/commits/${info.sha}/comments`,
      author: account(info.author.email),
      committer: account(info.committer.email),
      parents: info.parents.map((p) => ({ sha: p, url: `${api}/commits/${p}`, html_url: `${this.urls.web}/${repo.fullName}/commit/${p}` })),
    };
  }
}
