import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { Webhooks as OctokitWebhooks } from "@octokit/webhooks";
import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProbotOctokit } from "probot";
import { STEP_PERMISSIONS, createGitHubApp, type GitHubApp } from "../../src/github/app-client.js";
import { fetchPermission } from "../../src/github/permissions.js";
import { loadRepoConfig } from "../../src/github/repo-config.js";
import { statusOf } from "../../src/github/types.js";
import { createLogger } from "../../src/shared/log.js";
import { redact } from "../../src/shared/redact.js";
import { runNotify } from "../../src/jobs/notify/run-notify.js";
import type { NotifyPayload } from "../../src/queue/payloads.js";
import { startIntakeServer } from "../support/intake-server.js";
import { startGitHubSim, type GitHubSim } from "../support/github-sim/index.js";
import { testPrivateKey } from "../support/keys.js";
import { EXAMPLES } from "../support/payloads.js";
import { TestOctokit } from "../support/octokit.js";
import { RecordingEnqueuer } from "../support/recording-enqueuer.js";

/**
 * The simulator is only useful if it is strict where GitHub is strict. These tests drive it
 * with the app's own GitHub client, Probot's octokit plugins and the real git CLI, and check
 * the answers GitHub would give: token scoping, git auth, the workflows rule, review-line
 * validation, duplicate PRs, retries, secondary rate limits and the deliveries API.
 */

const log = createLogger({ level: "silent", redact });
const INSTALLATION = 31;
const FILE = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join("\n") + "\n";

interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The git CLI, isolated from the machine's config, never prompting. Async: the simulator runs in this process. */
function git(args: string[], cwd?: string): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", args, {
      cwd,
      env: {
        PATH: process.env.PATH,
        HOME: tmpdir(),
        GIT_TERMINAL_PROMPT: "0",
        GIT_CONFIG_NOSYSTEM: "1",
        GIT_CONFIG_GLOBAL: "/dev/null",
        GIT_AUTHOR_NAME: "Dev",
        GIT_AUTHOR_EMAIL: "dev@example.com",
        GIT_COMMITTER_NAME: "Dev",
        GIT_COMMITTER_EMAIL: "dev@example.com",
      },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

let sim: GitHubSim;
let app: GitHubApp;
let work: string;

const appFor = (Octokit?: typeof ProbotOctokit, privateKey = testPrivateKey()) =>
  createGitHubApp({ appId: String(sim.app.id), privateKey, baseUrl: sim.apiUrl, log, ...(Octokit ? { Octokit } : {}) });

async function seedRepo(name: string, extra: Record<string, string> = {}) {
  const repo = await sim.createRepo({ owner: "acme", name, files: { "README.md": "# demo\n", "src/app.txt": FILE, ...extra } });
  return repo;
}

beforeAll(async () => {
  sim = await startGitHubSim({ app: { id: 777, slug: "iquest-bot", privateKey: testPrivateKey() } });
  work = await mkdtemp(join(tmpdir(), "github-sim-test-"));
  for (const name of ["tokens", "other", "git", "reviews", "pulls", "faults", "hooks"]) await seedRepo(name);
  sim.installApp({ installationId: INSTALLATION, repos: ["acme/tokens", "acme/other", "acme/git", "acme/reviews", "acme/pulls", "acme/faults", "acme/hooks"] });
  app = appFor(TestOctokit);
});

afterAll(async () => {
  await sim.stop();
  await rm(work, { recursive: true, force: true });
  // No simulator handler may have crashed during the run.
  expect(sim.errors).toEqual([]);
});

