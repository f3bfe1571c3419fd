import type { IncomingMessage, ServerResponse } from "node:http";
import type { Route } from "../http/server.js";
import type { RunLinks } from "../runs/run-links.js";
import type { StoredRun } from "../runs/run-store.js";
import type { Logger } from "../shared/log.js";
import type { Redact } from "../shared/redact.js";
import { refuseLogin, type LoginGuard, type LoginState } from "./login-guard.js";
import { recordsPayload, renderRunPage } from "./run-page.js";
import { newNonce, pageHeaders, sendText } from "./security-headers.js";

/**
 * `/runs/<job id>`: the run viewer, linked from every job card.
 *
 * Who sees a run:
 * - the admin login (ADMIN_USERNAME/ADMIN_PASSWORD) sees every run, with or without a token;
 * - the link's token (an HMAC of the job id, runs/run-links.ts) opens a run of a *public*
 *   repository; a run of a private repository, or one whose record says nothing about its
 *   repository, also asks for the login: a link copied out of a private repo shows nothing;
 * - anything else is a 404, whether the run exists or not.
 *
 * `/runs/<job id>/records?t=…&from=N&run=<runId>` answers the page's live script with the records
 * from N on, as HTML, plus the status block; `reset` when the job was re-run (a new runId).
 */
export interface RunViewerOptions {
  links: RunLinks;
  /** The operator login (throttled); absent when ADMIN_USERNAME/ADMIN_PASSWORD are unset. */
  admin?: LoginGuard;
  redact: Redact;
  log: Logger;
  now?: () => number;
}

type Access = { ok: true; run: StoredRun } | { ok: false; status: 401 | 403 | 404 | 429; message: string };

const PAGE = /^\/runs\/([^/]+)$/;
const RECORDS = /^\/runs\/([^/]+)\/records$/;

function jobIdFrom(path: string, re: RegExp): string | undefined {
  const m = re.exec(path);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return undefined;
  }
}

export function decideRunAccess(options: RunViewerOptions, req: IncomingMessage, jobId: string, token: string | null): Access {
  const login: LoginState = options.admin ? options.admin.check(req) : "none";
  if (login === "locked") return { ok: false, status: 429, message: "too many failed logins" };
  const authed = login === "ok";
  const tokenOk = options.links.verify(jobId, token);
  if (!authed && !tokenOk) {
    // Without a token, an operator may still log in; with a wrong one, reveal nothing.
    if (options.admin && !token) return { ok: false, status: 401, message: "log in to see runs" };
    return { ok: false, status: 404, message: "no such run" };
  }
  const run = options.links.store.read(jobId);
  if (!run) return { ok: false, status: 404, message: "This run has not started yet, or it was deleted." };
  if (authed || run.meta?.private === false) return { ok: true, run };
  return options.admin
    ? { ok: false, status: 401, message: "This run belongs to a private repository: log in to see it." }
    : {
        ok: false,
        status: 403,
        message: "This run belongs to a private repository. Runs of private repositories are shown only to the operator login (ADMIN_USERNAME/ADMIN_PASSWORD), which is not configured.",
      };
}

export function runViewerRoutes(options: RunViewerOptions): Route[] {
  const refuse = (req: IncomingMessage, res: ServerResponse, access: Extract<Access, { ok: false }>) =>
    access.status === 401 && options.admin
      ? refuseLogin(res, options.admin, req, "wrong", access.message)
      : access.status === 429 && options.admin
        ? refuseLogin(res, options.admin, req, "locked")
        : sendText(res, access.status, access.message);

  const page: Route = {
    method: "GET",
    match: (path) => PAGE.test(path),
    handle(req, res, url) {
      const jobId = jobIdFrom(url.pathname, PAGE);
      if (!jobId) return sendText(res, 404, "no such run");
      const token = url.searchParams.get("t");
      const access = decideRunAccess(options, req, jobId, token);
      if (!access.ok) return refuse(req, res, access);
      const nonce = newNonce();
      const recordsUrl = `/runs/${encodeURIComponent(jobId)}/records?${token ? `t=${encodeURIComponent(token)}` : "x=1"}`;
      const html = renderRunPage(jobId, access.run, { redact: options.redact, nonce, recordsUrl, now: options.now?.() });
      res.writeHead(200, pageHeaders(nonce));
      res.end(html);
    },
  };

  const records: Route = {
    method: "GET",
    match: (path) => RECORDS.test(path),
    handle(req, res, url) {
      const jobId = jobIdFrom(url.pathname, RECORDS);
      if (!jobId) return sendText(res, 404, "no such run");
      const access = decideRunAccess(options, req, jobId, url.searchParams.get("t"));
      if (!access.ok) return refuse(req, res, access);
      const from = Math.max(0, Number(url.searchParams.get("from")) || 0);
      const body = recordsPayload(access.run, from, url.searchParams.get("run") ?? "", options.redact, options.now?.());
      res.writeHead(200, {
        "content-type": "application/json; charset=utf-8",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
      });
      res.end(JSON.stringify(body));
    },
  };

  return [records, page];
}
