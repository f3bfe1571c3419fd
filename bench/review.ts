/**
 * bench/review: the time from a `pull_request.opened` webhook to the review posted, minus the
 * model's time, for PRs of 100, 500, 1,000 and 10,000 changed lines.
 *
 *   npx tsx bench/review.ts [--runs 5] [--sizes 100,500,1000,10000] [--throttled] [--core-only]
 *
 * The whole path runs for real, in this process: the web role (signature check, config,
 * enqueue), BullMQ on a real redis-server, the worker role (token, PR, files, memory, check
 * run, checkout over real git HTTP, the bubblewrap sandbox, the agent loop with its trajectory,
 * the evidence gate, the review). GitHub is the simulator (in this process, real git over HTTP);
 * the model is the fake vLLM answering at once: a reviewer that views one file, reports three
 * findings (two inline, one outside the diff) and submits. Model time is read back from each
 * job's trajectory (the agent's own per-step timing of its model calls) and subtracted.
 *
 * Both roles use Probot's Octokit without the throttling plugin: in production the worker
 * spaces writes to GitHub (about 1 s between writes, 3 s between notifying ones, per
 * installation) on purpose, and that politeness is not overhead of this code. `--throttled`
 * runs the worker with it, to show what it adds.
 *
 * Each size gets a warm-up run (cold mirror), then --runs measured runs, each a new PR (a new
 * head is a new review). The PR adds files of 100 lines each (~50 characters a line).
 */
import { Queue } from "bullmq";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_REVIEW_IGNORE } from "../src/config/repo-config.js";
import { NoWaitOctokit } from "../src/github/octokit.js";
import { indexDiff, mapIncrement } from "../src/jobs/review/diff.js";
import { gateFindings } from "../src/jobs/review/gate.js";
import { createFileFilter } from "../src/jobs/review/globs.js";
import { planReview } from "../src/jobs/review/plan.js";
import { loadModels } from "../src/main/runtime.js";
import { startWeb } from "../src/main/start-web.js";
import { startWorker } from "../src/main/start-worker.js";
import { createLogger } from "../src/shared/log.js";
import { createRedactor } from "../src/shared/redact.js";
import { call, startFakeVllm, submit, view, type RecordedRequest, type ScriptStep } from "../test/support/fake-vllm/index.js";
import { startGitHubSim } from "../test/support/github-sim/index.js";
import { testPrivateKey } from "../test/support/keys.js";
import { startTestRedis } from "../test/support/redis-server.js";
import { testEnv } from "../test/support/test-env.js";
import { machine, median } from "./support.js";

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : def;
};
const RUNS = Number(arg("runs", "5"));
const SIZES = arg("sizes", "100,500,1000,10000").split(",").map(Number);
/** The worker with Probot's Octokit as production runs it (write spacing on). */
const THROTTLED = process.argv.includes("--throttled");
const APP_ID = 4343;
const SECRET = "bench-review-secret";
const LINES_PER_FILE = 100;

const lineOf = (pr: number, file: number, k: number) => `export const v${file}_${k} = compute(${k}, "pr${pr}-f${file}", [${k % 7}, ${k % 11}]);`;

function prFiles(pr: number, size: number): Record<string, string> {
  const files: Record<string, string> = {};
  for (let f = 0, left = size; left > 0; f++, left -= LINES_PER_FILE) {
    const n = Math.min(LINES_PER_FILE, left);
    files[`src/gen/f${String(f).padStart(3, "0")}.js`] = Array.from({ length: n }, (_, k) => lineOf(pr, f, k)).join("\n") + "\n";
  }
  return files;
}