describe("installation tokens", () => {
  test("the app's client mints one-repo tokens with the permissions it asks for, via a verified JWT", async () => {
    const repo = sim.repo("acme/tokens");
    const github = await app.forRepo(INSTALLATION, repo.id, STEP_PERMISSIONS.converse);
    const { data } = await github.rest.repos.get({ owner: "acme", repo: "tokens" });
    expect(data.id).toBe(repo.id);

    const mint = sim.calls("POST /app/installations/{installation_id}/access_tokens").at(-1)!;
    expect(mint.auth).toEqual({ kind: "app", appId: "777" });
    expect(mint.body).toEqual({ repository_ids: [repo.id], permissions: STEP_PERMISSIONS.converse });
    const token = sim.tokens.at(-1)!;
    expect(token.repositoryIds).toEqual([repo.id]);
    expect(token.permissions).toEqual({ ...STEP_PERMISSIONS.converse });
    expect(token.token).toMatch(/^ghs_[A-Za-z0-9]{36}$/);
    expect(Date.parse(token.expiresAt) - Date.parse(token.createdAt)).toBe(3600_000);
    // The REST call itself was made with that token.
    const get = sim.calls("GET /repos/{owner}/{repo}").at(-1)!;
    expect(get.auth).toMatchObject({ kind: "installation", token: token.token, installationId: INSTALLATION });
  });

  test("a JWT signed by another key is refused with 401", async () => {
    const stranger = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      privateKeyEncoding: { type: "pkcs1", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    }).privateKey;
    const before = sim.tokens.length;
    const err = await appFor(TestOctokit, stranger)
      .tokenForRepo(INSTALLATION, sim.repo("acme/tokens").id, STEP_PERMISSIONS.checkout)
      .catch((e: unknown) => e);
    expect(statusOf(err)).toBe(401);
    expect((err as Error).message).toMatch(/JSON web token could not be decoded/);
    expect(sim.tokens.length).toBe(before);
  });

  test("a token reaches only its repo and only with its permissions", async () => {
    const tokens = sim.repo("acme/tokens");
    const github = await app.forRepo(INSTALLATION, tokens.id, STEP_PERMISSIONS.checkout);
    // Another private repo of the same installation: invisible (404), as on GitHub.
    const cross = await github.rest.repos.get({ owner: "acme", repo: "other" }).catch((e: unknown) => e);
    expect(statusOf(cross)).toBe(404);
    // Its own repo, but a permission it did not ask for: 403.
    sim.createIssue({ repo: "acme/tokens", title: "x", user: "alice" });
    const write = await github.rest.issues
      .createComment({ owner: "acme", repo: "tokens", issue_number: 1, body: "hi" })
      .catch((e: unknown) => e);
    expect(statusOf(write)).toBe(403);
    expect((write as Error).message).toMatch(/Resource not accessible by integration/);
    expect(sim.commentsOn("acme/tokens", 1)).toEqual([]);
  });

  test("asking for more than the installation was granted is a 422, and nothing is minted", async () => {
    const repo = await sim.createRepo({ owner: "narrow", name: "r", files: { a: "1\n" } });
    sim.installApp({ installationId: 32, repos: ["narrow/r"], permissions: { contents: "read", metadata: "read" } });
    const before = sim.tokens.length;
    const err = await app.tokenForRepo(32, repo.id, STEP_PERMISSIONS.publish).catch((e: unknown) => e);
    expect(statusOf(err)).toBe(422);
    expect((err as Error).message).toMatch(/not granted to this installation/);
    const other = await app.tokenForRepo(32, sim.repo("acme/tokens").id, STEP_PERMISSIONS.checkout).catch((e: unknown) => e);
    expect(statusOf(other)).toBe(422);
    expect(sim.tokens.length).toBe(before);
  });

  test("an expired token is refused with 401 Bad credentials", async () => {
    const token = sim.mintToken({ installationId: INSTALLATION, repositoryIds: [sim.repo("acme/tokens").id], permissions: { contents: "read" } });
    const github = new TestOctokit({ auth: { token: token.token }, baseUrl: sim.apiUrl });
    await expect(github.rest.repos.get({ owner: "acme", repo: "tokens" })).resolves.toMatchObject({ status: 200 });
    sim.advanceClock(3600_000 + 1000);
    try {
      const err = await github.rest.repos.get({ owner: "acme", repo: "tokens" }).catch((e: unknown) => e);
      expect(statusOf(err)).toBe(401);
      expect((err as Error).message).toMatch(/Bad credentials/);
    } finally {
      sim.advanceClock(-(3600_000 + 1000));
    }
  });

  test("collaborator permission folds maintain into write and knows non-collaborators", async () => {
    const github = await app.forRepo(INSTALLATION, sim.repo("acme/tokens").id, STEP_PERMISSIONS.converse);
    sim.addCollaborator("acme/tokens", "mia", "maintain");
    sim.createUser("stranger");
    const mia = await github.rest.repos.getCollaboratorPermissionLevel({ owner: "acme", repo: "tokens", username: "mia" });
    expect(mia.data).toMatchObject({ permission: "write", role_name: "maintain" });
    const stranger = await github.rest.repos.getCollaboratorPermissionLevel({ owner: "acme", repo: "tokens", username: "stranger" });
    expect(stranger.data.permission).toBe("none");
    const ghost = await github.rest.repos.getCollaboratorPermissionLevel({ owner: "acme", repo: "tokens", username: "nobody-at-all" }).catch((e: unknown) => e);
    expect(statusOf(ghost)).toBe(404);
  });
});

