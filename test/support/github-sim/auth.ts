import { randomBytes, verify, type KeyObject } from "node:crypto";
import { HttpError, badCredentials, forbiddenForIntegration, notFound, validationFailed } from "./http-error.js";
import type { AuthInfo, Permission, PermissionSet, SimRepo, SimState, TokenRecord } from "./state.js";

/**
 * Who is calling, and may they: app JWTs (RS256, checked against the app's public key with
 * GitHub's own time rules), installation tokens (minted here, scoped to repositories and
 * permissions, expiring), and the 401/403/404 GitHub gives when a token falls short.
 */

export interface AppIdentity {
  id: number;
  clientId: string;
  slug: string;
  name: string;
  owner: string;
  publicKey: KeyObject;
  /** Login of the app's bot user, e.g. "iquest-bot[bot]". */
  botLogin: string;
}

const b64url = (s: string) => Buffer.from(s, "base64url");

/**
 * Verify an app JWT the way GitHub does. The messages are GitHub's: @octokit/auth-app matches
 * the clock-skew ones and retries with a corrected clock.
 */
export function verifyAppJwt(jwt: string, app: AppIdentity, nowSec: number): { ok: true } | { ok: false; message: string } {
  const parts = jwt.split(".");
  if (parts.length !== 3) return { ok: false, message: "A JSON web token could not be decoded" };
  const [h, p, s] = parts as [string, string, string];
  let header: { alg?: string };
  let payload: { iat?: unknown; exp?: unknown; iss?: unknown };
  try {
    header = JSON.parse(b64url(h).toString("utf8"));
    payload = JSON.parse(b64url(p).toString("utf8"));
  } catch {
    return { ok: false, message: "A JSON web token could not be decoded" };
  }
  if (header.alg !== "RS256") return { ok: false, message: "A JSON web token could not be decoded" };
  if (!verify("RSA-SHA256", Buffer.from(`${h}.${p}`), app.publicKey, b64url(s))) {
    return { ok: false, message: "A JSON web token could not be decoded" };
  }
  if (String(payload.iss) !== String(app.id) && payload.iss !== app.clientId) {
    return { ok: false, message: "'Issuer' claim ('iss') must be an Integer" };
  }
  if (typeof payload.iat !== "number" || !Number.isInteger(payload.iat) || payload.iat > nowSec + 60) {
    return { ok: false, message: "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued" };
  }
  if (typeof payload.exp !== "number" || payload.exp <= nowSec) {
    return {
      ok: false,
      message: "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
    };
  }
  if (payload.exp > nowSec + 600 + 60) return { ok: false, message: "'Expiration time' claim ('exp') is too far in the future" };
  return { ok: true };
}

/** Read an `Authorization` header (REST style: "token X" or "bearer X"). */
export function authFromHeader(header: string | undefined, state: SimState, app: AppIdentity, nowMs: number): AuthInfo {
  if (!header) return { kind: "none" };
  const m = /^(token|bearer)\s+(\S+)$/i.exec(header.trim());
  if (!m) return { kind: "invalid", reason: "unsupported authorization scheme" };
  const credential = m[2]!;
  if (credential.split(".").length === 3) {
    const verdict = verifyAppJwt(credential, app, Math.floor(nowMs / 1000));
    return verdict.ok ? { kind: "app", appId: String(app.id) } : { kind: "invalid", reason: verdict.message };
  }
  return authFromToken(credential, state, nowMs, "header");
}

export function authFromToken(token: string, state: SimState, nowMs: number, via: "header" | "basic"): AuthInfo {
  const record = state.tokens.find((t) => t.token === token);
  if (!record) return { kind: "invalid", reason: "Bad credentials" };
  if (record.revoked) return { kind: "invalid", reason: "Bad credentials" };
  if (Date.parse(record.expiresAt) <= nowMs) return { kind: "invalid", reason: "Bad credentials" };
  return { kind: "installation", token, installationId: record.installationId, via };
}

const PERMISSION_NAMES = new Set([
  "actions", "administration", "checks", "contents", "deployments", "environments", "issues", "metadata", "packages",
  "pages", "pull_requests", "repository_hooks", "repository_projects", "secret_scanning_alerts", "secrets",
  "security_events", "single_file", "statuses", "vulnerability_alerts", "workflows", "members",
  "organization_administration", "organization_hooks", "organization_plan", "organization_projects",
  "organization_secrets", "organization_self_hosted_runners", "team_discussions",
]);

const rank = (p: string | undefined) => (p === "write" || p === "admin" ? 2 : p === "read" ? 1 : 0);

export interface MintRequest {
  installationId: number;
  repository_ids?: unknown;
  repositories?: unknown;
  permissions?: unknown;
}

/**
 * Mint an installation token as `POST /app/installations/{id}/access_tokens` does, with its
 * checks: repositories must belong to the installation and permissions must not exceed what
 * the installation was granted (422 otherwise). Every token also carries `metadata: read`.
 */
