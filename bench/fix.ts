/**
 * bench/fix: the whole fix job end to end, as the e2e test runs it — real web and worker
 * processes, real Redis, git over HTTP (the GitHub simulator), the bwrap sandbox, the repo's
 * real tests — with the fake model answering at once.
 *
 *   npx tsx bench/fix.ts [--runs 3]
 *
 * Run twice: with GitHub write pacing on (as on github.com: a per-installation token bucket, a
 * burst of 15 writes and 6 notifying ones, then 1 per s and 1 per 3 s; src/github/write-pacing.ts)
 * and off (GITHUB_WRITE_PACING=off), so the app's own overhead can be told apart from the waits
 * pacing adds. With pacing on, the warm run waits until the installation's bucket has refilled
 * (`--gap`, default 15 s): "warm" means a warm mirror and install cache on an idle installation.
 * `--gap 0` measures a job right behind another on the same installation instead.
 *
 * Reports, per run: time from the webhook to the 👀 reaction and to the first job-card write,
 * the total, and the job's own overhead = total − model time − command time (the agent's tool
 * commands and the baseline and verify test runs), on a cold cache (a repo the worker has never
 * seen) and a warm one (another issue on the same repo: mirror and install cache warm).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createBuggyRepo, fixScript } from "../test/support/agent-fixtures.js";
import { eventually, finalCard, startStack } from "../test/support/e2e-stack.js";
import { WRITE_BUCKETS } from "../src/github/write-pacing.js";
import { machine, median } from "./support.js";
import { scriptByTask } from "../test/support/fake-vllm/index.js";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const RUNS = arg("--runs", 3);
/** Seconds between the cold and the warm run with pacing on: a full write bucket refills in 15 s. */
const GAP_S = arg("--gap", (WRITE_BUCKETS.write.burst * WRITE_BUCKETS.write.everyMs) / 1000);

interface Sample {
  pacing: "on" | "off";
  cache: "cold" | "warm";
  reactionMs: number;
  firstCardMs: number;
  totalMs: number;
  modelMs: number;
  commandMs: number;
  testMs: number;
  overheadMs: number;
  writes: number;
}

async function measure(pacing: "on" | "off", fixture: string, samples: Sample[]) {
  const stack = await startStack({
    vllm: {
      script: scriptByTask(fixScript),
    },
    env: { GITHUB_WRITE_PACING: pacing },
  });
  const { sim } = stack;
  try {
    for (let r = 0; r < RUNS; r++) {
      const name = `calc${r}`;
      const repo = await sim.createRepo({ owner: "bench", name, fromDir: fixture });
      sim.installApp({ installationId: 1000 + r, repos: [`bench/${name}`] });
      sim.addCollaborator(repo, "alice", "write");
      for (const cache of ["cold", "warm"] as const) {
        if (cache === "warm" && pacing === "on") await new Promise((r) => setTimeout(r, GAP_S * 1000));
        const issue = sim.createIssue({ repo, title: `add() is wrong (${cache})`, body: "add(2, 3) is -1", user: "alice" });
        const seq = sim.requests.length;
        const t0 = Date.now();
        await sim.webhooks.issuesLabeled({ repo: `bench/${name}`, issue: issue.number, label: "iquest:fix", sender: "alice" });
        const card = await eventually(() => finalCard(sim, `bench/${name}`, issue.number), "the final card", 180_000);
        if (!/Opened draft PR/.test(card.body)) throw new Error(`run failed:\n${card.body}`);
        const after = sim.requests.slice(seq);
        const at = (pred: (r: (typeof after)[number]) => boolean) => Date.parse(after.find(pred)!.at) - t0;
        const reactionMs = at((q) => q.method === "POST" && /\/issues\/\d+\/reactions$/.test(q.path));
        const firstCardMs = at((q) => q.method === "POST" && /\/issues\/\d+\/comments$/.test(q.path) && JSON.stringify(q.body).includes("iquest-card"));
        const finalWrite = [...after].reverse().find((q) => q.method === "PATCH" && /\/issues\/comments\/\d+$/.test(q.path))!;
        const totalMs = Date.parse(finalWrite.at) - t0;
        const jobId = /iquest-card:([^ ]+) -->/.exec(card.body)![1]!;
        const steps = readFileSync(join(stack.dataDir, "runs", `${jobId}.jsonl`), "utf8")
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l))
          .filter((x) => x.type === "step");
        const modelMs = steps.reduce((a, s) => a + (s.timings?.modelMs ?? 0), 0);
        const commandMs = steps.reduce((a, s) => a + (s.timings?.commandMs ?? 0), 0);
        // Baseline and verify test runs, as the card reports them ("(0.2 s)").
        const testMs = [...card.body.matchAll(/\((\d+\.\d) s\)/g)].reduce((a, m) => a + Number(m[1]) * 1000, 0);
        const writes = after.filter((q) => q.target === "rest" && q.method !== "GET" && q.method !== "HEAD" && !q.path.endsWith("/access_tokens")).length;
        samples.push({ pacing, cache, reactionMs, firstCardMs, totalMs, modelMs, commandMs, testMs, overheadMs: totalMs - modelMs - commandMs - testMs, writes });
        console.error(`pacing ${pacing}, run ${r + 1}/${RUNS} ${cache}: total ${totalMs} ms, overhead ${totalMs - modelMs - commandMs - testMs} ms`);
      }
    }
  } finally {
    await stack.stop();
  }
}

async function main() {
  const fixture = createBuggyRepo();
  const samples: Sample[] = [];
  await measure("on", fixture, samples);
  await measure("off", fixture, samples);
  const row = (pacing: "on" | "off", cache: "cold" | "warm") => {
    const s = samples.filter((x) => x.cache === cache && x.pacing === pacing);
    const m = (k: keyof Sample) => Math.round(median(s.map((x) => x[k] as number)));
    return `| ${pacing} | ${cache} | ${m("reactionMs")} | ${m("firstCardMs")} | ${m("totalMs")} | ${m("modelMs")} | ${m("commandMs") + m("testMs")} | **${m("overheadMs")}** | ${m("writes")} |`;
  };
  console.log(
    [
      `Date: ${new Date().toISOString().slice(0, 10)} · Machine: ${machine()} · ${RUNS} runs of each, medians in ms · gap before a paced warm run: ${GAP_S} s`,
      "",
      "| write pacing | cache | webhook → 👀 | webhook → first card | total | model | commands + tests | overhead | GitHub writes |",
      "| --- | --- | --: | --: | --: | --: | --: | --: | --: |",
      row("on", "cold"),
      row("on", "warm"),
      row("off", "cold"),
      row("off", "warm"),
    ].join("\n"),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