describe("git over smart HTTP", () => {
  const url = (token: string) => sim.authedGitUrl("acme/git", token);

  test("a contents:read token clones; a wrong token and another repo's token do not", async () => {
    const repo = sim.repo("acme/git");
    const read = await app.tokenForRepo(INSTALLATION, repo.id, STEP_PERMISSIONS.checkout);
    const ok = await git(["clone", "--quiet", url(read), join(work, "clone-ok")]);
    expect(ok.code).toBe(0);
    expect(await readFile(join(work, "clone-ok", "src/app.txt"), "utf8")).toBe(FILE);

    const wrong = await git(["clone", "--quiet", url("ghs_" + "x".repeat(36)), join(work, "clone-wrong")]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/Authentication failed|401/);

    const otherToken = await app.tokenForRepo(INSTALLATION, sim.repo("acme/other").id, STEP_PERMISSIONS.checkout);
    const cross = await git(["clone", "--quiet", url(otherToken), join(work, "clone-cross")]);
    expect(cross.code).not.toBe(0);
    expect(cross.stderr).toMatch(/not found/i);

    const anonymous = await git(["clone", "--quiet", sim.gitUrl("acme/git"), join(work, "clone-anon")]);
    expect(anonymous.code).not.toBe(0);
  });

  test("a review checkout can fetch pull/N/head and a bare sha", async () => {
    const repo = sim.repo("acme/git");
    const sha = await sim.commit({ repo, branch: "topic", files: { "t.txt": "t\n" } });
    const pull = await sim.createPullRequest({ repo, head: "topic", title: "Topic", user: "acme" });
    const read = await app.tokenForRepo(INSTALLATION, repo.id, STEP_PERMISSIONS.checkout);
    const dir = join(work, "fetch");
    expect((await git(["init", "--quiet", dir])).code).toBe(0);
    const byRef = await git(["fetch", "--quiet", url(read), `pull/${pull.number}/head`], dir);
    expect(byRef.code).toBe(0);
    expect((await git(["rev-parse", "FETCH_HEAD"], dir)).stdout.trim()).toBe(sha);
    const dir2 = join(work, "fetch-sha");
    await git(["init", "--quiet", dir2]);
    const bySha = await git(["fetch", "--quiet", "--depth=1", url(read), sha], dir2);
    expect(bySha.code).toBe(0);
    // refs/pull/* are GitHub's: nobody pushes to them.
    const write = await app.tokenForRepo(INSTALLATION, repo.id, STEP_PERMISSIONS.publish);
    const push = await git(["push", url(write), `FETCH_HEAD:refs/pull/${pull.number}/head`], dir2);
    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain("deny updating a hidden ref");
    expect(sim.pushes.filter((p) => p.ref.startsWith("refs/pull/"))).toEqual([
      expect.objectContaining({ accepted: false, rejection: "deny updating a hidden ref" }),
    ]);
    expect(await sim.resolveRef(repo, `refs/pull/${pull.number}/head`)).toBe(sha);
  });

  test("createRepo fromDir commits the directory minus .gitignored files; seeds keep modes and authors", async () => {
    const dir = join(work, "fixture");
    await mkdir(join(dir, "node_modules/x"), { recursive: true });
    await writeFile(join(dir, ".gitignore"), "node_modules/\n");
    await writeFile(join(dir, "node_modules/x/index.js"), "ignored\n");
    await writeFile(join(dir, "index.js"), "module.exports = 1;\n");
    const repo = await sim.createRepo({ owner: "acme", name: "from-dir", fromDir: dir, defaultBranch: "trunk", author: { name: "Ada", email: "ada@example.com" } });
    expect(await sim.readFile(repo, "trunk", "index.js")).toBe("module.exports = 1;\n");
    expect(await sim.readFile(repo, "trunk", "node_modules/x/index.js")).toBeUndefined();
    const info = await repo.git.commitInfo((await sim.resolveRef(repo, "trunk"))!);
    expect(info.author).toMatchObject({ name: "Ada", email: "ada@example.com" });
    await sim.commit({ repo, branch: "trunk", files: { "run.sh": { content: "#!/bin/sh\n", mode: "100755" }, "index.js": null } });
    const entries = await repo.git.lsTree("trunk", "");
    expect(entries.map((e) => [e.path, e.mode])).toEqual([
      [".gitignore", "100644"],
      ["run.sh", "100755"],
    ]);
  });

  test("partial clone works (uploadpack.allowFilter)", async () => {
    const read = await app.tokenForRepo(INSTALLATION, sim.repo("acme/git").id, STEP_PERMISSIONS.checkout);
    const r = await git(["clone", "--quiet", "--filter=blob:none", url(read), join(work, "clone-filter")]);
    expect(r.code).toBe(0);
    expect(await git(["config", "remote.origin.partialclonefilter"], join(work, "clone-filter"))).toMatchObject({ stdout: "blob:none\n" });
  });

  test("a read-only token cannot push; a contents:write token can, and the push is recorded", async () => {
    const repo = sim.repo("acme/git");
    const read = await app.tokenForRepo(INSTALLATION, repo.id, STEP_PERMISSIONS.checkout);
    const dir = join(work, "push");
    expect((await git(["clone", "--quiet", url(read), dir])).code).toBe(0);
    await writeFile(join(dir, "src/app.txt"), FILE.replace("line 5\n", "line five\n"));
    expect((await git(["commit", "-qam", "five"], dir)).code).toBe(0);
    const head = (await git(["rev-parse", "HEAD"], dir)).stdout.trim();
    const base = (await git(["rev-parse", "HEAD~1"], dir)).stdout.trim();

    const denied = await git(["push", "--quiet", url(read), "HEAD:refs/heads/iquest/fix-1"], dir);
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/403/);
    expect(await sim.resolveRef("acme/git", "refs/heads/iquest/fix-1")).toBeUndefined();

    const write = await app.tokenForRepo(INSTALLATION, repo.id, STEP_PERMISSIONS.publish);
    const pushed = await git(["push", "--quiet", url(write), "HEAD:refs/heads/iquest/fix-1"], dir);
    expect(pushed.code).toBe(0);
    expect(await sim.resolveRef("acme/git", "refs/heads/iquest/fix-1")).toBe(head);
    const gitPushes = sim.pushes.filter((p) => p.repo === "acme/git" && p.via === "git" && p.ref === "refs/heads/iquest/fix-1");
    expect(gitPushes).toEqual([
      expect.objectContaining({ ref: "refs/heads/iquest/fix-1", before: "0".repeat(40), after: head, accepted: true, forced: false, token: write }),
    ]);
    expect(base).not.toBe(head);
  });

  test("a push touching .github/workflows is refused without the workflows permission, accepted with it", async () => {
    const repo = sim.repo("acme/hooks");
    const write = await app.tokenForRepo(INSTALLATION, repo.id, STEP_PERMISSIONS.publish);
    const dir = join(work, "wf");
    expect((await git(["clone", "--quiet", sim.authedGitUrl(repo, write), dir])).code).toBe(0);
    await mkdir(join(dir, ".github/workflows"), { recursive: true });
    await writeFile(join(dir, ".github/workflows/ci.yml"), "on: push\njobs: {}\n");
    await writeFile(join(dir, "README.md"), "# changed too\n");
    await git(["add", "-A"], dir);
    expect((await git(["commit", "-qm", "ci"], dir)).code).toBe(0);
    // The workflow change is buried under a harmless commit: every pushed commit is checked.
    await writeFile(join(dir, "notes.txt"), "n\n");
    await git(["add", "-A"], dir);
    await git(["commit", "-qm", "notes"], dir);

    const refused = await git(["push", sim.authedGitUrl(repo, write), "HEAD:refs/heads/iquest/fix-2"], dir);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("refusing to allow a GitHub App to create or update workflow `.github/workflows/ci.yml` without `workflows` permission");
    expect(await sim.resolveRef(repo, "refs/heads/iquest/fix-2")).toBeUndefined();
    expect(sim.pushes.filter((p) => p.repo === "acme/hooks" && p.via === "git")).toEqual([
      expect.objectContaining({ ref: "refs/heads/iquest/fix-2", accepted: false, rejection: expect.stringContaining("workflows") }),
    ]);

    const withWorkflows = sim.mintToken({ installationId: INSTALLATION, repositoryIds: [repo.id], permissions: { contents: "write", workflows: "write" } });
    const accepted = await git(["push", "--quiet", sim.authedGitUrl(repo, withWorkflows.token), "HEAD:refs/heads/iquest/fix-2"], dir);
    expect(accepted.code).toBe(0);
    expect(await sim.readFile(repo, "iquest/fix-2", ".github/workflows/ci.yml")).toBe("on: push\njobs: {}\n");
    // And the app itself never asked for workflows.
    expect(sim.tokens.filter((t) => t.via === "api" && t.permissions.workflows)).toEqual([]);
  });
});

