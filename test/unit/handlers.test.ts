import { describe, expect, test } from "@jest/globals";
import nock from "nock";
import {
  API,
  REPO_PATH,
  createTestIntake,
  mockConfig,
  mockInstallationToken,
  mockNoConfig,
  mockPermission,
} from "../support/probot-app.js";
import {
  INSTALLATION_ID,
  REPO_ID,
  installation,
  installationRepositories,
  issueComment,
  issuesLabeled,
  checkRunCompleted,
  pullRequest,
  pullRequestReview,
  push,
  reviewCommentReply,
} from "../support/payloads.js";
import { strictNock } from "../support/strict-nock.js";

let scope: nock.Scope;
// Every mock a test sets up must be used: an unused mock means the handler skipped a step.
strictNock(API, (s) => (scope = s));

const receive = async (t: Awaited<ReturnType<typeof createTestIntake>>, name: string, payload: object, id = "d-1") => t.receive(name, payload, id);
/** The replies (notify jobs) a handler asked for, as reasons. */
const replies = (t: Awaited<ReturnType<typeof createTestIntake>>) =>
  t.enqueuer.jobs.filter((j) => j.kind === "notify").map((j) => (j as { reason: string }).reason);

describe("issues.labeled", () => {
  test("the fix label by a writer → one fix job with ids only", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockNoConfig(scope);
    mockPermission(scope, "alice", "write");
    await receive(t, "issues", issuesLabeled({ issue: 7 }), "delivery-1");
    expect(t.enqueuer.jobs).toEqual([
      {
        kind: "fix",
        installationId: INSTALLATION_ID,
        repoId: REPO_ID,
        repo: "Codertocat/Hello-World",
        deliveryId: "delivery-1",
        trigger: "label",
        issueNumber: 7,
        actor: "alice",
      },
    ]);
    expect(t.outcomes).toEqual([["issues.labeled", "enqueued"]]);
  });

  test("a second trigger while a fix for the issue is queued or running → no new job; a note for the running job's card", async () => {
    const t = await createTestIntake();
    t.enqueuer.busy.set(`fix-${REPO_ID}-7`, "fix-earlier");
    mockInstallationToken(scope);
    mockNoConfig(scope);
    mockPermission(scope, "alice", "write");
    await receive(t, "issues", issuesLabeled({ issue: 7 }));
    expect(t.enqueuer.jobs).toEqual([]);
    expect(t.outcomes[0]?.[1]).toBe("duplicate");
    expect(t.enqueuer.notes).toEqual([{ jobId: "fix-earlier", text: expect.stringContaining("label `iquest:fix` by @alice") }]);
  });

  test("another label → nothing, after reading the config", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockNoConfig(scope);
    await receive(t, "issues", issuesLabeled({ label: "bug" }));
    expect(t.enqueuer.jobs).toEqual([]);
    expect(t.outcomes[0]?.[1]).toBe("ignored:other-label");
  });

  test("the label configured in .github/iquest.yml is the trigger", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockConfig(scope, "fix:\n  label: please-fix\n");
    mockPermission(scope, "alice", "admin");
    await receive(t, "issues", issuesLabeled({ label: "please-fix" }));
    expect(t.enqueuer.jobs).toHaveLength(1);
  });

  test("an invalid config does not block: the default label still works", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockConfig(scope, "fix:\n  label: [broken\n");
    mockPermission(scope, "alice", "write");
    await receive(t, "issues", issuesLabeled());
    expect(t.enqueuer.jobs).toHaveLength(1);
  });

  test.each([
    ["read-only user", "read"],
    ["outsider", "none"],
    ["triage", "triage"],
  ])("%s → no job", async (_name, permission) => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockNoConfig(scope);
    mockPermission(scope, "alice", permission);
    await receive(t, "issues", issuesLabeled());
    expect(t.enqueuer.jobs).toEqual([]);
    expect(t.outcomes[0]?.[1]).toBe("denied");
  });

  test("the permission API failing (500) → no job (fail closed)", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockNoConfig(scope);
    mockPermission(scope, "alice", 500);
    await receive(t, "issues", issuesLabeled());
    expect(t.enqueuer.jobs).toEqual([]);
  });

  test("a bot adding the label → ignored without any API call", async () => {
    const t = await createTestIntake();
    await receive(t, "issues", issuesLabeled({ sender: { login: "iquest-bot[bot]", type: "Bot" } }));
    expect(t.enqueuer.jobs).toEqual([]);
    expect(t.outcomes[0]?.[1]).toBe("ignored:bot");
  });

  test("a closed issue → ignored", async () => {
    const t = await createTestIntake();
    await receive(t, "issues", issuesLabeled({ state: "closed" }));
    expect(t.outcomes[0]?.[1]).toBe("ignored:closed");
  });
});

