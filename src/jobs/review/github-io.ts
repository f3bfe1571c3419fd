import type { RepoInstructions } from "../../agent/task-prompt.js";
import { clipBody } from "../../github/comments.js";
import { statusOf, type GitHub, type RepoName } from "../../github/types.js";
import { cutMiddle } from "../../agent/tools/truncate.js";
import type { DiffFileInput } from "./diff.js";
import { createOnce, NO_BLIND_RETRY } from "../../github/create-once.js";

/**
 * The review job's GitHub calls, thin: the PR's files, the diff between two heads, the bot's
 * earlier reviews, the base repository's instructions, the review itself and its check run.
 */

/** GitHub lists at most 3,000 files of a PR. */
export const MAX_PR_FILES = 3000;

export async function fetchPullFiles(github: GitHub, repo: RepoName, pullNumber: number): Promise<{ files: DiffFileInput[]; capped: boolean }> {
  const data = await github.paginate(github.rest.pulls.listFiles, { ...repo, pull_number: pullNumber, per_page: 100 });
  const files = data.map(toInput);
  return { files, capped: files.length >= MAX_PR_FILES };
}

/** GitHub lists at most 300 files of a comparison. */
export const MAX_COMPARE_FILES = 300;

export interface Comparison {
  status: "ahead" | "behind" | "identical" | "diverged";
  files: DiffFileInput[];
}

/** `base...head`, or undefined when GitHub cannot compare them (a head gone after a force push). */
export async function compareHeads(github: GitHub, repo: RepoName, base: string, head: string): Promise<Comparison | undefined> {
  try {
    const { data } = await github.rest.repos.compareCommitsWithBasehead({ ...repo, basehead: `${base}...${head}`, per_page: 100 });
    return { status: data.status as Comparison["status"], files: (data.files ?? []).map(toInput) };
  } catch (err) {
    const status = statusOf(err);
    if (status === 404 || status === 422) return undefined;
    throw err;
  }
}

function toInput(f: { filename: string; previous_filename?: string; status: string; additions: number; deletions: number; changes: number; patch?: string }): DiffFileInput {
  return {
    filename: f.filename,
    ...(f.previous_filename ? { previous_filename: f.previous_filename } : {}),
    status: f.status,
    additions: f.additions,
    deletions: f.deletions,
    changes: f.changes,
    ...(f.patch !== undefined ? { patch: f.patch } : {}),
  };
}

export interface BotReview {
  id: number;
  body: string;
  commitId: string | null;
  url: string;
}

/** The reviews this app's bot wrote on the PR, oldest first. Only these are trusted for markers. */
export async function listBotReviews(github: GitHub, repo: RepoName, pullNumber: number, botLogin: string): Promise<BotReview[]> {
  const data = await github.paginate(github.rest.pulls.listReviews, { ...repo, pull_number: pullNumber, per_page: 100 });
  return data
    .filter((r) => r.user?.login === botLogin && r.user?.type === "Bot")
    .map((r) => ({ id: r.id, body: r.body ?? "", commitId: r.commit_id ?? null, url: r.html_url }));
}

const INSTRUCTION_FILES = ["AGENTS.md", ".github/iquest.md"] as const;

/**
 * The repository's instructions for agents, from the default branch (the API's default when no
 * ref is given): never from the PR, which could rewrite them.
 */
export async function readBaseInstructions(github: GitHub, repo: RepoName): Promise<RepoInstructions | undefined> {
  for (const file of INSTRUCTION_FILES) {
    try {
      const { data } = await github.rest.repos.getContent({ ...repo, path: file });
      if (Array.isArray(data) || data.type !== "file" || typeof (data as { content?: unknown }).content !== "string") continue;
      const text = Buffer.from((data as { content: string }).content, "base64").toString("utf8");
      if (text.trim() === "") continue;
      return { file, text: cutMiddle(text, { maxLines: Number.MAX_SAFE_INTEGER, maxChars: 20_000 }) };
    } catch (err) {
      if (statusOf(err) === 404) continue;
      throw err;
    }
  }
  return undefined;
}

export interface ReviewComment {
  path: string;
  line: number;
  start_line?: number;
  side: "RIGHT";
  start_side?: "RIGHT";
  body: string;
}

/**
 * Post the review, at most once: after a failure that may have landed, the bot's reviews are
 * searched for `marker` (the summary's hidden marker, unique to this head and its findings).
 */
export async function createReview(
  github: GitHub,
  repo: RepoName,
  pullNumber: number,
  review: { commitId: string; body: string; comments: ReviewComment[] },
  lookUp: { botLogin: string; marker: string },
): Promise<{ id: number; url: string }> {
  return createOnce(
    async () => {
      const { data } = await github.rest.pulls.createReview({
        ...repo,
        pull_number: pullNumber,
        commit_id: review.commitId,
        event: "COMMENT",
        body: review.body,
        comments: review.comments,
        request: NO_BLIND_RETRY,
      });
      return { id: data.id, url: data.html_url };
    },
    async () => {
      const found = (await listBotReviews(github, repo, pullNumber, lookUp.botLogin)).find((r) => r.body.includes(lookUp.marker));
      return found ? { id: found.id, url: found.url } : undefined;
    },
  );
}

export const CHECK_NAME = "iquest/review";

/** This app's `iquest/review` run on the commit, if any (a re-run reuses it). */
export async function findCheckRun(github: GitHub, repo: RepoName, sha: string, appSlug: string): Promise<{ id: number; status: string } | undefined> {
  const { data } = await github.rest.checks.listForRef({ ...repo, ref: sha, check_name: CHECK_NAME, filter: "latest", per_page: 100 });
  const run = data.check_runs.find((r) => r.app?.slug === appSlug);
  return run ? { id: run.id, status: run.status } : undefined;
}

/**
 * Start the `iquest/review` run, at most once: after a failure that may have landed, this app's
 * run on the commit is looked up (one still in progress is the one the lost call made).
 */
export async function startCheckRun(github: GitHub, repo: RepoName, sha: string, summary: string, appSlug: string, detailsUrl?: string): Promise<number> {
  return createOnce(
    async () => {
      const { data } = await github.rest.checks.create({
        ...repo,
        name: CHECK_NAME,
        head_sha: sha,
        status: "in_progress",
        ...(detailsUrl ? { details_url: detailsUrl } : {}),
        output: { title: "Reviewing", summary },
        request: NO_BLIND_RETRY,
      });
      return data.id;
    },
    async () => {
      const found = await findCheckRun(github, repo, sha, appSlug);
      return found && found.status !== "completed" ? found.id : undefined;
    },
  );
}

export async function completeCheckRun(
  github: GitHub,
  repo: RepoName,
  checkRunId: number,
  result: { conclusion: "success" | "neutral" | "cancelled"; title: string; summary: string },
): Promise<void> {
  await github.rest.checks.update({
    ...repo,
    check_run_id: checkRunId,
    status: "completed",
    conclusion: result.conclusion,
    output: { title: result.title.slice(0, 250), summary: clipBody(result.summary, 65_535) },
  });
}
