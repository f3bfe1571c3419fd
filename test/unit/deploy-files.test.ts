import { describe, expect, test } from "@jest/globals";
import { existsSync, readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { envSchema, loadEnv } from "../../src/config/env.js";
import { loadModelProfiles } from "../../src/config/model-profiles.js";
import { createMetrics } from "../../src/shared/metrics.js";
import { testPrivateKey } from "../support/keys.js";

/**
 * The files that deploy the app, checked where they cannot be run (no Docker engine here):
 * the Dockerfile's stages and runtime image, the compose file's services and the exact set of
 * variables it passes, and the Grafana dashboard's queries against the metrics the app exports.
 */

const root = resolve(new URL(".", import.meta.url).pathname, "../..");
const read = (p: string) => readFileSync(resolve(root, p), "utf8");

/** Dockerfile instructions, with line continuations joined. */
function instructions(text: string): Array<{ op: string; args: string; stage: string }> {
  const out: Array<{ op: string; args: string; stage: string }> = [];
  let stage = "";
  const joined = text.replace(/\\\n/g, " ");
  for (const raw of joined.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const m = /^([A-Z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`unreadable Dockerfile line: ${line}`);
    if (m[1] === "FROM") stage = /\bAS\s+(\S+)/i.exec(m[2])?.[1] ?? "";
    out.push({ op: m[1], args: m[2], stage });
  }
  return out;
}

/** Every variable the app reads: env.ts's schema plus the MODEL_* variables of model-profiles.ts. */
function appVariables(): Set<string> {
  const block = /export interface ModelEnv \{([\s\S]*?)\n\}/.exec(read("src/config/model-profiles.ts"))?.[1] ?? "";
  const modelVars = [...block.matchAll(/^\s*(MODEL_[A-Z_]+)\?:/gm)].map((m) => m[1]);
  expect(modelVars).toContain("MODEL_TEMPERATURE");
  return new Set([...Object.keys(envSchema.shape), ...modelVars]);
}

describe("Dockerfile", () => {
  const steps = instructions(read("Dockerfile"));
  const runtime = steps.filter((s) => s.stage === "runtime");
  const args = (op: string) => runtime.filter((s) => s.op === op).map((s) => s.args);

  test("three stages on a Node 20 slim base, and `full` on top of the runtime; the runtime gets production dependencies only", () => {
    const froms = steps.filter((s) => s.op === "FROM");
    expect(froms.map((s) => s.stage)).toEqual(["build", "deps", "runtime", "full"]);
    expect(steps.find((s) => s.op === "ARG")?.args).toBe("NODE_IMAGE=node:20-bookworm-slim");
    for (const f of froms.slice(0, 3)) expect(f.args).toMatch(/^\$\{NODE_IMAGE\}/);
    expect(froms[3]!.args).toBe("runtime AS full");
    expect(steps.filter((s) => s.stage === "deps" && s.op === "RUN").map((s) => s.args).join(" ")).toMatch(/npm ci --omit=dev/);
    const copiedFrom = args("COPY").filter((a) => a.startsWith("--from="));
    expect(copiedFrom).toEqual(["--from=deps /app/node_modules ./node_modules", "--from=build /app/dist ./dist"]);
    // Nothing from the build stage's node_modules (it has the dev dependencies).
    expect(copiedFrom.join(" ")).not.toMatch(/--from=build \S*node_modules/);
  });

  test("git, bubblewrap, ripgrep and tini in the runtime; it runs as a non-root user", () => {
    const apt = args("RUN").join(" ");
    for (const pkg of ["git", "bubblewrap", "ripgrep", "tini", "ca-certificates"]) expect(apt).toMatch(new RegExp(`apt-get install[^&]*\\b${pkg}\\b`));
    const users = args("USER");
    expect(users).toEqual(["node"]);
    // USER comes after the last RUN: nothing after it runs as root.
    const lastRun = runtime.map((s) => s.op).lastIndexOf("RUN");
    expect(runtime.map((s) => s.op).indexOf("USER")).toBeGreaterThan(lastRun);
    expect(apt).toMatch(/mkdir -p \/data\/runs \/data\/workspaces && chown -R node:node \/data/);
  });

  test("the full image (the default target, last) adds the toolchains tests need, and ends as the non-root user", () => {
    const full = steps.filter((s) => s.stage === "full");
    const apt = full.filter((s) => s.op === "RUN").map((s) => s.args).join(" ");
    for (const pkg of ["python3-pip", "python3-venv", "python3-poetry", "golang-go", "cargo", "rustc", "default-jdk-headless", "maven", "gradle", "make", "gcc"]) {
      expect(apt).toMatch(new RegExp(`apt-get install[^&]*\\b${pkg}\\b`));
    }
    expect(apt).toMatch(/corepack enable/);
    expect(full.at(-1)).toMatchObject({ op: "USER", args: "node" });
  });

  test("the role is the command: web, worker and all exist in the entrypoint; the default is all", () => {
    expect(args("ENTRYPOINT")).toEqual(['["/usr/bin/tini", "--", "/usr/local/bin/iquest-entrypoint"]']);
    expect(args("CMD")).toEqual(['["all"]']);
    const entry = read("bin/docker-entrypoint.sh");
    for (const role of ["web", "worker", "all"]) {
      const m = new RegExp(`^\\s*${role}\\) exec node (\\S+) ;;`, "m").exec(entry);
      expect(m?.[1]).toBe(`dist/src/main/${role}.js`);
      // What the role runs is built from a source file that exists.
      expect(existsSync(resolve(root, `src/main/${role}.ts`))).toBe(true);
    }
  });

  test("a HEALTHCHECK that checks the role's own /healthz", () => {
    expect(args("HEALTHCHECK")[0]).toMatch(/CMD \["\/bin\/sh", "\/app\/bin\/healthcheck\.sh"\]/);
    const check = read("bin/healthcheck.sh");
    expect(check).toMatch(/web\) check "\$\{PORT:-3000\}"/);
    expect(check).toMatch(/worker\) check "\$\{WORKER_PORT:-9464\}"/);
    expect(args("ENV").join(" ")).toMatch(/WORKER_PORT=9464/);
  });

  test("every file it copies from the context exists, and none is excluded by .dockerignore", () => {
    const ignore = read(".dockerignore").split("\n").filter(Boolean);
    const sources = steps
      .filter((s) => s.op === "COPY" && !s.args.startsWith("--from="))
      .flatMap((s) => s.args.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(8);
    for (const src of sources) {
      expect({ src, exists: existsSync(resolve(root, src)) }).toEqual({ src, exists: true });
      expect(ignore.filter((pattern) => pattern === src || pattern === src.split("/")[0])).toEqual([]);
    }
    for (const script of ["bin/docker-entrypoint.sh", "bin/healthcheck.sh"]) expect(statSync(resolve(root, script)).mode & 0o111).not.toBe(0);
  });
});

describe("deploy/compose.yaml", () => {
  const compose = parseYaml(read("deploy/compose.yaml"), { merge: true }) as any;

  /** Compose interpolation of one value: ${VAR:-default} and ${VAR:?error} with an empty shell. */
  const interpolate = (value: string, given: Record<string, string>) =>
    String(value).replace(/\$\{([A-Z_][A-Z0-9_]*)(?::([-?])([^}]*))?\}/g, (_, name: string, kind?: string, rest?: string) => {
      if (given[name] !== undefined && given[name] !== "") return given[name];
      if (kind === "?") throw new Error(`${name} is required: ${rest}`);
      return kind === "-" ? (rest ?? "") : "";
    });

  test("web, worker, Redis, and vLLM behind the gpu profile", () => {
    expect(Object.keys(compose.services).sort()).toEqual(["redis", "vllm", "web", "worker"]);
    expect(compose.services.web.command).toEqual(["web"]);
    expect(compose.services.worker.command).toEqual(["worker"]);
    expect(compose.services.vllm.profiles).toEqual(["gpu"]);
  });

  test("Redis runs with AOF and noeviction, and the app waits for it", () => {
    const cmd: string[] = compose.services.redis.command;
    expect(cmd[cmd.indexOf("--appendonly") + 1]).toBe("yes");
    expect(cmd[cmd.indexOf("--maxmemory-policy") + 1]).toBe("noeviction");
    expect(compose.services.web.depends_on.redis.condition).toBe("service_healthy");
    expect(compose.services.worker.depends_on.redis.condition).toBe("service_healthy");
  });

  test("vLLM reserves the GPUs and serves with tensor parallel 8, the reasoning parser and tool calls", () => {
    const vllm = compose.services.vllm;
    expect(vllm.deploy.resources.reservations.devices[0]).toEqual({ driver: "nvidia", count: 8, capabilities: ["gpu"] });
    expect(vllm.command).toEqual(
      expect.arrayContaining(["--tensor-parallel-size=8", "--reasoning-parser=qwen3", "--enable-auto-tool-choice", "--tool-call-parser=qwen3_coder"]),
    );
    expect(interpolate(vllm.command[0], {})).toBe(interpolate(compose.services.web.environment.MODEL_NAME, {}));
  });

  test("web and worker get exactly the variables the app reads", () => {
    const known = appVariables();
    for (const service of ["web", "worker"]) {
      const names = Object.keys(compose.services[service].environment);
      expect({ service, unknown: names.filter((n) => !known.has(n)) }).toEqual({ service, unknown: [] });
      expect({ service, missing: [...known].filter((n) => !names.includes(n)) }).toEqual({ service, missing: [] });
    }
  });

  test("the app accepts the environment compose gives it with only the required values set", () => {
    const required = { APP_ID: "123", WEBHOOK_SECRET: "s".repeat(32) };
    const env = Object.fromEntries(Object.entries(compose.services.worker.environment as Record<string, string>).map(([k, v]) => [k, interpolate(v, required)]));
    expect(() => interpolate(compose.services.worker.environment.APP_ID, {})).toThrow(/APP_ID is required/);
    // The key file is a compose secret; stand in for it with the inline key.
    const parsed = loadEnv({ ...env, PRIVATE_KEY_PATH: "", PRIVATE_KEY: testPrivateKey() });
    expect(parsed.REDIS_URL).toBe("redis://redis:6379");
    expect(parsed.MODEL_GATE).toBe("adaptive");
    expect(parsed.WORKER_CONCURRENCY).toBe(2);
    const profiles = loadModelProfiles(env);
    expect(profiles.profiles.get("thinking")!.baseUrls).toEqual(["http://vllm:8000/v1"]);
    expect(compose.services.worker.secrets).toEqual(["github_app_key"]);
    expect(env.PRIVATE_KEY_PATH).toBe("/run/secrets/github_app_key");
  });

  test("the worker's sandbox can make user namespaces; runs are shared with the web", () => {
    expect(compose.services.worker.security_opt).toContain("seccomp=unconfined");
    expect(compose.services.worker.volumes).toContain("runs:/data/runs");
    expect(compose.services.web.volumes).toContain("runs:/data/runs:ro");
    expect(interpolate(compose.services.web.environment.RUNS_DIR, {})).toBe("/data/runs");
  });
});

