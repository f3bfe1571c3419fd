import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import { Queue } from "bullmq";
import { rmSync } from "node:fs";
import { defaultUpgradeCron, upgradeSchedulerId } from "../../src/queue/schedules.js";
import { eventually, finalCard, startStack, type Stack } from "../support/e2e-stack.js";
import { bash, replace, submit } from "../support/fake-vllm/index.js";
import { startNpmRegistry, type NpmRegistry } from "../support/npm-registry/index.js";
import { createGreetApp, GREETER_FIX_SUMMARY, makeDir, publishGreeter } from "../support/upgrade-fixtures.js";

/**
 * Upgrades end to end, with the app's real web and worker processes: installing the app
 * registers the repository's upgrade schedule (the first run applies the repository's own; a
 * config push changes it); `/iquest upgrade`
 * runs the job (checkout over git HTTP, the registry reached from the sandbox's install phase,
 * npm updating the lock file, the tests, the fake model repairing a breaking major) and opens
 * one PR per group with the card on the issue; uninstalling removes the schedule.
 */
let stack: Stack;
let registry: NpmRegistry;
let queue: Queue;
let fixture: string;
const cache = makeDir("e2e-upgrade-cache-");
const INSTALLATION = 314;

beforeAll(async () => {
  registry = await startNpmRegistry();
  publishGreeter(registry);
  // The repository already has its own schedule when the app is installed.
  fixture = await createGreetApp(registry, cache, { ".github/iquest.yml": 'upgrade:\n  schedule: "15 5 * * 3"\n' });
  stack = await startStack({
    vllm: { script: [bash("npm test"), replace("index.js", 'const { greet } = require("greeter");', 'const { hello: greet } = require("greeter");'), bash("npm test"), submit(GREETER_FIX_SUMMARY)] },
    // The worker may read this registry (a repository's .npmrc alone cannot allow one).
    env: { UPGRADE_REGISTRIES: registry.url },
  });
  queue = new Queue("upgrade", { connection: { url: stack.redis.url }, prefix: "e2e" });
  const repo = await stack.sim.createRepo({ owner: "acme", name: "greet", fromDir: fixture });
  stack.sim.installApp({ installationId: INSTALLATION, repos: ["acme/greet"] });
  stack.sim.addCollaborator(repo, "alice", "write");
  stack.sim.createIssue({ repo, title: "Dependencies are old", body: "Please upgrade.", user: "alice" });
}, 90_000);

afterAll(async () => {
  await queue?.close();
  await stack?.stop();
  await registry?.close();
  for (const d of [fixture, cache]) if (d) rmSync(d, { recursive: true, force: true });
});

const schedulers = async () => (await queue.getJobSchedulers(0, -1, true)).map((s) => ({ key: s.key, pattern: s.pattern, repo: (s.template?.data as { repo?: string } | undefined)?.repo }));