describe("issue_comment.created", () => {
  test("/iquest fix with notes → fix job naming the comment (the notes stay on GitHub)", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    await receive(t, "issue_comment", issueComment("/iquest fix keep the public API", { commentId: 77, issue: 3 }));
    expect(t.enqueuer.jobs).toHaveLength(1);
    expect(t.enqueuer.jobs[0]).toMatchObject({ kind: "fix", issueNumber: 3, commentId: 77, trigger: "comment" });
    expect(JSON.stringify(t.enqueuer.jobs[0])).not.toContain("public API");
  });

  test("/iquest help → a reply listing the commands", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    await receive(t, "issue_comment", issueComment("/iquest help"));
    expect(t.outcomes[0]?.[1]).toBe("replied");
    // The web writes nothing itself: the reply is a notify job, with ids only.
    expect(t.enqueuer.jobs).toEqual([
      { kind: "notify", reason: "help", issueNumber: 1, installationId: INSTALLATION_ID, repoId: REPO_ID, repo: "Codertocat/Hello-World", deliveryId: "d-1", trigger: "comment", commentId: 5001, actor: "alice" },
    ]);
  });

  test("an unknown command → a short helpful reply, not silence", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    await receive(t, "issue_comment", issueComment("/iquest deploy now"));
    expect(replies(t)).toEqual(["unknown-command"]);
    // The word is re-read from the comment by the worker: no user text in the payload.
    expect(JSON.stringify(t.enqueuer.jobs)).not.toContain("deploy");
  });

  test("a read-only user's command → no trace at all: no job, no reply, no reaction", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "read");
    await receive(t, "issue_comment", issueComment("/iquest fix"));
    expect(t.enqueuer.jobs).toEqual([]);
    expect(t.outcomes[0]?.[1]).toBe("denied");
  });

  test("the permission API failing → no job and no reaction blaming the user", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", 502);
    await receive(t, "issue_comment", issueComment("/iquest fix"));
    expect(t.enqueuer.jobs).toEqual([]);
  });

  test("T20: the bot's own comment containing /iquest → ignored, no API call", async () => {
    const t = await createTestIntake();
    await receive(t, "issue_comment", issueComment("/iquest fix", { sender: { login: "iquest-bot[bot]", type: "Bot" } }));
    expect(t.outcomes[0]?.[1]).toBe("ignored:bot");
  });

  test("a comment without a command → ignored, no API call", async () => {
    const t = await createTestIntake();
    await receive(t, "issue_comment", issueComment("LGTM, thanks"));
    expect(t.outcomes[0]?.[1]).toBe("ignored:no-command");
  });

  test("/iquest review on a PR → a review job for its current head", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "maintain");
    scope.get(`${REPO_PATH}/pulls/4`).reply(200, { number: 4, state: "open", head: { sha: "b".repeat(40) } });
    await receive(t, "issue_comment", issueComment("/iquest review", { pr: true, issue: 4 }));
    expect(t.enqueuer.jobs[0]).toMatchObject({ kind: "review", prNumber: 4, headSha: "b".repeat(40), onDemand: true });
  });

  test("/iquest review on an issue → a reply saying it needs a PR", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    await receive(t, "issue_comment", issueComment("/iquest review"));
    expect(replies(t)).toEqual(["review-on-issue"]);
  });

  test("/iquest fix on a PR → a reply pointing at feedback", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    scope.get(`${REPO_PATH}/pulls/1`).reply(200, { number: 1, state: "open", head: { ref: "feature/y", sha: "e".repeat(40), repo: null } });
    await receive(t, "issue_comment", issueComment("/iquest fix", { pr: true }));
    expect(replies(t)).toEqual(["fix-on-pr"]);
  });

  test("/iquest upgrade → an upgrade job whose card goes to this issue", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    await receive(t, "issue_comment", issueComment("/iquest upgrade", { issue: 9 }));
    expect(t.enqueuer.jobs[0]).toMatchObject({ kind: "upgrade", issueNumber: 9 });
  });

  test("/iquest stop with nothing running → says so", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    await receive(t, "issue_comment", issueComment("/iquest stop"));
    expect(t.enqueuer.cancels).toEqual([{ kind: "fix", target: `fix-${REPO_ID}-1`, reason: "stop" }]);
    expect(replies(t)).toEqual(["nothing-to-stop"]);
  });

  test("/iquest stop with a running job → 👍 and the job is signalled", async () => {
    const t = await createTestIntake();
    t.enqueuer.cancelResult = { removedWaiting: [], signalledActive: ["fix-d1"] };
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    await receive(t, "issue_comment", issueComment("/iquest stop"));
    expect(t.outcomes[0]?.[1]).toBe("cancelled");
    expect(replies(t)).toEqual(["stop-signalled"]);
  });
});

