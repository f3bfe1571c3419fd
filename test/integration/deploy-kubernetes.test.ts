import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { Queue } from "bullmq";
import { parseAllDocuments } from "yaml";
import { budgetsSchema } from "../../src/agent/budgets.js";
import { envSchema, loadEnv } from "../../src/config/env.js";
import { queueName } from "../../src/queue/enqueue.js";
import { JOB_KINDS } from "../../src/queue/payloads.js";
import { closeRedis, createRedis } from "../../src/queue/connection.js";
import { testPrivateKey } from "../support/keys.js";
import { kustomizeRoot, renderKustomization, type K8sObject } from "../support/kustomize.js";
import { startTestRedis, type TestRedis } from "../support/redis-server.js";

/**
 * deploy/kubernetes, checked without a cluster: each overlay is rendered (test/support/kustomize.ts,
 * and `kubectl kustomize` too when kubectl is installed, which must agree), every object is
 * validated against the Kubernetes (1.27) or KEDA schema, strictly (a field the schema does not
 * know, such as a misspelt `readinesProbe`, fails), and then checked for what matters to this app:
 * probes, grace periods, the drain hook, the queue keys KEDA watches (against real BullMQ on a real
 * Redis), the vLLM flags, network policy reach, and that the config names only variables the app
 * reads.
 */

const ROOT = kustomizeRoot("deploy/kubernetes");
const require = createRequire(import.meta.url);
const schemaFile = (pkg: string, name: string) => resolve(kustomizeRoot("node_modules"), pkg, "_schemas", `${name}.js`);
const SCHEMAS: Record<string, string> = {
  "v1/ConfigMap": schemaFile("kubernetes-models", "IoK8sApiCoreV1ConfigMap"),
  "v1/Secret": schemaFile("kubernetes-models", "IoK8sApiCoreV1Secret"),
  "v1/Service": schemaFile("kubernetes-models", "IoK8sApiCoreV1Service"),
  "v1/ServiceAccount": schemaFile("kubernetes-models", "IoK8sApiCoreV1ServiceAccount"),
  "v1/PersistentVolumeClaim": schemaFile("kubernetes-models", "IoK8sApiCoreV1PersistentVolumeClaim"),
  "v1/Namespace": schemaFile("kubernetes-models", "IoK8sApiCoreV1Namespace"),
  "apps/v1/Deployment": schemaFile("kubernetes-models", "IoK8sApiAppsV1Deployment"),
  "apps/v1/StatefulSet": schemaFile("kubernetes-models", "IoK8sApiAppsV1StatefulSet"),
  "policy/v1/PodDisruptionBudget": schemaFile("kubernetes-models", "IoK8sApiPolicyV1PodDisruptionBudget"),
  "networking.k8s.io/v1/NetworkPolicy": schemaFile("kubernetes-models", "IoK8sApiNetworkingV1NetworkPolicy"),
  "networking.k8s.io/v1/Ingress": schemaFile("kubernetes-models", "IoK8sApiNetworkingV1Ingress"),
  "node.k8s.io/v1/RuntimeClass": schemaFile("kubernetes-models", "IoK8sApiNodeV1RuntimeClass"),
  "keda.sh/v1alpha1/ScaledObject": schemaFile("@kubernetes-models/keda", "KedaShV1alpha1ScaledObject"),
};

type Validate = ((data: unknown) => boolean) & { errors?: Array<{ instancePath: string; message?: string; params?: unknown }> | null };

/**
 * Validate against the schema, and list the fields the schema never looked at: the compiled
 * validators read every property they know (and iterate maps), so a key nobody read is a key the
 * schema does not have. Kubernetes' own schemas allow unknown fields; the API server drops them
 * with a warning at best, which is how typos in manifests go unnoticed.
 */
