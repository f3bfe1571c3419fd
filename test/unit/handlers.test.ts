import { describe, expect, test } from "@jest/globals";
import nock from "nock";
import { helpText } from "../../src/rules/commands.js";
import {
  API,
  REPO_PATH,
  createTestProbot,
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
} from "../support/payloads.js";
import { strictNock } from "../support/strict-nock.js";

let scope: nock.Scope;
// Every mock a test sets up must be used: an unused mock means the handler skipped a step.
strictNock(API, (s) => (scope = s));

const receive = async (t: Awaited<ReturnType<typeof createTestProbot>>, name: string, payload: object, id = "d-1") =>
  t.probot.receive({ id, name, payload } as never);

describe("issues.labeled", () => {
  test("the fix label by a writer → one fix job with ids only", async () => {
    const t = await createTestProbot();
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
    const t = await createTestProbot();
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
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockNoConfig(scope);
    await receive(t, "issues", issuesLabeled({ label: "bug" }));
    expect(t.enqueuer.jobs).toEqual([]);
    expect(t.outcomes[0]?.[1]).toBe("ignored:other-label");
  });

  test("the label configured in .github/iquest.yml is the trigger", async () => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockConfig(scope, "fix:\n  label: please-fix\n");
    mockPermission(scope, "alice", "admin");
    await receive(t, "issues", issuesLabeled({ label: "please-fix" }));
    expect(t.enqueuer.jobs).toHaveLength(1);
  });

  test("an invalid config does not block: the default label still works", async () => {
    const t = await createTestProbot();
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
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockNoConfig(scope);
    mockPermission(scope, "alice", permission);
    await receive(t, "issues", issuesLabeled());
    expect(t.enqueuer.jobs).toEqual([]);
    expect(t.outcomes[0]?.[1]).toBe("denied");
  });

  test("the permission API failing (500) → no job (fail closed)", async () => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockNoConfig(scope);
    mockPermission(scope, "alice", 500);
    await receive(t, "issues", issuesLabeled());
    expect(t.enqueuer.jobs).toEqual([]);
  });

  test("a bot adding the label → ignored without any API call", async () => {
    const t = await createTestProbot();
    await receive(t, "issues", issuesLabeled({ sender: { login: "iquest-bot[bot]", type: "Bot" } }));
    expect(t.enqueuer.jobs).toEqual([]);
    expect(t.outcomes[0]?.[1]).toBe("ignored:bot");
  });

  test("a closed issue → ignored", async () => {
    const t = await createTestProbot();
    await receive(t, "issues", issuesLabeled({ state: "closed" }));
    expect(t.outcomes[0]?.[1]).toBe("ignored:closed");
  });
});

