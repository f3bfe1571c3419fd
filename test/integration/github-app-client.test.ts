import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { STEP_PERMISSIONS, createGitHubApp, RATE_LIMIT_POLICY, redactRequestText } from "../../src/github/app-client.js";
import { nextStepOf } from "../../src/shared/errors.js";
import { createLogger } from "../../src/shared/log.js";
import { createRedactor, redact } from "../../src/shared/redact.js";
import { startGitHubSim, type GitHubSim } from "../support/github-sim/index.js";
import { testPrivateKey } from "../support/keys.js";

/**
 * The worker's GitHub client against the simulator, with Probot's real retry and throttling
 * plugins: least-privilege tokens, and rate limits waited out a bounded number of times.
 */
let sim: GitHubSim;
let repoId: number;

beforeAll(async () => {
  sim = await startGitHubSim({ app: { id: 4321, privateKey: testPrivateKey(), webhookSecret: "whs-app-client" } });
  const repo = await sim.createRepo({ owner: "acme", name: "client", files: { "README.md": "hi\n" } });
  repoId = repo.id;
  sim.installApp({ installationId: 51, repos: ["acme/client"] });
});

afterAll(async () => {
  expect(sim.errors).toEqual([]);
  await sim.stop();
});

const app = () =>
  createGitHubApp({ appId: "4321", privateKey: testPrivateKey(), baseUrl: sim.apiUrl, log: createLogger({ level: "silent", redact }) });

