import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { authFromToken } from "./auth.js";
import { ZERO_SHA, baseGitEnv } from "./git.js";
import type { AuthInfo, PushRecord, SimRepo, SimState, TokenRecord } from "./state.js";

/**
 * Git smart HTTP, served by the real `git http-backend` (CGI) over the bare repos, behind the
 * checks GitHub makes: HTTP Basic with an installation token as the password (any user name,
 * `x-access-token` by convention), valid for the repo, `contents: read` to fetch and
 * `contents: write` to push. Pushes that touch `.github/workflows/**` without the `workflows`
 * permission are refused by the pre-receive hook, as GitHub refuses them.
 */

export const GIT_PATH = /^\/([^/]+)\/([^/]+?)(?:\.git)?\/(info\/refs|git-upload-pack|git-receive-pack|HEAD|objects\/.+)$/;

/**
 * The hooks every simulated repo gets. The server passes the push's context in environment
 * variables (http-backend → receive-pack → hooks inherit them): SIM_ALLOW_WORKFLOWS says
 * whether the token may touch workflow files, SIM_HOOK_OUT where to write what happened.
 */
export const HOOKS: Record<string, string> = {
  "pre-receive": `#!/bin/sh
# Refuse workflow-file changes unless the token has the workflows permission (GitHub does).
out="\${SIM_HOOK_OUT:-/dev/null}"
zero=${ZERO_SHA}
status=0
while read old new ref; do
  printf '%s %s %s\\n' "$old" "$new" "$ref" >> "$out/pre-receive" 2>/dev/null
  [ "$SIM_ALLOW_WORKFLOWS" = "1" ] && continue
  [ "$new" = "$zero" ] && continue
  for c in $(git rev-list "$new" --not --all); do
    f=$(git diff-tree --no-commit-id --name-only -r -m --root "$c" | grep '^\\.github/workflows/' | head -n 1)
    if [ -n "$f" ]; then
      msg="refusing to allow a GitHub App to create or update workflow \\\`$f\\\` without \\\`workflows\\\` permission"
      echo "$msg" >&2
      printf '%s\\t%s\\n' "$ref" "$msg" >> "$out/rejected" 2>/dev/null
      status=1
      break
    fi
  done
done
exit $status
`,
  "post-receive": `#!/bin/sh
# Record the accepted ref updates for the simulator (it reads them after the request).
out="\${SIM_HOOK_OUT:-/dev/null}"
while read old new ref; do
  printf '%s %s %s\\n' "$old" "$new" "$ref" >> "$out/post-receive" 2>/dev/null
done
exit 0
`,
};

export interface GitHttpDeps {
  state: SimState;
  reposDir: string;
  now(): number;
  botLogin: string;
  /** Called with the accepted updates of a push, after git has applied them. */
  refsUpdated(repo: SimRepo, updates: Array<{ ref: string; before: string; after: string }>, token?: string): Promise<void>;
}

/** Parse `Authorization: Basic` into the token it carries (password, or user when no password). */
export function basicToken(header: string | undefined): { user: string; token: string } | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? "");
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
  const i = decoded.indexOf(":");
  const user = i < 0 ? decoded : decoded.slice(0, i);
  const pass = i < 0 ? "" : decoded.slice(i + 1);
  const token = pass && pass !== "x-oauth-basic" ? pass : user;
  return { user, token };
}

export function gitAuth(state: SimState, header: string | undefined, nowMs: number): AuthInfo {
  if (!header) return { kind: "none" };
  const basic = basicToken(header);
  if (!basic) return { kind: "invalid", reason: "only HTTP Basic is accepted for git" };
  return authFromToken(basic.token, state, nowMs, "basic");
}

type Verdict = { ok: true; token?: TokenRecord } | { ok: false; status: number; message: string; headers?: Record<string, string> };

