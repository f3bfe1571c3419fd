import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createBuggyRepo, fixScript } from "../support/agent-fixtures.js";
import { eventually, finalCard, startStack, type Stack } from "../support/e2e-stack.js";
import { bash, type ScriptStep, scriptByTask } from "../support/fake-vllm/index.js";
import { execFileSync } from "node:child_process";

/**
 * kill -9 of the worker at each phase of a fix job (checkout, tests, agent, publish), and a
 * worker that stalls past its lock: after a restart the job completes exactly once, with one
 * branch, one PR and one job card, and no push ever overwrites another.
 */
let stack: Stack;
const fixture = createBuggyRepo();
// The repo's tests take a moment, so a test can kill the worker while they run.
const pkg = JSON.parse(readFileSync(join(fixture, "package.json"), "utf8"));
pkg.scripts.test = "sleep 2 && node --test";
writeFileSync(join(fixture, "package.json"), JSON.stringify(pkg, null, 2));

function scriptFor(task: string): ScriptStep[] {
  const steps = fixScript();
  if (task.includes("STALL")) steps[2] = { ...(steps[2] as object), delayMs: 6000 } as ScriptStep;
  // A long command in the sandbox (a marker in its text, so the test can find its process).
  if (task.includes("SLEEPY")) steps[1] = bash("sleep 12.345 && npm test");
  return steps;
}