function validateStrict(o: K8sObject): { errors: string[]; unknown: string[] } {
  const file = SCHEMAS[`${o.apiVersion}/${o.kind}`];
  if (!file) return { errors: [`no schema for ${o.apiVersion} ${o.kind}`], unknown: [] };
  const validate = (require(file) as { validate: Validate }).validate;
  const seen = new Set<string>();
  const track = (v: unknown, path: string): unknown => {
    if (!v || typeof v !== "object") return v;
    const copy = Array.isArray(v) ? v.map((x, i) => track(x, `${path}/${i}`)) : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, track(x, `${path}/${k}`)]));
    return new Proxy(copy as object, {
      get(target, key) {
        if (typeof key === "string") seen.add(`${path}/${key}`);
        return (target as Record<string | symbol, unknown>)[key];
      },
    });
  };
  const ok = validate(track(o, ""));
  const errors = ok ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
  const unknown: string[] = [];
  const walk = (v: unknown, path: string) => {
    if (!v || typeof v !== "object") return;
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${path}/${i}`));
    for (const [k, x] of Object.entries(v)) {
      if (!seen.has(`${path}/${k}`)) unknown.push(`${path}/${k}`);
      else walk(x, `${path}/${k}`);
    }
  };
  walk(o, "");
  return { errors, unknown };
}

const find = (objects: K8sObject[], kind: string, name: string) => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`${kind}/${name} is not in the render`);
  return o as any;
};
const podTemplates = (objects: K8sObject[]) => objects.filter((o) => (o.spec as any)?.template?.spec).map((o) => ({ owner: o, template: (o.spec as any).template }));
const matches = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
  !!selector && Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Every variable the app reads: env.ts's schema plus the MODEL_* variables of model-profiles.ts. */
function appVariables(): Set<string> {
  const source = readFileSync(kustomizeRoot("src/config/model-profiles.ts"), "utf8");
  const block = /export interface ModelEnv \{([\s\S]*?)\n\}/.exec(source)?.[1] ?? "";
  const modelVars = [...block.matchAll(/^\s*(MODEL_[A-Z_]+)\?:/gm)].map((m) => m[1]);
  expect(modelVars.length).toBeGreaterThan(5);
  return new Set([...Object.keys(envSchema.shape), ...modelVars]);
}

const kubectl = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8" }).status === 0;
const OVERLAYS = ["overlays/example", "overlays/external", "base"];

describe.each(OVERLAYS)("deploy/kubernetes/%s", (overlay) => {
  const objects = renderKustomization(join(ROOT, overlay));

  test("every object is valid against its schema, with no unknown fields", () => {
    const problems = objects.flatMap((o) => {
      const { errors, unknown } = validateStrict(o);
      return [...errors, ...unknown.map((u) => `unknown field ${u}`)].map((p) => `${o.kind}/${o.metadata.name}: ${p}`);
    });
    expect(problems).toEqual([]);
    expect(objects.length).toBeGreaterThan(8);
  });

  test("kubectl kustomize renders the same objects (when kubectl is installed)", () => {
    if (!kubectl) {
      console.warn("kubectl is not installed: the cross-check with kubectl kustomize is skipped; the schema checks above still ran");
      return;
    }
    const out = execFileSync("kubectl", ["kustomize", join(ROOT, overlay)], { encoding: "utf8" });
    const theirs = parseAllDocuments(out).map((d) => d.toJS() as K8sObject);
    const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
    const sort = (xs: K8sObject[]) => [...xs].sort((a, b) => key(a).localeCompare(key(b)));
    expect(sort(theirs)).toEqual(sort(objects));
  });

  test("selectors, services, ports and config references hold together", () => {
    const templates = podTemplates(objects);
    for (const { owner, template } of templates) {
      expect(matches((owner.spec as any).selector.matchLabels, template.metadata.labels)).toBe(true);
      for (const c of template.spec.containers) {
        for (const from of c.envFrom ?? []) {
          if (from.configMapRef) find(objects, "ConfigMap", from.configMapRef.name);
        }
      }
    }
    for (const svc of objects.filter((o) => o.kind === "Service")) {
      const spec = svc.spec as any;
      const pods = templates.filter(({ template }) => matches(spec.selector, template.metadata.labels));
      expect(pods.length).toBeGreaterThan(0);
      for (const port of spec.ports) {
        if (typeof port.targetPort !== "string") continue;
        const named = pods.some(({ template }) => template.spec.containers.some((c: any) => (c.ports ?? []).some((p: any) => p.name === port.targetPort)));
        expect({ service: svc.metadata.name, port: port.targetPort, named }).toEqual({ service: svc.metadata.name, port: port.targetPort, named: true });
      }
    }
    for (const np of objects.filter((o) => o.kind === "NetworkPolicy")) {
      const selector = (np.spec as any).podSelector.matchLabels;
      // A policy that selects nothing protects nothing (in this overlay its pods may be absent:
      // the external overlay has no Redis pod, for one).
      if (templates.some(({ template }) => matches(selector, template.metadata.labels))) continue;
      expect(overlay === "overlays/example" ? `${np.metadata.name} selects no pod` : "ok").toBe("ok");
    }
  });

  test("web: probes on /healthz, pods run as non-root, and the app's image", () => {
    const web = find(objects, "Deployment", "iquest-web");
    const pod = web.spec.template.spec;
    const c = pod.containers[0];
    expect(c.args).toEqual(["web"]);
    expect(c.readinessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(c.image).toMatch(/iquest-bot:0\.1\.0$/);
    for (const { template } of podTemplates(objects)) {
      if (template.metadata.labels["app.kubernetes.io/component"] === "vllm") continue; // the vLLM image runs as root
      expect(template.spec.securityContext.runAsNonRoot).toBe(true);
      for (const container of template.spec.containers) expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
    }
  });

  test("worker: the grace period covers the longest job, and preStop drains within it", () => {
    const worker = find(objects, "Deployment", "iquest-worker");
    const pod = worker.spec.template.spec;
    const c = pod.containers[0];
    expect(c.args).toEqual(["worker"]);
    const drain = c.lifecycle.preStop.exec.command;
    expect(drain.slice(0, 2)).toEqual(["node", "/app/bin/drain.mjs"]);
    expect(existsSync(kustomizeRoot("bin/drain.mjs"))).toBe(true);
    const drainSeconds = Number(drain[2]);
    const shutdownGrace = Number(c.env.find((e: any) => e.name === "SHUTDOWN_GRACE_MS").value) / 1000;
    const longestJob = budgetsSchema.parse({}).maxWallClockMs / 1000;
    expect(drainSeconds).toBeGreaterThanOrEqual(longestJob);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(drainSeconds + shutdownGrace);
    expect(c.readinessProbe.httpGet).toEqual({ path: "/healthz", port: "metrics" });
    const config = find(objects, "ConfigMap", "iquest-config");
    expect(Number(config.data.WORKER_PORT)).toBe(c.ports.find((p: any) => p.name === "metrics").containerPort);
  });

  test("the config names only variables the app reads, and the app accepts it", () => {
    const known = appVariables();
    const config = find(objects, "ConfigMap", "iquest-config");
    const worker = find(objects, "Deployment", "iquest-worker").spec.template.spec.containers[0];
    const names = [...Object.keys(config.data), ...worker.env.map((e: any) => e.name).filter((n: string) => n !== "HOME")];
    expect(names.filter((n) => !known.has(n))).toEqual([]);
    const secret = objects.find((o) => o.kind === "Secret" && o.metadata.name === "iquest-secrets") as any;
    if (secret) expect(Object.keys(secret.stringData).filter((n) => !known.has(n))).toEqual([]);
    // The real secrets are created out of band; stand-ins of the right shape here.
    const env = loadEnv({ ...config.data, APP_ID: "1", PRIVATE_KEY: testPrivateKey(), WEBHOOK_SECRET: "x".repeat(32) });
    expect(env.REDIS_URL).toMatch(/^redis:\/\//);
  });
});

describe("deploy/kubernetes/overlays/example: the in-cluster parts", () => {
  const objects = renderKustomization(join(ROOT, "overlays/example"));
  const config = find(objects, "ConfigMap", "iquest-config").data;

  test("Redis keeps AOF and refuses eviction", () => {
    const conf: string = find(objects, "ConfigMap", "iquest-redis").data["redis.conf"];
    expect(conf).toMatch(/^appendonly yes$/m);
    expect(conf).toMatch(/^maxmemory-policy noeviction$/m);
    const sts = find(objects, "StatefulSet", "iquest-redis");
    expect(sts.spec.volumeClaimTemplates[0].metadata.name).toBe("data");
    expect(config.REDIS_URL).toBe("redis://iquest-redis:6379");
  });

  test("vLLM serves the configured model with tensor parallel 8, the reasoning and tool-call parsers, and readiness on /health", () => {
    const vllm = find(objects, "Deployment", "iquest-vllm").spec.template.spec.containers[0];
    expect(vllm.args[0]).toBe(config.MODEL_NAME);
    expect(vllm.args).toEqual(
      expect.arrayContaining(["--tensor-parallel-size=8", "--reasoning-parser=qwen3", "--enable-auto-tool-choice", "--tool-call-parser=qwen3_coder"]),
    );
    expect(vllm.resources.limits["nvidia.com/gpu"]).toBe("8");
    expect(vllm.readinessProbe.httpGet.path).toBe("/health");
    expect(config.MODEL_BASE_URL).toBe(`http://iquest-vllm:${find(objects, "Service", "iquest-vllm").spec.ports[0].port}/v1`);
  });

  test("the Ingress reaches the web Service over TLS", () => {
    const ingress = find(objects, "Ingress", "iquest-web");
    const backend = ingress.spec.rules[0].http.paths[0].backend.service;
    const svc = find(objects, "Service", backend.name);
    expect(svc.spec.ports.map((p: any) => p.name)).toContain(backend.port.name);
    expect(ingress.spec.tls[0].hosts).toContain(ingress.spec.rules[0].host);
    expect(config.PUBLIC_URL).toBe(`https://${ingress.spec.rules[0].host}`);
  });

  test("workers reach only DNS, Redis, vLLM and public HTTPS (no private ranges, no metadata address)", () => {
    const np = find(objects, "NetworkPolicy", "iquest-worker");
    const ports = np.spec.egress.flatMap((rule: any) => rule.ports.map((p: any) => p.port)).sort((a: number, b: number) => a - b);
    expect([...new Set(ports)]).toEqual([53, 443, 6379, 8000]);
    const publicRule = np.spec.egress.find((rule: any) => rule.to.some((t: any) => t.ipBlock));
    expect(publicRule.ports).toEqual([{ port: 443, protocol: "TCP" }]);
    expect(publicRule.to[0].ipBlock.except).toEqual(expect.arrayContaining(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]));
    const redisNp = find(objects, "NetworkPolicy", "iquest-redis");
    expect(redisNp.spec.ingress[0].ports).toEqual([{ port: 6379, protocol: "TCP" }]);
  });

  describe("KEDA scales the workers on the queues BullMQ really fills", () => {
    let redis: TestRedis;
    beforeAll(async () => {
      redis = await startTestRedis();
    });
    afterAll(async () => {
      await redis.destroy();
    });

    test("one trigger per job kind, on <QUEUE_PREFIX>:<queue>:wait, which holds a waiting job", async () => {
      const so = find(objects, "ScaledObject", "iquest-worker");
      expect(so.spec.scaleTargetRef.name).toBe("iquest-worker");
      find(objects, "Deployment", so.spec.scaleTargetRef.name);
      const lists = so.spec.triggers.map((t: any) => t.metadata.listName).sort();
      expect(lists).toEqual(JOB_KINDS.map((k) => `${config.QUEUE_PREFIX}:${queueName(k)}:wait`).sort());
      for (const t of so.spec.triggers) expect(t.metadata.address).toBe(new URL(config.REDIS_URL).host);
      // What BullMQ writes when a job waits: the list KEDA reads must grow.
      const connection = createRedis(redis.url, "plain");
      const queue = new Queue(queueName("fix"), { connection, prefix: config.QUEUE_PREFIX });
      try {
        await queue.add("fix", { any: 1 });
        expect(await connection.llen(lists.find((l: string) => l.includes(":fix:"))!)).toBe(1);
      } finally {
        await queue.close();
        await closeRedis(connection);
      }
    });
  });
});

test("the gVisor component renders and validates on top of the base", () => {
  const dir = mkdtempSync(join(tmpdir(), "iquest-kustomize-"));
  try {
    writeFileSync(
      join(dir, "kustomization.yaml"),
      `resources:\n  - ${relative(dir, join(ROOT, "base"))}\ncomponents:\n  - ${relative(dir, join(ROOT, "components/gvisor"))}\n`,
    );
    const objects = renderKustomization(dir);
    const pod = find(objects, "Deployment", "iquest-worker").spec.template.spec;
    expect(pod.runtimeClassName).toBe(find(objects, "RuntimeClass", "gvisor").metadata.name);
    expect(pod.securityContext.seccompProfile.type).toBe("RuntimeDefault");
    for (const o of objects) expect(validateStrict(o)).toEqual({ errors: [], unknown: [] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
