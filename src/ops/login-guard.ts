import type { IncomingMessage, ServerResponse } from "node:http";
import type { SummaryLog } from "../http/summary-log.js";
import { checkBasicAuth, sendChallenge, type BasicCredentials } from "./basic-auth.js";

/** What a request's login amounts to. */
export type LoginState = "ok" | "none" | "wrong" | "locked";

export interface LoginGuard {
  readonly credentials: BasicCredentials;
  /**
   * Check the request's Basic login. A source address that failed too often is locked out for
   * a while (growing with each further failure) and its attempts are not even checked; every
   * other address logs in as usual. Failures are counted, and logged as summary lines.
   */
  check(req: IncomingMessage): LoginState;
  /** Seconds until a locked-out source may try again (0 when it may now). */
  retryAfterSeconds(req: IncomingMessage): number;
}

export interface LoginGuardOptions {
  credentials: BasicCredentials;
  clientAddress(req: IncomingMessage): string;
  summary: SummaryLog;
  countFailure(outcome: "wrong" | "locked"): void;
  /** Wrong logins a source may make before the first lock-out. */
  freeFailures?: number;
  /** The first lock-out; each further failure doubles it, up to maxLockMs. */
  baseLockMs?: number;
  maxLockMs?: number;
  /** A source's failures are forgotten this long after its last one. */
  forgetMs?: number;
  maxSources?: number;
  now?: () => number;
}

/**
 * Throttled Basic auth for /admin/queues and the run viewer. Without it, a script tried 300
 * passwords in 3.5 s. With it, after `freeFailures` wrong logins (5 by default) a source waits
 * 1 s, then 2, 4, … up to 15 min; a right login resets its count. Per source address
 * (client-address.ts, X-Forwarded-For only behind trusted proxies), so one attacker cannot lock
 * the operators out; the table is bounded (least recently failed sources are forgotten first).
 */
export function createLoginGuard(options: LoginGuardOptions): LoginGuard {
  const now = options.now ?? Date.now;
  const free = options.freeFailures ?? 5;
  const base = options.baseLockMs ?? 1000;
  const max = options.maxLockMs ?? 15 * 60_000;
  const forget = options.forgetMs ?? 3600_000;
  const maxSources = options.maxSources ?? 10_000;
  const sources = new Map<string, { failures: number; lockedUntil: number; last: number }>();

  const entry = (source: string) => {
    const e = sources.get(source);
    if (e && now() - e.last > forget) {
      sources.delete(source);
      return undefined;
    }
    return e;
  };
  return {
    credentials: options.credentials,
    check(req) {
      const source = options.clientAddress(req);
      const e = entry(source);
      if (e && e.lockedUntil > now()) {
        options.countFailure("locked");
        options.summary.note("locked-out", source);
        return "locked";
      }
      const header = req.headers.authorization;
      if (!header) return "none";
      if (checkBasicAuth(header, options.credentials)) {
        sources.delete(source);
        return "ok";
      }
      const failures = (e?.failures ?? 0) + 1;
      const lockedUntil = failures > free ? now() + Math.min(max, base * 2 ** (failures - free - 1)) : 0;
      sources.delete(source);
      sources.set(source, { failures, lockedUntil, last: now() });
      if (sources.size > maxSources) sources.delete(sources.keys().next().value!);
      options.countFailure("wrong");
      options.summary.note("wrong-password", source);
      return "wrong";
    },
    retryAfterSeconds(req) {
      const e = entry(options.clientAddress(req));
      return e ? Math.max(0, Math.ceil((e.lockedUntil - now()) / 1000)) : 0;
    },
  };
}

/** The answer to a login that is not "ok": a challenge, or 429 while the source is locked out. */
export function refuseLogin(res: ServerResponse, guard: LoginGuard, req: IncomingMessage, state: Exclude<LoginState, "ok">, message?: string): void {
  if (state === "locked") {
    if (res.headersSent) return;
    const retry = Math.max(1, guard.retryAfterSeconds(req));
    res.writeHead(429, { "content-type": "text/plain; charset=utf-8", "retry-after": String(retry), "cache-control": "no-store" });
    res.end(`too many failed logins from your address; try again in ${retry} s\n`);
    return;
  }
  sendChallenge(res, message);
}
