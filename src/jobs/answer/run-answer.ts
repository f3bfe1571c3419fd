import { createVllmClient } from "../../agent/model/vllm-client.js";
import { STEP_PERMISSIONS, type GitHubApp } from "../../github/app-client.js";
import { createOnce, NO_BLIND_RETRY } from "../../github/create-once.js";
import type { GitHub, RepoName } from "../../github/types.js";
import type { AnswerPayload } from "../../queue/payloads.js";
import { isBot } from "../../rules/triggers.js";
import { parseCommand } from "../../rules/commands.js";
import type { Logger } from "../../shared/log.js";
import type { Redact } from "../../shared/redact.js";
import { writeConfined } from "../../workspace/confined-fs.js";
import { publishCheckout } from "../../workspace/publish.js";
import { chooseProfile, clientDepsFor, clientOptionsFor, type ModelSetup } from "../model-for-job.js";
import type { JobServices } from "../services.js";
import { ANSWER_MAX_TOKENS, answerBody, answerMarker, answerMessages, applySuggestion, humanPrApplyReply, parseSuggestion, type CodeContext } from "./thread.js";

/**
 * An answer job: a reply in a thread on one of the bot's review comments. Everything is re-read
 * (the payload holds ids only) and checked again: the reply is a human's, its thread's first
 * comment is the bot's, the PR is open, and no answer carries this reply's marker yet (one
 * answer per comment, also after a retry or a lost response). Then either a short model call
 * answers with the code around the line, or `/iquest apply` commits the thread's suggestion, on
 * the bot's own branch only (a fast-forward push; a human's PR gets the suggestion back).
 */
export interface AnswerDeps {
  app: GitHubApp;
  models: ModelSetup;
  redact: Redact;
  log: Logger;
}

type Services = Pick<JobServices, "botIdentity" | "workspace" | "knownSecrets">;

export async function runAnswer(deps: AnswerDeps, services: Services, payload: AnswerPayload, jobId: string, signal: AbortSignal): Promise<string> {
  const repo = splitName(payload.repo);
  const github = await deps.app.forRepo(payload.installationId, payload.repoId, STEP_PERMISSIONS.answer, { signal });
  const { data: reply } = await github.rest.pulls.getReviewComment({ ...repo, comment_id: payload.commentId });
  if (isBot(reply.user)) return "skipped: a bot's comment";
  const rootId = reply.in_reply_to_id;
  if (!rootId) return "skipped: not a reply in a thread";
  const identity = await services.botIdentity(github);
  if (payload.mode === "answer") {
    // The web enqueued any reply with a mention: is it this bot's (or a /iquest command)?
    const slug = identity.login.replace(/\[bot\]$/, "").replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const mentioned = new RegExp(`(^|[^\\w\`])@${slug}(\\[bot\\])?(?![\\w-])`, "i").test(reply.body);
    if (!mentioned && !parseCommand(reply.body)) return "skipped: not addressed to iquest-bot";
  }
  const { data: root } = await github.rest.pulls.getReviewComment({ ...repo, comment_id: rootId });
  if (root.user?.login !== identity.login) return "skipped: the thread is not on one of iquest-bot's comments";
  const { data: pr } = await github.rest.pulls.get({ ...repo, pull_number: payload.prNumber });
  if (pr.state !== "open") return "skipped: the PR is closed";

  const thread = (await github.paginate(github.rest.pulls.listReviewComments, { ...repo, pull_number: pr.number, per_page: 100 }))
    .filter((c) => c.id === root.id || c.in_reply_to_id === root.id)
    .sort((a, b) => a.id - b.id);
  const marker = answerMarker(reply.id);
  const findAnswer = async () => {
    const now = await github.paginate(github.rest.pulls.listReviewComments, { ...repo, pull_number: pr.number, per_page: 100 });
    const found = now.find((c) => c.in_reply_to_id === root.id && c.user?.login === identity.login && c.body.includes(marker));
    return found ? { id: found.id } : undefined;
  };
  if (thread.some((c) => c.user?.login === identity.login && c.body.includes(marker))) return "already answered";
  const post = (body: string) =>
    createOnce(
      async () => {
        const { data } = await github.rest.pulls.createReplyForReviewComment({ ...repo, pull_number: pr.number, comment_id: root.id, body: deps.redact(body), request: NO_BLIND_RETRY });
        return { id: data.id };
      },
      findAnswer,
    );

  const start = root.start_line ?? root.line ?? root.original_line ?? undefined;
  const end = root.line ?? root.original_line ?? undefined;
  if (payload.mode === "apply") {
    const suggestion = parseSuggestion(root.body);
    if (suggestion === undefined) {
      await post(`There is no suggestion in this thread to apply: \`/iquest apply\` commits a comment's \`suggestion\` block.\n\n${marker}`);
      return "replied: no suggestion";
    }
    const own = pr.head.repo?.full_name === payload.repo && pr.head.ref.startsWith("iquest/") && pr.user?.login === identity.login;
    if (!own) {
      await post(humanPrApplyReply(suggestion, marker));
      return "replied: the suggestion, for the PR's author to commit";
    }
    if (start === undefined || end === undefined || root.side === "LEFT") {
      await post(`I cannot apply this suggestion: it is not on lines of the PR's new code.\n\n${marker}`);
      return "replied: not on the new code";
    }
    const result = await applyOnBotBranch(deps, services, { payload, repo, github, pr, path: root.path, start, end, commentCommit: root.commit_id, suggestion, jobId, signal, identity });
    await post(`${result}\n\n${marker}`);
    return `applied: ${result}`;
  }

  // A question: the code around the commented lines at the PR's head, and one short model call.
  const code = start !== undefined && end !== undefined ? await readAround(github, repo, root.path, pr.head.sha, start, end) : undefined;
  const profile = chooseProfile(deps.models.profiles, "review").profile;
  const model = createVllmClient(
    clientOptionsFor(deps.models, profile, { sessionId: jobId, cacheSalt: `installation-${payload.installationId}` }),
    clientDepsFor(deps.models, profile),
  );
  const completion = await model.complete(
    answerMessages({
      thread: thread.filter((c) => c.id !== reply.id).map((c) => ({ author: c.user?.login ?? "unknown", body: c.body })),
      question: { author: reply.user?.login ?? "unknown", body: reply.body },
      ...(code ? { code } : {}),
      botLogin: identity.login,
    }),
    [],
    { maxTokens: ANSWER_MAX_TOKENS, signal },
  );
  await post(answerBody(completion.content, marker));
  deps.log.info({ pr: pr.number, comment: reply.id, tokens: completion.usage.totalTokens }, "thread answered");
  return "answered";
}