/** GitHub's answers: 401 for missing/bad credentials, 404 for a repo the token cannot see, 403 for a read-only push. */
export function authorizeGit(state: SimState, auth: AuthInfo, repo: SimRepo | undefined, write: boolean, botLogin: string): Verdict {
  const challenge = { "www-authenticate": 'Basic realm="GitHub"' };
  if (auth.kind === "invalid") return { ok: false, status: 401, message: "Invalid username or token. Password authentication is not supported for Git operations.", headers: challenge };
  if (auth.kind === "none") {
    if (repo && !repo.private && !write) return { ok: true };
    return { ok: false, status: 401, message: "Authentication required", headers: challenge };
  }
  if (auth.kind !== "installation") return { ok: false, status: 401, message: "Authentication required", headers: challenge };
  if (!repo) return { ok: false, status: 404, message: "Repository not found." };
  const token = state.tokens.find((t) => t.token === auth.token)!;
  const covers = token.repositoryIds.includes(repo.id);
  if (!covers && repo.private) return { ok: false, status: 404, message: "Repository not found." };
  const contents = covers ? token.permissions.contents : repo.private ? undefined : "read";
  if (write && contents !== "write") return { ok: false, status: 403, message: `Permission to ${repo.fullName}.git denied to ${botLogin}.` };
  if (!write && contents !== "read" && contents !== "write") return { ok: false, status: 403, message: `Permission to ${repo.fullName}.git denied to ${botLogin}.` };
  return { ok: true, token };
}

/**
 * Serve one git request. Returns what the request log needs (status, auth); the response has
 * been written when it resolves.
 */
