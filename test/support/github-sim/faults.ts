/**
 * Fault injection: "the next N calls matching METHOD + path answer with X". The answers are
 * shaped like GitHub's, down to what octokit's plugins look at:
 * - the throttling plugin treats a 403/429 as a *secondary* limit only when the message matches
 *   /\bsecondary rate\b/i, waits `retry-after` seconds (60 when absent), then retries;
 * - it treats one as a *primary* limit when `x-ratelimit-remaining` is "0" and waits until
 *   `x-ratelimit-reset`;
 * - the retry plugin retries other statuses ≥ 400 except 400/401/403/404/410/422/451.
 */

export const SECONDARY_RATE_LIMIT_MESSAGE =
  "You have exceeded a secondary rate limit and have been temporarily blocked from content creation. Please retry your request again later.";

export type FaultResponse =
  /** A plain error status (500, 502, 503, a bare 429, ...), optionally with a body and headers. */
  | { kind: "status"; status: number; body?: unknown; headers?: Record<string, string> }
  /** 403 (or 429) secondary rate limit; `retryAfter` in seconds, omitted = no header. */
  | { kind: "secondary-rate-limit"; status?: 403 | 429; retryAfter?: number }
  /** 403 primary rate limit: remaining 0, reset `resetAfter` seconds from now (default 1). */
  | { kind: "rate-limit"; resetAfter?: number }
  /** Wait, then answer normally (a slow GitHub). */
  | { kind: "delay"; ms: number }
  /** Wait, then drop the connection without answering (a hung GitHub). */
  | { kind: "hang"; ms: number }
  /** Drop the connection at once (ECONNRESET on the client). */
  | { kind: "reset" }
  /**
   * The answer is lost: the call takes effect as usual (the comment is created, the PR opened),
   * then the client gets this 5xx instead of the real answer. REST only. The case where a blind
   * retry of a write duplicates it.
   */
  | { kind: "lost-answer"; status: number };

export interface FaultRule {
  /** "GET", "POST", ... or "*" (default). */
  method?: string;
  /**
   * The path without /api/v3 and without the query: a RegExp, or a string where `{name}` and
   * `:name` match one segment and `*` matches anything, e.g. "/repos/{owner}/{repo}/pulls".
   */
  path: string | RegExp;
  /** REST (default) or the git smart-HTTP endpoints (paths like "/o/r.git/git-receive-pack"). */
  target?: "rest" | "git";
  /**
   * Query parameters the call must carry (exact values), e.g. `{ service: "git-receive-pack" }`
   * to fail a push's ref advertisement but not a fetch's (both are GET …/info/refs).
   */
  query?: Record<string, string>;
  /** How many matching calls fail (default 1; Infinity for "until cleared"). */
  times?: number;
  /** Let this many matching calls through before failing (default 0). */
  skip?: number;
  response: FaultResponse;
}

export interface FaultHandle {
  readonly rule: FaultRule;
  /** Matching calls this fault answered so far. */
  readonly hits: number;
  /** Calls it will still answer. */
  readonly remaining: number;
  cancel(): void;
}

interface ActiveFault extends FaultHandle {
  matcher: RegExp;
  skipLeft: number;
  left: number;
  hitCount: number;
}

export function compilePathPattern(pattern: string | RegExp): RegExp {
  if (pattern instanceof RegExp) return pattern;
  const escaped = pattern
    .split(/(\{[^}]+\}|:[A-Za-z_]+|\*)/)
    .map((part) => {
      if (part === "*") return ".*";
      if (/^\{[^}]+\}$/.test(part) || /^:[A-Za-z_]+$/.test(part)) return "[^/]+";
      return part.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("");
  return new RegExp(`^${escaped}$`);
}

export class Faults {
  #active: ActiveFault[] = [];