/** The reviewer: the turn number is the count of assistant messages so far. */
function reviewer(req: RecordedRequest): ScriptStep {
  const messages = req.body.messages as Array<{ role: string; content: string }>;
  const pr = Number(/Review pull request #(\d+)/.exec(messages[1]!.content)?.[1]);
  const turn = messages.filter((m) => m.role === "assistant").length;
  switch (turn) {
    case 0:
      return view("src/gen/f000.js");
    case 1:
      return call("report_finding", { path: "src/gen/f000.js", line: 4, severity: "major", title: "Wrong arguments", explanation: "Constant 3 is computed with the wrong arguments.", quote: lineOf(pr, 0, 3) });
    case 2:
      return call("report_finding", {
        path: "src/gen/f000.js",
        line: 41,
        severity: "minor",
        title: "Unclear constant name",
        explanation: "v0_40 says nothing about its use.",
        quote: lineOf(pr, 0, 40),
        replacement: lineOf(pr, 0, 40).replace("v0_40", "retryDelay"),
      });
    case 3:
      return call("report_finding", { path: "README.md", line: 1, severity: "minor", title: "README title is stale", explanation: "It names the old project.", quote: "# bench" });
    default:
      return submit("Adds generated constants.");
  }
}

interface Sample {
  size: number;
  totalMs: number;
  modelMs: number;
  pickupMs: number;
  inline: number;
}

async function main(): Promise<void> {
  const sim = await startGitHubSim({ app: { id: APP_ID, privateKey: testPrivateKey(), webhookSecret: SECRET } });
  const redis = await startTestRedis();
  const vllm = await startFakeVllm({ script: reviewer });
  const dataDir = mkdtempSync(join(tmpdir(), "iquest-bench-review-"));
  chmodSync(dataDir, 0o755);
  const env = testEnv({
    APP_ID: String(APP_ID),
    WEBHOOK_SECRET: SECRET,
    GHE_HOST: sim.host,
    GHE_PROTOCOL: "http",
    MODEL_BASE_URL: vllm.url,
    DATA_DIR: dataDir,
    QUEUE_PREFIX: "bench",
  });
  const redact = createRedactor([env.privateKey, env.WEBHOOK_SECRET]);
  const log = createLogger({ level: "silent", redact });
  const models = loadModels(env, { MODEL_BASE_URL: vllm.url });
  const web = await startWeb({ env, log, redis: redis.url, Octokit: NoWaitOctokit, models });
  const worker = await startWorker({ env, log, redact, redis: redis.url, ...(THROTTLED ? {} : { Octokit: NoWaitOctokit }), models });
  sim.webhooks.url = `http://127.0.0.1:${web.port}/api/github/webhooks`;
  const repo = await sim.createRepo({ owner: "bench", name: "app", files: { "README.md": "# bench\n", "package.json": '{"name":"app","version":"1.0.0"}\n' } });
  sim.installApp({ installationId: 91, repos: ["bench/app"] });
  sim.createUser("alice");
  sim.addCollaborator(repo, "alice", "write");

  const queue = new Queue("review", { connection: { url: redis.url }, prefix: "bench" });
  const samples: Sample[] = [];
  let prCount = 0;
  try {
    for (const size of SIZES) {
      for (let run = 0; run <= RUNS; run++) {
        const number = ++prCount;
        await sim.commit({ repo, branch: `pr-${number}`, files: prFiles(number, size), message: `${size} lines` });
        await sim.createPullRequest({ repo, head: `pr-${number}`, title: `Change ${number}`, user: "alice" });
        const delivery = await sim.webhooks.pullRequest({ repo: "bench/app", number, action: "opened", sender: "alice" });
        const sent = performance.now() - delivery.duration * 1000;
        const sentEpoch = Date.now() - (performance.now() - sent);
        if (delivery.statusCode !== 200) throw new Error(`webhook answered ${delivery.statusCode}`);
        const posted = await waitFor(() => sim.reviews.find((r) => r.repoId === repo.id && r.pullNumber === number), 120_000);
        const totalMs = performance.now() - sent;
        const jobId = `review-${delivery.guid}`;
        const trajectory = await waitFor(() => readTrajectory(join(dataDir, "runs", `${jobId}.jsonl`)), 10_000);
        const modelMs = trajectory.filter((r) => r.type === "step").reduce((n, r) => n + (r.timings?.modelMs ?? 0), 0);
        const started = trajectory.find((r) => r.type === "run-start");
        const inline = sim.reviewComments.filter((c) => c.reviewId === posted.id).length;
        const job = await waitFor(async () => (await queue.getJob(jobId))?.processedOn, 10_000);
        if (run === 0) {
          process.stderr.write(`size ${size}: warm-up ${Math.round(totalMs)} ms (inline ${inline}${started ? "" : ", no trajectory"})\n`);
          continue;
        }
        samples.push({ size, totalMs, modelMs, pickupMs: job - sentEpoch, inline });
        process.stderr.write(`size ${size} run ${run}: ${Math.round(totalMs)} ms total, ${Math.round(modelMs)} ms model, ${inline} inline\n`);
      }
    }
  } finally {
    await queue.close();
    await worker.close(1000);
    await web.close();
    await vllm.close();
    await redis.destroy();
    await sim.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }

  const rows = SIZES.map((size) => {
    const s = samples.filter((x) => x.size === size);
    const overhead = s.map((x) => x.totalMs - x.modelMs);
    return {
      size,
      total: median(s.map((x) => x.totalMs)),
      model: median(s.map((x) => x.modelMs)),
      overhead: median(overhead),
      min: Math.min(...overhead),
      max: Math.max(...overhead),
      pickup: median(s.map((x) => x.pickupMs)),
      inline: median(s.map((x) => x.inline)),
    };
  });
  const smallest = rows[0]!;
  console.log(`\nMachine: ${machine()}; ${new Date().toISOString().slice(0, 10)}; ${RUNS} runs per size (after a warm-up), medians${THROTTLED ? "; worker writes throttled as in production" : ""}.\n`);
  console.log("| changed lines | webhook → review posted | model time | overhead (total − model) | overhead min–max | webhook → job picked up | added overhead per 1,000 lines (vs. the smallest) |");
  console.log("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const r of rows) {
    const marginal = r === smallest ? "–" : ms(((r.overhead - smallest.overhead) / (r.size - smallest.size)) * 1000);
    console.log(`| ${r.size.toLocaleString("en-US")} | ${ms(r.total)} | ${ms(r.model)} | **${ms(r.overhead)}** | ${ms(r.min)}–${ms(r.max)} | ${ms(r.pickup)} | ${marginal} |`);
  }
}

/**
 * The part of the job that grows with the diff, alone: parsing every file's patch, mapping a
 * later push onto it, planning what the model sees, and the evidence gate over 10 findings.
 */
function coreScaling(): void {
  console.log("\nThe review's pure core alone (parse the PR's patches, map a later push onto them, plan, gate 10 findings), median of 20:\n");
  console.log("| changed lines | files | time | per 1,000 lines |");
  console.log("| ---: | ---: | ---: | ---: |");
  for (const size of [1_000, 10_000, 100_000]) {
    const files = Object.entries(prFiles(1, size)).map(([filename, text]) => {
      const lines = text.split("\n").filter(Boolean);
      return { filename, status: "added", additions: lines.length, deletions: 0, patch: `@@ -0,0 +1,${lines.length} @@\n${lines.map((l) => `+${l}`).join("\n")}` };
    });
    const texts = new Map(Object.entries(prFiles(1, size)));
    const findings = Array.from({ length: 10 }, (_, i) => ({
      path: "src/gen/f000.js",
      line: i * 5 + 1,
      severity: "major" as const,
      title: `Finding ${i}`,
      explanation: `Explanation ${i}.`,
      quote: lineOf(1, 0, i * 5),
    }));
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      const diff = indexDiff(files);
      const scope = mapIncrement(diff, files.slice(0, Math.ceil(files.length / 2)));
      planReview({ files, diff, scope, filter: createFileFilter([], DEFAULT_REVIEW_IGNORE), diffBudgetChars: 87_500 });
      gateFindings({ findings, diff, scope, readFile: (p) => texts.get(p), earlier: [], minSeverity: "minor", maxFindings: 10, observations: [] });
      times.push(performance.now() - t);
    }
    const m = median(times);
    console.log(`| ${size.toLocaleString("en-US")} | ${files.length} | ${m.toFixed(1)} ms | ${((m / size) * 1000).toFixed(2)} ms |`);
  }
}

function ms(n: number): string {
  return `${Math.round(n).toLocaleString("en-US")} ms`;
}

interface TrajectoryRecord {
  type: string;
  timings?: { modelMs?: number };
}

function readTrajectory(path: string): TrajectoryRecord[] | undefined {
  try {
    const records = readFileSync(path, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as TrajectoryRecord);
    return records.some((r) => r.type === "end") ? records : undefined;
  } catch {
    return undefined;
  }
}

async function waitFor<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    const v = await check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error("timed out");
}

const run = process.argv.includes("--core-only") ? async () => coreScaling() : async () => {
  await main();
  coreScaling();
};

run().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
