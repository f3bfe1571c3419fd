import { afterAll, beforeAll, describe, expect, test } from "@jest/globals";
import nock from "nock";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { SUBSCRIBED_EVENTS } from "../../src/reconciler/reconcile.js";
import { API, createTestIntake } from "../support/probot-app.js";
import { EXAMPLES } from "../support/payloads.js";

/**
 * Every example GitHub publishes for every event the app subscribes to (app.yml) goes through
 * the real handlers without a crash. Only the events that mean work produce a job: a review for
 * an open, non-draft PR by a human on opened/synchronize/reopened/ready_for_review. Examples
 * carry no /iquest commands or fix labels, so nothing else may be enqueued.
 */
// The events app.yml subscribes to (the reconciler keeps the same list).
const SUBSCRIBED = [...SUBSCRIBED_EVENTS];

const REVIEW_ACTIONS = new Set(["opened", "synchronize", "reopened", "ready_for_review"]);

function expectsReview(name: string, p: Record<string, any>): boolean {
  if (name !== "pull_request" || !REVIEW_ACTIONS.has(p.action)) return false;
  const pr = p.pull_request;
  const bot = (u: any) => u?.type === "Bot" || String(u?.login ?? "").endsWith("[bot]");
  return pr.state === "open" && !pr.draft && !bot(pr.user) && !bot(p.sender);
}

/** A push to the default branch: one rebase job for the bot's PRs on it (the worker looks). */
function expectsRebase(name: string, p: Record<string, any>): boolean {
  return name === "push" && !p.deleted && p.ref === `refs/heads/${p.repository?.default_branch}`;
}

const cases = EXAMPLES.filter((e) => SUBSCRIBED.includes(e.name)).flatMap((e) =>
  e.examples.map((payload, i) => [`${e.name}.${payload.action ?? "-"} #${i}`, e.name, payload] as const),
);

beforeAll(() => {
  nock.disableNetConnect();
  // Any GitHub call a handler makes gets a plausible answer; writers everywhere, no repo config.
  nock(API)
    .persist()
    .post(/\/app\/installations\/\d+\/access_tokens/)
    .reply(201, { token: "ghs_example", expires_at: new Date(Date.now() + 3600_000).toISOString() })
    .get(/\/contents\//)
    .reply(404, { message: "Not Found" })
    .get(/\/collaborators\/.+\/permission/)
    .reply(200, { permission: "write" })
    .post(/\/check-runs$/)
    .reply(201, { id: 1 });
});

afterAll(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

describe("GitHub's webhook examples", () => {
  test("app.yml subscribes to exactly these events", () => {
    const manifest = parseYaml(readFileSync(new URL("../../app.yml", import.meta.url), "utf8")) as { default_events: string[] };
    expect([...manifest.default_events].sort()).toEqual([...SUBSCRIBED].sort());
  });

  test("there are examples for every subscribed event", () => {
    const names = new Set(cases.map((c) => c[1]));
    expect([...names].sort()).toEqual([...SUBSCRIBED].sort());
    expect(cases.length).toBeGreaterThan(60);
    // The job-producing path is exercised too, not only the ignore paths.
    const withInstallation = cases.map(([, n, p]) => expectsReview(n, p as Record<string, any>));
    expect(withInstallation.filter(Boolean).length).toBeGreaterThan(0);
  });

  test.each(cases)("%s", async (_label, name, example) => {
    const payload = structuredClone(example) as Record<string, any>;
    // Many examples omit `installation`; give them one so handlers go as far as they can.
    payload.installation ??= { id: 2 };
    const t = await createTestIntake();
    const result = await t.receive(name, payload, "example");
    expect(result.outcome).not.toBe("error");
    expect(result.outcome).not.toBe("malformed");
    expect(result.status).toBe(200);
    const reviews = t.enqueuer.jobs.filter((j) => j.kind === "review");
    expect(reviews).toHaveLength(expectsReview(name, payload) ? 1 : 0);
    const rebases = t.enqueuer.jobs.filter((j) => j.kind === "rebase");
    expect(rebases).toEqual(expectsRebase(name, payload) ? [expect.objectContaining({ kind: "rebase", branch: payload.repository.default_branch })] : []);
    expect(t.enqueuer.jobs.filter((j) => j.kind !== "review" && j.kind !== "rebase")).toEqual([]);
  });
});