describe("issue_comment.created", () => {
  test("/iquest fix with notes → fix job naming the comment (the notes stay on GitHub)", async () => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    mockNoConfig(scope);
    await receive(t, "issue_comment", issueComment("/iquest fix keep the public API", { commentId: 77, issue: 3 }));
    expect(t.enqueuer.jobs).toHaveLength(1);
    expect(t.enqueuer.jobs[0]).toMatchObject({ kind: "fix", issueNumber: 3, commentId: 77, trigger: "comment" });
    expect(JSON.stringify(t.enqueuer.jobs[0])).not.toContain("public API");
  });

  test("/iquest help → a reply listing the commands", async () => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    mockNoConfig(scope);
    scope.post(`${REPO_PATH}/issues/1/comments`, { body: helpText("iquest:fix") }).reply(201, { id: 1 });
    await receive(t, "issue_comment", issueComment("/iquest help"));
    expect(t.outcomes[0]?.[1]).toBe("replied");
  });

  test("an unknown command → a short helpful reply, not silence", async () => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    mockNoConfig(scope);
    scope
      .post(`${REPO_PATH}/issues/1/comments`, (b: { body: string }) => b.body.includes("`/iquest deploy`") && b.body.includes("/iquest help"))
      .reply(201, { id: 1 });
    await receive(t, "issue_comment", issueComment("/iquest deploy now"));
    expect(t.enqueuer.jobs).toEqual([]);
  });

  test("a read-only user's command → 😕 reaction, no job, no comment", async () => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "read");
    scope.post(`${REPO_PATH}/issues/comments/5001/reactions`, { content: "confused" }).reply(201, {});
    await receive(t, "issue_comment", issueComment("/iquest fix"));
    expect(t.enqueuer.jobs).toEqual([]);
  });

  test("the permission API failing → no job and no reaction blaming the user", async () => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", 502);
    await receive(t, "issue_comment", issueComment("/iquest fix"));
    expect(t.enqueuer.jobs).toEqual([]);
  });

  test("T20: the bot's own comment containing /iquest → ignored, no API call", async () => {
    const t = await createTestProbot();
    await receive(t, "issue_comment", issueComment("/iquest fix", { sender: { login: "iquest-bot[bot]", type: "Bot" } }));
    expect(t.outcomes[0]?.[1]).toBe("ignored:bot");
  });

  test("a comment without a command → ignored, no API call", async () => {
    const t = await createTestProbot();
    await receive(t, "issue_comment", issueComment("LGTM, thanks"));
    expect(t.outcomes[0]?.[1]).toBe("ignored:no-command");
  });

  test("/iquest review on a PR → a review job for its current head", async () => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "maintain");
    mockNoConfig(scope);
    scope.get(`${REPO_PATH}/pulls/4`).reply(200, { number: 4, state: "open", head: { sha: "b".repeat(40) } });
    await receive(t, "issue_comment", issueComment("/iquest review", { pr: true, issue: 4 }));
    expect(t.enqueuer.jobs[0]).toMatchObject({ kind: "review", prNumber: 4, headSha: "b".repeat(40), onDemand: true });
  });

  test("/iquest review on an issue → a reply saying it needs a PR", async () => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    mockNoConfig(scope);
    scope.post(`${REPO_PATH}/issues/1/comments`, (b: { body: string }) => /pull requests/.test(b.body)).reply(201, {});
    await receive(t, "issue_comment", issueComment("/iquest review"));
    expect(t.enqueuer.jobs).toEqual([]);
  });

  test("/iquest fix on a PR → a reply pointing at feedback", async () => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    mockNoConfig(scope);
    scope.get(`${REPO_PATH}/pulls/1`).reply(200, { number: 1, state: "open", head: { ref: "feature/y", sha: "e".repeat(40), repo: null } });
    scope.post(`${REPO_PATH}/issues/1/comments`, (b: { body: string }) => /works on issues/.test(b.body)).reply(201, {});
    await receive(t, "issue_comment", issueComment("/iquest fix", { pr: true }));
    expect(t.enqueuer.jobs).toEqual([]);
  });

  test("/iquest upgrade → an upgrade job whose card goes to this issue", async () => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    mockNoConfig(scope);
    await receive(t, "issue_comment", issueComment("/iquest upgrade", { issue: 9 }));
    expect(t.enqueuer.jobs[0]).toMatchObject({ kind: "upgrade", issueNumber: 9 });
  });

  test("/iquest stop with nothing running → says so", async () => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    mockNoConfig(scope);
    scope.post(`${REPO_PATH}/issues/1/comments`, (b: { body: string }) => /Nothing is running/.test(b.body)).reply(201, {});
    await receive(t, "issue_comment", issueComment("/iquest stop"));
    expect(t.enqueuer.cancels).toEqual([{ kind: "fix", target: `fix-${REPO_ID}-1`, reason: "stop" }]);
  });

  test("/iquest stop with a running job → 👍 and the job is signalled", async () => {
    const t = await createTestProbot();
    t.enqueuer.cancelResult = { removedWaiting: [], signalledActive: ["fix-d1"] };
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    mockNoConfig(scope);
    scope.post(`${REPO_PATH}/issues/comments/5001/reactions`, { content: "+1" }).reply(201, {});
    await receive(t, "issue_comment", issueComment("/iquest stop"));
    expect(t.outcomes[0]?.[1]).toBe("cancelled");
  });
});

