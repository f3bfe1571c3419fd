import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mintToken, type AppIdentity } from "./auth.js";
import { Faults } from "./faults.js";
import { BareRepo, ZERO_SHA, type Identity, type SeedFile } from "./git.js";
import { HOOKS } from "./git-http.js";
import { emitCheckRun } from "./rest/checks.js";
import { createRestRouter } from "./rest/index.js";
import { addComment, createIssue, ensureLabels, isoNow, setIssueState } from "./rest/issues.js";
import { mergePullRequest, openPullRequest } from "./rest/pulls.js";
import type { Router, SimEffects, SimServices } from "./rest/router.js";
import { applyRefUpdates } from "./ref-effects.js";
import { createRequestHandler } from "./server.js";
import { Shapes, type Urls } from "./shapes.js";
import {
  SimState,
  type PermissionSet,
  type PushRecord,
  type RecordedRequest,
  type RepoRole,
  type SimCheckRun,
  type SimComment,
  type SimInstallation,
  type SimIssue,
  type SimPull,
  type SimRepo,
  type SimStatus,
  type TokenRecord,
} from "./state.js";
import { Webhooks } from "./webhooks.js";

/**
 * A GitHub for end-to-end tests: a real HTTP server on 127.0.0.1 with the REST API the app
 * uses (under /api/v3, as GitHub Enterprise), real git over smart HTTP, installation tokens
 * checked on every call and every clone/push, fault injection, and signed webhooks out.
 * Start one per test file (or per test), point the app at it with GHE_HOST/GHE_PROTOCOL.
 */

export interface GitHubSimOptions {
  app?: {
    id?: number;
    slug?: string;
    name?: string;
    /** Login of the account that owns the app (default "iquest-org"). */
    owner?: string;
    clientId?: string;
    /** The app's private key (PEM). Its public key verifies the app's JWTs. */
    privateKey?: string;
    /** Or just the public key (PEM or KeyObject). Neither: a key pair is made here. */
    publicKey?: string | KeyObject;
    webhookSecret?: string;
  };
  /** The app's webhook URL; can be set later with `sim.webhooks.url = ...`. */
  webhookUrl?: string;
  /** Send webhooks for what the app does (comments, PRs, pushes, ...). Default off. */
  autoDeliver?: boolean;
  /** Installation token lifetime (default 1 h, as GitHub). */
  tokenTtlMs?: number;
  /** Mint ~520-character tokens like GitHub's newer format instead of the classic 40. */
  longTokens?: boolean;
  webhookTimeoutMs?: number;
  /** Keep the temp dir (bare repos) after stop(), for debugging. */
  keepFiles?: boolean;
}

export interface CreateRepoOptions {
  owner: string;
  name: string;
  /** Files of the initial commit (path → content; see SeedFile). */
  files?: Record<string, SeedFile>;
  /** Or a directory whose files (minus .gitignored ones) make the initial commit. */
  fromDir?: string;
  defaultBranch?: string;
  /** Private by default: anonymous clones and other installations' tokens get 404. */
  private?: boolean;
  description?: string;
  ownerType?: "User" | "Organization";
  author?: Identity;
  message?: string;
}

export interface InstallAppOptions {
  installationId?: number;
  /** Account the app is installed on (default: the first repo's owner). */
  account?: string;
  /** "owner/name" list, or "all" for every repo of the account. */
  repos: string[] | "all";
  /**
   * What the installation was granted. Default: checks, contents, issues, pull_requests write;
   * metadata read; and `workflows: write`, so a test proves the app *asks* for less.
   */
  permissions?: PermissionSet;
  events?: string[];
}

const DEFAULT_PERMISSIONS: PermissionSet = {
  checks: "write",
  contents: "write",
  issues: "write",
  metadata: "read",
  pull_requests: "write",
  workflows: "write",
};

const SEED_AUTHOR: Identity = { name: "Sim Seed", email: "seed@github-sim.test" };

type RepoRef = string | SimRepo;

export class GitHubSim {
  readonly state = new SimState();
  readonly faults = new Faults();
  readonly webhooks: Webhooks;
  /** Bugs inside the simulator's handlers (answered 500). A test can assert it stays empty. */
  readonly errors: Error[] = [];
  readonly app: AppIdentity & { webhookSecret: string; privateKey?: string };
  readonly url: string;
  readonly apiUrl: string;
  /** host:port, for GHE_HOST (with GHE_PROTOCOL=http). */
  readonly host: string;
  readonly protocol = "http";
  readonly root: string;
  readonly reposDir: string;
  readonly router: Router;
  #clockOffset = 0;
  #server: Server;
  #services: SimServices;
  #keepFiles: boolean;

