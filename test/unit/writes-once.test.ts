import { describe, expect, test } from "@jest/globals";
import nock from "nock";
import { upsertPull } from "../../src/github/pull-requests.js";
import type { GitHub } from "../../src/github/types.js";
import { CONFIG_CHECK_NAME, runNotify } from "../../src/jobs/notify/run-notify.js";
import { notifyMarker } from "../../src/jobs/notify/texts.js";
import { noteHandsOffOnce, upsertDashboard } from "../../src/jobs/upgrade/github-state.js";
import { DASHBOARD_MARKER, HANDS_OFF_MARKER } from "../../src/jobs/upgrade/marker.js";
import type { NotifyPayload } from "../../src/queue/payloads.js";
import { createLogger } from "../../src/shared/log.js";
import { redact } from "../../src/shared/redact.js";
import { TestOctokit } from "../support/octokit.js";
import { strictNock } from "../support/strict-nock.js";

/**
 * Every create the web process decides on (replies, the config check run) and the upgrade job's
 * PR, dashboard and hands-off note happen ONCE, even when GitHub did the create and the answer
 * was lost (a 502 after the fact): the thing is looked up before it is created again. GitHub is
 * nock, strictly: every mock must be used, and an extra create would find no mock and fail.
 */
const API = "https://api.github.com";
const repo = { owner: "o", repo: "r" };
const log = createLogger({ level: "silent", redact });
let scope: nock.Scope;
const github = () => new TestOctokit({ auth: { token: "t" } }) as unknown as GitHub;
const bot = { login: "iquest-bot[bot]", type: "Bot" };
strictNock(API, (s) => (scope = s));

const help: NotifyPayload = { kind: "notify", installationId: 1, repoId: 2, repo: "o/r", deliveryId: "d1", trigger: "comment", commentId: 55, actor: "alice", reason: "help", issueNumber: 3 };

describe("notify jobs (the web's replies) are written once", () => {
  test("help: GitHub made the comment but the answer was lost → found by its marker, not posted again", async () => {
    const marker = notifyMarker(help);
    scope.get("/repos/o/r/contents/.github%2Fiquest.yml").reply(404, {});
    scope.get("/repos/o/r/issues/3/comments").query(true).reply(200, []);
    scope.post("/repos/o/r/issues/3/comments", (b: { body: string }) => b.body.includes(marker) && b.body.includes("/iquest fix")).reply(502, { message: "Server Error" });
    scope.get("/repos/o/r/issues/3/comments").query(true).reply(200, [{ id: 9, body: `help\n\n${marker}`, user: bot }]);
    expect(await runNotify(github(), repo, help, {}, log)).toBe("replied");
  });

  test("a re-run of the same notify job (or the comment delivered under another id) → already answered, nothing posted", async () => {
    scope.get("/repos/o/r/contents/.github%2Fiquest.yml").reply(404, {});
    scope.get("/repos/o/r/issues/3/comments").query(true).reply(200, [{ id: 9, body: `help\n\n${notifyMarker({ ...help, deliveryId: "d2" })}`, user: bot }]);
    expect(await runNotify(github(), repo, { ...help, deliveryId: "d2" }, {}, log)).toBe("already answered");
  });

  test("a marker in a HUMAN's comment does not count as the bot's answer", async () => {
    scope.get("/repos/o/r/contents/.github%2Fiquest.yml").reply(404, {});
    scope.get("/repos/o/r/issues/3/comments").query(true).reply(200, [{ id: 8, body: notifyMarker(help), user: { login: "mallory", type: "User" } }]);
    scope.post("/repos/o/r/issues/3/comments").reply(201, { id: 10 });
    expect(await runNotify(github(), repo, help, {}, log)).toBe("replied");
  });

  test("the config check run: created, answer lost → this app's run is found, not created twice", async () => {
    const sha = "a".repeat(40);
    const payload: NotifyPayload = { kind: "notify", installationId: 1, repoId: 2, repo: "o/r", trigger: "push", reason: "config-check", headSha: sha };
    scope.get("/repos/o/r/contents/.github%2Fiquest.yml").query({ ref: sha }).reply(200, { type: "file", content: Buffer.from("fix:\n  label: bug\n").toString("base64"), encoding: "base64" });
    const list = `/repos/o/r/commits/${sha}/check-runs`;
    scope.get(list).query(true).reply(200, { total_count: 0, check_runs: [] });
    scope.post("/repos/o/r/check-runs", (b: { name: string; conclusion: string }) => b.name === CONFIG_CHECK_NAME && b.conclusion === "success").reply(502, {});
    scope.get(list).query(true).reply(200, { total_count: 1, check_runs: [{ id: 31, name: CONFIG_CHECK_NAME, app: { slug: "iquest-bot" } }] });
    expect(await runNotify(github(), repo, payload, { appSlug: async () => "iquest-bot" }, log)).toBe("config valid");
  });
});

describe("the upgrade job's creates happen once", () => {
  test("the PR: created, answer lost → the branch's open PR is found, no second create", async () => {
    const pr = { number: 12, html_url: "https://github.com/o/r/pull/12", state: "open", draft: false, head: { sha: "b".repeat(40), ref: "iquest/deps-all" } };
    scope.get("/repos/o/r/pulls").query({ head: "o:iquest/deps-all", state: "open", per_page: 10 }).reply(200, []);
    scope.post("/repos/o/r/pulls").reply(502, {});
    scope.get("/repos/o/r/pulls").query({ head: "o:iquest/deps-all", state: "open", per_page: 10 }).reply(200, [pr]);
    const made = await upsertPull(github(), repo, { branch: "iquest/deps-all", base: "main", title: "deps", body: "b", draft: false });
    expect(made).toMatchObject({ number: 12, created: true });
  });

  test("the dashboard: created, answer lost → found by its marker, no second issue", async () => {
    scope.get("/repos/o/r/issues").query(true).reply(200, []);
    scope.post("/repos/o/r/issues", (b: { body: string }) => b.body.includes(DASHBOARD_MARKER)).reply(502, {});
    scope
      .get("/repos/o/r/issues")
      .query(true)
      .reply(200, [{ number: 40, state: "open", body: `${DASHBOARD_MARKER}\n…`, html_url: "https://github.com/o/r/issues/40" }]);
    const d = await upsertDashboard(github(), repo, "iquest-bot[bot]", "Dependency dashboard", `${DASHBOARD_MARKER}\nbody`);
    expect(d).toEqual({ status: "created", number: 40, url: "https://github.com/o/r/issues/40" });
  });

  test("the hands-off note: created, answer lost → found by its marker, not posted again", async () => {
    scope.get("/repos/o/r/issues/12/comments").query(true).reply(200, []);
    scope.post("/repos/o/r/issues/12/comments").reply(502, {});
    scope.get("/repos/o/r/issues/12/comments").query(true).reply(200, [{ id: 3, body: `${HANDS_OFF_MARKER}\nyours now`, user: bot }]);
    expect(await noteHandsOffOnce(github(), repo, 12, "iquest/deps-all", "@alice")).toBe(true);
  });
});
