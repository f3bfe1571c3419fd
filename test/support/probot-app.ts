import nock from "nock";
import { STEP_PERMISSIONS, createGitHubApp } from "../../src/github/app-client.js";
import { fetchPermission } from "../../src/github/permissions.js";
import { loadRepoConfig } from "../../src/github/repo-config.js";
import { createLogger } from "../../src/shared/log.js";
import { redact } from "../../src/shared/redact.js";
import type { HandlerDeps } from "../../src/webhooks/deps.js";
import { createRouter, type RouteResult } from "../../src/webhooks/router.js";
import { testPrivateKey } from "./keys.js";
import { TestOctokit } from "./octokit.js";
import { INSTALLATION_ID, OWNER, REPO } from "./payloads.js";
import { RecordingEnqueuer } from "./recording-enqueuer.js";

export const API = "https://api.github.com";
export const REPO_PATH = `/repos/${OWNER}/${REPO}`;

/**
 * Our real handlers behind the real router, with a recording enqueuer, the web process's own
 * one-repository intake client, and real GitHub calls (to nock). No caches unless a test passes
 * them: every permission question goes to GitHub, so a test sees each call it causes.
 */
export async function createTestIntake(overrides: Partial<HandlerDeps> = {}) {
  const enqueuer = new RecordingEnqueuer();
  const outcomes: Array<[string, string]> = [];
  const results: RouteResult[] = [];
  const log = createLogger({ level: "silent", redact });
  const github = createGitHubApp({ appId: "1", privateKey: testPrivateKey(), baseUrl: API, log, Octokit: TestOctokit, writePacing: false });
  const deps: HandlerDeps = {
    enqueuer,
    repoClient: (installationId, repoId) => github.lazyForRepo(installationId, repoId, STEP_PERMISSIONS.intake),
    loadConfig: (gh, repo) => loadRepoConfig(gh, repo),
    checkPermission: (target, user) => fetchPermission(target.github, target.repo, user),
    log,
    ...overrides,
  };
  const router = createRouter(deps);
  /** Deliver one event as the intake would after verifying it. */
  const receive = async (name: string, payload: object, id = "d-1"): Promise<RouteResult> => {
    const result = await router.receive({ id, name, payload: payload as Record<string, unknown> });
    outcomes.push([result.event, result.outcome]);
    results.push(result);
    return result;
  };
  return { router, receive, enqueuer, outcomes, results };
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