  /** Use startGitHubSim(). */
  constructor(internals: { server: Server; port: number; root: string; options: GitHubSimOptions; app: GitHubSim["app"] }) {
    this.#server = internals.server;
    this.root = internals.root;
    this.reposDir = join(internals.root, "repos");
    this.host = `127.0.0.1:${internals.port}`;
    this.url = `http://${this.host}`;
    this.apiUrl = `${this.url}/api/v3`;
    this.app = internals.app;
    this.#keepFiles = internals.options.keepFiles ?? false;
    const urls: Urls = { api: this.apiUrl, web: this.url };
    const effects: SimEffects = {
      refsUpdated: (repo, updates, via, token) => applyRefUpdates(this.#services, repo, updates, via, token),
      emit: (event, repo, sender, build) => this.webhooks.emit(event, repo, sender, build),
      redeliver: async (id) => {
        this.webhooks.track(this.webhooks.redeliver(id));
      },
      pushFields: (repo, ref, before, after, sender) => this.webhooks.pushFields(repo, ref, before, after, sender),
    };
    this.#services = {
      state: this.state,
      shapes: new Shapes(this.state, urls, this.app),
      app: this.app,
      urls,
      now: () => this.now(),
      tokenTtlMs: internals.options.tokenTtlMs ?? 3600_000,
      longTokens: internals.options.longTokens ?? false,
      effects,
    };
    this.webhooks = new Webhooks(this.#services, {
      url: internals.options.webhookUrl,
      secret: this.app.webhookSecret,
      timeoutMs: internals.options.webhookTimeoutMs,
      auto: internals.options.autoDeliver,
    });
    this.router = createRestRouter();
    this.state.user(this.app.owner, "Organization");
    this.state.user(this.app.botLogin, "Bot");
    this.#server.on(
      "request",
      createRequestHandler({
        services: this.#services,
        app: this.app,
        router: this.router,
        faults: this.faults,
        errors: this.errors,
        git: {
          state: this.state,
          reposDir: this.reposDir,
          now: () => this.now(),
          botLogin: this.app.botLogin,
          refsUpdated: (repo, updates, token) => applyRefUpdates(this.#services, repo, updates, "git", token),
        },
      }),
    );
  }

  // --- clock ---

  /** The simulator's clock: real time plus whatever advanceClock added (token expiry, JWTs, deliveries). */
  now(): number {
    return Date.now() + this.#clockOffset;
  }

  advanceClock(ms: number): void {
    this.#clockOffset += ms;
  }

  // --- views for assertions ---

  get requests(): RecordedRequest[] {
    return this.state.requests;
  }
  get tokens(): TokenRecord[] {
    return this.state.tokens;
  }
  get issues(): SimIssue[] {
    return this.state.issues;
  }
  get pulls(): SimPull[] {
    return this.state.pulls;
  }
  get comments(): SimComment[] {
    return this.state.comments;
  }
  get reviews() {
    return this.state.reviews;
  }
  get reviewComments() {
    return this.state.reviewComments;
  }
  get checkRuns(): SimCheckRun[] {
    return this.state.checkRuns;
  }
  get reactions() {
    return this.state.reactions;
  }
  get pushes(): PushRecord[] {
    return this.state.pushes;
  }
  get deliveries() {
    return this.state.deliveries;
  }
  /** REST routes this simulator answers ("METHOD /template"). */
  get routes(): string[] {
    return this.router.routes;
  }

  /** Recorded REST calls for one route, e.g. `calls("POST /repos/{owner}/{repo}/pulls")`. */
  calls(route: string): RecordedRequest[] {
    return this.state.requests.filter((r) => r.route === route);
  }

  repo(ref: RepoRef): SimRepo {
    if (typeof ref !== "string") return ref;
    const [owner, name] = ref.split("/");
    const repo = this.state.findRepo(owner ?? "", name ?? "");
    if (!repo) throw new Error(`github-sim: no repo ${ref}`);
    return repo;
  }

  /** Comments on an issue or PR, oldest first. */
  commentsOn(repo: RepoRef, issue: number): SimComment[] {
    const r = this.repo(repo);
    return this.state.comments.filter((c) => c.repoId === r.id && c.issueNumber === issue);
  }

  pullsOf(repo: RepoRef): SimPull[] {
    const r = this.repo(repo);
    return this.state.pulls.filter((p) => p.repoId === r.id);
  }

  /** The issue (or PR) behind a number: title, body, state, labels. */
  issue(repo: RepoRef, number: number): SimIssue | undefined {
    return this.state.issue(this.repo(repo).id, number);
  }

  // --- git ---

  /** The clone URL, e.g. http://127.0.0.1:PORT/owner/name.git */
  gitUrl(repo: RepoRef): string {
    const r = this.repo(repo);
    return `${this.url}/${r.owner}/${r.name}.git`;
  }

  /** A clone URL with the token in it (x-access-token), for tests only. */
  authedGitUrl(repo: RepoRef, token: string): string {
    const r = this.repo(repo);
    return `http://x-access-token:${token}@${this.host}/${r.owner}/${r.name}.git`;
  }

  async resolveRef(repo: RepoRef, ref: string): Promise<string | undefined> {
    return this.repo(repo).git.resolve(ref);
  }

  async readFile(repo: RepoRef, ref: string, path: string): Promise<string | undefined> {
    return (await this.repo(repo).git.readFile(ref, path))?.toString("utf8");
  }

  // --- seeding ---

  createUser(login: string, details: { type?: "User" | "Organization" | "Bot"; name?: string; email?: string } = {}) {
    const u = this.state.user(login, details.type);
    if (details.name) u.name = details.name;
    if (details.email) u.email = details.email;
    return u;
  }

  async createRepo(o: CreateRepoOptions): Promise<SimRepo> {
    if (this.state.findRepo(o.owner, o.name)) throw new Error(`github-sim: repo ${o.owner}/${o.name} exists`);
    this.state.user(o.owner, o.ownerType ?? "User");
    const defaultBranch = o.defaultBranch ?? "main";
    const gitDir = join(this.reposDir, o.owner, `${o.name}.git`);
    await mkdir(join(this.reposDir, o.owner), { recursive: true });
    const git = await BareRepo.init(gitDir, defaultBranch, HOOKS);
    const repo: SimRepo = {
      id: this.state.nextId("repo"),
      owner: o.owner,
      name: o.name,
      fullName: `${o.owner}/${o.name}`,
      private: o.private ?? true,
      defaultBranch,
      description: o.description ?? null,
      createdAt: isoNow(this.#services),
      git,
      collaborators: new Map([[o.owner.toLowerCase(), "admin"]]),
      nextNumber: 1,
    };
    this.state.repos.push(repo);
    const author = o.author ?? SEED_AUTHOR;
    const message = o.message ?? "Initial commit";
    let sha: string | undefined;
    if (o.fromDir) sha = await git.commitDirectory({ dir: o.fromDir, message, author });
    else if (o.files) sha = await git.commitFiles({ files: o.files, message, author });
    if (sha) {
      await git.updateRef(`refs/heads/${defaultBranch}`, sha);
      await applyRefUpdates(this.#services, repo, [{ ref: `refs/heads/${defaultBranch}`, before: ZERO_SHA, after: sha }], "sim");
    }
    return repo;
  }

  installApp(o: InstallAppOptions): SimInstallation {
    const repos = o.repos === "all" ? [] : o.repos.map((r) => this.repo(r));
    const account = o.account ?? repos[0]?.owner;
    if (!account) throw new Error("github-sim: installApp needs an account or at least one repo");
    const inst: SimInstallation = {
      id: o.installationId ?? 1000 + this.state.installations.length + 1,
      account,
      repositoryIds: o.repos === "all" ? "all" : repos.map((r) => r.id),
      permissions: { ...(o.permissions ?? DEFAULT_PERMISSIONS) },
      events: o.events ?? ["check_run", "issue_comment", "issues", "pull_request", "pull_request_review", "push"],
      createdAt: isoNow(this.#services),
      suspended: false,
    };
    if (this.state.installations.some((i) => i.id === inst.id)) throw new Error(`github-sim: installation ${inst.id} exists`);
    this.state.installations.push(inst);
    return inst;
  }

  /** A release of a public repository the app only reads (an action): `GET /repos/{owner}/{repo}/releases/latest` answers the newest. */
  addRelease(fullName: string, tag: string): void {
    const key = fullName.toLowerCase();
    this.state.releases.set(key, [...(this.state.releases.get(key) ?? []), tag]);
  }

  /** Give a user a role on a repo ("read", "triage", "write", "maintain", "admin"). */
  addCollaborator(repo: RepoRef, login: string, role: RepoRole): void {
    this.state.user(login);
    this.repo(repo).collaborators.set(login.toLowerCase(), role);
  }

  createIssue(o: { repo: RepoRef; title: string; body?: string; user: string; labels?: string[] }): SimIssue {
    const repo = this.repo(o.repo);
    const issue = createIssue(this.#services, repo, { title: o.title, body: o.body ?? null, user: this.state.user(o.user).login });
    if (o.labels) issue.labels = ensureLabels(this.#services, repo, o.labels);
    return issue;
  }

  /** A comment by a user, stored without a webhook (use webhooks.issueCommentCreated to send one). */
  addIssueComment(o: { repo: RepoRef; issue: number; user: string; body: string }): SimComment {
    const repo = this.repo(o.repo);
    const issue = this.state.issue(repo.id, o.issue);
    if (!issue) throw new Error(`github-sim: no issue #${o.issue}`);
    const auto = this.webhooks.auto;
    this.webhooks.auto = false;
    try {
      return addComment(this.#services, repo, issue, this.state.user(o.user).login, o.body);
    } finally {
      this.webhooks.auto = auto;
    }
  }

  /**
   * Commit files on a branch (created from `from`, default branch by default) as a human would
   * push them. Returns the new commit. `files` values of null delete.
   */
  async commit(o: { repo: RepoRef; branch: string; files: Record<string, SeedFile>; message?: string; author?: Identity; from?: string }): Promise<string> {
    const repo = this.repo(o.repo);
    const ref = `refs/heads/${o.branch}`;
    const before = await repo.git.resolve(ref);
    const parent = before ?? (await repo.git.resolve(o.from ?? repo.defaultBranch));
    const sha = await repo.git.commitFiles({ parent, files: o.files, message: o.message ?? "Update files", author: o.author ?? SEED_AUTHOR });
    await repo.git.updateRef(ref, sha, before ?? ZERO_SHA);
    await applyRefUpdates(this.#services, repo, [{ ref, before: before ?? ZERO_SHA, after: sha }], "sim");
    return sha;
  }

  /** Open a PR from a branch that exists in the repo (push it first, or use commit()). */
  /**
   * `fork`: the PR comes from that user's fork. The simulator keeps the commits in this repo
   * (push them to a branch first); the branch is then deleted, as a fork's branch is not in the
   * base repo, and only refs/pull/N/head holds the head.
   */
  async createPullRequest(o: { repo: RepoRef; head: string; base?: string; title: string; body?: string; user: string; draft?: boolean; fork?: string }): Promise<SimPull> {
    const repo = this.repo(o.repo);
    const pull = await openPullRequest(this.#services, repo, {
      title: o.title,
      body: o.body ?? null,
      head: o.head,
      base: o.base ?? repo.defaultBranch,
      draft: o.draft ?? false,
      user: this.state.user(o.user).login,
      ...(o.fork ? { forkOwner: this.state.user(o.fork).login } : {}),
    });
    if (o.fork) await repo.git.deleteRef(`refs/heads/${o.head}`);
    return pull;
  }

  /** A new head for a fork PR (the fork's branch is not here): commit on top and move refs/pull/N/head. */
  async pushToForkPull(o: { repo: RepoRef; number: number; files: Record<string, SeedFile>; message?: string }): Promise<string> {
    const repo = this.repo(o.repo);
    const pull = this.state.pull(repo.id, o.number);
    if (!pull?.forkOwner) throw new Error(`github-sim: #${o.number} is not a fork PR`);
    const sha = await repo.git.commitFiles({ parent: pull.head.sha, files: o.files, message: o.message ?? "Update files", author: SEED_AUTHOR });
    pull.head.sha = sha;
    await repo.git.updateRef(`refs/pull/${pull.number}/head`, sha);
    return sha;
  }

  async mergePullRequest(repo: RepoRef, number: number, user: string): Promise<string> {
    const r = this.repo(repo);
    const pull = this.state.pull(r.id, number);
    if (!pull) throw new Error(`github-sim: no PR #${number}`);
    return mergePullRequest(this.#services, r, pull, { user });
  }

  closeIssue(repo: RepoRef, number: number): void {
    const issue = this.issue(repo, number);
    if (!issue) throw new Error(`github-sim: no issue #${number}`);
    setIssueState(this.#services, issue, "closed");
  }

  /** A check run by another app (CI), e.g. a failing test run on a bot PR's head. */
  createCheckRun(o: {
    repo: RepoRef;
    headSha: string;
    name: string;
    status?: SimCheckRun["status"];
    conclusion?: string;
    output?: Partial<SimCheckRun["output"]>;
    app?: { id: number; slug: string; name?: string };
  }): SimCheckRun {
    const repo = this.repo(o.repo);
    const app = o.app ?? { id: 15368, slug: "github-actions", name: "GitHub Actions" };
    const now = isoNow(this.#services);
    const run: SimCheckRun = {
      id: this.state.nextId("checkRun"),
      repoId: repo.id,
      app: { id: app.id, slug: app.slug, name: app.name ?? app.slug },
      name: o.name,
      headSha: o.headSha,
      status: o.conclusion ? "completed" : (o.status ?? "queued"),
      conclusion: o.conclusion ?? null,
      startedAt: now,
      completedAt: o.conclusion ? now : null,
      detailsUrl: null,
      externalId: null,
      output: { title: null, summary: null, text: null, annotations: [], ...o.output },
      actions: [],
      updates: [],
    };
    this.state.checkRuns.push(run);
    this.state.user(`${app.slug}[bot]`, "Bot");
    emitCheckRun(this.#services, repo, run, `${app.slug}[bot]`, run.status === "completed" ? "completed" : "created");
    return run;
  }

  /** A commit status by another system (legacy CI), e.g. a failing "ci/jenkins" context. */
  createStatus(o: { repo: RepoRef; sha: string; state: SimStatus["state"]; context: string; description?: string; creator?: string }): SimStatus {
    const repo = this.repo(o.repo);
    const status: SimStatus = {
      id: this.state.nextId("status"),
      repoId: repo.id,
      sha: o.sha,
      state: o.state,
      context: o.context,
      description: o.description ?? null,
      targetUrl: null,
      creator: this.state.user(o.creator ?? "ci-bot[bot]").login,
      createdAt: isoNow(this.#services),
    };
    this.state.statuses.push(status);
    return status;
  }

  /** A token minted directly (not over HTTP), for tests that need git access on their own. */
  mintToken(o: { installationId: number; repositoryIds?: number[]; permissions?: Record<string, string> }): TokenRecord {
    return mintToken(
      this.state,
      { installationId: o.installationId, repository_ids: o.repositoryIds, permissions: o.permissions },
      { nowMs: this.now(), ttlMs: this.#services.tokenTtlMs, longToken: this.#services.longTokens, via: "sim" },
    );
  }

  // --- lifecycle ---

  /** Wait for background work (automatic deliveries, redeliveries) to finish. */
  async idle(): Promise<void> {
    await this.webhooks.idle();
  }

  async stop(): Promise<void> {
    await this.webhooks.idle();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    if (!this.#keepFiles) await rm(this.root, { recursive: true, force: true });
  }
}

/** Start a simulator on 127.0.0.1 (a free port). Call `stop()` when done. */
export async function startGitHubSim(options: GitHubSimOptions = {}): Promise<GitHubSim> {
  const root = await mkdtemp(join(tmpdir(), "github-sim-"));
  await mkdir(join(root, "repos"), { recursive: true });
  let privateKey = options.app?.privateKey;
  let publicKey: KeyObject;
  if (options.app?.publicKey) {
    publicKey = typeof options.app.publicKey === "string" ? createPublicKey(options.app.publicKey) : options.app.publicKey;
  } else {
    if (!privateKey) {
      privateKey = generateKeyPairSync("rsa", {
        modulusLength: 2048,
        privateKeyEncoding: { type: "pkcs1", format: "pem" },
        publicKeyEncoding: { type: "spki", format: "pem" },
      }).privateKey;
    }
    publicKey = createPublicKey(privateKey);
  }
  const slug = options.app?.slug ?? "iquest-bot";
  const app: GitHubSim["app"] = {
    id: options.app?.id ?? 4242,
    clientId: options.app?.clientId ?? "Iv1.github-sim",
    slug,
    name: options.app?.name ?? slug,
    owner: options.app?.owner ?? "iquest-org",
    publicKey,
    botLogin: `${slug}[bot]`,
    webhookSecret: options.app?.webhookSecret ?? "github-sim-webhook-secret",
    ...(privateKey ? { privateKey } : {}),
  };
  const server = createServer();
  // Git and octokit keep connections alive; stop() closes them rather than waiting.
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return new GitHubSim({ server, port, root, options, app });
}