describe("pull requests and reviews", () => {
  let pr: number;
  let writer: Awaited<ReturnType<GitHubApp["forRepo"]>>;

  beforeAll(async () => {
    const repo = sim.repo("acme/reviews");
    // Change lines 10 and 20 (two hunks) and delete line 25.
    const changed = FILE.replace("line 10\n", "line ten\n").replace("line 20\n", "line twenty\n").replace("line 25\n", "");
    await sim.commit({ repo, branch: "feature", files: { "src/app.txt": changed, "docs/new.md": "new\n" }, message: "change" });
    sim.addCollaborator(repo, "alice", "write");
    const pull = await sim.createPullRequest({ repo, head: "feature", title: "Change", user: "alice" });
    pr = pull.number;
    writer = await app.forRepo(INSTALLATION, repo.id, STEP_PERMISSIONS.publish);
  });

  test("PR files come from the real diff", async () => {
    const { data } = await writer.rest.pulls.listFiles({ owner: "acme", repo: "reviews", pull_number: pr });
    expect(data.map((f) => [f.filename, f.status, f.additions, f.deletions])).toEqual([
      ["docs/new.md", "added", 1, 0],
      ["src/app.txt", "modified", 2, 3],
    ]);
    expect(data[1]!.patch).toContain("-line 10\n+line ten");
    const { data: full } = await writer.rest.pulls.get({ owner: "acme", repo: "reviews", pull_number: pr });
    expect(full).toMatchObject({ additions: 3, deletions: 3, changed_files: 2, commits: 1, mergeable: true });
    expect(full.head.sha).toBe(await sim.resolveRef("acme/reviews", "feature"));
  });

  test("a review comment on a line outside the diff is a 422 and nothing is stored", async () => {
    const before = { reviews: sim.reviews.length, comments: sim.reviewComments.length };
    const outside = await writer.rest.pulls
      .createReview({
        owner: "acme",
        repo: "reviews",
        pull_number: pr,
        event: "COMMENT",
        body: "Review",
        comments: [
          { path: "src/app.txt", line: 10, body: "fine" },
          { path: "src/app.txt", line: 2, body: "line 2 is not in any hunk" },
        ],
      })
      .catch((e: unknown) => e);
    expect(statusOf(outside)).toBe(422);
    expect((outside as Error).message).toContain("Line could not be resolved");

    const wrongPath = await writer.rest.pulls
      .createReview({ owner: "acme", repo: "reviews", pull_number: pr, event: "COMMENT", body: "x", comments: [{ path: "README.md", line: 1, body: "x" }] })
      .catch((e: unknown) => e);
    expect(statusOf(wrongPath)).toBe(422);
    expect((wrongPath as Error).message).toContain("Path could not be resolved");

    // A deleted line exists only on the LEFT.
    const deletedRight = await writer.rest.pulls
      .createReview({ owner: "acme", repo: "reviews", pull_number: pr, event: "COMMENT", body: "x", comments: [{ path: "src/app.txt", line: 28, side: "RIGHT", body: "x" }] })
      .catch((e: unknown) => e);
    expect(statusOf(deletedRight)).toBe(422);

    // A range across two hunks is refused too.
    const spanning = await writer.rest.pulls
      .createReview({ owner: "acme", repo: "reviews", pull_number: pr, event: "COMMENT", body: "x", comments: [{ path: "src/app.txt", start_line: 10, line: 20, body: "x" }] })
      .catch((e: unknown) => e);
    expect(statusOf(spanning)).toBe(422);

    expect({ reviews: sim.reviews.length, comments: sim.reviewComments.length }).toEqual(before);
  });

  test("comments inside the hunks are stored with GitHub's anchors", async () => {
    const { data } = await writer.rest.pulls.createReview({
      owner: "acme",
      repo: "reviews",
      pull_number: pr,
      event: "COMMENT",
      body: "Two notes",
      comments: [
        { path: "src/app.txt", start_line: 8, line: 10, body: "context through the change" },
        { path: "src/app.txt", line: 25, side: "LEFT", body: "why delete this?" },
        { path: "docs/new.md", line: 1, body: "new file" },
      ],
    });
    expect(data.state).toBe("COMMENTED");
    const stored = sim.reviewComments.filter((c) => c.reviewId === data.id);
    expect(stored.map((c) => [c.path, c.startLine, c.line, c.side])).toEqual([
      ["src/app.txt", 8, 10, "RIGHT"],
      ["src/app.txt", null, 25, "LEFT"],
      ["docs/new.md", null, 1, "RIGHT"],
    ]);
    expect(stored[0]!.diffHunk).toMatch(/^@@ -7,7 \+7,7 @@[\s\S]*\+line ten$/);
    const listed = await writer.rest.pulls.listReviewComments({ owner: "acme", repo: "reviews", pull_number: pr });
    expect(listed.data.map((c) => c.id)).toEqual(stored.map((c) => c.id));
  });

  test("the app cannot approve its own PR", async () => {
    await sim.commit({ repo: "acme/reviews", branch: "iquest/fix-9", files: { "b.txt": "b\n" } });
    const { data } = await writer.rest.pulls.create({ owner: "acme", repo: "reviews", head: "iquest/fix-9", base: "main", title: "Bot PR", draft: true });
    expect(data.user?.login).toBe("iquest-bot[bot]");
    expect(data.draft).toBe(true);
    const err = await writer.rest.pulls.createReview({ owner: "acme", repo: "reviews", pull_number: data.number, event: "APPROVE" }).catch((e: unknown) => e);
    expect(statusOf(err)).toBe(422);
  });
});