describe("pull_request", () => {
  test.each(["opened", "reopened", "ready_for_review"])("%s → a review job", async (action) => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockNoConfig(scope);
    await receive(t, "pull_request", pullRequest(action, { number: 12, sha: "c".repeat(40) }));
    expect(t.enqueuer.jobs).toEqual([
      expect.objectContaining({ kind: "review", prNumber: 12, headSha: "c".repeat(40), trigger: "pull_request" }),
    ]);
  });

  test("synchronize supersedes a running review, then enqueues", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockNoConfig(scope);
    await receive(t, "pull_request", pullRequest("synchronize", { number: 12 }));
    expect(t.enqueuer.cancels).toEqual([{ kind: "review", target: `review-${REPO_ID}-12`, reason: "superseded" }]);
    expect(t.enqueuer.jobs).toHaveLength(1);
  });

  test("a draft → no review", async () => {
    const t = await createTestIntake();
    await receive(t, "pull_request", pullRequest("opened", { draft: true }));
    expect(t.enqueuer.jobs).toEqual([]);
  });

  test("a bot's PR (including ours) → no review", async () => {
    const t = await createTestIntake();
    await receive(t, "pull_request", pullRequest("opened", { user: { login: "iquest-bot[bot]", type: "Bot" } }));
    expect(t.enqueuer.jobs).toEqual([]);
  });

  test("review disabled in the config → no review", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockConfig(scope, "review:\n  enabled: false\n");
    await receive(t, "pull_request", pullRequest("opened"));
    expect(t.enqueuer.jobs).toEqual([]);
    expect(t.outcomes[0]?.[1]).toBe("ignored:review-disabled");
  });
});

describe("installations", () => {
  test("created → one upgrade schedule per repository; deleted → removed", async () => {
    const t = await createTestIntake();
    const repos = [
      { id: 11, full_name: "o/a" },
      { id: 12, full_name: "o/b" },
    ];
    await receive(t, "installation", installation("created", repos));
    expect([...t.enqueuer.schedules.keys()].sort()).toEqual([11, 12]);
    await receive(t, "installation", installation("deleted", []));
    expect(t.enqueuer.schedules.size).toBe(0);
  });

  test("repositories added and removed", async () => {
    const t = await createTestIntake();
    await receive(t, "installation_repositories", installationRepositories([{ id: 21, full_name: "o/c" }], []));
    expect(t.enqueuer.schedules.get(21)?.repo).toEqual({ installationId: INSTALLATION_ID, repoId: 21, repo: "o/c" });
    await receive(t, "installation_repositories", installationRepositories([], [{ id: 21, full_name: "o/c" }]));
    expect(t.enqueuer.schedules.size).toBe(0);
  });
});