export async function serveGit(
  deps: GitHttpDeps,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<{ status: number; auth: AuthInfo }> {
  const m = GIT_PATH.exec(url.pathname)!;
  const [, owner, name, rest] = m as unknown as [string, string, string, string];
  const repo = deps.state.findRepo(decodeURIComponent(owner), decodeURIComponent(name));
  const service = url.searchParams.get("service");
  const write = rest === "git-receive-pack" || (rest === "info/refs" && service === "git-receive-pack");
  const auth = gitAuth(deps.state, req.headers.authorization, deps.now());
  const verdict = authorizeGit(deps.state, auth, repo, write, deps.botLogin);
  if (!verdict.ok) {
    res.writeHead(verdict.status, { "content-type": "text/plain; charset=utf-8", ...verdict.headers });
    res.end(`${verdict.message}\n`);
    req.resume();
    return { status: verdict.status, auth };
  }
  const isPush = rest === "git-receive-pack";
  const hookOut = isPush ? await mkdtemp(join(tmpdir(), "gh-sim-push-")) : undefined;
  const env: Record<string, string> = {
    ...baseGitEnv(),
    GIT_PROJECT_ROOT: deps.reposDir,
    GIT_HTTP_EXPORT_ALL: "1",
    PATH_INFO: `/${repo!.owner}/${repo!.name}.git/${rest}`,
    REQUEST_METHOD: req.method ?? "GET",
    QUERY_STRING: url.search.replace(/^\?/, ""),
    CONTENT_TYPE: req.headers["content-type"] ?? "",
    REMOTE_ADDR: req.socket.remoteAddress ?? "127.0.0.1",
    REMOTE_USER: verdict.token ? `installation-${verdict.token.installationId}` : "anonymous",
    SERVER_PROTOCOL: "HTTP/1.1",
    SIM_ALLOW_WORKFLOWS: verdict.token?.permissions.workflows === "write" ? "1" : "0",
    SIM_HOOK_OUT: hookOut ?? "/dev/null",
  };
  // Protocol v2 is negotiated through this header; http-backend reads it from GIT_PROTOCOL.
  const protocol = req.headers["git-protocol"];
  if (typeof protocol === "string") env.GIT_PROTOCOL = protocol;
  if (req.headers["content-encoding"]) env.HTTP_CONTENT_ENCODING = String(req.headers["content-encoding"]);
  // A chunked body has no length: leave CONTENT_LENGTH unset and http-backend reads to EOF.
  if (req.headers["content-length"]) env.CONTENT_LENGTH = String(req.headers["content-length"]);

  const status = await runCgi(env, req, res);

  // The push is recorded (and PRs follow their branches) before the response ends, so by the
  // time `git push` returns, the simulator's state already shows it.
  if (isPush && hookOut) {
    try {
      await recordPush(deps, repo!, hookOut, verdict.token);
    } finally {
      await rm(hookOut, { recursive: true, force: true });
    }
  }
  if (!res.writableEnded) res.end();
  return { status, auth };
}

async function readLines(path: string): Promise<string[]> {
  try {
    return (await readFile(path, "utf8")).split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

async function recordPush(deps: GitHttpDeps, repo: SimRepo, dir: string, token: TokenRecord | undefined): Promise<void> {
  const attempted = (await readLines(join(dir, "pre-receive"))).map((l) => l.split(" ") as [string, string, string]);
  const accepted = (await readLines(join(dir, "post-receive"))).map((l) => l.split(" ") as [string, string, string]);
  const rejected = new Map((await readLines(join(dir, "rejected"))).map((l) => l.split("\t") as [string, string]));
  const at = new Date(deps.now()).toISOString();
  const updates: Array<{ ref: string; before: string; after: string }> = [];
  for (const [before, after, ref] of attempted) {
    const ok = accepted.some(([, , r]) => r === ref);
    const forced = before !== ZERO_SHA && (after === ZERO_SHA || !(await repo.git.isAncestor(before, after)));
    const record: PushRecord = {
      repo: repo.fullName,
      ref,
      before,
      after,
      forced,
      accepted: ok,
      via: "git",
      at,
      ...(token ? { token: token.token } : {}),
      ...(ok ? {} : { rejection: rejectionOf(ref, rejected) }),
    };
    deps.state.pushes.push(record);
    if (ok) updates.push({ ref, before, after });
  }
  if (updates.length) await deps.refsUpdated(repo, updates, token?.token);
}

/** Why a ref was not updated: our hook's message, git's own refusal, or the push failing as a whole. */
function rejectionOf(ref: string, rejected: Map<string, string>): string {
  const own = rejected.get(ref);
  if (own) return own;
  if (ref.startsWith("refs/pull/")) return "deny updating a hidden ref";
  // pre-receive refuses a push as a whole: another ref's workflow change sinks this one too.
  const other = [...rejected.values()][0];
  return other ? `push refused: ${other}` : "rejected by the server";
}

/**
 * Run `git http-backend` as a CGI: request body to stdin, CGI headers + body from stdout.
 * Resolves with the status once git has exited; the response is left open for the caller.
 */
function runCgi(env: Record<string, string>, req: IncomingMessage, res: ServerResponse): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn("git", ["http-backend"], { env, stdio: ["pipe", "pipe", "pipe"] });
    let head = Buffer.alloc(0);
    let headersDone = false;
    let status = 200;
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.on("data", (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const sep = findHeaderEnd(head);
      if (!sep) return;
      headersDone = true;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, sep.index).toString("latin1").split(/\r?\n/)) {
        const i = line.indexOf(":");
        if (i < 0) continue;
        const key = line.slice(0, i).trim().toLowerCase();
        const value = line.slice(i + 1).trim();
        if (key === "status") status = Number(value.split(" ")[0]) || 200;
        else headers[key] = value;
      }
      res.writeHead(status, headers);
      const body = head.subarray(sep.index + sep.length);
      if (body.length) res.write(body);
    });
    child.on("close", (code) => {
      if (!headersDone) {
        status = 500;
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(`git http-backend failed (${code}): ${stderr}`);
      }
      // Otherwise the caller ends the response, after its own bookkeeping.
      resolve(status);
    });
    child.stdin.on("error", () => {});
    req.pipe(child.stdin);
  });
}

function findHeaderEnd(buf: Buffer): { index: number; length: number } | undefined {
  const crlf = buf.indexOf("\r\n\r\n");
  const lf = buf.indexOf("\n\n");
  if (crlf >= 0 && (lf < 0 || crlf <= lf)) return { index: crlf, length: 4 };
  if (lf >= 0) return { index: lf, length: 2 };
  return undefined;
}