describe("pull request creation", () => {
  test("a second PR for the same head is a 422; the listing by owner:branch finds the first", async () => {
    const repo = sim.repo("acme/pulls");
    await sim.commit({ repo, branch: "iquest/fix-3", files: { "c.txt": "c\n" } });
    const github = await app.forRepo(INSTALLATION, repo.id, STEP_PERMISSIONS.publish);
    const first = await github.rest.pulls.create({ owner: "acme", repo: "pulls", head: "iquest/fix-3", base: "main", title: "Fix #3", body: "Fixes #3" });
    expect(first.status).toBe(201);
    const dup = await github.rest.pulls
      .create({ owner: "acme", repo: "pulls", head: "iquest/fix-3", base: "main", title: "Fix #3 again" })
      .catch((e: unknown) => e);
    expect(statusOf(dup)).toBe(422);
    expect((dup as Error).message).toContain("A pull request already exists for acme:iquest/fix-3.");
    expect(sim.pullsOf(repo)).toHaveLength(1);

    const found = await github.rest.pulls.list({ owner: "acme", repo: "pulls", head: "acme:iquest/fix-3", state: "open" });
    expect(found.data.map((p) => p.number)).toEqual([first.data.number]);
    const none = await github.rest.pulls.list({ owner: "acme", repo: "pulls", head: "acme:iquest/fix-4", state: "all" });
    expect(none.data).toEqual([]);
  });

  test("no commits between base and head is a 422; a missing head branch is a 422", async () => {
    const repo = sim.repo("acme/pulls");
    const github = await app.forRepo(INSTALLATION, repo.id, STEP_PERMISSIONS.publish);
    const missing = await github.rest.pulls.create({ owner: "acme", repo: "pulls", head: "no-such-branch", base: "main", title: "x" }).catch((e: unknown) => e);
    expect(statusOf(missing)).toBe(422);
    const main = await sim.resolveRef(repo, "main");
    await repo.git.updateRef("refs/heads/same-as-main", main!);
    const same = await github.rest.pulls.create({ owner: "acme", repo: "pulls", head: "same-as-main", base: "main", title: "x" }).catch((e: unknown) => e);
    expect(statusOf(same)).toBe(422);
    expect((same as Error).message).toContain("No commits between main and same-as-main");
  });

  test("a push to the head branch moves the PR head and refs/pull/N/head", async () => {
    const repo = sim.repo("acme/pulls");
    const pull = sim.pullsOf(repo)[0]!;
    const before = pull.head.sha;
    const after = await sim.commit({ repo, branch: pull.head.ref, files: { "c.txt": "c2\n" } });
    expect(pull.head.sha).toBe(after);
    expect(after).not.toBe(before);
    expect(await sim.resolveRef(repo, `refs/pull/${pull.number}/head`)).toBe(after);
  });

  test("reactions are idempotent: 201 first, 200 after", async () => {
    const repo = sim.repo("acme/pulls");
    const issue = sim.createIssue({ repo, title: "bug", user: "alice" });
    const github = await app.forRepo(INSTALLATION, repo.id, STEP_PERMISSIONS.converse);
    const first = await github.rest.reactions.createForIssue({ owner: "acme", repo: "pulls", issue_number: issue.number, content: "eyes" });
    const again = await github.rest.reactions.createForIssue({ owner: "acme", repo: "pulls", issue_number: issue.number, content: "eyes" });
    expect([first.status, again.status]).toEqual([201, 200]);
    expect(again.data.id).toBe(first.data.id);
    expect(sim.reactions.filter((r) => r.subject.type === "issue" && r.subject.number === issue.number)).toHaveLength(1);
  });

  test("a comment body over 65,536 characters is a 422; exactly 65,536 is fine", async () => {
    const repo = sim.repo("acme/pulls");
    const issue = sim.createIssue({ repo, title: "big", user: "alice" });
    const github = await app.forRepo(INSTALLATION, repo.id, STEP_PERMISSIONS.converse);
    const big = await github.rest.issues.createComment({ owner: "acme", repo: "pulls", issue_number: issue.number, body: "x".repeat(65_537) }).catch((e: unknown) => e);
    expect(statusOf(big)).toBe(422);
    const fits = await github.rest.issues.createComment({ owner: "acme", repo: "pulls", issue_number: issue.number, body: "x".repeat(65_536) });
    expect(fits.status).toBe(201);
    expect(sim.commentsOn(repo, issue.number)).toHaveLength(1);
  });

  test("comments page with Link headers, so octokit's paginate sees all of them", async () => {
    const repo = sim.repo("acme/pulls");
    const issue = sim.createIssue({ repo, title: "long thread", user: "alice" });
    for (let i = 0; i < 7; i++) sim.addIssueComment({ repo, issue: issue.number, user: "alice", body: `c${i}` });
    const github = await app.forRepo(INSTALLATION, repo.id, STEP_PERMISSIONS.converse);
    const all = await github.paginate(github.rest.issues.listComments, { owner: "acme", repo: "pulls", issue_number: issue.number, per_page: 3 });
    expect(all.map((c) => c.body)).toEqual(["c0", "c1", "c2", "c3", "c4", "c5", "c6"]);
    expect(sim.calls("GET /repos/{owner}/{repo}/issues/{issue_number}/comments").filter((r) => r.query.per_page === "3")).toHaveLength(3);
  });
});