describe("push", () => {
  test("a config change on the default branch → the cached config is forgotten and a config-check job for the pushed commit, no API call", async () => {
    const forgotten: number[] = [];
    const t = await createTestIntake({ invalidateConfig: (id) => void forgotten.push(id) });
    const payload = push({ files: [".github/iquest.yml"] });
    await receive(t, "push", payload);
    expect(forgotten).toEqual([REPO_ID]);
    expect(t.enqueuer.jobs).toEqual([
      expect.objectContaining({ kind: "rebase", branch: "main", trigger: "push" }),
      expect.objectContaining({ kind: "notify", reason: "config-check", headSha: (payload as { after: string }).after, trigger: "push" }),
    ]);
    expect(t.outcomes[0]?.[1]).toBe("scheduled");
  });

  test("any push to the default branch → one rebase job for the bot's PRs on it (the worker looks), no API call", async () => {
    const t = await createTestIntake();
    await receive(t, "push", push({ files: ["src/index.ts"] }), "d-7");
    expect(t.enqueuer.jobs).toEqual([
      { kind: "rebase", installationId: INSTALLATION_ID, repoId: REPO_ID, repo: "Codertocat/Hello-World", deliveryId: "d-7", trigger: "push", branch: "main" },
    ]);
    expect(t.outcomes[0]?.[1]).toBe("scheduled");
  });

  test("a push to another branch → nothing", async () => {
    const t = await createTestIntake();
    await receive(t, "push", push({ ref: "refs/heads/feature", files: [".github/iquest.yml"] }));
    expect(t.outcomes[0]?.[1]).toBe("ignored:not-default-branch");
    expect(t.enqueuer.jobs).toEqual([]);
  });
});

describe("another round on the bot's own fix PR", () => {
  const botPull = (number: number, ref = "iquest/fix-7", fullName = "Codertocat/Hello-World") => ({
    number,
    state: "open",
    head: { ref, sha: "d".repeat(40), repo: { full_name: fullName } },
  });

  test("`/iquest <feedback>` on the bot's PR → a feedback round for the issue, naming the comment", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    scope.get(`${REPO_PATH}/pulls/12`).reply(200, botPull(12));
    await receive(t, "issue_comment", issueComment("/iquest please keep the old signature", { pr: true, issue: 12, commentId: 66 }));
    expect(t.enqueuer.jobs).toEqual([
      expect.objectContaining({ kind: "fix", mode: "feedback", issueNumber: 7, prNumber: 12, commentId: 66, trigger: "comment" }),
    ]);
  });

  test("`/iquest <word>` on someone else's PR → the unknown-command reply", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    scope.get(`${REPO_PATH}/pulls/12`).reply(200, botPull(12, "feature/x"));
    await receive(t, "issue_comment", issueComment("/iquest please do", { pr: true, issue: 12 }));
    expect(replies(t)).toEqual(["unknown-command"]);
    expect(t.enqueuer.jobs[0]).toMatchObject({ issueNumber: 12 });
  });

  test("a fix branch from a fork is not the bot's PR", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    scope.get(`${REPO_PATH}/pulls/12`).reply(200, botPull(12, "iquest/fix-7", "mallory/Hello-World"));
    await receive(t, "issue_comment", issueComment("/iquest go", { pr: true, issue: 12 }));
    expect(replies(t)).toEqual(["unknown-command"]);
  });

  test("a writer's review requesting changes on the bot's PR → a feedback round naming the review", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "maintain");
    await receive(t, "pull_request_review", pullRequestReview());
    expect(t.enqueuer.jobs).toEqual([expect.objectContaining({ kind: "fix", mode: "feedback", issueNumber: 7, prNumber: 12, reviewId: 8001, trigger: "review" })]);
  });

  test.each([
    ["an approving review", { state: "approved" }],
    ["a review on a human's PR", { headRef: "feature/x" }],
    ["a bot's review", { user: { login: "other[bot]", type: "Bot" } }],
  ])("%s → nothing, without API calls", async (_name, opts) => {
    const t = await createTestIntake();
    await receive(t, "pull_request_review", pullRequestReview(opts));
    expect(t.enqueuer.jobs).toEqual([]);
  });

  test("a read-only user's review requesting changes → denied", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "read");
    await receive(t, "pull_request_review", pullRequestReview());
    expect(t.outcomes[0]?.[1]).toBe("denied");
  });

  test("a failing check on the bot's PR → at most fix.maxCheckFixes (2) rounds, then one comment saying it stopped", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    scope.get(`${REPO_PATH}/contents/.github%2Fiquest.yml`).times(4).reply(404, {});
    for (let i = 0; i < 4; i++) await receive(t, "check_run", checkRunCompleted(), `check-${i}`);
    expect(t.enqueuer.jobs).toHaveLength(3);
    expect(t.enqueuer.jobs[0]).toMatchObject({ kind: "fix", mode: "check", issueNumber: 7, prNumber: 12, checkRunId: 9001 });
    // The third failure: one notify job saying the bot stopped (its text names the check, re-read by the worker).
    expect(t.enqueuer.jobs[2]).toMatchObject({ kind: "notify", reason: "check-fixes-spent", issueNumber: 12, checkRunId: 9001 });
    expect(t.outcomes.map((o) => o[1])).toEqual(["enqueued", "enqueued", "replied", "ignored:attempts-spent"]);
  });

  test.each([
    ["a passing check", { conclusion: "success" }],
    ["a check on a human branch", { headBranch: "feature/x" }],
  ])("%s → nothing", async (_name, opts) => {
    const t = await createTestIntake();
    await receive(t, "check_run", checkRunCompleted(opts));
    expect(t.enqueuer.jobs).toEqual([]);
  });

  test("the app's own check run failing → nothing (no loops)", async () => {
    const t = await createTestIntake({ appId: 4242 });
    await receive(t, "check_run", checkRunCompleted({ appId: 4242 }));
    expect(t.outcomes[0]?.[1]).toBe("ignored:own-check");
  });
});

