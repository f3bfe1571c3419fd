import { createHmac, randomUUID } from "node:crypto";
import { ZERO_SHA } from "./git.js";
import { HttpError } from "./http-error.js";
import { addComment, ensureLabels, findLabel, isoNow } from "./rest/issues.js";
import { pullJsonFull } from "./rest/pull-json.js";
import type { SimServices } from "./rest/router.js";
import type { Json } from "./shapes.js";
import type { DeliveryRecord, ReviewState, SimRepo, SimReview } from "./state.js";

/**
 * Webhooks out. Payloads are built from the simulator's own state (real repo and installation
 * ids, real head shas, real commits), signed with the app's webhook secret, posted to the app,
 * and logged as deliveries with status code and duration, which is what the deliveries API
 * lists and redelivers.
 */

export interface DeliverOptions {
  /** X-GitHub-Delivery; a fresh GUID by default. A redelivery reuses the original one. */
  guid?: string;
  /** Extra or replacement headers (a header set to "" is removed), for intake tests. */
  headers?: Record<string, string>;
}

type RepoRef = string | SimRepo;

export class Webhooks {
  /** The app's webhook URL (e.g. http://127.0.0.1:3000/api/github/webhooks). */
  url: string | undefined;
  secret: string;
  /** GitHub gives up on a delivery after 10 s. */
  timeoutMs: number;
  /**
   * Send the webhooks GitHub would send for what the app (or a seed) does: its comments,
   * PRs, reviews, check runs, pushes. Off by default so a test sees only what it sends.
   */
  auto: boolean;
  #pending = new Set<Promise<unknown>>();

  constructor(
    private readonly sim: SimServices,
    options: { url?: string; secret: string; timeoutMs?: number; auto?: boolean },
  ) {
    this.url = options.url;
    this.secret = options.secret;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.auto = options.auto ?? false;
  }

  // --- plumbing ---

  /** The envelope every repo event has: repository, sender, installation. */
  envelope(event: string, repo: SimRepo, sender: string, fields: Json): Json {
    const inst = this.sim.state.installationFor(repo);
    const repository = event === "push" ? this.pushRepository(repo) : this.sim.shapes.repo(repo);
    return {
      ...fields,
      repository,
      sender: this.sim.shapes.user(sender),
      ...(inst ? { installation: { id: inst.id, node_id: Buffer.from(`0:Installation${inst.id}`).toString("base64") } } : {}),
    };
  }

  /** Sign and POST a delivery; log it (also when the app is down or slow). */
  async deliver(event: string, payload: Json, options: DeliverOptions = {}): Promise<DeliveryRecord> {
    return this.#send(event, JSON.stringify(payload), payload, options, false);
  }

  /** Post a logged delivery again: same GUID and body, a new delivery id, `redelivery: true`. */
  async redeliver(id: number): Promise<DeliveryRecord> {
    const original = this.sim.state.deliveries.find((d) => d.id === id);
    if (!original) throw new HttpError(404, "Not Found");
    let parsed: Json = {};
    try {
      parsed = JSON.parse(original.request.payload) as Json;
    } catch {
      // a raw body logged by a test: send it as it was
    }
    return this.#send(original.event, original.request.payload, parsed, { guid: original.guid }, true);
  }

  /** Add a delivery to the log without sending it (for reconciler tests: "this one failed"). */
  record(entry: Partial<DeliveryRecord> & { event: string; statusCode: number; payload?: Json }): DeliveryRecord {
    const payload = entry.payload ?? {};
    const record: DeliveryRecord = {
      id: this.sim.state.nextId("delivery"),
      guid: entry.guid ?? randomUUID(),
      event: entry.event,
      action: entry.action ?? ((payload.action as string | undefined) ?? null),
      installationId: entry.installationId ?? ((payload.installation as { id?: number } | undefined)?.id ?? null),
      repositoryId: entry.repositoryId ?? ((payload.repository as { id?: number } | undefined)?.id ?? null),
      deliveredAt: entry.deliveredAt ?? new Date(this.sim.now()).toISOString(),
      redelivery: entry.redelivery ?? false,
      duration: entry.duration ?? 0.01,
      status: entry.status ?? statusText(entry.statusCode),
      statusCode: entry.statusCode,
      url: entry.url ?? this.url ?? "",
      request: entry.request ?? { headers: {}, payload: JSON.stringify(payload) },
      response: entry.response ?? { headers: {}, payload: "" },
    };
    this.sim.state.deliveries.push(record);
    return record;
  }

  /** Queue an automatic delivery (when `auto` is on). */
  emit(event: string, repo: SimRepo, sender: string, build: () => Promise<Json> | Json): void {
    if (!this.auto || !this.url) return;
    this.track(
      (async () => {
        const fields = await build();
        await this.deliver(event, this.envelope(event, repo, sender, fields));
      })(),
    );
  }