describe("faults against Probot's octokit plugins", () => {
  // Probot's own Octokit (retry and throttling on), with the throttle handlers wrapped so the
  // test sees whether the *throttling* plugin recognised the answer as a secondary limit.
  const seen: Array<{ retryAfter: number; url: string }> = [];
  const Octokit = ProbotOctokit.defaults((o: Record<string, unknown>) => ({
    ...o,
    throttle: {
      ...(o.throttle as object),
      onSecondaryRateLimit: (retryAfter: number, options: { url: string }) => {
        seen.push({ retryAfter, url: options.url });
        return retryAfter <= 2; // wait short limits; give up on the 60 s fallback
      },
      onRateLimit: () => false,
    },
  })) as typeof ProbotOctokit;

  // Probot's throttling spaces writes per installation (1 s; 3 s for comments and PRs) in
  // module-global queues, so each test gets its own installation to stay fast.
  let nextInstallation = 60;
  const isolated = async (name: string) => {
    const repo = await seedRepo(name);
    const installationId = nextInstallation++;
    sim.installApp({ installationId, repos: [repo.fullName] });
    return { repo, installationId };
  };

  test("an injected 502 on PR creation is retried by the retry plugin: two calls, one PR", async () => {
    const { repo, installationId } = await isolated("faults-502");
    await sim.commit({ repo, branch: "iquest/fix-5", files: { "d.txt": "d\n" } });
    const fault = sim.faults.add("POST /repos/{owner}/{repo}/pulls", { kind: "status", status: 502 });
    const github = await appFor().forRepo(installationId, repo.id, STEP_PERMISSIONS.publish);
    const { data } = await github.rest.pulls.create({ owner: "acme", repo: repo.name, head: "iquest/fix-5", base: "main", title: "Fix #5" });
    expect(fault.hits).toBe(1);
    const calls = sim.calls("POST /repos/{owner}/{repo}/pulls").filter((r) => (r.body as { head?: string }).head === "iquest/fix-5");
    expect(calls.map((r) => [r.status, r.fault])).toEqual([
      [502, "status 502"],
      [201, undefined],
    ]);
    expect(sim.pullsOf(repo).map((p) => p.number)).toEqual([data.number]);
  });

  test("a 403 secondary rate limit with retry-after: the throttling plugin waits, then succeeds", async () => {
    const { repo, installationId } = await isolated("faults-403");
    const issue = sim.createIssue({ repo, title: "rate", user: "alice" });
    sim.faults.add("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", { kind: "secondary-rate-limit", retryAfter: 1 });
    const github = await appFor(Octokit).forRepo(installationId, repo.id, STEP_PERMISSIONS.converse);
    seen.length = 0;
    const started = Date.now();
    await github.rest.issues.createComment({ owner: "acme", repo: repo.name, issue_number: issue.number, body: "card" });
    const elapsed = Date.now() - started;
    expect(seen).toEqual([{ retryAfter: 1, url: "/repos/{owner}/{repo}/issues/{issue_number}/comments" }]);
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    const attempts = sim.requests.filter((r) => r.method === "POST" && r.path === `/repos/acme/faults-403/issues/${issue.number}/comments`);
    expect(attempts.map((r) => r.status)).toEqual([403, 201]);
    expect(sim.commentsOn(repo, issue.number).map((c) => c.body)).toEqual(["card"]);
  });

  test("without retry-after the plugin falls back to 60 s (here: declined, so the 403 surfaces)", async () => {
    const { repo, installationId } = await isolated("faults-403-bare");
    const issue = sim.createIssue({ repo, title: "rate2", user: "alice" });
    sim.faults.add("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", { kind: "secondary-rate-limit" });
    const github = await appFor(Octokit).forRepo(installationId, repo.id, STEP_PERMISSIONS.converse);
    seen.length = 0;
    const err = await github.rest.issues.createComment({ owner: "acme", repo: repo.name, issue_number: issue.number, body: "x" }).catch((e: unknown) => e);
    expect(seen.map((s) => s.retryAfter)).toEqual([60]);
    expect(statusOf(err)).toBe(403);
    expect(sim.commentsOn(repo, issue.number)).toEqual([]);
  });

  test("a 429 secondary limit is recognised too", async () => {
    const { repo, installationId } = await isolated("faults-429");
    const issue = sim.createIssue({ repo, title: "rate3", user: "alice" });
    sim.faults.add("POST /repos/{owner}/{repo}/issues/{issue_number}/reactions", { kind: "secondary-rate-limit", status: 429, retryAfter: 1 });
    const github = await appFor(Octokit).forRepo(installationId, repo.id, STEP_PERMISSIONS.converse);
    seen.length = 0;
    const { status } = await github.rest.reactions.createForIssue({ owner: "acme", repo: repo.name, issue_number: issue.number, content: "eyes" });
    expect(status).toBe(201);
    expect(seen.map((s) => s.retryAfter)).toEqual([1]);
  });

  test("skip/times select which calls fail; delay slows one; reset drops the connection", async () => {
    const repo = sim.repo("acme/faults");
    const github = await app.forRepo(INSTALLATION, repo.id, STEP_PERMISSIONS.converse);
    const get = () => github.rest.repos.get({ owner: "acme", repo: "faults" }).then((r) => r.status, (e: unknown) => statusOf(e));
    sim.faults.add({ method: "GET", path: "/repos/acme/faults", skip: 1, times: 2, response: { kind: "status", status: 500 } });
    expect([await get(), await get(), await get(), await get()]).toEqual([200, 500, 500, 200]);

    sim.faults.add({ method: "GET", path: "/repos/:owner/faults", response: { kind: "delay", ms: 300 } });
    const t0 = Date.now();
    expect(await get()).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);

    sim.faults.add({ method: "GET", path: "/repos/acme/faults", response: { kind: "reset" } });
    const reset = await github.rest.repos.get({ owner: "acme", repo: "faults" }).catch((e: unknown) => e);
    expect(reset).toBeInstanceOf(Error);
    sim.faults.add({ method: "GET", path: "/repos/acme/faults", response: { kind: "hang", ms: 200 } });
    const t1 = Date.now();
    const hung = await github.rest.repos.get({ owner: "acme", repo: "faults" }).catch((e: unknown) => e);
    expect(hung).toBeInstanceOf(Error);
    expect(Date.now() - t1).toBeGreaterThanOrEqual(190);
    expect(await get()).toBe(200);
    expect(sim.faults.active).toEqual([]);
  });
});