describe("pull_request_review_comment.created (thread replies)", () => {
  test("a writer's reply that mentions someone → an answer job naming the comment (the worker checks the thread is the bot's)", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    await receive(t, "pull_request_review_comment", reviewCommentReply(), "d-9");
    expect(t.enqueuer.jobs).toEqual([
      { kind: "answer", mode: "answer", installationId: INSTALLATION_ID, repoId: REPO_ID, repo: "Codertocat/Hello-World", deliveryId: "d-9", trigger: "review_comment", prNumber: 12, commentId: 6001, actor: "alice" },
    ]);
  });

  test("`/iquest apply` → an apply job", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "admin");
    await receive(t, "pull_request_review_comment", reviewCommentReply({ body: "/iquest apply" }));
    expect(t.enqueuer.jobs).toEqual([expect.objectContaining({ kind: "answer", mode: "apply", commentId: 6001 })]);
  });

  test.each([
    ["a bot's reply (ours included)", { user: { login: "iquest-bot[bot]", type: "Bot" } }, "ignored:bot"],
    ["a new thread, not a reply", { inReplyTo: null }, "ignored:not-a-reply"],
    ["a reply addressed to nobody", { body: "Good point, fixing." }, "ignored:not-for-the-bot"],
    ["a reply on a closed PR", { prState: "closed" }, "ignored:closed"],
  ])("%s → nothing, without API calls", async (_name, opts, outcome) => {
    const t = await createTestIntake();
    await receive(t, "pull_request_review_comment", reviewCommentReply(opts as Parameters<typeof reviewCommentReply>[0]));
    expect(t.enqueuer.jobs).toEqual([]);
    expect(t.outcomes[0]?.[1]).toBe(outcome);
  });

  test("a reader's reply → denied; the permission API failing → no job (fail closed)", async () => {
    const t = await createTestIntake();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "read");
    await receive(t, "pull_request_review_comment", reviewCommentReply());
    expect(t.outcomes[0]?.[1]).toBe("denied");
    const t2 = await createTestIntake();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", 500);
    await receive(t2, "pull_request_review_comment", reviewCommentReply(), "d-2");
    expect(t2.enqueuer.jobs).toEqual([]);
  });
});
