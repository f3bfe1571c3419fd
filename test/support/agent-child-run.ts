/**
 * Runs one agent run in a child process, for tests that kill the process mid-run
 * (`tsx test/support/agent-child-run.ts`). Settings come from the environment:
 * AGENT_MODEL_URL, AGENT_REPO, AGENT_TRAJECTORY.
 */
import { createLocalEnvironment } from "../../src/agent/local-environment.js";
import { runAgent } from "../../src/agent/loop.js";
import { createVllmClient } from "../../src/agent/model/vllm-client.js";
import { openTrajectoryFile } from "../../src/agent/trajectory.js";
import { createRedactor } from "../../src/shared/redact.js";

const { AGENT_MODEL_URL, AGENT_REPO, AGENT_TRAJECTORY } = process.env;
if (!AGENT_MODEL_URL || !AGENT_REPO || !AGENT_TRAJECTORY) throw new Error("AGENT_MODEL_URL, AGENT_REPO and AGENT_TRAJECTORY are required");

const env = await createLocalEnvironment({ root: AGENT_REPO, baseEnv: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
const trajectory = openTrajectoryFile(AGENT_TRAJECTORY, { redact: createRedactor() });
const result = await runAgent({
  model: createVllmClient({ baseUrls: [AGENT_MODEL_URL], timeoutMs: 60_000 }),
  environment: env,
  systemPrompt: "You are a test agent.",
  taskPrompt: "Run a few commands.",
  trajectory,
});
trajectory.close();
await env.close();
process.stdout.write(`${result.outcome.kind}\n`);