describe("deploy/grafana-dashboard.json", () => {
  const dashboard = JSON.parse(read("deploy/grafana-dashboard.json"));
  const exprs: string[] = dashboard.panels.flatMap((p: any) => (p.targets ?? []).map((t: any) => t.expr));

  test("every iquest_ metric a panel queries exists in the app's registry", async () => {
    const names = new Set((await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(iquest_[a-z0-9_]+)/g)].map((m) => m[1].replace(/_(bucket|sum|count)$/, ""))));
    expect(used.size).toBeGreaterThan(15);
    expect([...used].filter((n) => !names.has(n))).toEqual([]);
  });

  test("covers jobs, agent, model, gate, GitHub and sandbox metrics, on a templated data source", () => {
    for (const metric of [
      "iquest_job_duration_seconds",
      "iquest_agent_steps",
      "iquest_agent_tokens",
      "iquest_model_call_duration_seconds",
      "iquest_model_call_errors_total",
      "iquest_test_run_duration_seconds",
      "iquest_github_requests_total",
      "iquest_github_rate_limit_wait_seconds_total",
      "iquest_sandbox_kills_total",
      "iquest_model_gate_limit",
      "iquest_vllm_load",
    ]) {
      expect({ metric, used: exprs.some((e) => e.includes(metric)) }).toEqual({ metric, used: true });
    }
    for (const p of dashboard.panels.filter((x: any) => x.type !== "row")) expect(p.datasource.uid).toBe("${datasource}");
  });
});
