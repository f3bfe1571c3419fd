import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBuggyRepo } from "../support/agent-fixtures.js";
import { eventually, finalCard, seedIssueRepo, startStack, type Stack } from "../support/e2e-stack.js";
import { replace, scriptByTask, startFakeVllm, submit, type FakeVllm } from "../support/fake-vllm/index.js";

/**
 * Escalation across attempts (`fix.escalateTo`): the first attempt runs on the repository's
 * profile (Instruct, served by its own fake vLLM), fails verification, and the second runs on
 * the escalation profile (Thinking, another server) and passes. The PR's attempts table names
 * both profiles, and each server saw only its own attempt.
 */
let stack: Stack;
let instruct: FakeVllm;
const fixture = createBuggyRepo();
const dir = mkdtempSync(join(tmpdir(), "escalation-"));

beforeAll(async () => {
  instruct = await startFakeVllm({
    model: "IQuestLab/IQuest-Coder-V1-40B-Instruct",
    script: scriptByTask(() => [replace("src/add.js", "  return a - b;", "  return a * b;"), submit("Multiplied.")]),
  });
  const profiles = join(dir, "profiles.yml");
  writeFileSync(profiles, `profiles:\n  instruct:\n    baseUrls: ["${instruct.url}"]\n`);
  stack = await startStack({
    vllm: { script: scriptByTask(() => [replace("src/add.js", "  return a - b;", "  return a + b;"), submit("Added.")]) },
    env: { JOB_ATTEMPTS: "1", MODEL_PROFILES_FILE: profiles },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await instruct?.close();
  rmSync(fixture, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

describe("escalation between attempts", () => {
  test("attempt 1 on instruct fails verification; attempt 2 on thinking passes; the PR lists both profiles", async () => {
    const repo = await seedIssueRepo(stack, {
      name: "escalate",
      fromDir: fixture,
      installationId: 700,
      title: "add() is wrong",
      config: "fix:\n  profile: instruct\n  escalateTo: thinking\n",
    });
    await stack.sim.webhooks.issuesLabeled({ repo, issue: 1, label: "iquest:fix", sender: "alice" });
    const card = await eventually(() => finalCard(stack.sim, repo, 1), "the final card", 150_000);
    expect(card.body).toMatch(/Opened draft PR .*\(attempt 2 of 2\)/);
    const pr = stack.sim.pullsOf(repo)[0]!;
    const body = stack.sim.issue(repo, pr.number)!.body;
    expect(body).toMatch(/\| 1 \| `instruct` \| .* \| failed: tests still fail/);
    expect(body).toMatch(/\| 2 \| `thinking` \| .* \| passed \(published\) \|/);
    expect(body).toContain("profile `thinking` (`IQuestLab/IQuest-Coder-V1-40B-Thinking`)");
    // Each server saw only its own attempt.
    expect(instruct.requests.length).toBeGreaterThan(0);
    expect(instruct.requests.every((r) => r.body.model === "IQuestLab/IQuest-Coder-V1-40B-Instruct" && !r.rawBody.includes("did not pass verification"))).toBe(true);
    const thinking = stack.vllm.requests.filter((r) => r.rawBody.includes("add() is wrong"));
    expect(thinking.length).toBeGreaterThan(0);
    expect(thinking[0]!.rawBody).toContain("Attempt 1 did not pass verification");
    expect(await stack.sim.readFile(repo, "iquest/fix-1", "src/add.js")).toContain("return a + b;");
  }, 200_000);
});
