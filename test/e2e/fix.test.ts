import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createBuggyRepo, fixScript } from "../support/agent-fixtures.js";
import { ADMIN_PASSWORD, eventually, finalCard, startStack, type Stack } from "../support/e2e-stack.js";

/**
 * A labelled issue becomes a tested draft PR, end to end: signed webhook → web process → Redis →
 * worker process → checkout over real git HTTP → bubblewrap sandbox → the fake model fixing a
 * real bug with the repo's real tests → push → draft PR, with the job card ticking on the issue.
 */
const run = promisify(execFile);
let stack: Stack;
let fixture: string;

beforeAll(async () => {
  fixture = createBuggyRepo();
  stack = await startStack({ vllm: { script: fixScript() } });
  const repo = await stack.sim.createRepo({ owner: "acme", name: "calc", fromDir: fixture });
  stack.sim.installApp({ installationId: 77, repos: ["acme/calc"] });
  stack.sim.addCollaborator(repo, "alice", "write");
  stack.sim.createIssue({ repo, title: "add() returns the wrong sum", body: "add(2, 3) returns -1, expected 5.", user: "alice" });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(fixture, { recursive: true, force: true });
});

describe("fix, end to end", () => {
  test("issues.labeled → 👀, a job card that ticks, iquest/fix-1 with the fix, one draft PR, a final card", async () => {
    const { sim } = stack;
    const delivery = await sim.webhooks.issuesLabeled({ repo: "acme/calc", issue: 1, label: "iquest:fix", sender: "alice" });
    expect(delivery.statusCode).toBe(200);

    // The card reaches its final state: a link to the PR.
    const card = await eventually(() => finalCard(sim, "acme/calc", 1), "the final job card", 120_000);
    if (!/Opened draft PR/.test(card.body)) {
      // Say what happened instead: the card as it stands and the worker's last words.
      throw new Error(`the card did not end with a PR:\n${card.body}\nworker:\n${stack.worker.lines.slice(-25).join("\n")}`);
    }
    expect(sim.reactions.filter((r) => r.content === "eyes" && r.subject.type === "issue")).toHaveLength(1);
    // It ticked through the phases (edited in place, one comment).
    expect(sim.commentsOn("acme/calc", 1).filter((c) => c.body.includes("iquest-card"))).toHaveLength(1);
    // (Intermediate states coalesce while a write waits for GitHub's pacing, so which phases
    // show up in between depends on timing; that some did, and in order, does not.)
    expect(card.history.length).toBeGreaterThanOrEqual(3);
    expect(card.history.some((b) => b.includes("⏳"))).toBe(true);
    expect(card.body).toMatch(/✅ \| tests/);
    expect(card.body).toContain("profile `thinking`");

    // One draft PR, from the bot branch to main, that says what it fixes.
    const pulls = sim.pullsOf("acme/calc");
    expect(pulls).toHaveLength(1);
    const pr = pulls[0]!;
    const prIssue = sim.issue("acme/calc", pr.number)!;
    expect(pr.draft).toBe(true);
    expect(pr.head.ref).toBe("iquest/fix-1");
    expect(pr.base.ref).toBe("main");
    expect(prIssue.body).toContain("Fixes #1");
    expect(prIssue.body).toContain("No new failures");
    expect(prIssue.title).toBe("Fix #1: add() returns the wrong sum");
    expect(pr.requestedReviewers).toContain("alice");
    expect(card.body).toContain(`#${pr.number}`);

    // The bare repo holds the fix, and the repo's tests pass on it.
    expect(await sim.readFile("acme/calc", "iquest/fix-1", "src/add.js")).toContain("return a + b;");
    const dir = mkdtempSync(join(tmpdir(), "e2e-clone-"));
    try {
      const token = sim.mintToken({ installationId: 77, repositoryIds: [sim.repo("acme/calc").id], permissions: { contents: "read" } }).token;
      await run("git", ["clone", "-q", "-b", "iquest/fix-1", `http://x-access-token:${token}@${sim.host}/acme/calc.git`, dir]);
      const tests = await run("npm", ["test"], { cwd: dir });
      expect(tests.stdout).toMatch(/# pass 1/);
      const log = await run("git", ["log", "-1", "--format=%an%n%B"], { cwd: dir });
      expect(log.stdout).toMatch(/iquest-bot\[bot\]/);
      expect(log.stdout).toMatch(/IQuest-Job: fix-/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    // The card links the run viewer; the run (a private repo) opens with the admin login.
    const link = /\[run log\]\((http:\/\/[^)]+)\)/.exec(card.body)?.[1];
    expect(link).toMatch(/\/runs\/fix-[^?]+\?t=/);
    const page = await fetch(link!, { headers: { authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString("base64")}` } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("str_replace_editor");
    expect(html).toContain("return a + b;");
    expect((await fetch(link!)).status).not.toBe(200); // without the login: not shown

    // Least privilege: no token asked for workflows, and none reached a comment or the PR.
    expect(sim.tokens.filter((t) => t.requested.permissions && "workflows" in (t.requested.permissions as object))).toEqual([]);
    // T8, every token of the run, the web's included: one repository, and named permissions.
    expect(sim.tokens.length).toBeGreaterThan(0);
    expect(sim.tokens.filter((t) => (t.requested.repository_ids as unknown[] | undefined)?.length !== 1 || !t.requested.permissions)).toEqual([]);
    for (const c of sim.comments) expect(c.history.join("\n")).not.toMatch(/ghs_/);
    expect(prIssue.body).not.toMatch(/ghs_/);
    // T18 / REFERENCE test 15: no token in Redis, ever. The append-only file holds every write
    // Redis took during the run, deleted keys included; the job's id in it shows it is the
    // run's own data.
    const aof = readdirSync(stack.redis.dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.includes(".aof"))
      .map((e) => readFileSync(join(e.parentPath, e.name), "latin1"))
      .join("");
    expect(aof).toContain(`fix-${delivery.guid}`);
    expect(aof).not.toContain("ghs_");
    for (const t of sim.tokens) expect(aof).not.toContain(t.token);
    expect(sim.errors).toEqual([]);
  }, 180_000);
});
