import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { rmSync } from "node:fs";
import { createBuggyRepo, fixScript } from "../support/agent-fixtures.js";
import { eventually, finalCard, startStack, type Stack } from "../support/e2e-stack.js";
import type { ScriptStep } from "../support/fake-vllm/index.js";

/**
 * Model outages during a fix job, end to end (real web and worker processes, real Redis with
 * AOF, real git over HTTP, real bwrap; GitHub simulated, the model a real HTTP server playing a
 * script). Each case's issue carries a tag; the model answers that case's requests as its
 * outage says: 503s, or connections dropped, while it is "down".
 *
 * The model client retries a call 3 times (the built-in profiles' maxRetries), waiting about
 * 0.5 s, 1 s and 2 s; past that the job's attempt fails and BullMQ runs it again after
 * JOB_BACKOFF_MS (exponential), up to JOB_ATTEMPTS.
 */
const JOB_BACKOFF_MS = 3000;
let stack: Stack;
const fixture = createBuggyRepo();
let nextInstallation = 9000;

interface Outage {
  /** How a request is refused while down. */
  as: "503" | "drop";
  /** Down from this agent turn on (0 = the first model call of an attempt). */
  fromTurn: number;
  /** Down for this long after the first refused call; Infinity = until `up()`. */
  forMs: number;
  downSince?: number;
  up?: boolean;
  /** Every chat call of this case: when, which turn, and whether it was refused. */
  calls: Array<{ at: number; turn: number; refused: boolean }>;
}
const outages = new Map<string, Outage>();

function answer(tag: string | undefined, turn: number): ScriptStep {
  const steps = fixScript();
  const step = steps[Math.min(turn, steps.length - 1)]!;
  const o = tag ? outages.get(tag) : undefined;
  if (!o) return step;
  const now = Date.now();
  let refused = false;
  if (!o.up && turn >= o.fromTurn) {
    o.downSince ??= now;
    refused = now - o.downSince < o.forMs;
  }
  o.calls.push({ at: now, turn, refused });
  if (!refused) return step;
  return o.as === "503" ? { kind: "error", status: 503, message: "Service Unavailable" } : { kind: "drop" };
}

