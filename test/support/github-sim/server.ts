import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { authFromHeader, type AppIdentity } from "./auth.js";
import { describeFault, faultReply, type Faults } from "./faults.js";
import { GIT_PATH, gitAuth, serveGit, type GitHttpDeps } from "./git-http.js";
import { HttpError } from "./http-error.js";
import { RestContext, type Router, type SimServices } from "./rest/router.js";
import type { RecordedRequest } from "./state.js";

/**
 * The simulator's one HTTP server: REST under /api/v3 (GitHub Enterprise's layout, which is
 * what GHE_HOST makes octokit and Probot use) and git smart HTTP at /<owner>/<repo>.git/...
 * Every request is recorded before anything else happens, faults included.
 */

export interface ServerDeps {
  services: SimServices;
  app: AppIdentity;
  router: Router;
  faults: Faults;
  git: GitHttpDeps;
  /** Handler crashes (bugs in the simulator), kept so a test can fail on them. */
  errors: Error[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The request listener for the simulator's server (REST, git, faults, recording). */
export function createRequestHandler(deps: ServerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(deps, req, res).catch((err: Error) => {
      deps.errors.push(err);
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ message: `github-sim crashed: ${err.message}` }));
    });
  };
}

async function handle(deps: ServerDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { state } = deps.services;
  const started = performance.now();
  const url = new URL(req.url ?? "/", "http://github-sim");
  const method = (req.method ?? "GET").toUpperCase();
  const isRest = url.pathname === "/api/v3" || url.pathname.startsWith("/api/v3/");
  const target = isRest ? "rest" : GIT_PATH.test(url.pathname) ? "git" : undefined;
  const path = isRest ? url.pathname.slice("/api/v3".length) || "/" : url.pathname;
  const record: RecordedRequest = {
    seq: state.nextId("request"),
    at: new Date(deps.services.now()).toISOString(),
    target: target ?? "rest",
    method,
    path,
    query: Object.fromEntries(url.searchParams),
    auth: { kind: "none" },
  };
  state.requests.push(record);
  const finish = (status: number) => {
    record.status = status;
    record.durationMs = Math.round(performance.now() - started);
  };

  if (!target) {
    sendJson(res, 404, { message: "Not Found" });
    return finish(404);
  }

  // The route is known before any fault, so a faulted call reads like the one it replaced.
  if (target === "rest") {
    try {
      const m = deps.router.match(method, path);
      if (m) record.route = `${method} ${m.route.template}`;
    } catch {
      // a malformed %-escape: no route
    }
  }

  const fault = deps.faults.take(target, method, path, record.query);
  // A lost answer lets the call take effect and replaces only what the client reads.
  const lostAnswer = fault?.kind === "lost-answer" && target === "rest" ? fault : undefined;
  if (lostAnswer) record.fault = describeFault(lostAnswer);
  if (fault && !lostAnswer) {
    record.fault = describeFault(fault);
    record.auth =
      target === "git"
        ? gitAuth(state, req.headers.authorization, deps.services.now())
        : authFromHeader(req.headers.authorization, state, deps.app, deps.services.now());
    if (fault.kind === "delay") {
      await sleep(fault.ms);
    } else if (fault.kind === "hang" || fault.kind === "reset") {
      if (fault.kind === "hang") await sleep(fault.ms);
      req.socket.destroy();
      return finish(0);
    } else {
      const body = await readBody(req);
      if (target === "rest") record.body = parseJson(body);
      const reply = faultReply(fault, deps.services.now())!;
      sendJson(res, reply.status, reply.body, { ...rateHeaders(deps), ...reply.headers });
      return finish(reply.status);
    }
  }

  if (target === "git") {
    const r = await serveGit(deps.git, req, res, url);
    record.auth = r.auth;
    return finish(r.status);
  }

  const raw = await readBody(req);
  const auth = authFromHeader(req.headers.authorization, state, deps.app, deps.services.now());
  record.auth = auth;
  let body: unknown = {};
  if (raw.length) {
    body = parseJson(raw);
    if (body === undefined) {
      sendJson(res, 400, { message: "Problems parsing JSON", documentation_url: "https://docs.github.com/rest" });
      return finish(400);
    }
  }
  record.body = body;
  // A bad credential is refused everywhere, before routing (GitHub does the same).
  if (auth.kind === "invalid") {
    sendJson(res, 401, { message: auth.reason, documentation_url: "https://docs.github.com/rest", status: "401" }, rateHeaders(deps));
    return finish(401);
  }
  let match;
  try {
    match = deps.router.match(method, path);
  } catch {
    match = undefined; // a malformed %-escape
  }
  if (!match) {
    sendJson(res, 404, { message: "Not Found", documentation_url: "https://docs.github.com/rest", status: "404" }, rateHeaders(deps));
    return finish(404);
  }
  record.route = `${method} ${match.route.template}`;
  const ctx = new RestContext(
    deps.services,
    method,
    path,
    match.params,
    record.query,
    (body ?? {}) as Record<string, unknown>,
    auth,
    req.headers,
  );
  try {
    const reply = await match.route.handler(ctx);
    if (lostAnswer) {
      sendJson(res, lostAnswer.status, { message: "Server Error" }, rateHeaders(deps));
      return finish(lostAnswer.status);
    }
    if (typeof reply.body === "string") {
      res.writeHead(reply.status, { "content-type": "text/plain; charset=utf-8", ...rateHeaders(deps), ...reply.headers });
      res.end(reply.body);
    } else if (reply.status === 204 || reply.body === undefined) {
      res.writeHead(reply.status, { ...rateHeaders(deps), ...reply.headers });
      res.end();
    } else sendJson(res, reply.status, reply.body, { ...rateHeaders(deps), ...reply.headers });
    return finish(reply.status);
  } catch (err) {
    if (err instanceof HttpError) {
      sendJson(res, err.status, err.body, { ...rateHeaders(deps), ...err.extra.headers });
      return finish(err.status);
    }
    throw err;
  }
}

function parseJson(raw: Buffer): unknown {
  if (!raw.length) return undefined;
  try {
    return JSON.parse(raw.toString("utf8"));
  } catch {
    return undefined;
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function rateHeaders(deps: ServerDeps): Record<string, string> {
  return {
    "x-github-request-id": randomBytes(8).toString("hex").toUpperCase(),
    "x-github-media-type": "github.v3; format=json",
    "x-ratelimit-limit": "5000",
    "x-ratelimit-remaining": "4999",
    "x-ratelimit-used": "1",
    "x-ratelimit-resource": "core",
    "x-ratelimit-reset": String(Math.floor(deps.services.now() / 1000) + 3600),
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}
