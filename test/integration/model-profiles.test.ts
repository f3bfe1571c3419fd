import { afterAll, afterEach, beforeAll, describe, expect, test } from "@jest/globals";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModelProfiles } from "../../src/config/model-profiles.js";
import { EXIT_CODES } from "../../src/cli/exit-codes.js";
import { runCli } from "../../src/cli/run-cli.js";
import { checkProfiles, chooseProfile, clientOptionsFor, type ModelSetup } from "../../src/jobs/model-for-job.js";
import { createVllmClient } from "../../src/agent/model/vllm-client.js";
import { startWeb, type WebHandle } from "../../src/main/start-web.js";
import { createLogger } from "../../src/shared/log.js";
import { createRedactor, redact } from "../../src/shared/redact.js";
import { createBuggyRepo, testBaseEnv } from "../support/agent-fixtures.js";
import { say, startFakeVllm, type FakeVllm } from "../support/fake-vllm/index.js";
import { TestOctokit } from "../support/octokit.js";
import { startTestRedis, type TestRedis } from "../support/redis-server.js";
import { testEnv } from "../support/test-env.js";

/**
 * Model profiles end to end: two fake vLLM servers, one per model, record which got which
 * request; health checks name the profile that is down.
 */
const THINKING = "IQuestLab/IQuest-Coder-V1-40B-Thinking";
const INSTRUCT = "IQuestLab/IQuest-Coder-V1-40B-Instruct";
let thinking: FakeVllm;
let instruct: FakeVllm;
let dir: string;
const cleanups: Array<() => void | Promise<void>> = [];

beforeAll(async () => {
  thinking = await startFakeVllm({ model: THINKING, script: () => say("thinking answered") });
  instruct = await startFakeVllm({ model: INSTRUCT, script: () => say("instruct answered") });
  dir = mkdtempSync(join(tmpdir(), "profiles-"));
});

