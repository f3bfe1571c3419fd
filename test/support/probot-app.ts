import nock from "nock";
import { Probot } from "probot";
import { fetchPermission } from "../../src/github/permissions.js";
import { loadRepoConfig } from "../../src/github/repo-config.js";
import { createLogger } from "../../src/shared/log.js";
import { redact } from "../../src/shared/redact.js";
import { createApp } from "../../src/webhooks/app.js";
import type { HandlerDeps } from "../../src/webhooks/deps.js";
import { testPrivateKey } from "./keys.js";
import { TestOctokit } from "./octokit.js";
import { INSTALLATION_ID, OWNER, REPO } from "./payloads.js";
import { RecordingEnqueuer } from "./recording-enqueuer.js";

export const API = "https://api.github.com";
export const REPO_PATH = `/repos/${OWNER}/${REPO}`;

/** A Probot with our real handlers, a recording enqueuer and real GitHub calls (to nock). */
export async function createTestProbot(overrides: Partial<HandlerDeps> = {}) {
  const enqueuer = new RecordingEnqueuer();
  const outcomes: Array<[string, string]> = [];
  const log = createLogger({ level: "silent", redact });
  const probot = new Probot({ appId: 1, privateKey: testPrivateKey(), secret: "test-secret", log, Octokit: TestOctokit });
  const deps: HandlerDeps = {
    enqueuer,
    loadConfig: (github, repo) => loadRepoConfig(github, repo),
    checkPermission: fetchPermission,
    record: (event, outcome) => void outcomes.push([event, outcome]),
    log,
    ...overrides,
  };
  await probot.load(createApp(deps));
  return { probot, enqueuer, outcomes };
}

/** The installation token the event client mints first. */
export function mockInstallationToken(scope: nock.Scope = nock(API)): nock.Scope {
  return scope.post(`/app/installations/${INSTALLATION_ID}/access_tokens`).reply(201, {
    token: "ghs_testtoken000000000000000000000000000",
    expires_at: new Date(Date.now() + 3600_000).toISOString(),
    permissions: {},
  });
}

export function mockNoConfig(scope: nock.Scope): nock.Scope {
  return scope.get(`${REPO_PATH}/contents/.github%2Fiquest.yml`).reply(404, { message: "Not Found" });
}

export function mockConfig(scope: nock.Scope, yaml: string): nock.Scope {
  return scope.get(`${REPO_PATH}/contents/.github%2Fiquest.yml`).reply(200, {
    type: "file",
    encoding: "base64",
    content: Buffer.from(yaml).toString("base64"),
  });
}

export function mockPermission(scope: nock.Scope, user: string, permission: string | number, roleName?: string): nock.Scope {
  const path = `${REPO_PATH}/collaborators/${user}/permission`;
  if (typeof permission === "number") return scope.get(path).reply(permission, { message: "boom" });
  return scope.get(path).reply(200, { permission, role_name: roleName ?? permission, user: { login: user } });
}