  track(p: Promise<unknown>): void {
    const tracked = p.catch(() => {}).finally(() => this.#pending.delete(tracked));
    this.#pending.add(tracked);
  }

  /** Resolves when every background delivery (auto and redeliveries) has finished. */
  async idle(): Promise<void> {
    while (this.#pending.size) await Promise.all([...this.#pending]);
  }

  async #send(event: string, body: string, payload: Json, options: DeliverOptions, redelivery: boolean): Promise<DeliveryRecord> {
    if (!this.url) throw new Error("github-sim: set sim.webhooks.url (the app's webhook URL) before delivering");
    const guid = options.guid ?? randomUUID();
    const headers: Record<string, string> = {
      accept: "*/*",
      "content-type": "application/json",
      "user-agent": "GitHub-Hookshot/github-sim",
      "x-github-event": event,
      "x-github-delivery": guid,
      "x-github-hook-id": "1",
      "x-github-hook-installation-target-type": "integration",
      "x-github-hook-installation-target-id": String(this.sim.app.id),
      "x-hub-signature": `sha1=${createHmac("sha1", this.secret).update(body).digest("hex")}`,
      "x-hub-signature-256": `sha256=${createHmac("sha256", this.secret).update(body).digest("hex")}`,
    };
    for (const [k, v] of Object.entries(options.headers ?? {})) {
      if (v === "") delete headers[k.toLowerCase()];
      else headers[k.toLowerCase()] = v;
    }
    const started = performance.now();
    const deliveredAt = new Date(this.sim.now()).toISOString();
    let statusCode = 0;
    let status: string;
    let responseHeaders: Record<string, string> = {};
    let responseBody = "";
    try {
      const res = await fetch(this.url, { method: "POST", headers, body, signal: AbortSignal.timeout(this.timeoutMs) });
      statusCode = res.status;
      responseHeaders = Object.fromEntries(res.headers.entries());
      responseBody = (await res.text()).slice(0, 65_536);
      status = statusText(statusCode);
    } catch (err) {
      const name = (err as Error).name;
      status = name === "TimeoutError" || name === "AbortError" ? "timed out" : "failed to connect to host";
    }
    return this.record({
      event,
      guid,
      payload,
      redelivery,
      statusCode,
      status,
      deliveredAt,
      duration: Math.round(performance.now() - started) / 1000,
      url: this.url,
      request: { headers, payload: body },
      response: { headers: responseHeaders, payload: responseBody },
    });
  }

  // --- realistic events from state ---

  #repo(ref: RepoRef): SimRepo {
    if (typeof ref !== "string") return ref;
    const [owner, name] = ref.split("/");
    const repo = this.sim.state.findRepo(owner ?? "", name ?? "");
    if (!repo) throw new Error(`github-sim: no repo ${ref}`);
    return repo;
  }

  /** A user labels an issue: the label is added in state, then `issues.labeled` is sent. */
  async issuesLabeled(o: { repo: RepoRef; issue: number; label: string; sender: string }): Promise<DeliveryRecord> {
    const repo = this.#repo(o.repo);
    const issue = this.sim.state.issue(repo.id, o.issue);
    if (!issue) throw new Error(`github-sim: no issue #${o.issue}`);
    const [name] = ensureLabels(this.sim, repo, [o.label]);
    if (!issue.labels.includes(name!)) issue.labels.push(name!);
    issue.updatedAt = isoNow(this.sim);
    const label = findLabel(this.sim, repo, name!)!;
    return this.deliver(
      "issues",
      this.envelope("issues", repo, o.sender, { action: "labeled", issue: this.sim.shapes.issue(issue), label: this.sim.shapes.label(label) }),
    );
  }

  /** A user comments on an issue or PR: the comment is stored, then `issue_comment.created` is sent. */
  async issueCommentCreated(o: { repo: RepoRef; issue: number; body: string; sender: string }): Promise<DeliveryRecord> {
    const repo = this.#repo(o.repo);
    const issue = this.sim.state.issue(repo.id, o.issue);
    if (!issue) throw new Error(`github-sim: no issue #${o.issue}`);
    // The comment's own auto-delivery would duplicate this one; auto is back on before the
    // delivery, so what the app does in response is still sent.
    const auto = this.auto;
    this.auto = false;
    let comment;
    try {
      comment = addComment(this.sim, repo, issue, o.sender, o.body);
    } finally {
      this.auto = auto;
    }
    return this.deliver(
      "issue_comment",
      this.envelope("issue_comment", repo, o.sender, {
        action: "created",
        issue: this.sim.shapes.issue(issue),
        comment: this.sim.shapes.comment(comment),
      }),
    );
  }

