import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { runCli } from "../src/cli/run-cli.js";
import { createRedactor } from "../src/shared/redact.js";
import { testBaseEnv } from "../test/support/agent-fixtures.js";
import { Capture } from "../test/support/cli-run.js";
import { startFakeVllm } from "../test/support/fake-vllm/index.js";
import { referenceModel } from "../test/support/eval-reference.js";
import { machine } from "./support.js";

/**
 * `iquest-bot eval --tasks bench/tasks` with the scripted model playing each task's reference fix:
 * what the harness itself costs per task (copy, sandbox, baseline, the agent's few steps, the
 * verification and the hidden tests), and the report it prints. With a real model, run
 * `iquest-bot eval` instead; this measures the harness, not a model.
 *
 *   npx tsx bench/eval.ts [--tasks DIR] [--only IDS]
 */
const argv = process.argv.slice(2);
const opt = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const tasksDir = resolve(opt("tasks") ?? "bench/tasks");
const vllm = await startFakeVllm({ script: referenceModel(tasksDir).script });
const home = mkdtempSync(join(tmpdir(), "bench-eval-"));
const stdout = new Capture();
const stderr = new Capture();
try {
  const only = opt("only");
  const code = await runCli(["eval", "--tasks", tasksDir, ...(only ? ["--only", only] : [])], {
    stdout,
    stderr,
    cwd: process.cwd(),
    modelEnv: { MODEL_BASE_URL: vllm.url },
    commandEnv: testBaseEnv(home),
    redact: createRedactor([]),
  });
  console.log(`# bench/eval.ts, ${new Date().toISOString().slice(0, 10)}, ${machine()}, exit ${code}\n`);
  console.log(stdout.text);
  if (code !== 0) console.error(stderr.text.slice(-4000));
} finally {
  await vllm.close();
  rmSync(home, { recursive: true, force: true });
}