describe("pull_request", () => {
  test.each(["opened", "reopened", "ready_for_review"])("%s → a review job", async (action) => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockNoConfig(scope);
    await receive(t, "pull_request", pullRequest(action, { number: 12, sha: "c".repeat(40) }));
    expect(t.enqueuer.jobs).toEqual([
      expect.objectContaining({ kind: "review", prNumber: 12, headSha: "c".repeat(40), trigger: "pull_request" }),
    ]);
  });

  test("synchronize supersedes a running review, then enqueues", async () => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockNoConfig(scope);
    await receive(t, "pull_request", pullRequest("synchronize", { number: 12 }));
    expect(t.enqueuer.cancels).toEqual([{ kind: "review", target: `review-${REPO_ID}-12`, reason: "superseded" }]);
    expect(t.enqueuer.jobs).toHaveLength(1);
  });

  test("a draft → no review", async () => {
    const t = await createTestProbot();
    await receive(t, "pull_request", pullRequest("opened", { draft: true }));
    expect(t.enqueuer.jobs).toEqual([]);
  });

  test("a bot's PR (including ours) → no review", async () => {
    const t = await createTestProbot();
    await receive(t, "pull_request", pullRequest("opened", { user: { login: "iquest-bot[bot]", type: "Bot" } }));
    expect(t.enqueuer.jobs).toEqual([]);
  });

  test("review disabled in the config → no review", async () => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockConfig(scope, "review:\n  enabled: false\n");
    await receive(t, "pull_request", pullRequest("opened"));
    expect(t.enqueuer.jobs).toEqual([]);
    expect(t.outcomes[0]?.[1]).toBe("ignored:review-disabled");
  });
});

describe("installations", () => {
  test("created → one upgrade schedule per repository; deleted → removed", async () => {
    const t = await createTestProbot();
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
    const t = await createTestProbot();
    await receive(t, "installation_repositories", installationRepositories([{ id: 21, full_name: "o/c" }], []));
    expect(t.enqueuer.schedules.get(21)?.repo).toEqual({ installationId: INSTALLATION_ID, repoId: 21, repo: "o/c" });
    await receive(t, "installation_repositories", installationRepositories([], [{ id: 21, full_name: "o/c" }]));
    expect(t.enqueuer.schedules.size).toBe(0);
  });
});

describe("push", () => {
  test("a config change on the default branch → schedule from the config and a check naming the bad key and line", async () => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockConfig(scope, "upgrade:\n  schedule: '15 2 * * 3'\nreview:\n  enabled: maybe\n");
    scope
      .post(`${REPO_PATH}/check-runs`, (b: { name: string; conclusion: string; output: { summary: string } }) =>
        b.name === "iquest/config" && b.conclusion === "neutral" && b.output.summary.includes("`review.enabled` (line 4)"),
      )
      .reply(201, { id: 1 });
    await receive(t, "push", push({ files: [".github/iquest.yml"] }));
    expect(t.enqueuer.schedules.get(REPO_ID)?.cron).toBe("15 2 * * 3");
  });

  test("a push that does not touch the config → nothing", async () => {
    const t = await createTestProbot();
    await receive(t, "push", push({ files: ["src/index.ts"] }));
    expect(t.outcomes[0]?.[1]).toBe("ignored:config-unchanged");
  });

  test("a push to another branch → nothing", async () => {
    const t = await createTestProbot();
    await receive(t, "push", push({ ref: "refs/heads/feature", files: [".github/iquest.yml"] }));
    expect(t.outcomes[0]?.[1]).toBe("ignored:not-default-branch");
  });
});