  /** `pull_request.<action>` for a PR in state (synchronize carries before/after). */
  async pullRequest(o: {
    repo: RepoRef;
    number: number;
    action: "opened" | "synchronize" | "reopened" | "ready_for_review" | "closed" | "edited" | "converted_to_draft";
    sender: string;
    before?: string;
  }): Promise<DeliveryRecord> {
    const repo = this.#repo(o.repo);
    const pull = this.sim.state.pull(repo.id, o.number);
    if (!pull) throw new Error(`github-sim: no PR #${o.number}`);
    const fields: Json = { action: o.action, number: pull.number, pull_request: await pullJsonFull(this.sim, pull) };
    if (o.action === "synchronize") {
      const before = o.before ?? this.#lastPush(repo, `refs/heads/${pull.head.ref}`)?.before ?? pull.base.sha;
      Object.assign(fields, { before, after: pull.head.sha });
    }
    return this.deliver("pull_request", this.envelope("pull_request", repo, o.sender, fields));
  }

  /** `installation.created` with the installation's repositories. */
  async installationCreated(o: { installationId: number; sender: string }): Promise<DeliveryRecord> {
    const inst = this.sim.state.installations.find((i) => i.id === o.installationId);
    if (!inst) throw new Error(`github-sim: no installation ${o.installationId}`);
    return this.deliver("installation", {
      action: "created",
      installation: this.sim.shapes.installation(inst),
      repositories: this.sim.state.installationRepos(inst).map((r) => this.sim.shapes.repoLite(r)),
      requester: null,
      sender: this.sim.shapes.user(o.sender),
    });
  }

  /** `push` for a ref update; before/after default to the last recorded push of that ref. */
  async push(o: { repo: RepoRef; ref: string; before?: string; after?: string; sender: string }): Promise<DeliveryRecord> {
    const repo = this.#repo(o.repo);
    const ref = o.ref.startsWith("refs/") ? o.ref : `refs/heads/${o.ref}`;
    const last = this.#lastPush(repo, ref);
    const after = o.after ?? last?.after ?? (await repo.git.resolve(ref)) ?? ZERO_SHA;
    const before = o.before ?? last?.before ?? ZERO_SHA;
    return this.deliver("push", this.envelope("push", repo, o.sender, await this.pushFields(repo, ref, before, after, o.sender)));
  }

  /** `check_run.completed` for a check run in state (ours or a seeded CI run). */
  async checkRunCompleted(o: { repo: RepoRef; checkRunId: number; sender?: string }): Promise<DeliveryRecord> {
    const repo = this.#repo(o.repo);
    const run = this.sim.state.checkRuns.find((c) => c.id === o.checkRunId && c.repoId === repo.id);
    if (!run) throw new Error(`github-sim: no check run ${o.checkRunId}`);
    const sender = o.sender ?? `${run.app.slug}[bot]`;
    return this.deliver("check_run", this.envelope("check_run", repo, sender, { action: "completed", check_run: this.sim.shapes.checkRun(run) }));
  }

  /**
   * A human submits a review (stored in state), then `pull_request_review.submitted` is sent.
   * Pass `reviewId` instead to send one already in state.
   */
  async pullRequestReviewSubmitted(
    o: { repo: RepoRef; number: number } & ({ reviewId: number } | { user: string; state: "approved" | "changes_requested" | "commented"; body?: string }),
  ): Promise<DeliveryRecord> {
    const repo = this.#repo(o.repo);
    const pull = this.sim.state.pull(repo.id, o.number);
    if (!pull) throw new Error(`github-sim: no PR #${o.number}`);
    let review: SimReview | undefined;
    if ("reviewId" in o) review = this.sim.state.reviews.find((r) => r.id === o.reviewId);
    else {
      review = {
        id: this.sim.state.nextId("review"),
        repoId: repo.id,
        pullNumber: pull.number,
        user: this.sim.state.user(o.user).login,
        body: o.body ?? "",
        state: o.state.toUpperCase() as ReviewState,
        commitId: pull.head.sha,
        submittedAt: isoNow(this.sim),
      };
      this.sim.state.reviews.push(review);
    }
    if (!review) throw new Error("github-sim: no such review");
    return this.deliver(
      "pull_request_review",
      this.envelope("pull_request_review", repo, review.user, {
        action: "submitted",
        // Webhooks spell review states in lower case; the REST API in upper case.
        review: { ...this.sim.shapes.review(review), state: review.state.toLowerCase() },
        pull_request: await pullJsonFull(this.sim, pull),
      }),
    );
  }