async function readAround(github: GitHub, repo: RepoName, path: string, ref: string, start: number, end: number): Promise<CodeContext | undefined> {
  const text = await readText(github, repo, path, ref);
  if (text === undefined) return undefined;
  const lines = text.split("\n");
  const first = Math.max(1, start - 15);
  const last = Math.min(lines.length, end + 15);
  return { path, firstLine: first, lines: lines.slice(first - 1, last), start, end };
}

async function readText(github: GitHub, repo: RepoName, path: string, ref: string): Promise<string | undefined> {
  try {
    const { data } = await github.rest.repos.getContent({ ...repo, path, ref });
    if (Array.isArray(data) || data.type !== "file" || !("content" in data)) return undefined;
    return Buffer.from(data.content, "base64").toString("utf8");
  } catch {
    return undefined;
  }
}

/**
 * `/iquest apply` on the bot's own PR: the suggestion replaces the commented lines, if they are
 * still what the comment was made on, in one commit pushed as a fast-forward from the head the
 * job read (a human's newer push makes it refuse rather than overwrite). Publish's policy holds
 * (no workflow files, no secrets). Returns the sentence for the thread.
 */
async function applyOnBotBranch(
  deps: AnswerDeps,
  services: Services,
  o: {
    payload: AnswerPayload;
    repo: RepoName;
    github: GitHub;
    pr: { number: number; head: { ref: string; sha: string } };
    path: string;
    start: number;
    end: number;
    commentCommit: string;
    suggestion: string;
    jobId: string;
    signal: AbortSignal;
    identity: { name: string; email: string };
  },
): Promise<string> {
  const now = await readText(o.github, o.repo, o.path, o.pr.head.sha);
  const then = o.commentCommit === o.pr.head.sha ? now : await readText(o.github, o.repo, o.path, o.commentCommit);
  if (now === undefined || then === undefined) return `I could not read \`${o.path}\` at the PR's head, so nothing was applied.`;
  const range = (text: string) => text.split("\n").slice(o.start - 1, o.end).join("\n");
  if (range(now) !== range(then)) return `The commented lines of \`${o.path}\` changed since this suggestion was made, so I did not apply it. Ask for a new review (\`/iquest review\`).`;
  const next = applySuggestion(now, o.start, o.end, o.suggestion);
  if (!next.ok) return `I could not apply the suggestion: ${next.reason}.`;
  const [owner, name] = o.payload.repo.split("/") as [string, string];
  const checkout = await services.workspace.checkout({
    repo: { owner, name, id: o.payload.repoId },
    commit: o.pr.head.sha,
    jobId: o.jobId,
    token: () => deps.app.tokenForRepo(o.payload.installationId, o.payload.repoId, STEP_PERMISSIONS.checkout),
    fetchRefs: [`refs/heads/${o.pr.head.ref}`],
    localBranch: o.pr.head.ref,
    signal: o.signal,
  });
  try {
    await writeConfined(checkout.worktree, o.path, next.content, checkout.uid === null ? null : { uid: checkout.uid, gid: checkout.gid ?? checkout.uid });
    const published = await publishCheckout(
      services.workspace,
      checkout,
      {
        branch: o.pr.head.ref,
        expectedRemoteSha: o.pr.head.sha,
        identity: { name: o.identity.name, email: o.identity.email },
        message: `Apply suggestion from the review thread on #${o.pr.number}\n\nAsked for with /iquest apply on ${o.path}:${o.start}${o.end !== o.start ? `-${o.end}` : ""}.`,
        jobId: o.jobId,
        token: () => deps.app.tokenForRepo(o.payload.installationId, o.payload.repoId, STEP_PERMISSIONS.publish),
        knownSecrets: services.knownSecrets,
        allowHumanCommits: true,
        signal: o.signal,
      },
      deps.log,
    );
    if (published.status === "no-changes") return "The suggestion is already in the code: nothing to commit.";
    return `Applied the suggestion in \`${published.commit.slice(0, 12)}\` on \`${o.pr.head.ref}\`.`;
  } finally {
    await checkout.remove();
  }
}

function splitName(fullName: string): RepoName {
  const [owner, repo] = fullName.split("/") as [string, string];
  return { owner, repo };
}