describe("another round on the bot's own fix PR", () => {
  const botPull = (number: number, ref = "iquest/fix-7", fullName = "Codertocat/Hello-World") => ({
    number,
    state: "open",
    head: { ref, sha: "d".repeat(40), repo: { full_name: fullName } },
  });

  test("`/iquest <feedback>` on the bot's PR → a feedback round for the issue, naming the comment", async () => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    mockNoConfig(scope);
    scope.get(`${REPO_PATH}/pulls/12`).reply(200, botPull(12));
    await receive(t, "issue_comment", issueComment("/iquest please keep the old signature", { pr: true, issue: 12, commentId: 66 }));
    expect(t.enqueuer.jobs).toEqual([
      expect.objectContaining({ kind: "fix", mode: "feedback", issueNumber: 7, prNumber: 12, commentId: 66, trigger: "comment" }),
    ]);
  });

  test("`/iquest <word>` on someone else's PR → the unknown-command reply", async () => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    mockNoConfig(scope);
    scope.get(`${REPO_PATH}/pulls/12`).reply(200, botPull(12, "feature/x"));
    scope.post(`${REPO_PATH}/issues/12/comments`, (b: { body: string }) => b.body.includes("`/iquest please`")).reply(201, {});
    await receive(t, "issue_comment", issueComment("/iquest please do", { pr: true, issue: 12 }));
    expect(t.enqueuer.jobs).toEqual([]);
  });

  test("a fix branch from a fork is not the bot's PR", async () => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "write");
    mockNoConfig(scope);
    scope.get(`${REPO_PATH}/pulls/12`).reply(200, botPull(12, "iquest/fix-7", "mallory/Hello-World"));
    scope.post(`${REPO_PATH}/issues/12/comments`).reply(201, {});
    await receive(t, "issue_comment", issueComment("/iquest go", { pr: true, issue: 12 }));
    expect(t.enqueuer.jobs).toEqual([]);
  });

  test("a writer's review requesting changes on the bot's PR → a feedback round naming the review", async () => {
    const t = await createTestProbot();
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
    const t = await createTestProbot();
    await receive(t, "pull_request_review", pullRequestReview(opts));
    expect(t.enqueuer.jobs).toEqual([]);
  });

  test("a read-only user's review requesting changes → denied", async () => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    mockPermission(scope, "alice", "read");
    await receive(t, "pull_request_review", pullRequestReview());
    expect(t.outcomes[0]?.[1]).toBe("denied");
  });

  test("a failing check on the bot's PR → at most fix.maxCheckFixes (2) rounds, then one comment saying it stopped", async () => {
    const t = await createTestProbot();
    mockInstallationToken(scope);
    scope.get(`${REPO_PATH}/contents/.github%2Fiquest.yml`).times(4).reply(404, {});
    scope
      .post(`${REPO_PATH}/issues/12/comments`, (b: { body: string }) => /made 2 attempt\(s\)/.test(b.body) && b.body.includes("`test`"))
      .reply(201, {});
    for (let i = 0; i < 4; i++) await receive(t, "check_run", checkRunCompleted(), `check-${i}`);
    expect(t.enqueuer.jobs).toHaveLength(2);
    expect(t.enqueuer.jobs[0]).toMatchObject({ kind: "fix", mode: "check", issueNumber: 7, prNumber: 12, checkRunId: 9001 });
    expect(t.outcomes.map((o) => o[1])).toEqual(["enqueued", "enqueued", "replied", "ignored:attempts-spent"]);
  });

  test.each([
    ["a passing check", { conclusion: "success" }],
    ["a check on a human branch", { headBranch: "feature/x" }],
  ])("%s → nothing", async (_name, opts) => {
    const t = await createTestProbot();
    await receive(t, "check_run", checkRunCompleted(opts));
    expect(t.enqueuer.jobs).toEqual([]);
  });

  test("the app's own check run failing → nothing (no loops)", async () => {
    const t = await createTestProbot({ appId: 4242 });
    await receive(t, "check_run", checkRunCompleted({ appId: 4242 }));
    expect(t.outcomes[0]?.[1]).toBe("ignored:own-check");
  });
});
