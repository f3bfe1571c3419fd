import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalEnvironment } from "../../src/agent/local-environment.js";
import { runAgent, type AgentResult } from "../../src/agent/loop.js";
import { createVllmClient } from "../../src/agent/model/vllm-client.js";
import { openTrajectoryFile } from "../../src/agent/trajectory.js";
import type { RunLinks } from "../../src/runs/run-links.js";
import type { Redact } from "../../src/shared/redact.js";
import { createBuggyRepo, git, testBaseEnv } from "./agent-fixtures.js";
import { bash, replace, startFakeVllm, submit, view, type ScriptStep } from "./fake-vllm/index.js";

/**
 * A real agent run for the run viewer's tests: the real loop, tools and trajectory writer on a
 * real checkout, with the fake vLLM playing `script` (each reply after `delayMs`, so a page can
 * watch it go). Writes the run's meta before and its diff after, as a job does.
 */
export function viewerScript(): ScriptStep[] {
  return [
    view(".", { reasoning: "Let me look at the repository layout before touching anything." }),
    bash("npm test", { reasoning: "Reproduce the failure first." }),
    // 200 lines of output: the viewer folds it.
    bash("seq 1 200", { reasoning: "Print a long listing, to see a long observation." }),
    replace("src/add.js", "  return a - b;", "  return a + b;", { reasoning: "add subtracts instead of adding." }),
    bash("npm test", { reasoning: "Run the tests again." }),
    submit("Fixed add() in src/add.js.", { reasoning: "Tests pass; done." }),
  ];
}

export async function recordScriptedRun(options: {
  links: RunLinks;
  jobId: string;
  redact: Redact;
  private: boolean;
  script?: ScriptStep[];
  delayMs?: number;
  /** Called once the run has started (its first record is on disk). */
  onStarted?: () => void;
}): Promise<AgentResult> {
  const script = (options.script ?? viewerScript()).map((s) => (typeof s === "object" && options.delayMs ? { ...s, delayMs: options.delayMs } : s));
  const vllm = await startFakeVllm({ script });
  const repo = createBuggyRepo();
  const home = mkdtempSync(join(tmpdir(), "viewer-home-"));
  options.links.writeMeta({ jobId: options.jobId, kind: "fix", repo: "octo/calc", private: options.private, title: "fix for #12", startedAt: new Date().toISOString() });
  const trajectory = openTrajectoryFile(options.links.pathFor(options.jobId), { redact: options.redact });
  try {
    const environment = await createLocalEnvironment({ root: repo, baseEnv: testBaseEnv(home) });
    let started = false;
    const result = await runAgent({
      model: createVllmClient({ baseUrls: [vllm.url], timeoutMs: 30_000 }),
      environment,
      systemPrompt: "You fix bugs in the repository at /repo. Use the tools.",
      taskPrompt: "Issue #12: add() is wrong: 2 + 3 gives -1. Fix it; `npm test` runs the tests.",
      trajectory,
      onStep: () => {
        if (!started) {
          started = true;
          options.onStarted?.();
        }
      },
      budgets: { maxSteps: 20 },
    });
    options.links.store.writeDiff(options.jobId, git(repo, "diff"));
    return result;
  } finally {
    trajectory.close();
    await vllm.close();
  }
}
