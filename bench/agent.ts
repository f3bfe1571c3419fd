/**
 * bench/agent.ts — the agent harness's own cost per step, and how stable its prompt prefix is.
 *
 *   npx tsx bench/agent.ts [--runs 3] [--steps 50]
 *
 * A scripted run of `--steps` steps against the fake vLLM (zero model latency) on a real local
 * checkout: real commands, real files, a real trajectory file. One context overflow is injected
 * at step 30 so that one condensation happens; it is counted apart.
 *
 * Overhead per step = wall time between two progress events − the model's HTTP call − the
 * environment's command time. So it holds everything else: building the request (wire
 * conversion, prompt size), parsing the answer, validating the call, the editor's file work,
 * formatting the observation, redacting and writing the trajectory, budget checks.
 *
 * Prefix stability, over consecutive agent requests ("prompt" = the JSON of `tools` + `messages`,
 * which is what the chat template renders):
 * - reuse: the share of the previous request's prompt that this request repeats byte for byte
 *   at its start (100% = append-only; this is the harness's doing);
 * - cached share: the share of this request's prompt that equals the previous prompt (the upper
 *   bound of a prefix-cache hit; the rest is the newest turn, new by definition).
 * Results go to stdout and bench/results/agent-<timestamp>.json. BENCH_DEBUG=1 also prints the
 * twelve slowest steps by action.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createLocalEnvironment } from "../src/agent/local-environment.js";
import { runAgent, type StepEvent } from "../src/agent/loop.js";
import { createVllmClient } from "../src/agent/model/vllm-client.js";
import { loadPrompts } from "../src/agent/prompts.js";
import { buildFixPrompts, detectTestCommand, readRepoInstructions } from "../src/agent/task-prompt.js";
import { openTrajectoryFile, type TrajectoryRecord, type TrajectorySink } from "../src/agent/trajectory.js";
import { createRedactor } from "../src/shared/redact.js";
import { createBuggyRepo, isAgentRequest, testBaseEnv } from "../test/support/agent-fixtures.js";
import { bash, call, fault, replace, say, startFakeVllm, submit, view, type RecordedRequest, type ScriptStep } from "../test/support/fake-vllm/index.js";

const { values } = parseArgs({
  options: { runs: { type: "string", default: "3" }, steps: { type: "string", default: "50" }, "overflow-at": { type: "string", default: "30" } },
});
const RUNS = Number(values.runs);
const STEPS = Number(values.steps);
const OVERFLOW_AT = Number(values["overflow-at"]);

const reasoning = "Looking at the code to see what happens next. ".repeat(6);
const cycle: ScriptStep[] = [
  view(".", { reasoning }),
  view("src/add.js", { reasoning }),
  bash("cat src/add.js", { reasoning }),
  bash("ls -la src test", { reasoning }),
  replace("src/add.js", "  return a - b;", "  return a + b;", { reasoning }),
  call("str_replace_editor", { command: "undo_edit", path: "src/add.js" }, { reasoning }),
  bash("git status --short", { reasoning }),
  view("test/add.test.js", { reasoning, range: [1, 6] }),
];

function script(): (req: RecordedRequest) => ScriptStep {
  let turn = 0;
  let overflowed = false;
  return (req) => {
    if (!isAgentRequest(req)) return say("Summary: viewed and edited src/add.js, ran ls, cat and git status; nothing is broken.");
    turn++;
    if (turn === OVERFLOW_AT && !overflowed) {
      overflowed = true;
      turn--;
      return fault.contextOverflow(131072);
    }
    if (turn >= STEPS) return submit("Benchmark run finished.");
    return cycle[(turn - 1) % cycle.length];
  };
}

const promptOf = (req: RecordedRequest) => JSON.stringify({ tools: req.body.tools ?? null, messages: req.body.messages });
const commonPrefix = (a: string, b: string) => {
  let i = 0;
  while (i < a.length && i < b.length && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
};
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo] + (s[Math.ceil(pos)] - s[lo]) * (pos - lo);
};
const ms = (x: number) => `${x.toFixed(2)} ms`;
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

interface RunResult {
  byAction: Record<string, number[]>;
  overheadMs: number[];
  firstStepOverheadMs: number;
  afterCondensationOverheadMs: number[];
  modelMs: number[];
  commandMs: number[];
  trajectoryWriteMs: number[];
  reuse: number[];
  cachedShare: number[];
  acrossCondensation: { reuse: number[]; cachedShare: number[] };
  outcome: string;
  steps: number;
  condensations: number;
}

async function oneRun(): Promise<RunResult> {
  const repo = createBuggyRepo();
  const home = mkdtempSync(join(tmpdir(), "bench-agent-"));
  const vllm = await startFakeVllm({ script: script() });
  const env = await createLocalEnvironment({ root: repo, baseEnv: testBaseEnv(home) });
  try {
    const prompts = await loadPrompts();
    const fix = buildFixPrompts(prompts, {
      task: "`add(2, 3)` returns -1 instead of 5.",
      workdir: env.root,
      repoInstructions: await readRepoInstructions(env),
      testCommand: await detectTestCommand(env),
      commandTimeoutMs: 60_000,
    });
    const file = openTrajectoryFile(join(home, "trajectory.jsonl"), { redact: createRedactor(["bench-secret-value"]) });
    const trajectoryWriteMs: number[] = [];
    const timedTrajectory: TrajectorySink = {
      write(record: TrajectoryRecord) {
        const t = performance.now();
        file.write(record);
        if (record.type === "step") trajectoryWriteMs.push(performance.now() - t);
      },
      close: () => file.close(),
    };
    const events: Array<StepEvent & { at: number }> = [];
    const model = createVllmClient({ baseUrls: [vllm.url], maxRetries: 0, timeoutMs: 10_000 });
    const started = performance.now();
    const result = await runAgent({
      model,
      environment: env,
      systemPrompt: fix.systemPrompt,
      taskPrompt: fix.taskPrompt,
      prompts,
      trajectory: timedTrajectory,
      budgets: { maxSteps: STEPS },
      onStep: (e) => events.push({ ...e, at: performance.now() }),
    });
    timedTrajectory.close();

    const overheadMs: number[] = [];
    const byAction: Record<string, number[]> = {};
    const afterCondensationOverheadMs: number[] = [];
    let firstStepOverheadMs = NaN;
    let previousAt = started;
    let previousWasCondensation = false;
    for (const e of events) {
      const overhead = e.at - previousAt - e.modelMs - e.commandMs;
      if (e.kind === "step") {
        if (e.step === 1) firstStepOverheadMs = overhead;
        else if (previousWasCondensation) afterCondensationOverheadMs.push(overhead);
        else {
          overheadMs.push(overhead);
          const key = e.summary.split(" ")[0] === "$" ? e.summary : `${e.tool} ${e.summary.split(" ")[0]}`;
          (byAction[key] ??= []).push(overhead);
        }
      }
      previousWasCondensation = e.kind === "condensation";
      previousAt = e.at;
    }

    // Prefix stability over the agent's requests that were answered; a condensation (a summary
    // request between two agent requests) puts the pair apart.
    const reuse: number[] = [];
    const cachedShare: number[] = [];
    const across = { reuse: [] as number[], cachedShare: [] as number[] };
    const answered = vllm.requests.filter((r) => r.answer === 200);
    let previous: RecordedRequest | undefined;
    let condensedSince = false;
    for (const r of answered) {
      if (!isAgentRequest(r)) {
        condensedSince = true;
        continue;
      }
      if (previous) {
        const a = promptOf(previous);
        const b = promptOf(r);
        const prefix = commonPrefix(a.slice(0, -2), b); // without the closing "]}"
        const bucket = condensedSince ? across : { reuse, cachedShare };
        bucket.reuse.push(prefix / (a.length - 2));
        bucket.cachedShare.push(prefix / b.length);
      }
      previous = r;
      condensedSince = false;
    }

    return {
      byAction,
      overheadMs,
      firstStepOverheadMs,
      afterCondensationOverheadMs,
      modelMs: events.filter((e) => e.kind === "step").map((e) => e.modelMs),
      commandMs: events.filter((e) => e.kind === "step").map((e) => e.commandMs),
      trajectoryWriteMs,
      reuse,
      cachedShare,
      acrossCondensation: across,
      outcome: result.outcome.kind,
      steps: result.steps,
      condensations: result.condensations,
    };
  } finally {
    await env.close();
    await vllm.close();
    rmSync(repo, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  }
}

const runs: RunResult[] = [];
for (let i = 0; i < RUNS; i++) runs.push(await oneRun());

const all = (f: (r: RunResult) => number[]) => runs.flatMap(f);
const overhead = all((r) => r.overheadMs);
const summary = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model,
  runs: RUNS,
  stepsPerRun: STEPS,
  outcomes: runs.map((r) => `${r.outcome} after ${r.steps} steps, ${r.condensations} condensation(s)`),
  overheadMs: { median: quantile(overhead, 0.5), p95: quantile(overhead, 0.95), max: Math.max(...overhead), samples: overhead.length },
  perRunOverheadMedianMs: runs.map((r) => quantile(r.overheadMs, 0.5)),
  overheadByActionMs: Object.fromEntries(
    [...new Set(runs.flatMap((r) => Object.keys(r.byAction)))].map((k) => {
      const xs = runs.flatMap((r) => r.byAction[k] ?? []);
      return [k, { median: quantile(xs, 0.5), p95: quantile(xs, 0.95), n: xs.length }];
    }),
  ),
  firstStepOverheadMs: runs.map((r) => r.firstStepOverheadMs),
  afterCondensationOverheadMs: all((r) => r.afterCondensationOverheadMs),
  trajectoryWriteMs: { median: quantile(all((r) => r.trajectoryWriteMs), 0.5), p95: quantile(all((r) => r.trajectoryWriteMs), 0.95) },
  modelHttpMs: { median: quantile(all((r) => r.modelMs), 0.5), p95: quantile(all((r) => r.modelMs), 0.95) },
  commandMs: { median: quantile(all((r) => r.commandMs), 0.5), p95: quantile(all((r) => r.commandMs), 0.95) },
  prefix: {
    reuseMedian: quantile(all((r) => r.reuse), 0.5),
    reuseMin: Math.min(...all((r) => r.reuse)),
    cachedShareMedian: quantile(all((r) => r.cachedShare), 0.5),
    cachedShareMin: Math.min(...all((r) => r.cachedShare)),
    pairs: all((r) => r.reuse).length,
    acrossCondensation: {
      reuse: all((r) => r.acrossCondensation.reuse),
      cachedShare: all((r) => r.acrossCondensation.cachedShare),
    },
  },
};

mkdirSync(join("bench", "results"), { recursive: true });
const out = join("bench", "results", `agent-${summary.date.replace(/[:.]/g, "-")}.json`);
writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);

console.log(`agent harness benchmark — ${summary.date}, Node ${summary.node}, ${summary.cpus} CPUs (${summary.cpuModel})`);
console.log(`${RUNS} runs × ${STEPS} steps, fake vLLM with zero latency; ${summary.outcomes.join("; ")}`);
console.log(`overhead per step: median ${ms(summary.overheadMs.median)}, p95 ${ms(summary.overheadMs.p95)}, max ${ms(summary.overheadMs.max)} (${overhead.length} steps; step 1 and the step after a condensation apart)`);
console.log(`  per-run medians: ${summary.perRunOverheadMedianMs.map(ms).join(", ")}; first step: ${summary.firstStepOverheadMs.map(ms).join(", ")}; after condensation: ${summary.afterCondensationOverheadMs.map(ms).join(", ")}`);
console.log(`  by action: ${Object.entries(summary.overheadByActionMs).map(([k, v]) => `${k}: ${ms(v.median)}/${ms(v.p95)}`).join("; ")}`);
console.log(`  of which trajectory write: median ${ms(summary.trajectoryWriteMs.median)}, p95 ${ms(summary.trajectoryWriteMs.p95)}`);
console.log(`  excluded — model HTTP call: median ${ms(summary.modelHttpMs.median)}, p95 ${ms(summary.modelHttpMs.p95)}; commands: median ${ms(summary.commandMs.median)}, p95 ${ms(summary.commandMs.p95)}`);
console.log(`prefix stability (${summary.prefix.pairs} request pairs without condensation):`);
console.log(`  reuse of the previous prompt: median ${pct(summary.prefix.reuseMedian)}, min ${pct(summary.prefix.reuseMin)}`);
console.log(`  share of the prompt equal to the previous prompt: median ${pct(summary.prefix.cachedShareMedian)}, min ${pct(summary.prefix.cachedShareMin)}`);
console.log(`  across condensation: reuse ${summary.prefix.acrossCondensation.reuse.map(pct).join(", ")}; share ${summary.prefix.acrossCondensation.cachedShare.map(pct).join(", ")}`);
if (process.env.BENCH_DEBUG) console.log("slowest steps (action, overhead ms):", JSON.stringify(runs.flatMap((r) => Object.entries(r.byAction).flatMap(([k, xs]) => xs.map((x) => [k, +x.toFixed(2)]))).sort((a, b) => (b[1] as number) - (a[1] as number)).slice(0, 12)));
console.log(`written to ${out}`);
