import { copyFile, lstat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { Logger } from "../shared/log.js";
import type { JobCheckout, WorkspaceManager } from "./checkout.js";
import { checkRemoteUrl, gitAuthEnv, resolveToken, tokenForms, type GitProtocol, type TokenSource } from "./credentials.js";
import { BranchMovedError, ForbiddenChangeError, ForbiddenPushError, GitCommandError, HumanCommitsError, type Violation } from "./errors.js";
import { OBJECT_ID, type Git } from "./git.js";
import { branchProblem, checkChangedFiles, parsePushStatus, parseRawDiff, scanAddedLines, type ChangedFile } from "./publish-policy.js";

/**
 * Publishing: turn the worktree's content into one commit on an `iquest/…` branch and push it.
 *
 * Trust boundary: everything under the worktree was writable by the agent, including
 * `worktree/.git`. So publish never runs git *in* the worktree's repository. It runs on the
 * host, with the job's mirror as git dir (our configuration only), `--work-tree` pointing at
 * the files, and a host-private index copied from the checkout. With the hardened runner
 * (git.ts: no hooks, no fsmonitor, no system/global config, no `ext::`), nothing the agent
 * planted in `.git/config`, `.git/hooks` or `.gitattributes` can run here: filter drivers named
 * in `.gitattributes` have no definition in our config, so they are ignored.
 *
 * Order: the request is checked first (branch under `iquest/`, no force refspec, allowed
 * remote scheme, no unknown options such as `force`) before any git runs. Then, holding the
 * repository lock: the remote branch must be where the job found it (`expectedRemoteSha`) and
 * hold only the bot's commits; the content must pass the policy (no workflow or submodule
 * changes, no file over the size limit, no secret in an added line). Only then is the commit
 * made (bot identity, `IQuest-Job:` trailer) and pushed as a plain fast-forward. There is no
 * force and no `--force-with-lease`: if the branch moved in between, git rejects the push as
 * non-fast-forward, and that is reported as BranchMovedError.
 */

export interface BotIdentity {
  name: string;
  email: string;
}

export interface PublishDeps {
  git: Git;
  /** Transports allowed for the push URL (same as the workspace's). */
  protocols: readonly GitProtocol[];
  /** Runs `fn` under the repository's mirror lock. */
  withRepoLock: <T>(fn: () => Promise<T>) => Promise<T>;
  log?: Logger;
}

export interface PublishRequest {
  mirrorDir: string;
  worktree: string;
  /** Host-private directory for the publish index (JobCheckout.hostDir). */
  hostDir: string;
  /** The index written at checkout (JobCheckout.checkoutIndex). */
  checkoutIndex: string;
  /** The commit the job checked out. */
  baseCommit: string;
  remoteUrl: string;
  branch: string;
  /** The remote branch's sha when the job started; null if it did not exist. */
  expectedRemoteSha: string | null;
  identity: BotIdentity;
  /** Commit message (subject, blank line, body). An `IQuest-Job: <jobId>` trailer is added. */
  message: string;
  jobId: string;
  /** A write token (STEP_PERMISSIONS.publish), minted now, or a supplier. */
  token: TokenSource;
  maxFileBytes?: number;
  /** Extra ignore patterns for untracked files (gitignore syntax). */
  exclude?: readonly string[];
  /** Exact secret values that must never be published (e.g. the process's own secrets). */
  knownSecrets?: readonly string[];
  /**
   * Build on top of commits the bot did not make instead of refusing. Only for runs a writer
   * explicitly asked for on the bot's PR (`/iquest <feedback>`): the push is still a plain
   * fast-forward, so their commits stay in the history.
   */
  allowHumanCommits?: boolean;
  /**
   * When the branch exists and the job's base commit is not in its history (the default branch
   * moved since the bot last pushed), make the commit a merge with the base commit, as GitHub's
   * "Update branch" does: the PR's diff is then the change alone, never the default branch's
   * newer commits. Without force-pushing. For branches rebuilt from the base each run (upgrades).
   */
  mergeBase?: boolean;
  signal?: AbortSignal;
}

export type PublishResult =
  | { status: "pushed"; commit: string; parent: string; branch: string; files: ChangedFile[] }
  | { status: "no-changes"; branch: string };

export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024;

/** Build-time and cache directories that are never published even when a repo does not ignore them. */
export const DEFAULT_EXCLUDES = [
  "node_modules/",
  ".venv/",
  "__pycache__/",
  "*.pyc",
  ".pytest_cache/",
  ".mypy_cache/",
  ".ruff_cache/",
  ".tox/",
];

const oneLine = z.string().min(1).max(200).regex(/^[^\n\r<>]+$/);
const requestSchema = z
  .object({
    mirrorDir: z.string().min(1),
    worktree: z.string().min(1),
    hostDir: z.string().min(1),
    checkoutIndex: z.string().min(1),
    baseCommit: z.string().regex(OBJECT_ID),
    remoteUrl: z.string().min(1),
    branch: z.string(),
    expectedRemoteSha: z.string().regex(OBJECT_ID).nullable(),
    identity: z.object({ name: oneLine, email: oneLine }).strict(),
    message: z.string().min(1).max(60_000),
    jobId: z.string().min(1).max(200).regex(/^[^\n\r]+$/),
    token: z.custom<TokenSource>((v) => typeof v === "string" || typeof v === "function"),
    maxFileBytes: z.number().int().positive().optional(),
    exclude: z.array(z.string()).optional(),
    knownSecrets: z.array(z.string()).optional(),
    allowHumanCommits: z.boolean().optional(),
    mergeBase: z.boolean().optional(),
    signal: z.any().optional(),
  })
  .strict();

/** Check the request before any git runs. Throws ForbiddenPushError. */
export function checkPublishRequest(request: PublishRequest, protocols: readonly GitProtocol[]): void {
  const branch = branchProblem((request as { branch?: unknown }).branch as string);
  if (branch) throw new ForbiddenPushError(branch);
  const parsed = requestSchema.safeParse(request);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    if (issue.code === "unrecognized_keys") {
      throw new ForbiddenPushError(`unsupported publish option(s): ${issue.keys.join(", ")} (the bot never force-pushes)`);
    }
    throw new ForbiddenPushError(`invalid publish request at ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  }
  checkRemoteUrl(request.remoteUrl, protocols);
}

export async function publish(deps: PublishDeps, request: PublishRequest): Promise<PublishResult> {
  checkPublishRequest(request, deps.protocols);
  const { git } = deps;
  const token = await resolveToken(request.token);
  const auth = gitAuthEnv(request.remoteUrl, token);
  const secrets = tokenForms(token);
  const M = ["--git-dir", request.mirrorDir];
  const call = { env: auth, secrets, signal: request.signal };
  const ref = `refs/heads/${request.branch}`;

  return deps.withRepoLock(async () => {
    // 1. The remote branch must be where the job found it.
    const current = await remoteBranchSha(git, request.mirrorDir, request.remoteUrl, request.branch, { auth, secrets, signal: request.signal });
    if (current !== request.expectedRemoteSha) throw new BranchMovedError(request.branch, request.expectedRemoteSha, current);

    // 2. …and hold only the bot's commits.
    if (current) {
      const foreign = await foreignCommits(git, request.mirrorDir, request.remoteUrl, request.branch, current, request.identity.email, call);
      if (foreign.length && !request.allowHumanCommits) throw new HumanCommitsError(request.branch, foreign);
    }

    // 3. A tree from the worktree's content, through a host-private index.
    const index = join(request.hostDir, "publish-index");
    const excludes = join(request.hostDir, "publish-exclude");
    await copyFile(request.checkoutIndex, index);
    await writeFile(excludes, [...DEFAULT_EXCLUDES, ...(request.exclude ?? [])].join("\n") + "\n");
    const W = [...M, "--work-tree", request.worktree, "-c", "core.trustctime=false", "-c", `core.excludesFile=${excludes}`];
    const maxFileBytes = request.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    // Oversized files are refused before `git add` would copy them into the mirror.
    const candidates = await git([...W, "ls-files", "-z", "--modified", "--others", "--exclude-standard"], { env: { GIT_INDEX_FILE: index } });
    const oversized: Violation[] = [];
    for (const path of new Set(candidates.stdout.split("\0").filter(Boolean))) {
      const st = await lstat(join(request.worktree, path)).catch(() => undefined);
      if (st?.isFile() && st.size > maxFileBytes) {
        oversized.push({ kind: "too-large", path, detail: `file is ${st.size} bytes, over the ${maxFileBytes}-byte limit` });
      }
    }
    if (oversized.length) throw new ForbiddenChangeError(oversized);
    try {
      await git([...W, "add", "--all", "--", "."], { env: { GIT_INDEX_FILE: index }, signal: request.signal });
    } catch (err) {
      if (err instanceof GitCommandError && /does not have a commit checked out|embedded git repository|is a submodule/i.test(err.stderr)) {
        const path = /error: '([^']+)' does not have a commit/.exec(err.stderr)?.[1] ?? "(a nested repository)";
        throw new ForbiddenChangeError([{ kind: "submodule", path, detail: "nested git repositories (submodules) are not allowed" }]);
      }
      throw err;
    }
    const tree = (await git([...M, "write-tree"], { env: { GIT_INDEX_FILE: index } })).stdout.trim();
    const parent = current ?? request.baseCommit;
    const parentTree = (await git([...M, "rev-parse", `${parent}^{tree}`])).stdout.trim();
    // (current's objects are in the mirror: foreignCommits fetched the remote's branches.)
    const mergeWithBase =
      request.mergeBase === true &&
      current !== null &&
      (await git([...M, "merge-base", "--is-ancestor", request.baseCommit, current], { okExitCodes: [1] })).code === 1;
    if (tree === parentTree && !mergeWithBase) return { status: "no-changes", branch: request.branch } as const;
    // What the bot changes: relative to the parent, or for a merge relative to the base (what the
    // merge brings from the default branch is already there, and not the bot's to check).
    const fromTree = mergeWithBase ? (await git([...M, "rev-parse", `${request.baseCommit}^{tree}`])).stdout.trim() : parentTree;

    // 4. Policy on what changed relative to the parent.
    const files = parseRawDiff((await git([...M, "diff-tree", "-r", "-z", "--raw", "--no-renames", fromTree, tree])).stdout);
    const blobs = files.filter((f) => f.status !== "D" && f.newMode !== "160000");
    if (blobs.length) {
      const sizes = await git([...M, "cat-file", "--batch-check=%(objectname) %(objectsize)"], {
        input: blobs.map((f) => f.newSha).join("\n") + "\n",
      });
      const sizeOf = new Map(sizes.stdout.split("\n").map((l) => l.split(" ") as [string, string]));
      for (const f of blobs) f.size = Number(sizeOf.get(f.newSha) ?? 0);
    }
    const violations = checkChangedFiles(files, { maxFileBytes });
    const scannable = blobs.filter((f) => (f.size ?? 0) <= maxFileBytes).map((f) => f.path);
    if (scannable.length) {
      const diff = await git([...M, "diff", "-U0", "--no-color", "--no-ext-diff", "--no-textconv", fromTree, tree, "--", ...scannable.map((p) => `:(literal)${p}`)]);
      violations.push(...scanAddedLines(diff.stdout, [...secrets, ...(request.knownSecrets ?? [])]));
    }
    if (violations.length) throw new ForbiddenChangeError(violations);

    // 5. The commit, under the bot's identity, naming the job.
    const identityEnv = {
      GIT_AUTHOR_NAME: request.identity.name,
      GIT_AUTHOR_EMAIL: request.identity.email,
      GIT_COMMITTER_NAME: request.identity.name,
      GIT_COMMITTER_EMAIL: request.identity.email,
    };
    const message = `${request.message.trim()}\n\nIQuest-Job: ${request.jobId}\n`;
    const parents = ["-p", parent, ...(mergeWithBase ? ["-p", request.baseCommit] : [])];
    const commit = (await git([...M, "commit-tree", tree, ...parents, "-F", "-"], { env: identityEnv, input: message })).stdout.trim();

    // 6. A plain push: fast-forward only, no force, no hooks, no submodule recursion.
    const push = await git(
      [...M, "push", "--porcelain", "--no-verify", "--no-recurse-submodules", request.remoteUrl, `${commit}:${ref}`],
      { ...call, okExitCodes: [1] },
    );
    const status = parsePushStatus(push.stdout);
    if (push.code !== 0 || !status || status.flag === "!") {
      const summary = status?.summary ?? push.stderr.trim().split("\n").pop() ?? "unknown";
      if (/non-fast-forward|fetch first|stale info|already exists/.test(summary)) {
        const now = await remoteBranchSha(git, request.mirrorDir, request.remoteUrl, request.branch, { auth, secrets }).catch(() => null);
        throw new BranchMovedError(request.branch, request.expectedRemoteSha, now);
      }
      throw new GitCommandError(["push"], push.code, `push of ${request.branch} rejected: ${summary}\n${push.stderr}`);
    }
    await git([...M, "update-ref", ref, commit]).catch(() => {});
    deps.log?.info({ branch: request.branch, commit, files: files.length }, "pushed");
    return { status: "pushed", commit, parent, branch: request.branch, files };
  });
}

/**
 * Commits on the remote bot branch (at `head`) that no other branch has and that the bot did not
 * author and commit: a human's work, which is never overwritten. Fetches the remote's branches
 * into the mirror first.
 */
export async function foreignCommits(
  git: Git,
  mirrorDir: string,
  remoteUrl: string,
  branch: string,
  head: string,
  botEmail: string,
  call: { env: Record<string, string>; secrets: readonly string[]; signal?: AbortSignal },
): Promise<Array<{ sha: string; author: string }>> {
  const M = ["--git-dir", mirrorDir];
  await git([...M, "fetch", "--quiet", "--prune", "--no-tags", remoteUrl, "+refs/heads/*:refs/heads/*"], call);
  // (`--exclude` for `--branches` takes the name without "refs/heads/".)
  const log = await git([...M, "log", "--format=%H%x00%an <%ae>%x00%ae%x00%ce", head, "--not", `--exclude=${branch}`, "--branches"]);
  return log.stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split("\0"))
    .filter(([, , ae, ce]) => ae !== botEmail || ce !== botEmail)
    .map(([sha, author]) => ({ sha: sha!, author: author! }));
}

/** The remote branch's current sha, or null when it does not exist. */
export async function remoteBranchSha(
  git: Git,
  mirrorDir: string,
  remoteUrl: string,
  branch: string,
  options: { auth: Record<string, string>; secrets: readonly string[]; signal?: AbortSignal },
): Promise<string | null> {
  const r = await git(["--git-dir", mirrorDir, "ls-remote", "--heads", remoteUrl, `refs/heads/${branch}`], {
    env: options.auth,
    secrets: options.secrets,
    signal: options.signal,
  });
  const line = r.stdout.split("\n").find((l) => l.endsWith(`\trefs/heads/${branch}`));
  return line ? line.split("\t")[0]! : null;
}

/** Publish from a JobCheckout made by `manager`: fills in the paths and the lock. */
export function publishCheckout(
  manager: WorkspaceManager,
  checkout: JobCheckout,
  request: Omit<PublishRequest, "mirrorDir" | "worktree" | "hostDir" | "checkoutIndex" | "baseCommit" | "remoteUrl">,
  log?: Logger,
): Promise<PublishResult> {
  return publish(
    { git: manager.git, protocols: manager.protocols, withRepoLock: (fn) => manager.withRepoLock(checkout.repo, fn), log },
    {
      ...request,
      mirrorDir: checkout.mirrorDir,
      worktree: checkout.worktree,
      hostDir: checkout.hostDir,
      checkoutIndex: checkout.checkoutIndex,
      baseCommit: checkout.commit,
      remoteUrl: checkout.remoteUrl,
    },
  );
}

/**
 * The job that made the head commit of a remote bot branch (its `IQuest-Job:` trailer) and that
 * commit's message. A job re-run after a crash mid-publish finds its own earlier push here and
 * goes on from it instead of running the agent again.
 */
export async function readPublishedJob(
  manager: WorkspaceManager,
  checkout: JobCheckout,
  branch: string,
  head: string,
  token: TokenSource,
): Promise<{ jobId: string | undefined; message: string }> {
  const t = await resolveToken(token);
  return manager.withRepoLock(checkout.repo, async () => {
    const M = ["--git-dir", checkout.mirrorDir];
    await manager.git([...M, "fetch", "--quiet", "--no-tags", checkout.remoteUrl, `+refs/heads/${branch}:refs/heads/${branch}`], {
      env: gitAuthEnv(checkout.remoteUrl, t),
      secrets: tokenForms(t),
    });
    const log = await manager.git([...M, "log", "-1", "--format=%B", head]);
    const jobId = /^IQuest-Job: (\S+)\s*$/m.exec(log.stdout)?.[1];
    return { jobId, message: log.stdout.replace(/^IQuest-Job: .*$/m, "").trim() };
  });
}

/** Human commits on a remote bot branch, checked before a job spends its model budget. */
export async function readForeignCommits(
  manager: WorkspaceManager,
  checkout: JobCheckout,
  branch: string,
  head: string,
  botEmail: string,
  token: TokenSource,
): Promise<Array<{ sha: string; author: string }>> {
  const t = await resolveToken(token);
  return manager.withRepoLock(checkout.repo, () =>
    foreignCommits(manager.git, checkout.mirrorDir, checkout.remoteUrl, branch, head, botEmail, {
      env: gitAuthEnv(checkout.remoteUrl, t),
      secrets: tokenForms(t),
    }),
  );
}

/** The bot branch's remote sha at job start, to pass back as `expectedRemoteSha` at publish time. */
export async function readRemoteBranch(manager: WorkspaceManager, checkout: JobCheckout, branch: string, token: TokenSource): Promise<string | null> {
  const problem = branchProblem(branch);
  if (problem) throw new ForbiddenPushError(problem);
  const t = await resolveToken(token);
  return remoteBranchSha(manager.git, checkout.mirrorDir, checkout.remoteUrl, branch, { auth: gitAuthEnv(checkout.remoteUrl, t), secrets: tokenForms(t) });
}