/** Host pids of the sandboxed command still running (the sandbox's pid namespace is nested). */
function sandboxedSleeps(): string[] {
  try {
    return execFileSync("pgrep", ["-f", "sleep 12.345"], { encoding: "utf8" }).split("\n").filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

beforeAll(async () => {
  stack = await startStack({
    vllm: {
      script: scriptByTask(scriptFor),
    },
    env: { WORKER_LOCK_MS: "2000", WORKER_STALLED_INTERVAL_MS: "1000" },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(fixture, { recursive: true, force: true });
});

let n = 0;
async function newRepo(title: string) {
  const name = `crash${++n}`;
  const repo = await stack.sim.createRepo({ owner: "acme", name, fromDir: fixture });
  stack.sim.installApp({ installationId: 500 + n, repos: [`acme/${name}`] });
  stack.sim.addCollaborator(repo, "alice", "write");
  stack.sim.createIssue({ repo, title, body: title, user: "alice" });
  return `acme/${name}`;
}

async function killAndRestart() {
  await stack.worker.stop("SIGKILL");
  stack.worker = await stack.startWorker();
}

async function expectExactlyOnce(repo: string) {
  const card = await eventually(() => finalCard(stack.sim, repo, 1), `the final card on ${repo}`, 150_000);
  expect(card.body).toMatch(/draft PR/);
  expect(card.body).not.toMatch(/❌/);
  expect(stack.sim.pullsOf(repo)).toHaveLength(1);
  expect(stack.sim.commentsOn(repo, 1).filter((c) => c.body.includes("iquest-card"))).toHaveLength(1);
  const pushes = stack.sim.pushes.filter((p) => p.repo === repo && p.via === "git" && p.accepted);
  expect(pushes).toHaveLength(1);
  expect(stack.sim.pushes.filter((p) => p.forced)).toEqual([]);
  expect(await stack.sim.readFile(repo, "iquest/fix-1", "src/add.js")).toContain("a + b");
  return card;
}

describe("kill -9 of the worker at each phase", () => {
  test("during checkout", async () => {
    const repo = await newRepo("add() is wrong");
    const slow = stack.sim.faults.add({ method: "POST", path: `/${repo}.git/git-upload-pack`, target: "git", response: { kind: "delay", ms: 5000 }, times: 1 });
    await stack.sim.webhooks.issuesLabeled({ repo, issue: 1, label: "iquest:fix", sender: "alice" });
    await eventually(() => slow.hits === 1, "the checkout's fetch");
    await killAndRestart();
    await expectExactlyOnce(repo);
  }, 200_000);

  test("during the baseline tests", async () => {
    const repo = await newRepo("add() is wrong");
    await stack.sim.webhooks.issuesLabeled({ repo, issue: 1, label: "iquest:fix", sender: "alice" });
    await eventually(() => stack.sim.commentsOn(repo, 1).some((c) => c.history.some((b) => /⏳ \| baseline tests/.test(b))), "the baseline tests running");
    await killAndRestart();
    await expectExactlyOnce(repo);
  }, 200_000);

  test("during publish, after the push and before the PR: the re-run opens the PR from the push, without the agent", async () => {
    const repo = await newRepo("add() is wrong");
    const slow = stack.sim.faults.add({ method: "POST", path: `/repos/${repo}/pulls`, response: { kind: "delay", ms: 8000 }, times: 1 });
    await stack.sim.webhooks.issuesLabeled({ repo, issue: 1, label: "iquest:fix", sender: "alice" });
    await eventually(() => slow.hits === 1, "the PR creation");
    const modelCalls = stack.vllm.requests.length;
    await killAndRestart();
    const card = await expectExactlyOnce(repo);
    expect(card.body).toMatch(/interrupted attempt of this job/);
    expect(stack.vllm.requests.length).toBe(modelCalls); // the agent did not run again
  }, 200_000);
});

describe("SIGTERM", () => {
  test("mid-agent with a short grace period: the worker stops in time, hands the job back, no half-pushed branch; the next worker finishes it once", async () => {
    const repo = await newRepo("STALL add() is wrong (sigterm)");
    const before = stack.vllm.requests.length;
    await stack.sim.webhooks.issuesLabeled({ repo, issue: 1, label: "iquest:fix", sender: "alice" });
    await eventually(() => stack.vllm.requests.length >= before + 3, "the agent's third model call");
    const stoppedAt = Date.now();
    const exit = await stack.worker.stop("SIGTERM");
    expect(exit.code).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(8000); // SHUTDOWN_GRACE_MS is 2 s; the model call alone would take 6
    expect(stack.sim.pushes.filter((p) => p.repo === repo && p.via === "git")).toEqual([]);
    stack.worker = await stack.startWorker();
    await expectExactlyOnce(repo);
  }, 200_000);
});

describe("SIGTERM during a sandboxed command", () => {
  test("the grace period passes, the command's processes are killed, the job is handed back; the next worker finishes it once", async () => {
    const repo = await newRepo("SLEEPY add() is wrong (sigterm mid-command)");
    await stack.sim.webhooks.issuesLabeled({ repo, issue: 1, label: "iquest:fix", sender: "alice" });
    await eventually(() => sandboxedSleeps().length > 0 || undefined, "the agent's long command running in the sandbox", 60_000);
    const stoppedAt = Date.now();
    const exit = await stack.worker.stop("SIGTERM");
    expect(exit.code).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(8000); // SHUTDOWN_GRACE_MS is 2 s; the command alone takes 12
    // The sandbox was aborted with the job: nothing of the command is left running.
    await eventually(() => sandboxedSleeps().length === 0, "the sandboxed command's processes to be gone", 5_000);
    expect(stack.sim.pushes.filter((p) => p.repo === repo && p.via === "git")).toEqual([]);
    stack.worker = await stack.startWorker();
    await expectExactlyOnce(repo);
  }, 200_000);
});

describe("lock loss", () => {
  test("a worker frozen past its lock: another worker finishes the job; the frozen one, thawed, publishes nothing over it", async () => {
    const repo = await newRepo("STALL add() is wrong");
    const before = stack.vllm.requests.length;
    await stack.sim.webhooks.issuesLabeled({ repo, issue: 1, label: "iquest:fix", sender: "alice" });
    await eventually(() => stack.vllm.requests.length >= before + 3, "the agent's third model call");
    const frozen = stack.worker;
    frozen.child.kill("SIGSTOP");
    const second = await stack.startWorker();
    const card = await expectExactlyOnce(repo);
    frozen.child.kill("SIGCONT");
    // Give the thawed worker time to try whatever it would.
    await new Promise((r) => setTimeout(r, 8000));
    const after = finalCard(stack.sim, repo, 1)!;
    expect(after.body).toBe(card.body);
    expect(stack.sim.pullsOf(repo)).toHaveLength(1);
    expect(stack.sim.pushes.filter((p) => p.repo === repo && p.via === "git" && p.accepted)).toHaveLength(1);
    expect(stack.sim.pushes.filter((p) => p.forced)).toEqual([]);
    await frozen.stop("SIGKILL");
    stack.worker = second;
  }, 200_000);
});
