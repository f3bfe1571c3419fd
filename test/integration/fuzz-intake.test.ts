import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import nock from "nock";
import { startWeb, type WebHandle } from "../../src/main/start-web.js";
import { createLogger } from "../../src/shared/log.js";
import { redact } from "../../src/shared/redact.js";
import { TestOctokit } from "../support/octokit.js";
import { EXAMPLES } from "../support/payloads.js";
import { API } from "../support/probot-app.js";
import { FUZZ_SEED, prng } from "../support/prng.js";
import { startTestRedis, type TestRedis } from "../support/redis-server.js";
import { WEBHOOK_SECRET, testEnv } from "../support/test-env.js";
import { sign } from "../support/webhooks.js";

/**
 * Fuzz the webhook intake of a real web process (real Redis): random bodies, headers and sizes,
 * for a bounded count. It never crashes, never answers 5xx to a malformed request, enqueues
 * nothing from an unsigned one, and its memory stays bounded.
 */
let redis: TestRedis;
let web: WebHandle;
let url: string;
let inspect: Redis;
const env = testEnv();

beforeAll(async () => {
  redis = await startTestRedis();
  nock.disableNetConnect();
  nock.enableNetConnect(/127\.0\.0\.1/);
  // Whatever a handler asks GitHub, it gets a plausible answer (writers, no config).
  nock(API)
    .persist()
    .post(/access_tokens/)
    .reply(201, { token: "ghs_fuzz", expires_at: new Date(Date.now() + 3600_000).toISOString() })
    .get(/\/contents\//)
    .reply(404, {})
    .get(/\/permission$/)
    .reply(200, { permission: "write" })
    .get(/\/pulls\/\d+$/)
    .reply(200, { number: 1, state: "open", head: { ref: "x", sha: "a".repeat(40), repo: null } })
    .post(/.*/)
    .reply(201, {});
  web = await startWeb({ env, log: createLogger({ level: "silent", redact }), redis: redis.url, Octokit: TestOctokit });
  url = `http://127.0.0.1:${web.port}${env.WEBHOOK_PATH}`;
  inspect = new Redis(redis.url);
});

afterAll(async () => {
  await web?.close();
  await inspect?.quit();
  await redis?.destroy();
  nock.cleanAll();
  nock.enableNetConnect();
});

const EVENTS = ["issues", "issue_comment", "pull_request", "pull_request_review", "installation", "installation_repositories", "check_run", "push", "ping", "nonsense"];

describe(`webhook intake fuzz (seed ${FUZZ_SEED})`, () => {
  test("unsigned or malformed requests: always 4xx, never 5xx, no job", async () => {
    const r = prng(FUZZ_SEED);
    const statuses = new Map<number, number>();
    for (let i = 0; i < 250; i++) {
      const size = r.pick([0, 1, 10, 1000, 100_000, 2_000_000]);
      const body = r.int(3) === 0 ? JSON.stringify({ action: r.text(10), n: r.int(1e9) }) : r.chars(Math.min(size, 50_000), "{}[]\":,abc0123 \n\\");
      const headers: Record<string, string> = {};
      if (r.int(5)) headers["content-type"] = r.pick(["application/json", "text/plain", "application/json; charset=utf-8", "", "application/x-www-form-urlencoded"]);
      if (r.int(5)) headers["x-github-event"] = r.pick(EVENTS);
      if (r.int(5)) headers["x-github-delivery"] = r.pick(["d-1", r.chars(40, "abc-123"), ""]);
      if (r.int(4)) headers["x-hub-signature-256"] = r.pick(["", "sha256=", `sha256=${r.chars(64, "0123456789abcdef")}`, sign("wrong-secret", body), "sha1=abc"]);
      const method = r.int(10) === 0 ? r.pick(["GET", "PUT", "DELETE"]) : "POST";
      const res = await fetch(url, { method, headers, ...(method === "POST" || method === "PUT" ? { body } : {}) }).catch(() => undefined);
      const status = res?.status ?? 0;
      await res?.arrayBuffer().catch(() => undefined);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (status >= 500 || status < 400) throw new Error(`iteration ${i}: status ${status} for ${method} ${JSON.stringify(headers)} body ${JSON.stringify(body.slice(0, 100))}`);
    }
    expect([...statuses.keys()].every((s) => s >= 400 && s < 500)).toBe(true);
    for (const kind of ["fix", "review", "upgrade"]) {
      const q = new Queue(kind, { connection: inspect, prefix: env.QUEUE_PREFIX });
      expect(await q.count()).toBe(0);
      await q.close();
    }
  }, 120_000);

  test("validly signed payloads of random shape: never 5xx, the server stays up, memory stays bounded", async () => {
    const r = prng(FUZZ_SEED + 7);
    const examples = EXAMPLES.flatMap((e) => e.examples.map((x) => [e.name, x] as const));
    const rssBefore = process.memoryUsage().rss;
    for (let i = 0; i < 250; i++) {
      const [event, example] = r.pick(examples);
      // Start from a real payload and break it: drop, retype or garble fields.
      const payload = structuredClone(example) as Record<string, unknown>;
      for (const key of Object.keys(payload)) {
        const roll = r.int(6);
        if (roll === 0) delete payload[key];
        else if (roll === 1) payload[key] = r.pick([null, 42, "x", [], {}, true]);
      }
      if (r.int(3) === 0) payload.installation = { id: 2 };
      if (r.int(3) === 0) payload.repository = { id: 5, name: "r", full_name: "o/r", owner: { login: "o" } };
      const body = JSON.stringify(payload);
      const res = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": r.int(8) === 0 ? r.pick(EVENTS) : event,
          "x-github-delivery": `fuzz-${i}`,
          "x-hub-signature-256": sign(WEBHOOK_SECRET, body),
        },
        body,
      });
      await res.arrayBuffer();
      if (res.status >= 500) throw new Error(`iteration ${i}: ${res.status} for a malformed ${event} payload: ${body.slice(0, 300)}`);
    }
    expect((await fetch(`http://127.0.0.1:${web.port}/healthz`)).status).toBe(200);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 1024 * 1024);
  }, 120_000);
});