describe("webhooks out and the deliveries API", () => {
  let receiver: Server;
  const received: Array<{ id: string; event: string; verified: boolean; body: Record<string, any> }> = [];
  let failNext = 0;

  beforeAll(async () => {
    const verifier = new OctokitWebhooks({ secret: sim.app.webhookSecret });
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", async () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const verified = await verifier.verify(body, String(req.headers["x-hub-signature-256"]));
        received.push({ id: String(req.headers["x-github-delivery"]), event: String(req.headers["x-github-event"]), verified, body: JSON.parse(body) });
        const status = failNext > 0 ? (failNext--, 503) : 202;
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", () => r()));
    sim.webhooks.url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/api/github/webhooks`;
    await sim.createRepo({ owner: "acme", name: "hooks-out", files: { a: "1\n" } });
    sim.installApp({ installationId: 41, repos: ["acme/hooks-out"] });
  });

  afterAll(async () => {
    await new Promise((r) => receiver.close(r));
  });

  test("deliveries are signed, built from state, and a failed one is listed and redelivered with the same GUID", async () => {
    const repo = sim.repo("acme/hooks-out");
    const issue = sim.createIssue({ repo, title: "Crash on start", body: "Steps...", user: "alice" });
    failNext = 1;
    const first = await sim.webhooks.issuesLabeled({ repo, issue: issue.number, label: "iquest:fix", sender: "alice" });
    expect(first.statusCode).toBe(503);
    expect(received.at(-1)).toMatchObject({ event: "issues", verified: true, id: first.guid });
    const payload = received.at(-1)!.body;
    expect(payload).toMatchObject({
      action: "labeled",
      label: { name: "iquest:fix" },
      issue: { number: issue.number, title: "Crash on start", labels: [{ name: "iquest:fix" }] },
      repository: { id: repo.id, full_name: "acme/hooks-out", default_branch: "main" },
      installation: { id: 41 },
      sender: { login: "alice" },
    });

    const appClient = app.appClient();
    const { data: list } = await appClient.request("GET /app/hook/deliveries", { per_page: 100 });
    const listed = (list as Array<Record<string, unknown>>).find((d) => d.guid === first.guid);
    expect(listed).toMatchObject({ id: first.id, status_code: 503, event: "issues", action: "labeled", installation_id: 41, repository_id: repo.id, redelivery: false });

    const redo = await appClient.request("POST /app/hook/deliveries/{delivery_id}/attempts", { delivery_id: first.id });
    expect(redo.status).toBe(202);
    await sim.idle();
    const again = received.filter((r) => r.id === first.guid);
    expect(again).toHaveLength(2);
    expect(again[1]!.body).toEqual(again[0]!.body);
    expect(sim.deliveries.filter((d) => d.guid === first.guid).map((d) => [d.statusCode, d.redelivery])).toEqual([
      [503, false],
      [202, true],
    ]);
    // The deliveries API needs the app's JWT, not an installation token.
    const github = await app.forRepo(41, repo.id, STEP_PERMISSIONS.converse);
    await expect(github.request("GET /app/hook/deliveries")).rejects.toMatchObject({ status: 401 });
  });

  test("the deliveries list pages by cursor, newest first", async () => {
    for (let i = 0; i < 3; i++) sim.webhooks.record({ event: "ping", statusCode: 200 });
    const appClient = app.appClient();
    const all = (await appClient.paginate("GET /app/hook/deliveries", { per_page: 2 })) as Array<{ id: number }>;
    expect(all.map((d) => d.id)).toEqual([...sim.deliveries].map((d) => d.id).sort((a, b) => b - a));
    expect(sim.calls("GET /app/hook/deliveries").filter((r) => r.query.per_page === "2").length).toBeGreaterThan(1);
  });

  test("an unreachable app is logged as a failed delivery (status code 0)", async () => {
    const url = sim.webhooks.url;
    // A port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", () => r()));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    sim.webhooks.url = `http://127.0.0.1:${port}/nowhere`;
    try {
      const d = await sim.webhooks.installationCreated({ installationId: 41, sender: "alice" });
      expect(d).toMatchObject({ statusCode: 0, status: "failed to connect to host" });
    } finally {
      sim.webhooks.url = url;
    }
  });

  test("auto-delivery sends push and pull_request.synchronize when a PR's branch moves", async () => {
    const repo = sim.repo("acme/hooks-out");
    await sim.commit({ repo, branch: "auto", files: { c: "1\n" } });
    const pull = await sim.createPullRequest({ repo, head: "auto", title: "Auto", user: "alice" });
    const before = pull.head.sha;
    const mark = sim.deliveries.length;
    sim.webhooks.auto = true;
    try {
      await sim.commit({ repo, branch: "auto", files: { c: "2\n" } });
      await sim.idle();
    } finally {
      sim.webhooks.auto = false;
    }
    const sent = sim.deliveries.slice(mark).map((d) => JSON.parse(d.request.payload) as Record<string, any>);
    const sync = sent.find((p) => p.action === "synchronize");
    expect(sync).toMatchObject({ number: pull.number, before, after: pull.head.sha, pull_request: { head: { sha: pull.head.sha } } });
    expect(sent.find((p) => p.ref === "refs/heads/auto")).toMatchObject({ before, after: pull.head.sha, created: false, commits: [{ id: pull.head.sha, modified: ["c"] }] });
    expect(sim.deliveries.slice(mark).every((d) => d.statusCode === 202)).toBe(true);
  });

  test("payloads carry every key GitHub's own examples have", async () => {
    const repo = sim.repo("acme/hooks-out");
    await sim.commit({ repo, branch: "topic", files: { b: "2\n" } });
    const pull = await sim.createPullRequest({ repo, head: "topic", title: "Topic", user: "alice" });
    const run = sim.createCheckRun({ repo, headSha: pull.head.sha, name: "test", conclusion: "failure", output: { title: "1 failed", summary: "boom" } });
    const sent = [
      await sim.webhooks.issueCommentCreated({ repo, issue: pull.number, body: "/iquest review", sender: "alice" }),
      await sim.webhooks.pullRequest({ repo, number: pull.number, action: "opened", sender: "alice" }),
      await sim.webhooks.push({ repo, ref: "topic", sender: "alice" }),
      await sim.webhooks.checkRunCompleted({ repo, checkRunId: run.id }),
      await sim.webhooks.pullRequestReviewSubmitted({ repo, number: pull.number, user: "alice", state: "changes_requested", body: "please" }),
      await sim.webhooks.installationCreated({ installationId: 41, sender: "alice" }),
    ];
    const examples = EXAMPLES as Array<{ name: string; examples: Array<Record<string, any>> }>;
    const optional = new Set(["organization", "enterprise"]);
    const missing: string[] = [];
    for (const d of sent) {
      const payload = JSON.parse(d.request.payload) as Record<string, any>;
      const example = examples.find((e) => e.name === d.event)!.examples.find((x) => x.action === (payload.action ?? undefined))!;
      for (const key of Object.keys(example)) if (!optional.has(key) && !(key in payload)) missing.push(`${d.event}.${key}`);
      for (const inner of ["issue", "comment", "pull_request", "check_run", "review", "installation"]) {
        if (!example[inner] || !payload[inner]) continue;
        for (const key of Object.keys(example[inner])) if (!(key in payload[inner])) missing.push(`${d.event}.${inner}.${key}`);
      }
    }
    expect(missing).toEqual([]);
    const push = JSON.parse(sent[2]!.request.payload);
    expect(push).toMatchObject({ ref: "refs/heads/topic", after: pull.head.sha, created: true, commits: [{ id: pull.head.sha, added: ["b"] }] });
    const check = JSON.parse(sent[3]!.request.payload);
    expect(check.check_run).toMatchObject({ conclusion: "failure", head_sha: pull.head.sha, pull_requests: [{ number: pull.number }] });
  });
});

