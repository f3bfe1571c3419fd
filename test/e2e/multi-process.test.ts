import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { rmSync } from "node:fs";
import { createBuggyRepo, fixScript } from "../support/agent-fixtures.js";
import { eventually, finalCard, startStack, type Stack } from "../support/e2e-stack.js";
import { scriptByTask, type FakeReply, type ScriptStep } from "../support/fake-vllm/index.js";
import type { RoleProcess } from "../support/processes.js";

/**
 * The layout `deploy/` runs: two web processes behind one webhook URL and two worker processes,
 * on one Redis. Four fixes come in through both web processes (and one delivery reaches both):
 * no job runs twice, no card or PR is posted twice, the model-concurrency limit (MODEL_GATE=fixed,
 * MODEL_CONCURRENCY=1) holds across both workers, and `kill -9` of the worker running one job
 * mid-model-call lets the other worker finish it.
 */
let stack: Stack;
let webB: { process: RoleProcess; webhookUrl: string };
let workerB: RoleProcess;
const fixture = createBuggyRepo();

function scriptFor(task: string): ScriptStep[] {
  // Every model turn takes a while, so that without the shared limit the two workers' calls would overlap.
  const steps = fixScript().map((s) => ({ ...(s as FakeReply), delayMs: 250 }) as ScriptStep);
  if (task.includes("KILLME")) steps[2] = { ...(steps[2] as FakeReply), delayMs: 8000 };
  return steps;
}

beforeAll(async () => {
  stack = await startStack({
    vllm: { script: scriptByTask(scriptFor) },
    // One fix at a time per worker, so the kill hits exactly one job.
    env: { MODEL_GATE: "fixed", MODEL_CONCURRENCY: "1", WORKER_CONCURRENCY: "1", WORKER_LOCK_MS: "3000", WORKER_STALLED_INTERVAL_MS: "1000" },
  });
  webB = await stack.startWeb();
  workerB = await stack.startWorker();
  for (let i = 1; i <= 4; i++) {
    const repo = await stack.sim.createRepo({ owner: "acme", name: `multi${i}`, fromDir: fixture });
    stack.sim.installApp({ installationId: 300 + i, repos: [`acme/multi${i}`] });
    stack.sim.addCollaborator(repo, "alice", "write");
    const title = `${i === 4 ? "KILLME " : ""}multi${i}: add() returns the wrong sum`;
    stack.sim.createIssue({ repo, title, body: title, user: "alice" });
  }
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(fixture, { recursive: true, force: true });
});

describe("two web and two worker processes on one Redis", () => {
  test("each job runs once, one card and one PR each, the model limit holds across workers, and a killed worker's job is finished by the other", async () => {
    const { sim } = stack;
    const webA = stack.webhookUrl;
    const deliveries: number[] = [];
    for (let i = 1; i <= 4; i++) {
      sim.webhooks.url = i % 2 ? webA : webB.webhookUrl;
      const d = await sim.webhooks.issuesLabeled({ repo: `acme/multi${i}`, issue: 1, label: "iquest:fix", sender: "alice" });
      expect(d.statusCode).toBe(200);
      deliveries.push(d.id);
    }
    // The first delivery reaches the other web process too (GitHub redelivers with the same GUID).
    sim.webhooks.url = webB.webhookUrl;
    expect((await sim.webhooks.redeliver(deliveries[0]!)).statusCode).toBe(200);

    // When the slow turn of multi4's job is in flight, kill -9 the worker that runs it.
    const slowTurn = await eventually(
      () => stack.vllm.requests.find((r) => JSON.stringify(r.body.messages).includes("KILLME") && (r.body.messages as Array<{ role: string }>).filter((m) => m.role === "assistant").length === 2),
      "multi4's slow model turn",
      120_000,
    );
    const runs = (w: RoleProcess) => w.lines.some((l) => l.includes('"repo":"acme/multi4"'));
    const victim = [stack.worker, workerB].find(runs);
    expect(victim).toBeDefined();
    const survivor = victim === stack.worker ? workerB : stack.worker;
    victim!.child.kill("SIGKILL");
    await victim!.exited;
    expect(Date.now() - slowTurn.receivedAt).toBeLessThan(8000); // killed mid-call

    for (let i = 1; i <= 4; i++) {
      const card = await eventually(() => finalCard(sim, `acme/multi${i}`, 1), `multi${i}'s final card`, 180_000).catch((e: Error) => {
        throw new Error(`${e.message}\nsurvivor:\n${survivor.lines.slice(-30).join("\n")}`);
      });
      expect(card.body).toMatch(/Opened draft PR/);
      expect(sim.commentsOn(`acme/multi${i}`, 1).filter((c) => c.body.includes("iquest-card"))).toHaveLength(1);
      expect(sim.pullsOf(`acme/multi${i}`)).toHaveLength(1);
    }
    expect(survivor.lines.some((l) => l.includes('"repo":"acme/multi4"'))).toBe(true);
    // One 👀 per issue, though the first delivery came twice.
    expect(sim.reactions.filter((r) => r.content === "eyes" && r.subject.type === "issue")).toHaveLength(4);

    // No job ran twice: each repository's agent began once (its first turn has no assistant
    // message), except multi4's, begun again by the survivor after the kill.
    const firstTurns = (i: number) =>
      stack.vllm.requests.filter((r) => {
        const messages = r.body.messages as Array<{ role: string; content: string }>;
        return messages.every((m) => m.role !== "assistant") && JSON.stringify(messages).includes(`multi${i}: add()`);
      }).length;
    expect([1, 2, 3].map(firstTurns)).toEqual([1, 1, 1]);
    expect(firstTurns(4)).toBe(2);
    // …and finished once, on one worker or the other.
    const logged = (what: string, i: number) => [...victim!.lines, ...survivor.lines].filter((l) => l.includes(what) && l.includes(`"repo":"acme/multi${i}"`)).length;
    // (The card is final a moment before the worker logs the end.)
    await eventually(() => [1, 2, 3, 4].every((i) => logged('"job finished"', i) >= 1), "every job's end in the logs", 10_000);
    expect([1, 2, 3, 4].map((i) => logged('"job finished"', i))).toEqual([1, 1, 1, 1]);
    expect([1, 2, 3, 4].map((i) => logged('"job started"', i))).toEqual([1, 1, 1, 2]);
    // The shared limit held across both workers: never two model calls at once.
    expect(stack.vllm.peakInFlight()).toBe(1);
  }, 400_000);
});