  /**
   * Add a fault. Shorthand: `add("POST /repos/{owner}/{repo}/pulls", { kind: "status", status: 502 })`.
   */
  add(rule: FaultRule): FaultHandle;
  add(route: string, response: FaultResponse, options?: Pick<FaultRule, "times" | "skip" | "target" | "query">): FaultHandle;
  add(ruleOrRoute: FaultRule | string, response?: FaultResponse, options: Pick<FaultRule, "times" | "skip" | "target" | "query"> = {}): FaultHandle {
    let rule: FaultRule;
    if (typeof ruleOrRoute === "string") {
      const m = /^([A-Z]+|\*)\s+(\S+)$/.exec(ruleOrRoute.trim());
      if (!m || !response) throw new Error(`fault route must be "METHOD /path", got "${ruleOrRoute}"`);
      rule = { method: m[1], path: m[2]!, response, ...options };
    } else rule = ruleOrRoute;
    const times = rule.times ?? 1;
    const fault: ActiveFault = {
      rule,
      matcher: compilePathPattern(rule.path),
      skipLeft: rule.skip ?? 0,
      left: times,
      hitCount: 0,
      get hits() {
        return fault.hitCount;
      },
      get remaining() {
        return fault.left;
      },
      cancel: () => {
        this.#active = this.#active.filter((f) => f !== fault);
      },
    };
    this.#active.push(fault);
    return fault;
  }

  clear(): void {
    this.#active = [];
  }

  get active(): FaultHandle[] {
    return [...this.#active];
  }

  /** The fault that answers this call, if any (consuming one of its uses). */
  take(target: "rest" | "git", method: string, path: string, query: Record<string, string> = {}): FaultResponse | undefined {
    for (const f of this.#active) {
      if ((f.rule.target ?? "rest") !== target) continue;
      const m = (f.rule.method ?? "*").toUpperCase();
      if (m !== "*" && m !== method.toUpperCase()) continue;
      if (!f.matcher.test(path)) continue;
      if (f.rule.query && Object.entries(f.rule.query).some(([k, v]) => query[k] !== v)) continue;
      if (f.skipLeft > 0) {
        f.skipLeft--;
        continue;
      }
      f.hitCount++;
      f.left--;
      if (f.left <= 0) this.#active = this.#active.filter((x) => x !== f);
      return f.rule.response;
    }
    return undefined;
  }
}

/** The status, headers and body a fault answers with (for the kinds that answer at all). */
export function faultReply(
  response: FaultResponse,
  nowMs: number,
): { status: number; headers: Record<string, string>; body: unknown } | undefined {
  switch (response.kind) {
    case "status":
      return {
        status: response.status,
        headers: response.headers ?? {},
        body: response.body ?? { message: response.status >= 500 ? "Server Error" : `Injected ${response.status}` },
      };
    case "secondary-rate-limit":
      return {
        status: response.status ?? 403,
        headers: response.retryAfter !== undefined ? { "retry-after": String(response.retryAfter) } : {},
        body: {
          message: SECONDARY_RATE_LIMIT_MESSAGE,
          documentation_url: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
        },
      };
    case "rate-limit": {
      const reset = Math.ceil(nowMs / 1000) + (response.resetAfter ?? 1);
      return {
        status: 403,
        headers: { "x-ratelimit-remaining": "0", "x-ratelimit-limit": "5000", "x-ratelimit-reset": String(reset), "x-ratelimit-used": "5000" },
        body: {
          message: "API rate limit exceeded for installation.",
          documentation_url: "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
        },
      };
    }
    default:
      return undefined;
  }
}

export function describeFault(response: FaultResponse): string {
  switch (response.kind) {
    case "status":
      return `status ${response.status}`;
    case "secondary-rate-limit":
      return `secondary-rate-limit ${response.status ?? 403}${response.retryAfter !== undefined ? ` retry-after ${response.retryAfter}` : ""}`;
    case "rate-limit":
      return "rate-limit";
    case "delay":
      return `delay ${response.ms}ms`;
    case "hang":
      return `hang ${response.ms}ms`;
    case "reset":
      return "reset";
    case "lost-answer":
      return `lost-answer ${response.status}`;
  }
}
