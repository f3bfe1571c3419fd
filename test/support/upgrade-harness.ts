import type { SimRepo } from "./github-sim/state.js";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { chmodSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createGitHubApp, type GitHubApp } from "../../src/github/app-client.js";
import type { Env } from "../../src/config/env.js";
import { processJob, type JobOutcome } from "../../src/jobs/run-job.js";
import type { JobServices } from "../../src/jobs/services.js";
import { runLinks } from "../../src/runs/run-links.js";
import { createUpgradeHandler } from "../../src/jobs/upgrade/run-upgrade.js";
import { createJobServices } from "../../src/main/start-worker.js";
import { loadModels } from "../../src/main/runtime.js";
import type { UpgradePayload } from "../../src/queue/payloads.js";
import { createLogger } from "../../src/shared/log.js";
import { createRedactor } from "../../src/shared/redact.js";
import { startFakeVllm, type FakeVllm } from "./fake-vllm/index.js";
import { startGitHubSim, type GitHubSim } from "./github-sim/index.js";
import { testPrivateKey } from "./keys.js";
import { startNpmRegistry, type NpmRegistry } from "./npm-registry/index.js";
import { TestOctokit } from "./octokit.js";
import { freePort } from "./redis-server.js";
import { testEnv } from "./test-env.js";
import { makeDir } from "./upgrade-fixtures.js";

/**
 * The upgrade job in-process, against everything real but GitHub and the model: the GitHub
 * simulator (REST + git over HTTP), the test npm registry, the fake vLLM, real git, bubblewrap,
 * npm and node. `run()` is processJob, the worker's own core, so the card, the config and the
 * typed errors behave as in the worker.
 */
export interface UpgradeHarness {
  sim: GitHubSim;
  registry: NpmRegistry;
  /** An allowed registry URL where nothing listens (a registry that is down). */
  downRegistryUrl: string;
  vllm: FakeVllm;
  env: Env;
  app: GitHubApp;
  services: JobServices;
  dataDir: string;
  run(payload: Partial<UpgradePayload> & { repo: string; repoId: number; installationId: number }): Promise<{ outcome?: JobOutcome; error?: Error; jobId: string }>;
  /**
   * `acme/<name>` made from `dir`, the app installed on it, alice a writer, and her `/iquest
   * upgrade` run as a job (queue the model's turns on `vllm` first). Throws the job's error.
   */
  upgradeRepo(name: string, dir: string, installationId: number): Promise<{ repo: SimRepo; outcome: JobOutcome }>;
  /** A clone of the repository (all branches as origin/*), asynchronously: the simulator serves git from this process. */
  clone(repo: SimRepo, installationId: number, into: string): Promise<(...args: string[]) => Promise<string>>;
  stop(): Promise<void>;
}

const APP_ID = 5151;
const execFileAsync = promisify(execFile);

/** `extraEnv`: more worker settings (a Go module proxy, say), or a function of the harness's npm registry URL. */
export async function startUpgradeHarness(extraEnv: Record<string, string> | ((registryUrl: string) => Record<string, string>) = {}): Promise<UpgradeHarness> {
  const sim = await startGitHubSim({ app: { id: APP_ID, privateKey: testPrivateKey(), webhookSecret: "upgrade-harness" } });
  const registry = await startNpmRegistry();
  const vllm = await startFakeVllm({ script: [] });
  const downRegistryUrl = `http://127.0.0.1:${await freePort()}/`;
  const dataDir = makeDir("upgrade-harness-");
  chmodSync(dataDir, 0o755);
  const env = testEnv({
    APP_ID: String(APP_ID),
    GHE_HOST: sim.host,
    GHE_PROTOCOL: "http",
    DATA_DIR: dataDir,
    MODEL_BASE_URL: vllm.url,
    UPGRADE_REGISTRIES: `${registry.url},${downRegistryUrl}`,
    SETUP_TIMEOUT_MS: "120000",
    TEST_TIMEOUT_MS: "60000",
    ...(typeof extraEnv === "function" ? extraEnv(registry.url) : extraEnv),
  });
  const redact = createRedactor([env.privateKey, env.WEBHOOK_SECRET]);
  const log = createLogger({ level: "silent", redact });
  const app = createGitHubApp({ appId: String(APP_ID), privateKey: env.privateKey!, baseUrl: env.githubApiUrl, log, Octokit: TestOctokit });
  const models = loadModels(env, { MODEL_BASE_URL: vllm.url });
  const services = createJobServices(env, app, models, log);
  let n = 0;
  const harness: UpgradeHarness = {
    sim,
    registry,
    downRegistryUrl,
    vllm,
    env,
    app,
    services,
    dataDir,
    async run(partial) {
      const payload: UpgradePayload = { kind: "upgrade", trigger: "comment", ...partial };
      const jobId = `upgrade-${partial.repoId}-${++n}`;
      try {
        const outcome = await processJob(
          { app, handlers: { fix: unused, review: unused, upgrade: createUpgradeHandler(services) }, redact, log, models, runs: runLinks(env, redact), progressIntervalMs: 0 },
          { id: jobId, data: payload, attemptsMade: 0, opts: { attempts: 1 } },
          new AbortController().signal,
        );
        return { outcome, jobId };
      } catch (error) {
        return { error: error as Error, jobId };
      }
    },
    async upgradeRepo(name, dir, installationId) {
      const repo = await sim.createRepo({ owner: "acme", name, fromDir: dir });
      sim.installApp({ installationId, repos: [`acme/${name}`] });
      sim.addCollaborator(repo, "alice", "write");
      const issue = sim.createIssue({ repo, title: "Upgrade please", body: "", user: "alice" });
      const r = await harness.run({ repo: repo.fullName, repoId: repo.id, installationId, trigger: "comment", issueNumber: issue.number });
      if (r.error) throw r.error;
      return { repo, outcome: r.outcome! };
    },
    async clone(repo, installationId, into) {
      const token = sim.mintToken({ installationId, repositoryIds: [repo.id], permissions: { contents: "read" } }).token;
      await execFileAsync("git", ["clone", "-q", `http://x-access-token:${token}@${sim.host}/${repo.fullName}.git`, into]);
      return async (...args: string[]) => (await execFileAsync("git", args, { cwd: into })).stdout.trim();
    },
    async stop() {
      await vllm.close();
      await registry.close();
      await sim.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return harness;
}

const unused = async (): Promise<never> => {
  throw new Error("not an upgrade job");
};

export const HARNESS_APP_ID = APP_ID;
export const workspaceOf = (h: UpgradeHarness) => join(h.dataDir, "workspaces");