beforeAll(async () => {
  stack = await startStack({
    vllm: {
      script: (req) => {
        const messages = req.body.messages as Array<{ role: string }>;
        const tag = /\[(model-[a-z0-9-]+)\]/.exec(JSON.stringify(messages.slice(0, 2)))?.[1];
        return answer(tag, messages.filter((m) => m.role === "assistant").length);
      },
    },
    env: { WORKER_CONCURRENCY: "3", JOB_ATTEMPTS: "3", JOB_BACKOFF_MS: String(JOB_BACKOFF_MS) },
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(fixture, { recursive: true, force: true });
});

async function newCase(tag: string, outage: Omit<Outage, "calls">) {
  const name = tag;
  const repo = await stack.sim.createRepo({ owner: "acme", name, fromDir: fixture });
  stack.sim.installApp({ installationId: nextInstallation++, repos: [`acme/${name}`] });
  stack.sim.addCollaborator(repo, "alice", "write");
  stack.sim.createIssue({ repo, title: `add() is wrong [${tag}]`, body: "add(2, 3) is -1", user: "alice" });
  const o: Outage = { ...outage, calls: [] };
  outages.set(tag, o);
  await stack.sim.webhooks.issuesLabeled({ repo: `acme/${name}`, issue: 1, label: "iquest:fix", sender: "alice" });
  return { repo: `acme/${name}`, outage: o };
}

const botLogin = () => `${stack.sim.app.slug}[bot]`;
const botComments = (repo: string) => stack.sim.commentsOn(repo, 1).filter((c) => c.user === botLogin());
const card = (repo: string) => botComments(repo).find((c) => c.body.includes("iquest-card"));
const final = (repo: string, ms = 150_000) => eventually(() => finalCard(stack.sim, repo, 1), `the final card on ${repo}`, ms);

describe("model outages during a fix job", () => {
  test.each([["503", "model-blip-503"], ["drop", "model-blip-drop"]] as const)(
    "the model goes down mid-run (%s) and is back within the client's retries → the run goes on: one attempt, one PR, one card",
    async (as, tag) => {
      const { repo, outage } = await newCase(tag, { as, fromTurn: 2, forMs: 1500 });
      const c = await final(repo);
      expect(c.body).toMatch(/Opened draft PR/);
      expect(stack.sim.pullsOf(repo)).toHaveLength(1);
      expect(botComments(repo)).toHaveLength(1);
      // The outage was really hit, mid-run, and ridden out inside the same agent run.
      const refused = outage.calls.filter((x) => x.refused);
      expect(refused.length).toBeGreaterThanOrEqual(2);
      expect(refused.every((x) => x.turn === 2)).toBe(true);
      expect(outage.calls.filter((x) => x.turn === 0)).toHaveLength(1); // the job was not restarted
      expect(c.history.some((b) => /temporary problem/.test(b))).toBe(false);
      expect(await stack.sim.readFile(repo, "iquest/fix-1", "src/add.js")).toContain("a + b");
    },
    200_000,
  );

  test("the model stays down past the client's retries → the card says so and when the job retries; it comes back; the retry opens the PR (one card, one PR)", async () => {
    const { repo, outage } = await newCase("model-down-then-up", { as: "503", fromTurn: 2, forMs: Infinity });
    const warned = await eventually(
      () => card(repo)?.body.match(/Attempt 1 of 3 hit a temporary problem \((.*?)\); retrying in about (\d+) s\./s) ?? undefined,
      "the card's retry notice",
      120_000,
    );
    outage.up = true; // vLLM is back before the queue's retry
    const refusedAt = outage.calls.filter((x) => x.refused).map((x) => x.at);
    expect(refusedAt).toHaveLength(4); // the first call and the client's 3 retries
    expect(warned[1]).toMatch(/The model for this job is unavailable: profile `thinking`/);
    expect(warned[1]).toMatch(/HTTP 5xx/);
    expect(warned[2]).toBe(String(JOB_BACKOFF_MS / 1000));

    const c = await final(repo);
    expect(c.body).toMatch(/Opened draft PR/);
    expect(stack.sim.pullsOf(repo)).toHaveLength(1);
    expect(botComments(repo)).toHaveLength(1);
    // The second attempt started over (turn 0 again), after the queue's backoff, not before.
    const starts = outage.calls.filter((x) => x.turn === 0);
    expect(starts).toHaveLength(2);
    expect(starts[1]!.at - refusedAt.at(-1)!).toBeGreaterThanOrEqual(JOB_BACKOFF_MS - 100);
  }, 200_000);

  test("the model stays down for good → after JOB_ATTEMPTS attempts the card says the model is unavailable and what to do; nothing published, bounded", async () => {
    const started = Date.now();
    const { repo, outage } = await newCase("model-down-for-good", { as: "503", fromTurn: 0, forMs: Infinity });
    const c = await final(repo, 120_000);
    expect(Date.now() - started).toBeLessThan(120_000);
    expect(c.body).toMatch(/The job failed: The model for this job is unavailable: profile `thinking`/);
    expect(c.body).toMatch(/The server kept failing \(HTTP 5xx\); look at the vLLM logs\. Nothing else was tried.*An operator can check the model server \(gave up after 3 attempts\)\. Comment `\/iquest fix` to try again\./s);
    // It does not promise a retry that will not come.
    expect(c.body).not.toMatch(/will be retried/);
    expect(c.history.some((b) => /Attempt 2 of 3 hit a temporary problem .*retrying in about 6 s\./s.test(b))).toBe(true);
    // Three attempts of four calls each (the first and 3 retries), and not one more.
    expect(outage.calls).toHaveLength(12);
    expect(stack.sim.pullsOf(repo)).toHaveLength(0);
    expect(botComments(repo)).toHaveLength(1);
    expect(stack.sim.pushes.filter((p) => p.repo === repo && p.via !== "sim")).toHaveLength(0);
  }, 200_000);
});