afterAll(async () => {
  await thinking.close();
  await instruct.close();
  rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function twoServerSetup(jobs: string): ModelSetup {
  return {
    profiles: loadModelProfiles({ MODEL_BASE_URL: thinking.url }, { path: "profiles.yaml", text: `profiles:\n  instruct:\n    baseUrls: [${instruct.url}]\njobs:\n${jobs}` }),
    apiKeys: new Map(),
  };
}

describe("routing per job kind", () => {
  test("each use reaches the server of the profile it is mapped to", async () => {
    const setup = twoServerSetup("  review: instruct\n  condense: instruct\n");
    const before = { t: thinking.requests.length, i: instruct.requests.length };
    for (const use of ["fix", "review", "upgrade", "condense"] as const) {
      const { profile } = chooseProfile(setup.profiles, use);
      const client = createVllmClient(clientOptionsFor(setup, profile));
      await client.complete([{ role: "user", content: `hello from ${use}` }], []);
    }
    const toThinking = thinking.requests.slice(before.t).map((r) => (r.body as { messages: Array<{ content: string }> }).messages.at(-1)!.content);
    const toInstruct = instruct.requests.slice(before.i).map((r) => (r.body as { messages: Array<{ content: string }> }).messages.at(-1)!.content);
    expect(toThinking).toEqual(["hello from fix", "hello from upgrade"]);
    expect(toInstruct).toEqual(["hello from review", "hello from condense"]);
    expect(instruct.requests.at(-1)!.body).toMatchObject({ model: INSTRUCT, temperature: 0.6, top_p: 0.85, top_k: 20 });
    expect((instruct.requests.at(-1)!.body as { chat_template_kwargs?: unknown }).chat_template_kwargs).toEqual({ enable_thinking: false });
  });

  test("a repo may choose another offered profile per job kind, and an unknown one gets the default with a message", () => {
    const setup = twoServerSetup("  review: instruct\n");
    expect(chooseProfile(setup.profiles, "fix", "instruct").profile.baseUrls).toEqual([instruct.url]);
    const unknown = chooseProfile(setup.profiles, "fix", "gpt-5");
    expect(unknown.profile.name).toBe("thinking");
    expect(unknown.problem).toMatch(/gpt-5/);
  });
});

describe("the CLI's --profile", () => {
  test("--profile instruct runs on the instruct server; the JSON names the profile and model", async () => {
    const repo = createBuggyRepo();
    const home = mkdtempSync(join(tmpdir(), "cli-profile-"));
    cleanups.push(() => rmSync(repo, { recursive: true, force: true }), () => rmSync(home, { recursive: true, force: true }));
    const file = join(home, "profiles.yaml");
    writeFileSync(file, `profiles:\n  instruct:\n    baseUrls: [${instruct.url}]\n`);
    const before = instruct.requests.length;
    const out = { text: "", write(s: string) { this.text += s; return true; } };
    const err = { text: "", write(s: string) { this.text += s; return true; } };
    const vllmBefore = thinking.requests.length;
    const code = await runCli(["fix", "--repo", repo, "--issue-text", "x", "--profile", "instruct", "--max-steps", "1", "--json"], {
      stdout: out,
      stderr: err,
      cwd: home,
      modelEnv: { MODEL_BASE_URL: thinking.url, MODEL_PROFILES_FILE: file },
      commandEnv: testBaseEnv(home),
      redact: createRedactor([]),
    });
    expect(code).toBe(EXIT_CODES.budgetExhausted);
    expect(instruct.requests.length).toBe(before + 1);
    expect(thinking.requests.length).toBe(vllmBefore);
    expect(JSON.parse(out.text)).toMatchObject({ profile: "instruct", model: INSTRUCT });
    expect(err.text).toContain("profile instruct");
  });

  test("an unknown --profile is a usage error that lists the profiles", async () => {
    const out = { text: "", write(s: string) { this.text += s; return true; } };
    const err = { text: "", write(s: string) { this.text += s; return true; } };
    const repo = createBuggyRepo();
    cleanups.push(() => rmSync(repo, { recursive: true, force: true }));
    const code = await runCli(["fix", "--repo", repo, "--issue-text", "x", "--profile", "gpt"], {
      stdout: out,
      stderr: err,
      cwd: repo,
      modelEnv: {},
      commandEnv: testBaseEnv(repo),
      redact: createRedactor([]),
    });
    expect(code).toBe(EXIT_CODES.usage);
    expect(err.text).toMatch(/--profile gpt: no such profile \(available: thinking, instruct, loop\)/);
  });
});

describe("health", () => {
  let redis: TestRedis;
  let web: WebHandle;

  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await web?.close();
    await redis.destroy();
  });

  test("checkProfiles: an endpoint that is down, or serves another model, is reported by profile name", async () => {
    const setup: ModelSetup = {
      profiles: loadModelProfiles(
        { MODEL_BASE_URL: thinking.url },
        { path: "p.yaml", text: `profiles:\n  instruct:\n    baseUrls: [http://127.0.0.1:9/v1]\n  wrong:\n    baseUrls: [${thinking.url}]\n    model: not-served\n` },
      ),
      apiKeys: new Map(),
    };
    const results = Object.fromEntries((await checkProfiles(setup, 1000)).map((r) => [r.profile, r]));
    expect(results.thinking!.ok).toBe(true);
    expect(results.instruct!.ok).toBe(false);
    expect(results.instruct!.endpoints[0]!.detail).toMatch(/127\.0\.0\.1:9\/v1\/models failed/);
    expect(results.wrong!.ok).toBe(false);
    expect(results.wrong!.endpoints[0]!.detail).toMatch(/does not serve "not-served"/);
  });

  test("/healthz stays about Redis; /healthz?deep=1 names the down profile and answers 503", async () => {
    const models: ModelSetup = {
      profiles: loadModelProfiles({ MODEL_BASE_URL: thinking.url }, { path: "p.yaml", text: "profiles:\n  instruct:\n    baseUrls: [http://127.0.0.1:9/v1]\n" }),
      apiKeys: new Map(),
    };
    web = await startWeb({ env: testEnv(), log: createLogger({ level: "silent", redact }), redis: redis.url, Octokit: TestOctokit, models });
    const shallow = await fetch(`http://127.0.0.1:${web.port}/healthz`);
    expect(shallow.status).toBe(200);
    const deep = await fetch(`http://127.0.0.1:${web.port}/healthz?deep=1`);
    expect(deep.status).toBe(503);
    const body = (await deep.json()) as { checks: Record<string, { ok: boolean; detail?: string }> };
    expect(body.checks["model:thinking"]).toEqual({ ok: true, detail: `${THINKING} is served` });
    expect(body.checks["model:instruct"]!.ok).toBe(false);
    expect(body.checks["model:instruct"]!.detail).toMatch(/127\.0\.0\.1:9/);
  });
});