export function mintToken(
  state: SimState,
  request: MintRequest,
  options: { nowMs: number; ttlMs: number; longToken: boolean; via: TokenRecord["via"] },
): TokenRecord {
  const inst = state.installations.find((i) => i.id === request.installationId);
  if (!inst) throw notFound();
  if (inst.suspended) throw new HttpError(403, "This installation has been suspended");
  const reachable = state.installationRepos(inst);
  let repositoryIds = reachable.map((r) => r.id);
  const requested: TokenRecord["requested"] = {};
  const inaccessible = () =>
    new HttpError(422, "There is at least one repository that does not exist or is not accessible to the parent installation.");
  if (request.repository_ids !== undefined) {
    if (!Array.isArray(request.repository_ids) || !request.repository_ids.every((x) => Number.isInteger(x))) {
      throw validationFailed({ resource: "Installation", field: "repository_ids", code: "invalid" });
    }
    requested.repository_ids = [...(request.repository_ids as number[])];
    if (!requested.repository_ids.every((id) => repositoryIds.includes(id))) throw inaccessible();
    repositoryIds = requested.repository_ids;
  }
  if (request.repositories !== undefined) {
    if (!Array.isArray(request.repositories) || !request.repositories.every((x) => typeof x === "string")) {
      throw validationFailed({ resource: "Installation", field: "repositories", code: "invalid" });
    }
    requested.repositories = [...(request.repositories as string[])];
    const ids = requested.repositories.map((name) => reachable.find((r) => r.name.toLowerCase() === name.toLowerCase())?.id);
    if (ids.some((id) => id === undefined)) throw inaccessible();
    repositoryIds = [...new Set([...(request.repository_ids !== undefined ? repositoryIds : []), ...(ids as number[])])];
  }
  let permissions: PermissionSet = { ...inst.permissions };
  if (request.permissions !== undefined) {
    if (typeof request.permissions !== "object" || request.permissions === null || Array.isArray(request.permissions)) {
      throw validationFailed({ resource: "Installation", field: "permissions", code: "invalid" });
    }
    requested.permissions = { ...(request.permissions as Record<string, string>) };
    permissions = {};
    for (const [name, level] of Object.entries(requested.permissions)) {
      if (!PERMISSION_NAMES.has(name) || (level !== "read" && level !== "write")) {
        throw new HttpError(422, `The permission "${name}: ${String(level)}" is not valid.`);
      }
      if (rank(inst.permissions[name]) < rank(level)) {
        throw new HttpError(422, "The permissions requested are not granted to this installation.");
      }
      permissions[name] = level as Permission;
    }
  }
  permissions.metadata ??= "read";
  const record: TokenRecord = {
    token: newToken(options.longToken),
    installationId: inst.id,
    repositoryIds,
    permissions,
    createdAt: isoSeconds(options.nowMs),
    expiresAt: isoSeconds(options.nowMs + options.ttlMs),
    requested,
    via: options.via,
    revoked: false,
  };
  state.tokens.push(record);
  return record;
}

const ALPHANUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** `ghs_` + 36 characters (the classic form), or a ~520-character one like GitHub's newer tokens. */
function newToken(long: boolean): string {
  const length = long ? 516 : 36;
  const bytes = randomBytes(length);
  let s = "ghs_";
  for (const b of bytes) s += ALPHANUM[b % ALPHANUM.length];
  return s;
}

export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

export type Need = [permission: string, level: Permission];

/**
 * May this caller do this on this repo? `needs` are alternatives (any one suffices: GitHub lets
 * `issues` or `pull_requests` write a comment on a PR). Answers as GitHub does: a private repo
 * the caller cannot see is a 404; a visible one it may not change is a 403.
 */
export function authorizeRepo(state: SimState, auth: AuthInfo, repo: SimRepo, needs: Need[]): void {
  const writes = needs.every(([, level]) => level === "write");
  switch (auth.kind) {
    case "none":
      if (repo.private) throw notFound();
      if (writes) throw new HttpError(401, "Requires authentication");
      return;
    case "invalid":
      throw badCredentials();
    case "app":
      throw new HttpError(403, "A JSON web token can only call app endpoints; use an installation access token.");
    case "installation": {
      const token = state.tokens.find((t) => t.token === auth.token)!;
      const covers = token.repositoryIds.includes(repo.id);
      if (!covers) {
        if (repo.private) throw notFound();
        if (writes) throw forbiddenForIntegration();
        return;
      }
      if (!needs.some(([name, level]) => rank(token.permissions[name]) >= rank(level))) throw forbiddenForIntegration();
    }
  }
}

/** The token record behind an installation auth (for bookkeeping: who wrote what). */
export function tokenOf(state: SimState, auth: AuthInfo): TokenRecord | undefined {
  return auth.kind === "installation" ? state.tokens.find((t) => t.token === auth.token) : undefined;
}