describe("createGitHubApp", () => {
  test("T8: tokens name one repository and the step's permissions, never workflows", async () => {
    const github = await app().forRepo(51, repoId, STEP_PERMISSIONS.converse);
    await github.rest.repos.get({ owner: "acme", repo: "client" });
    const token = sim.tokens.at(-1)!;
    expect(token.repositoryIds).toEqual([repoId]);
    expect(token.requested).toMatchObject({ repository_ids: [repoId], permissions: STEP_PERMISSIONS.converse });
    expect(token.permissions).not.toHaveProperty("workflows");
    expect(token.permissions.contents).toBe("read");
  });

  test("lazyForRepo: no token until the first request, then a one-repository intake token; one client per repository", async () => {
    const github = app();
    const before = sim.tokens.length;
    const client = github.lazyForRepo(51, repoId, STEP_PERMISSIONS.intake);
    expect(github.lazyForRepo(51, repoId, STEP_PERMISSIONS.intake)).toBe(client);
    expect(github.lazyForRepo(51, repoId + 1, STEP_PERMISSIONS.intake)).not.toBe(client);
    expect(sim.tokens.length).toBe(before);
    await client.rest.repos.get({ owner: "acme", repo: "client" });
    await client.rest.repos.get({ owner: "acme", repo: "client" });
    expect(sim.tokens.length).toBe(before + 1);
    expect(sim.tokens.at(-1)!.requested).toEqual({ repository_ids: [repoId], permissions: STEP_PERMISSIONS.intake });
  });

  test("a secondary rate limit is waited out, but only a bounded number of times; then the error says retry later", async () => {
    const fault = sim.faults.add("GET /repos/{owner}/{repo}", { kind: "secondary-rate-limit", retryAfter: 1 }, { times: 10 });
    const github = await app().forRepo(51, repoId, STEP_PERMISSIONS.converse);
    const started = Date.now();
    const err = await github.rest.repos.get({ owner: "acme", repo: "client" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeDefined();
    expect(fault.hits).toBe(RATE_LIMIT_POLICY.maxRetries + 1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(RATE_LIMIT_POLICY.maxRetries * 1000 - 100);
    expect(nextStepOf(err)).toBe("retry");
    fault.cancel();
  });

  test("a secondary limit without retry-after is waited out for the fallback (GitHub: at least a minute), then passes", async () => {
    sim.faults.add("GET /repos/{owner}/{repo}", { kind: "secondary-rate-limit" }, { times: 1 });
    const waits: Array<[string, number, boolean]> = [];
    const github = await createGitHubApp({
      appId: "4321",
      privateKey: testPrivateKey(),
      baseUrl: sim.apiUrl,
      log: createLogger({ level: "silent", redact }),
      // 60 s in production; 1 s keeps the test short. What is tested is that a missing header
      // still means "wait", through the app's own bounded policy.
      secondaryLimitFallbackSeconds: 1,
      onRateLimit: (kind, seconds, willRetry) => void waits.push([kind, seconds, willRetry]),
    }).forRepo(51, repoId, STEP_PERMISSIONS.converse);
    const started = Date.now();
    const { data } = await github.rest.repos.get({ owner: "acme", repo: "client" });
    expect(data.full_name).toBe("acme/client");
    expect(waits).toEqual([["secondary", 1, true]]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  test("a short secondary limit passes after one wait", async () => {
    sim.faults.add("GET /repos/{owner}/{repo}", { kind: "secondary-rate-limit", retryAfter: 1 }, { times: 1 });
    const github = await app().forRepo(51, repoId, STEP_PERMISSIONS.converse);
    const { data } = await github.rest.repos.get({ owner: "acme", repo: "client" });
    expect(data.full_name).toBe("acme/client");
  });
});

describe("write pacing (per installation)", () => {
  const paced = (writePacing: boolean) =>
    createGitHubApp({
      appId: "4321",
      privateKey: testPrivateKey(),
      baseUrl: sim.apiUrl,
      log: createLogger({ level: "silent", redact }),
      writePacing,
      // A bucket of 3, refilled one a second; notifications left unpaced to isolate the write bucket.
      writeBuckets: { write: { burst: 3, everyMs: 1000 }, notifications: { burst: 1000, everyMs: 1 } },
    });

  /** Five label writes one after another; the time each one finished, from the start. */
  async function fiveWrites(writePacing: boolean, prefix: string): Promise<number[]> {
    const github = await paced(writePacing).forRepo(51, repoId, STEP_PERMISSIONS.publish);
    const started = Date.now();
    const done: number[] = [];
    for (let i = 0; i < 5; i++) {
      await github.rest.issues.createLabel({ owner: "acme", repo: "client", name: `${prefix}-${i}` });
      done.push(Date.now() - started);
    }
    return done;
  }

  test("an idle installation's first writes go out at once; past the burst, one a second", async () => {
    const done = await fiveWrites(true, "burst");
    expect(done[2]!).toBeLessThan(950);
    expect(done[3]!).toBeGreaterThanOrEqual(950);
    expect(done[4]!).toBeGreaterThanOrEqual(1950);
  });

  test("pacing off: no spacing at all", async () => {
    const done = await fiveWrites(false, "off");
    expect(done[4]!).toBeLessThan(950);
  });

  test("pacing off still waits out a secondary rate limit on a write", async () => {
    const fault = sim.faults.add("POST /repos/{owner}/{repo}/labels", { kind: "secondary-rate-limit", retryAfter: 1 }, { times: 1 });
    const github = await paced(false).forRepo(51, repoId, STEP_PERMISSIONS.publish);
    const posts = () => sim.requests.filter((r) => r.method === "POST" && r.path === "/repos/acme/client/labels").length;
    const before = posts();
    const started = Date.now();
    const { data } = await github.rest.issues.createLabel({ owner: "acme", repo: "client", name: "after-limit" });
    expect(data.name).toBe("after-limit");
    expect(fault.hits).toBe(1);
    expect(posts() - before).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });
});

describe("outbound redaction", () => {
  test("every write's text passes the redactor, whatever built it: comment bodies, PR titles, check output, review comments", async () => {
    const redactor = createRedactor(["webhook-secret-value-123"]);
    const github = await createGitHubApp({
      appId: "4321",
      privateKey: testPrivateKey(),
      baseUrl: sim.apiUrl,
      log: createLogger({ level: "silent", redact }),
      redact: redactor,
    }).forRepo(51, repoId, STEP_PERMISSIONS.publish);
    const leak = `token ghs_${"L".repeat(40)} and webhook-secret-value-123`;
    sim.createIssue({ repo: "acme/client", title: "t", body: "b", user: "acme" });
    const { data: c } = await github.rest.issues.createComment({ owner: "acme", repo: "client", issue_number: 1, body: leak });
    await github.rest.issues.update({ owner: "acme", repo: "client", issue_number: 1, title: `title ${leak}` });
    const { data: run } = await github.rest.checks.create({
      owner: "acme",
      repo: "client",
      name: "iquest/test",
      head_sha: (await sim.resolveRef("acme/client", "main"))!,
      output: { title: "x", summary: leak, text: leak },
    });
    const stored = [sim.comments.find((x) => x.id === c.id)!.body, sim.issue("acme/client", 1)!.title, JSON.stringify(sim.checkRuns.find((r) => r.id === run.id)!.output)];
    for (const text of stored) {
      expect(text).toContain("[REDACTED]");
      expect(text).not.toMatch(/ghs_L|webhook-secret-value-123/);
    }
  });

  test("reads are left alone", () => {
    const options: Record<string, unknown> = { method: "GET", body: "ghs_" + "a".repeat(40) };
    redactRequestText(options, redact);
    expect(options.body).toBe("ghs_" + "a".repeat(40));
  });
});