  /**
   * A user replies in a review thread (stored like GitHub's reply endpoint would), then
   * `pull_request_review_comment.created` is sent.
   */
  async reviewCommentReply(o: { repo: RepoRef; number: number; inReplyTo: number; body: string; sender: string }): Promise<DeliveryRecord> {
    const repo = this.#repo(o.repo);
    const pull = this.sim.state.pull(repo.id, o.number);
    if (!pull) throw new Error(`github-sim: no PR #${o.number}`);
    const parent = this.sim.state.reviewComments.find((c) => c.id === o.inReplyTo && c.repoId === repo.id);
    if (!parent) throw new Error(`github-sim: no review comment ${o.inReplyTo}`);
    const top = parent.inReplyTo ? (this.sim.state.reviewComments.find((c) => c.id === parent.inReplyTo) ?? parent) : parent;
    const user = this.sim.state.user(o.sender).login;
    const now = isoNow(this.sim);
    const review: SimReview = { id: this.sim.state.nextId("review"), repoId: repo.id, pullNumber: pull.number, user, body: "", state: "COMMENTED", commitId: top.commitId, submittedAt: now };
    this.sim.state.reviews.push(review);
    const comment = { ...top, id: this.sim.state.nextId("reviewComment"), reviewId: review.id, user, body: o.body, inReplyTo: top.id, createdAt: now, updatedAt: now };
    this.sim.state.reviewComments.push(comment);
    return this.deliver(
      "pull_request_review_comment",
      this.envelope("pull_request_review_comment", repo, user, {
        action: "created",
        comment: this.sim.shapes.reviewComment(comment),
        pull_request: await pullJsonFull(this.sim, pull),
      }),
    );
  }

  #lastPush(repo: SimRepo, ref: string) {
    return [...this.sim.state.pushes].reverse().find((p) => p.repo === repo.fullName && p.ref === ref && p.accepted);
  }

  /** The push payload's fields, with commits read from the repo (newest 20, as GitHub caps). */
  async pushFields(repo: SimRepo, ref: string, before: string, after: string, sender: string): Promise<Json> {
    const deleted = after === ZERO_SHA;
    const created = before === ZERO_SHA;
    // A new branch lists only the commits new to the repo (not on the default branch), as
    // GitHub does; an update lists before..after. GitHub caps the list at 20.
    const base = created ? await repo.git.resolve(`refs/heads/${repo.defaultBranch}`) : before;
    const shas = deleted ? [] : await repo.git.commitsBetween(base === after ? undefined : base, after, 20);
    const commits = await Promise.all(
      shas.map(async (sha) => {
        const info = await repo.git.commitInfo(sha);
        const changes = await repo.git.text(["diff-tree", "--no-commit-id", "--name-status", "-r", "--root", sha]);
        const added: string[] = [];
        const removed: string[] = [];
        const modified: string[] = [];
        for (const line of changes.split("\n").filter(Boolean)) {
          const [code, path] = line.split("\t") as [string, string];
          (code === "A" ? added : code === "D" ? removed : modified).push(path);
        }
        return {
          id: sha,
          tree_id: info.tree,
          distinct: true,
          message: info.message,
          timestamp: info.committer.date,
          url: `${this.sim.urls.web}/${repo.fullName}/commit/${sha}`,
          author: { name: info.author.name, email: info.author.email, username: this.#loginFor(info.author.email) },
          committer: { name: info.committer.name, email: info.committer.email, username: this.#loginFor(info.committer.email) },
          added,
          removed,
          modified,
        };
      }),
    );
    const forced = !created && !deleted && !(await repo.git.isAncestor(before, after));
    const user = this.sim.state.user(sender);
    return {
      ref,
      before,
      after,
      created,
      deleted,
      forced,
      base_ref: null,
      compare: `${this.sim.urls.web}/${repo.fullName}/compare/${before.slice(0, 12)}...${after.slice(0, 12)}`,
      commits,
      head_commit: commits[commits.length - 1] ?? null,
      pusher: { name: user.login, email: user.email ?? `${user.id}+${user.login}@users.noreply.github.com` },
    };
  }

  #loginFor(email: string): string | undefined {
    return [...this.sim.state.users.values()].find((u) => u.email?.toLowerCase() === email.toLowerCase())?.login;
  }

  /** Push payloads carry the repository in an older form (timestamps as numbers, master_branch). */
  pushRepository(repo: SimRepo): Json {
    const r = this.sim.shapes.repo(repo);
    const ts = Math.floor(Date.parse(repo.createdAt) / 1000);
    return { ...r, created_at: ts, pushed_at: Math.floor(this.sim.now() / 1000), master_branch: repo.defaultBranch, stargazers: 0 };
  }
}

function statusText(code: number): string {
  if (code >= 200 && code < 300) return "OK";
  if (code === 0) return "failed to connect to host";
  return `Invalid HTTP Response: ${code}`;
}