describe("upgrade, end to end", () => {
  test("installing the app registers the repository's weekly schedule, at its spread default minute", async () => {
    const { sim } = stack;
    const repoId = sim.repo("acme/greet").id;
    const delivery = await sim.webhooks.installationCreated({ installationId: INSTALLATION, sender: "alice" });
    expect(delivery.statusCode).toBe(200);
    expect(await schedulers()).toEqual([{ key: upgradeSchedulerId(repoId), pattern: defaultUpgradeCron(repoId), repo: "acme/greet" }]);
  }, 60_000);

  test("/iquest upgrade → the card on the issue, a passing non-major PR and a repaired major, the lock file written by npm in the sandbox", async () => {
    const { sim } = stack;
    const delivery = await sim.webhooks.issueCommentCreated({ repo: "acme/greet", issue: 1, body: "/iquest upgrade", sender: "alice" });
    expect(delivery.statusCode).toBe(200);
    const card = await eventually(() => finalCard(sim, "acme/greet", 1), "the final upgrade card", 240_000);
    if (!/opened PR/.test(card.body)) throw new Error(`the card did not end with PRs:\n${card.body}\nworker:\n${stack.worker.lines.slice(-30).join("\n")}`);
    expect(card.body).toMatch(/`non-major` \(1 update\): tests pass; opened PR/);
    expect(card.body).toMatch(/`greeter-2` \(1 update\): repaired by the agent, tests pass; opened draft PR/);
    // (Intermediate card states coalesce while a write waits for GitHub's pacing; that the
    // card showed progress at all, not which phase, is what holds.)
    expect(card.history.some((b) => b.includes("⏳"))).toBe(true);

    const pulls = sim.pullsOf("acme/greet");
    expect(pulls.map((p) => [p.head.ref, p.draft])).toEqual([
      ["iquest/deps-non-major", false],
      ["iquest/deps-greeter-2", true],
    ]);
    const lock = JSON.parse((await sim.readFile("acme/greet", "iquest/deps-greeter-2", "package-lock.json"))!) as { packages: Record<string, { version?: string; integrity?: string }> };
    expect(lock.packages["node_modules/greeter"]).toEqual(expect.objectContaining({ version: "2.0.0", integrity: expect.stringMatching(/^sha512-/) }));
    expect(await sim.readFile("acme/greet", "iquest/deps-greeter-2", "index.js")).toContain("hello: greet");
    // npm inside the sandbox fetched from the registry: packuments for the lock, the tarball for the install.
    expect(registry.requests.some((r) => r.kind === "tarball" && r.path.includes("greeter-2.0.0.tgz") && r.headers["user-agent"]?.startsWith("npm/"))).toBe(true);
    expect(sim.tokens.filter((t) => t.requested.permissions && "workflows" in (t.requested.permissions as object))).toEqual([]);
    // T8, every token of the run, the web's included: one repository, and named permissions.
    expect(sim.tokens.length).toBeGreaterThan(0);
    expect(sim.tokens.filter((t) => (t.requested.repository_ids as unknown[] | undefined)?.length !== 1 || !t.requested.permissions)).toEqual([]);
    for (const c of sim.comments) expect(c.history.join("\n")).not.toMatch(/ghs_/);
    expect(sim.errors).toEqual([]);
    // The run read the config and applied the repository's own schedule.
    expect(await schedulers()).toEqual([{ key: upgradeSchedulerId(sim.repo("acme/greet").id), pattern: "15 5 * * 3", repo: "acme/greet" }]);
  }, 300_000);

  test("a config push on the default branch reschedules it", async () => {
    const { sim } = stack;
    await sim.commit({ repo: "acme/greet", branch: "main", files: { ".github/iquest.yml": 'upgrade:\n  schedule: "30 4 * * 2"\n' }, message: "Upgrade on Tuesdays", author: { name: "Alice", email: "alice@example.com" } });
    expect((await sim.webhooks.push({ repo: "acme/greet", ref: "main", sender: "alice" })).statusCode).toBe(200);
    // The web hands the new config to a notify job: the worker reads it at the pushed commit,
    // reschedules, and reports it in an iquest/config check run.
    const want = [{ key: upgradeSchedulerId(sim.repo("acme/greet").id), pattern: "30 4 * * 2", repo: "acme/greet" }];
    await eventually(async () => JSON.stringify(await schedulers()) === JSON.stringify(want), "the new schedule", 30_000);
    expect(await schedulers()).toEqual(want);
  }, 60_000);

  test("uninstalling the app removes the schedule", async () => {
    const { sim } = stack;
    const delivery = await sim.webhooks.deliver("installation", {
      action: "deleted",
      installation: { id: INSTALLATION, account: { login: "acme", id: 9001, type: "Organization" } },
      repositories: [],
      sender: { login: "alice", id: 9002, type: "User" },
    });
    expect(delivery.statusCode).toBe(200);
    expect(await schedulers()).toEqual([]);
  }, 30_000);
});