describe("the app's own webhook handlers, driven by the simulator", () => {
  let intakeServer: Awaited<ReturnType<typeof startIntakeServer>>;
  let enqueuer: RecordingEnqueuer;
  let previousUrl: string | undefined;
  let outcomes: Array<[string, string]>;

  beforeAll(async () => {
    const repo = await sim.createRepo({ owner: "acme", name: "loop", files: { "README.md": "# loop\n" } });
    sim.installApp({ installationId: 90, repos: [repo.fullName] });
    sim.addCollaborator(repo, "alice", "write");
    sim.addCollaborator(repo, "bob", "read");
    enqueuer = new RecordingEnqueuer();
    // As start-web composes it: the webhook door, the router, and the handlers' own
    // one-repository client, minted on first use.
    const intake = createGitHubApp({ appId: String(sim.app.id), privateKey: testPrivateKey(), baseUrl: sim.apiUrl, log, Octokit: TestOctokit, writePacing: false });
    intakeServer = await startIntakeServer({
      secret: sim.app.webhookSecret,
      log,
      deps: {
        enqueuer,
        repoClient: (installationId, repoId) => intake.lazyForRepo(installationId, repoId, STEP_PERMISSIONS.intake),
        loadConfig: (github, r) => loadRepoConfig(github, r),
        checkPermission: (target, user) => fetchPermission(target.github, target.repo, user),
        log,
      },
    });
    outcomes = intakeServer.outcomes;
    previousUrl = sim.webhooks.url;
    sim.webhooks.url = intakeServer.url;
  });

  afterAll(async () => {
    sim.webhooks.url = previousUrl;
    sim.webhooks.auto = false;
    await intakeServer.close();
  });

  test("a writer's label becomes a fix job with the simulator's real ids", async () => {
    const repo = sim.repo("acme/loop");
    const issue = sim.createIssue({ repo, title: "Off by one", user: "alice" });
    const mark = sim.requests.length;
    const delivery = await sim.webhooks.issuesLabeled({ repo, issue: issue.number, label: "iquest:fix", sender: "alice" });
    expect(delivery.statusCode).toBe(200);
    expect(enqueuer.jobs).toEqual([
      { kind: "fix", installationId: 90, repoId: repo.id, repo: "acme/loop", deliveryId: delivery.guid, trigger: "label", issueNumber: issue.number, actor: "alice" },
    ]);
    // What the handler asked GitHub: the config (absent → 404) and alice's permission.
    const routes = sim.requests.slice(mark).map((r) => `${r.route} ${r.status}`);
    expect(routes).toEqual([
      "POST /app/installations/{installation_id}/access_tokens 201",
      "GET /repos/{owner}/{repo}/contents/{path+} 404",
      "GET /repos/{owner}/{repo}/collaborators/{username}/permission 200",
    ]);
    // T8: the handlers' token names this one repository and the read-only intake permissions,
    // not the installation-wide token of Probot's event client.
    expect(sim.tokens.at(-1)!.requested).toEqual({ repository_ids: [repo.id], permissions: STEP_PERMISSIONS.intake });
  });

  test("/iquest help → a notify job, answered once by the worker's client; a reader's command leaves no trace; the bot's own comment is ignored", async () => {
    const repo = sim.repo("acme/loop");
    const issue = sim.createIssue({ repo, title: "Question", user: "bob" });
    sim.webhooks.auto = true; // the app's reply comes back as a webhook, as on GitHub
    const mark = sim.requests.length;
    const help = await sim.webhooks.issueCommentCreated({ repo, issue: issue.number, body: "/iquest help", sender: "alice" });
    expect(help.statusCode).toBe(200);
    // The web process wrote nothing to GitHub: only reads (token, permission).
    expect(sim.requests.slice(mark).filter((r) => r.method !== "GET" && !String(r.route).includes("access_tokens"))).toEqual([]);
    const job = enqueuer.jobs.find((j) => j.kind === "notify" && j.issueNumber === issue.number) as NotifyPayload;
    expect(job).toMatchObject({ reason: "help", deliveryId: help.guid });
    // The worker's side of it, twice (a re-run): one comment.
    const worker = createGitHubApp({ appId: String(sim.app.id), privateKey: testPrivateKey(), baseUrl: sim.apiUrl, log, Octokit: TestOctokit, writePacing: false });
    const github = await worker.forRepo(90, repo.id, STEP_PERMISSIONS.notify);
    await runNotify(github, { owner: "acme", repo: "loop" }, job, {}, log);
    await runNotify(github, { owner: "acme", repo: "loop" }, job, {}, log);
    await sim.idle();
    const bot = sim.commentsOn(repo, issue.number).filter((c) => c.user === "iquest-bot[bot]");
    expect(bot).toHaveLength(1);
    expect(bot[0]!.body).toContain("**iquest-bot commands**");
    // GitHub would have sent the bot's comment back: the handler saw it and ignored it.
    const echo = sim.deliveries.find((d) => d.event === "issue_comment" && JSON.parse(d.request.payload).comment?.id === bot[0]!.id);
    expect(echo?.statusCode).toBe(200);
    expect(outcomes).toContainEqual(["issue_comment.created", "ignored:bot"]);

    const denied = await sim.webhooks.issueCommentCreated({ repo, issue: issue.number, body: "/iquest fix", sender: "bob" });
    expect(denied.statusCode).toBe(200);
    const bobComment = sim.commentsOn(repo, issue.number).find((c) => c.user === "bob")!;
    expect(sim.reactions.filter((r) => r.subject.type === "issue_comment" && r.subject.commentId === bobComment.id)).toEqual([]);
    expect(enqueuer.jobs.filter((j) => j.kind === "fix" && j.issueNumber === issue.number)).toEqual([]);
    expect(enqueuer.jobs.filter((j) => j.deliveryId === denied.guid)).toEqual([]);
  });
});
